import pytest

from course_tools.grading.checks import (
    AnswerError, check_choice, check_exact_type, check_is_subclass_free, normalise_choice,
)


class AlwaysEqual(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class Liar:
    def __eq__(self, other):
        return True


def test_right_letter_passes_in_any_case_and_spacing():
    check_choice(" B ", "b", question=1)


def test_wrong_letter_fails_with_hint_but_not_the_answer():
    with pytest.raises(AnswerError) as info:
        check_choice("a", "c", question=3, hint="Re-read write-back.")
    msg = str(info.value)
    assert "Question 3" in msg and "Re-read write-back." in msg
    assert "'c'" not in msg


@pytest.mark.parametrize("answer", [Liar(), AlwaysEqual("z"), 1, ["b"], b"b"])
def test_objects_that_claim_equality_do_not_pass(answer):
    """An object whose __eq__ is always True (or a str subclass doing so) must not pass."""
    with pytest.raises(AnswerError, match="plain string"):
        check_choice(answer, "b", question=1)


@pytest.mark.parametrize("answer", [None, ...])
def test_unanswered_says_so(answer):
    with pytest.raises(AnswerError, match="no answer yet"):
        normalise_choice(answer, question=2)


def test_out_of_range_letter():
    with pytest.raises(AnswerError, match="not one of the options a, b"):
        normalise_choice("e", "ab", question=2)


def test_exact_type_and_own_implementation():
    check_exact_type(3, int)
    with pytest.raises(AnswerError):
        check_exact_type(True, int)

    from course_tools.clock import VirtualClock

    class Mine:
        pass

    class Borrowed(VirtualClock):
        pass

    check_is_subclass_free(Mine)
    with pytest.raises(AnswerError, match="own implementation"):
        check_is_subclass_free(Borrowed)


def test_time_limit_turns_a_hang_into_a_failed_question():
    """An endless loop costs its question only: an AnswerError, not a hung grader."""
    from course_tools.grading.checks import time_limit

    with pytest.raises(AnswerError, match="Question 4: your code was still running after 0.2 s"):
        with time_limit(0.2, question=4):
            while True:
                try:
                    pass
                except Exception:  # learner code swallowing exceptions cannot swallow the alarm
                    pass
    with time_limit(1, question=4):
        pass  # a quick block is untouched


def test_fail_formats_question_and_hint():
    from course_tools.grading.checks import fail

    with pytest.raises(AnswerError, match=r"^Question 2: wrong\. Hint: look again$"):
        fail(2, "wrong.", "look again")


def _with_student_code(cells, fn):
    from course_tools.grading import checks

    checks._STUDENT_CODE[0] = list(cells)
    try:
        return fn()
    finally:
        checks._STUDENT_CODE[0] = None


def test_static_checks_read_the_students_text():
    """check_defined_class and check_not_using judge the submitted text (what the grader passes), so an
    alias, an import, a banned name, a string holding it or a run-time lookup is caught, and honest
    code passes."""
    from course_tools.grading.checks import AnswerError, check_defined_class, check_not_using

    honest = ["import bisect\nfrom course_tools.sim.hashing import stable_hash\nclass Ring:\n    def node_for(self, k):\n"
              "        return getattr(self, 'x', None)\n"]
    _with_student_code(honest, lambda: check_defined_class("Ring", question=10))
    _with_student_code(honest, lambda: check_not_using(["HashRing"], question=10))
    for cells in (["from course_tools.sim.hashing import HashRing as Ring"], ["Ring = dict"], ["x = 1"]):
        with pytest.raises(AnswerError):
            _with_student_code(cells, lambda: check_defined_class("Ring", question=10))
    for bad in ("from course_tools.sim.hashing import HashRing", "import course_tools.sim.hashing as h\nh.HashRing",
                "x = 'Hash' 'Ring'\ny = 'HashRing'", "import importlib", "exec('1')", "g = globals()",
                "getattr(mod, 'Hash' + 'Ring')", "from course_tools.sim.hashing import *",
                "get_ipython().run_cell('x')"):
        with pytest.raises(AnswerError):
            _with_student_code(honest + [bad], lambda: check_not_using(["HashRing"], question=10))
