"""Is the section assessment complete, honest about its answers, and graded right against its pass mark?

The section assessment (notebooks/assessments/source/section_2/) is the module's final test:
every one of the 33 objectives assessed by a graded item, the twelve outline questions present
by item id, every item linked to the lesson section that teaches it, answers and explanations
only in hidden tests, and a 75 % pass mark that export, report and check apply.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from course_tools.grading.nbgrader_io import COURSE_DIR, find_leaks
from course_tools.grading.passmark import explanations, pass_mark, pass_mark_of, passed, revisits
from course_tools.lessonlinks import links, resolve
from course_tools.syllabus import OBJECTIVES

A = "section_2"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"
NB = nbformat.read(SOURCE, as_version=4)

# outline question number -> (item id, difficulty in the outline)
OUTLINE = {
    1: ("q_outline_01_pagination", "hard"),
    2: ("q_outline_02_mutex_semaphore", "hard"),
    3: ("q_outline_03_cp_partition", "hard"),
    4: ("q_outline_04_writeback_risk", "hard"),
    5: ("q_outline_05_validation_status", "medium"),
    6: ("q_outline_06_mobile_overfetch", "medium"),
    7: ("q_outline_07_internal_rpc", "medium"),
    8: ("q_outline_08_jwt_downside", "medium"),
    9: ("q_outline_09_login_with_google", "medium"),
    10: ("q_outline_10_solid_switch", "medium"),
    11: ("q_outline_11_swap_algorithm", "medium"),
    12: ("q_outline_12_concurrency_parallelism", "medium"),
}


def _gid(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


GRADED = [c for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade")]
BY_ID = {_gid(c): c for c in NB.cells if _gid(c)}
MC = [c for c in GRADED if "check_choice(" in c.source]
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\s*\n(.*?)### END HIDDEN TESTS", re.S)


def test_every_objective_is_assessed_by_a_graded_item():
    """Do the graded cells' objective tags cover all 33 objectives of the syllabus, and only known ids?"""
    tagged = {o for c in GRADED for o in c.metadata["course"]["objectives"]}
    assert tagged <= set(OBJECTIVES), sorted(tagged - set(OBJECTIVES))
    assert tagged == set(OBJECTIVES), f"not assessed: {sorted(set(OBJECTIVES) - tagged)}"
    assert len(tagged) == 33


def test_most_items_are_multi_concept_and_chapters_are_mixed():
    """Do most items draw on several objectives, and does the order mix chapters (no long run of one)?"""
    items = {c.metadata["course"]["item"]: c.metadata["course"]["objectives"] for c in GRADED}
    outline_ids = {gid for gid, _ in OUTLINE.values()}
    others = {k: v for k, v in items.items() if k not in outline_ids}
    assert sum(len(v) > 1 for v in others.values()) > len(others) / 2
    chapters = [c.metadata["course"]["objectives"][0].rsplit(".", 1)[0] for c in MC]
    runs = max(len(m.group(0)) for m in re.finditer(r"(.)\1*", "".join(ch[-1] for ch in chapters)))
    assert runs <= 2, chapters


@pytest.mark.parametrize("number", sorted(OUTLINE))
def test_outline_question_is_present(number):
    """Is outline question N in the assessment under its stable item id, graded, with the outline's difficulty
    marked in its prompt and its points (hard 2, medium 1)?"""
    gid, difficulty = OUTLINE[number]
    cell = BY_ID.get(gid)
    assert cell is not None and cell.metadata["nbgrader"]["grade"], f"no graded item {gid}"
    meta = cell.metadata["course"]
    assert (meta["outline"], meta["difficulty"]) == (number, difficulty)
    assert cell.metadata["nbgrader"]["points"] == (2 if difficulty == "hard" else 1)
    prompt = BY_ID[f"{gid}_prompt"].source
    assert f"({difficulty}," in prompt and f"Outline question {number}." in prompt


def test_pass_mark_is_in_the_source_metadata():
    """Is the 75 % pass mark stored in the source notebook's metadata (and read back by passmark)?"""
    assert NB.metadata["course"]["pass_mark"] == 0.75
    assert pass_mark_of(SOURCE) == 0.75 and pass_mark(COURSE_DIR, A) == 0.75


def test_points_and_timing_are_stated():
    """Is the total a multiple of 4 (so exactly 75 % is reachable), and does the first cell state the minutes?"""
    total = sum(c.metadata["nbgrader"]["points"] for c in GRADED)
    assert total % 4 == 0
    first = NB.cells[0].source
    assert re.search(r"About (3\d|40) minutes", first) and f"{total * 3 // 4} of {total} points" in first


def test_passed_at_the_boundary():
    """Does exactly 75 % pass and anything below not, and is there no verdict without a pass mark?"""
    assert passed(33, 44, 0.75) is True and passed(32.99, 44, 0.75) is False and passed(44, 44, 0.75) is True
    assert passed(3, 4, 0.75) is True and passed(0.3 * 10, 4, 0.75) is True   # float noise still passes
    assert passed(10, 44, None) is None and passed(0, 0, 0.75) is None


def _question_prompts():
    return [c for c in NB.cells if c.cell_type == "markdown" and c.source.startswith("### Question")]


def test_every_item_links_to_a_lesson_section_that_exists():
    """Does every question's prompt link to lesson sections, and does every lesson link in the assessment
    (prompts and the revisit metadata) resolve to an existing heading, with JupyterLab's anchors?"""
    prompts = _question_prompts()
    assert len(prompts) >= 30
    checked = 0
    for cell in prompts:
        found = links(cell.source)
        assert found, f"{_gid(cell)} has no lesson link"
        for link in found:
            assert link.path.startswith("../../../") and link.fragment, link
            target, ok = resolve(link, SOURCE.parent)
            assert target.is_file(), f"{_gid(cell)}: no lesson {target}"
            assert ok, f"{_gid(cell)}: no heading #{link.fragment} in {target.name}"
            checked += 1
    for gid, rv in revisits(SOURCE).items():
        path, _, frag = rv["href"].partition("#")
        from course_tools.lessonlinks import LessonLink

        assert resolve(LessonLink(rv["title"], path, frag), SOURCE.parent)[1], (gid, rv)
        checked += 1
    assert checked >= len(GRADED)
    assert all(_gid(c) in revisits(SOURCE) for c in GRADED), "every graded cell names a section to revisit"


def test_link_checker_catches_a_wrong_heading(tmp_path):
    """Would the link check notice a heading that does not exist (or a renamed lesson)?"""
    from course_tools.lessonlinks import LessonLink

    good = links("[x](../../../08_caching.ipynb#5.-Redis-vs-Memcached-(2.8.4))")[0]
    assert resolve(good, SOURCE.parent)[1]
    assert not resolve(LessonLink("x", good.path, "5.-Redis-versus-Memcached-(2.8.4)"), SOURCE.parent)[1]
    assert not resolve(LessonLink("x", "../../../99_nothing.ipynb", good.fragment), SOURCE.parent)[1]


def _hidden_call(cell) -> str:
    return "\n".join(_HIDDEN.findall(cell.source))


@pytest.mark.parametrize("cell", MC, ids=_gid)
def test_mc_answer_and_explanations_only_in_the_hidden_test(cell):
    """Is the right letter only in the hidden part of the test (the visible part checks the form), does every
    option have an explanation, and does the answer cell hold nothing but a solution region?"""
    visible = _HIDDEN.sub("", cell.source)
    assert "check_choice(" not in visible and "explanations" not in visible
    expl = explanations(SOURCE)[_gid(cell)]
    prompt = BY_ID[f"{_gid(cell)}_prompt"].source if f"{_gid(cell)}_prompt" in BY_ID else ""
    letters = sorted(re.findall(r"\*\*\(([a-d])\)\*\*", prompt)) or sorted(expl)
    assert sorted(expl) == letters and len(letters) == 4
    answer_cell = BY_ID[f"{_gid(cell)}_answer"]
    assert re.fullmatch(r"### BEGIN SOLUTION\n\w+ = \"[a-d]\"\n### END SOLUTION", answer_cell.source)


def _run_test_cell(cell, **names):
    """Run a (trusted) source test cell with the given answers, as the grader's clean process does."""
    from course_tools.grading.checks import AnswerError

    try:
        exec(compile(cell.source, _gid(cell), "exec"), dict(names))
    except AnswerError as exc:
        return str(exc)
    return None


def _answer_name_and_right(cell) -> tuple[str, str]:
    m = re.search(r"check_choice\((\w+), \"([a-d])\"", _hidden_call(cell))
    return m.group(1), m.group(2)


@pytest.mark.parametrize("cell", MC, ids=_gid)
def test_wrong_answer_feedback_names_the_section_never_the_right_option(cell):
    """For each wrong option: does the message explain the CHOSEN option and name the lesson section to
    revisit, without the right option's letter or explanation, within the grader's 600-character limit?
    And does the right option pass?"""
    name, right = _answer_name_and_right(cell)
    expl = explanations(SOURCE)[_gid(cell)]
    assert _run_test_cell(cell, **{name: right}) is None
    assert _run_test_cell(cell, **{name: right.upper() + " "}) is None
    heading = cell.metadata["course"]["revisit"]["title"].split(" › ", 1)[1]
    for wrong in sorted(set("abcd") - {right}):
        msg = _run_test_cell(cell, **{name: wrong})
        assert msg is not None, f"{wrong!r} passed"
        assert expl[wrong] in msg and heading in msg, msg
        assert expl[right] not in msg and f"({right})" not in msg and f"'{right}'" not in msg, msg
        assert len(msg) <= 600, len(msg)
    assert "no answer yet" in _run_test_cell(cell, **{name: None})


def _task_cells():
    return [c for c in GRADED if "check_choice(" not in c.source]


@pytest.mark.parametrize("cell", _task_cells(), ids=_gid)
def test_read_this_output_parts_grade_plain_data_deterministically(cell):
    """Does each "read this output" part accept its solution, reject a plausible wrong answer and a wrong
    type (str instead of int/tuple), and keep its hidden answer out of the visible part?"""
    answer = BY_ID[f"{_gid(cell)}_answer"].source
    name, value = re.search(r"^(\w+) = (.+)$", answer, re.M).groups()
    right = eval(value)   # a literal we wrote in the source
    assert _run_test_cell(cell, **{name: right}) is None
    wrong = {int: 400, tuple: (1, 2), type(None): 0}[type(right)]
    msg = _run_test_cell(cell, **{name: wrong})
    assert msg
    said = msg.split(":", 1)[1].split("Revisit:")[0]      # without "Question 13a" and the section's title
    assert not re.search(rf"(?<![\w.]){re.escape(str(right))}(?![\w.])", said), msg
    assert _run_test_cell(cell, **{name: str(right)}) is not None
    import ast

    visible = ast.parse(_HIDDEN.sub("", cell.source))
    constants = [n.value for n in ast.walk(visible) if isinstance(n, (ast.Constant, ast.Tuple))
                 and not isinstance(n, ast.Tuple)]
    tuples = [ast.literal_eval(n) for n in ast.walk(visible) if isinstance(n, ast.Tuple)
              and all(isinstance(e, ast.Constant) for e in n.elts)]
    assert right not in [c for c in constants if type(c) is type(right)] + tuples, "the answer is in the visible part"


def test_read_this_output_answers_match_what_the_cells_print():
    """Are the hidden answers of the read-this-output tasks what the course's simulators really produce?"""
    from course_tools.sim.interleave import Read
    from course_tools.sim.linearizability import check

    ns: dict = {}
    exec(BY_ID["t_race_trace_run"].source, ns)
    reads = tuple(e.step for e in ns["trace"].events if e.instruction == Read("seats") and e.result == 1)
    assert f"race_reads = {reads!r}" in BY_ID["t_race_trace_race_reads_answer"].source
    assert ns["trace"].memory == {"open": True, "seats": 0, "sold": 2}   # oversold: the check-then-act race

    ns = {}
    exec(BY_ID["t_partition_history_run"].source, ns)
    verdict = check(ns["cluster"].history)
    assert not verdict and f"culprit = {verdict.culprit.id}" in BY_ID["t_partition_history_culprit_answer"].source


@pytest.mark.network
def test_raw_http_answers_are_what_the_real_shop_sends():
    """Without the 400-flattening wrapper, does the real shop server answer exchanges A, B and C with the
    codes the hidden tests expect (so the task's answers are the lesson's server's own)?"""
    import io
    from contextlib import redirect_stdout

    src = BY_ID["t_raw_http_status_run"].source.replace("flatten_errors(ShopAPI())", "ShopAPI()")
    out = io.StringIO()
    with redirect_stdout(out):
        exec(src, {})
    codes = re.findall(r"----- exchange [ABC]: response\nHTTP/1.1 (\d{3})", out.getvalue())
    expected = [int(re.search(r"= (\d+)", BY_ID[f"t_raw_http_status_status_{x}_answer"].source).group(1))
                for x in "abc"]
    assert [int(c) for c in codes] == expected == [422, 403, 412]
    with redirect_stdout(io.StringIO()) as flat:
        exec(BY_ID["t_raw_http_status_run"].source, {})
    assert flat.getvalue().count("HTTP/1.1 400 Bad Request") == 3 and "422" not in flat.getvalue()


# ---- the leak check ---------------------------------------------------------------------------------

def _student_version(nb):
    st = copy.deepcopy(nb)
    for c in st.cells:
        c.source = _HIDDEN.sub("", c.source)
        c.source = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "raise NotImplementedError()", c.source, flags=re.S)
    return st


def test_leak_check_passes_the_clean_student_version():
    """Is the section assessment's student version (hidden tests and solutions removed) leak-free, and is every
    explanation long enough for the leak check's literal search to cover it?"""
    from course_tools.grading.nbgrader_io import MIN_SECRET_LITERAL

    assert find_leaks(NB, _student_version(NB)) == []
    assert all(len(v) >= MIN_SECRET_LITERAL for d in explanations(SOURCE).values() for v in d.values())


@pytest.mark.parametrize("where", ["inside a longer markdown line", "cell metadata", "an output"])
def test_leak_check_finds_an_explanation_anywhere(where):
    """Would an option's explanation that reached the student version be caught — even embedded in a longer
    line, in metadata or in an output, where the line-by-line check cannot see it?"""
    cell = MC[0]
    secret = next(iter(explanations(SOURCE)[_gid(cell)].values()))
    st = _student_version(NB)
    if where == "cell metadata":
        st.cells[0].metadata["note"] = secret
    elif where == "an output":
        code = next(c for c in st.cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"see: {secret}\n")]
    else:
        st.cells[0].source += f"\n\nRemember: {secret} (from the answers)"
    assert any(secret in leak for leak in find_leaks(NB, st))


@pytest.mark.grading
def test_release_refuses_the_assessment_with_a_leaked_explanation(tmp_path):
    """Does `course release` refuse the section assessment when an explanation was pasted into its intro,
    and release it when it is clean?"""
    import contextlib
    import io
    import shutil

    from course_tools.authoring import write
    from course_tools.cli import main

    course = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / A)
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / "leaky")
    leaky = nbformat.read(course / "source" / "leaky" / f"{A}.ipynb", as_version=4)
    secret = explanations(SOURCE)[_gid(MC[3])]["a"]
    leaky.cells[0].source += f"\n\nA tip: {secret}"
    write(leaky, course / "source" / "leaky" / f"{A}.ipynb")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["release", "--course-dir", str(course)])
    assert code == 1 and "REFUSED leaky" in err.getvalue() and f"REFUSED {A}" not in err.getvalue()
    assert not (course / "release" / "leaky").exists()
    released = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    assert find_leaks(NB, released) == []
    text = nbformat.writes(released)
    assert "BEGIN HIDDEN" not in text and "explanations=" not in text


def test_the_right_option_is_not_given_away_by_position_or_length():
    """Could a test-wise learner pass without knowing the material? Is each letter right about equally often,
    and is the right option the longest no more often than chance would make it (1 in 4)?"""
    from collections import Counter

    letters, longest = Counter(), 0
    for cell in MC:
        _, right = _answer_name_and_right(cell)
        options = dict(re.findall(r"^- \*\*\(([a-d])\)\*\* (.+)$", BY_ID[f"{_gid(cell)}_prompt"].source, re.M))
        assert sorted(options) == list("abcd"), _gid(cell)
        letters[right] += 1
        others = max(len(v) for k, v in options.items() if k != right)
        longest += len(options[right]) > others
    assert all(len(MC) / 4 - 3 <= letters[k] <= len(MC) / 4 + 3 for k in "abcd"), letters
    assert longest <= len(MC) / 4, f"the right option is the longest in {longest} of {len(MC)} questions"


def test_every_question_marks_its_difficulty_and_objectives():
    """Does every question's heading say hard or medium, its points, and the objective ids its graded cells carry?"""
    for cell in _question_prompts():
        head = cell.source.splitlines()[0]
        assert re.search(r"\((hard|medium), \d+ points?\) — objectives 2\.\d\.\d", head), head
        item = _gid(cell)[: -len("_prompt")]
        tagged = {o for c in GRADED if _gid(c).startswith(item) for o in c.metadata["course"]["objectives"]}
        assert tagged and tagged <= set(re.findall(r"2\.\d\.\d", head)), (head, tagged)
