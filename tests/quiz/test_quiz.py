import pytest

from course_tools.quiz import Option, Question, Quiz
from course_tools.quiz.core import widgets_available


def make_quiz():
    return Quiz([
        Question("Write-back's main risk?", [
            Option("Stale reads", why="That is invalidation."),
            Option("Losing acknowledged writes", correct=True, why="Acknowledged before stored."),
        ], objectives=("2.8.1",)),
    ])


def test_every_option_needs_an_explanation():
    with pytest.raises(ValueError, match="explanation"):
        Option("x")


def test_exactly_one_correct_option():
    with pytest.raises(ValueError, match="exactly one"):
        Question("?", [Option("a", True, why="w"), Option("b", True, why="w")])
    with pytest.raises(ValueError, match="exactly one"):
        Question("?", [Option("a", why="w"), Option("b", why="w")])


def test_check_prints_the_explanation_of_the_chosen_option(capsys):
    quiz = make_quiz()
    assert quiz.check(1, "b") is True
    assert "correct. Acknowledged before stored." in capsys.readouterr().out
    assert quiz.check(1, "A") is False
    assert "That is invalidation." in capsys.readouterr().out
    with pytest.raises(ValueError, match="choose one of a, b"):
        quiz.check(1, "c")


def test_text_fallback_outside_a_kernel(capsys):
    """Without a kernel (terminal, nbval's plain text) the quiz prints as text."""
    assert not widgets_available()
    make_quiz().show()
    out = capsys.readouterr().out
    assert "Q1. Write-back's main risk?  [2.8.1]" in out and "(b) Losing acknowledged writes" in out


def test_widget_builds_and_answers(monkeypatch):
    """The ipywidgets front-end shows the explanation for the chosen option."""
    quiz = make_quiz()
    box = quiz._widget()
    question_box = box.children[1]
    _prompt, radio, button, out = question_box.children
    button.click()
    assert "Choose an option first" in out.value
    radio.value = "a"
    button.click()
    assert "Not quite" in out.value and "invalidation" in out.value
    radio.value = "b"
    button.click()
    assert "Correct" in out.value


def test_every_bank_loads_and_every_lesson_part_exists():
    """Does every question bank parse, with one correct option and an explanation per option, and does every
    self_check(...) call in a lesson name a bank and part that exist?"""
    import json
    import re
    from pathlib import Path

    from course_tools.quiz.bank import bank_slugs, load_bank, load_quiz

    for slug in bank_slugs():
        assert load_bank(slug), f"{slug}.toml has no questions"
    root = Path(__file__).resolve().parents[2] / "notebooks"
    for nb_path in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        src = "\n".join("".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"])
        for slug, part in re.findall(r'self_check\("([^"]+)"(?:,\s*"([^"]+)")?\)', src):
            assert len(load_quiz(slug, part or "main")) > 0


def test_check_answer_explains_the_chosen_option(capsys):
    """Can a learner without widgets check an answer to a bank question by number and letter?"""
    from course_tools.quiz.bank import check_answer, load_quiz

    quiz = load_quiz("08_caching")
    right = quiz.questions[0].answer
    assert check_answer("08_caching", 1, right) is True
    assert "correct" in capsys.readouterr().out


def test_bank_errors_name_the_problem(tmp_path, monkeypatch):
    """Does a malformed bank fail with a message naming the file and the question?"""
    from course_tools.quiz import bank

    (tmp_path / "zz.toml").write_text('[[question]]\nid = "x"\nprompt = "p"\noptions = [{ text = "a", why = "w" }, '
                                      '{ text = "b", why = "w" }]\n')
    monkeypatch.setattr(bank, "BANK_DIR", tmp_path)
    bank._load.cache_clear()
    try:
        with pytest.raises(bank.BankError, match=r"zz.toml, question 1 \(x\).*exactly one correct"):
            bank.load_bank("zz")
    finally:
        bank._load.cache_clear()


def test_no_lesson_shows_a_self_check_answer_or_explanation():
    """The visible cells of a lesson carry no option marked correct and no explanation from its question bank."""
    import json
    from pathlib import Path

    from course_tools.quiz.bank import bank_slugs, load_bank

    root = Path(__file__).resolve().parents[2] / "notebooks"
    for slug in bank_slugs():
        nb = root / f"{slug}.ipynb"
        assert nb.exists(), f"question bank {slug}.toml has no lesson"
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        assert "correct=True" not in code.replace(" ", "")
        for bq in load_bank(slug):
            for option in bq.question.options:
                why = option.why.strip()
                assert len(why) < 40 or why not in code, f"{slug}: the explanation of {bq.id!r} is in the lesson's code"
