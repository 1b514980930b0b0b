"""Checks that assessment test cells call. They test types and behaviour, not just ``==``.

A test cell imports what it needs *inside the cell*:

    from course_tools.grading.checks import check_choice
    check_choice(answer_1, "b", question=1, hint="Re-read 'Write paths': when is the store written?")

The expected answer appears only in the hidden part of the test cell, so the student
version never shows it. Failure messages name the question and give the hint; they never
print the expected value.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["AnswerError", "check_choice", "check_exact_type", "check_is_subclass_free"]


class AnswerError(AssertionError):
    """A wrong or malformed answer; the message is meant for the learner."""


def _fail(question: object, message: str, hint: str | None) -> None:
    text = f"Question {question}: {message}"
    if hint:
        text += f" Hint: {hint}"
    raise AnswerError(text)


def normalise_choice(answer: object, choices: Iterable[str] = "abcd", question: object = "?") -> str:
    """Return the answer as one lower-case letter, or fail with a message the learner can act on.

    Only a real ``str`` is accepted (``type(answer) is str``): an object whose ``__eq__``
    always returns True, or a ``str`` subclass overriding comparison, is rejected.
    """
    allowed = [c.lower() for c in choices]
    if answer is None or answer is ...:
        _fail(question, "no answer yet: set it to one letter, e.g. 'a'.", None)
    if type(answer) is not str:
        _fail(question, f"the answer must be a plain string such as 'a', not {type(answer).__name__}.", None)
    letter = str.strip(answer).lower()
    if letter not in allowed:
        _fail(question, f"{answer!r} is not one of the options {', '.join(allowed)}.", None)
    return letter


def check_choice(answer: object, expected: str, *, question: object = "?", choices: Iterable[str] = "abcd",
                 hint: str | None = None) -> None:
    """Pass if ``answer`` is the letter ``expected``; fail with ``hint`` otherwise."""
    letter = normalise_choice(answer, choices, question)
    if letter != expected.lower():
        _fail(question, f"{letter!r} is not the best answer.", hint)


def check_exact_type(value: object, expected_type: type, *, what: str = "value", question: object = "?") -> None:
    """Fail unless ``type(value) is expected_type`` (subclasses could override comparison)."""
    if type(value) is not expected_type:
        _fail(question, f"{what} should be a {expected_type.__name__}, got {type(value).__name__}.", None)


def check_is_subclass_free(cls: type, forbidden_modules: tuple[str, ...] = ("course_tools",), *,
                           question: object = "?") -> None:
    """Fail if ``cls`` inherits from or simply re-exports a reference implementation."""
    if not isinstance(cls, type):
        _fail(question, f"expected a class, got {type(cls).__name__}.", None)
    for base in cls.__mro__:
        if any(base.__module__.startswith(m) for m in forbidden_modules):
            _fail(question, f"{cls.__name__} must be your own implementation, not built on {base.__module__}.{base.__qualname__}.", None)
