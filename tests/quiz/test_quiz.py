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
