"""Checks that assessment test cells call. They test types and behaviour, not just ``==``.

A test cell imports what it needs *inside the cell*:

    from course_tools.grading.checks import check_choice
    check_choice(answer_1, "b", question=1, hint="Re-read 'Write paths': when is the store written?")

The expected answer appears only in the hidden part of the test cell, so the student
version never shows it. Failure messages name the question and give the hint; they never
print the expected value.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterable, Iterator, Mapping

__all__ = ["AnswerError", "fail", "time_limit", "check_choice", "normalise_choice", "check_exact_type",
           "check_is_subclass_free"]


class AnswerError(AssertionError):
    """A wrong or malformed answer; the message is meant for the learner."""


def fail(question: object, message: str, hint: str | None = None) -> None:
    """Raise the learner-facing failure of one question: ``Question N: message Hint: hint``."""
    text = f"Question {question}: {message}"
    if hint:
        text += f" Hint: {hint}"
    raise AnswerError(text)


_fail = fail


class _TimeUp(BaseException):
    """Raised by the alarm; a BaseException so that `except Exception` in learner code cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float, question: object = "?",
               advice: str = "does a loop never end, or a thread wait forever?") -> Iterator[None]:
    """Stop the block after ``seconds`` of wall time with an :class:`AnswerError` for ``question``.

    A deadlock or an endless loop then costs that question only. Uses ``SIGALRM``, so it
    limits the main thread on Unix (where notebooks and the autograder run); elsewhere the
    block runs without a limit (the autograder's own per-cell timeout still applies).
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _TimeUp

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TimeUp:
        fail(question, f"your code was still running after {seconds:g} s: {advice}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
                 hint: str | None = None, explanations: Mapping[str, str] | None = None,
                 revisit: str | None = None) -> None:
    """Pass if ``answer`` is the letter ``expected``; fail with ``hint`` otherwise.

    With ``explanations`` (letter -> why that option is right or wrong; written in the hidden
    part of the test cell) a wrong answer's message carries the explanation of the option
    the learner *chose*, never another one, and ``revisit`` (the lesson section to read again)
    is named. The right option and its explanation are not in the message.
    """
    letter = normalise_choice(answer, choices, question)
    if letter != expected.lower():
        text = f"{letter!r} is not the best answer."
        why = (explanations or {}).get(letter)
        if why:
            text += f" Why not ({letter}): {why}"
        if revisit:
            text += f" Revisit: {revisit}."
        _fail(question, text, hint)


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
