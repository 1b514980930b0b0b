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
           "check_is_subclass_free", "is_generator_function", "student_code", "check_defined_class",
           "check_not_using", "call_each", "call_methods"]


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


def call_methods(obj: object, calls: Iterable[tuple[str, tuple]], chunk: int = 2000) -> list:
    """``[getattr(obj, name)(*args) for name, args in calls]``, in order; when ``obj`` is the grader's
    proxy of a student object, in batches (one round trip per ``chunk`` calls instead of one per
    call). The results are whatever came back: check their exact types."""
    calls = [(name, tuple(args)) for name, args in calls]
    if getattr(type(obj), "_batch", None) is None:
        return [getattr(obj, name)(*args) for name, args in calls]
    out: list = []
    for i in range(0, len(calls), chunk):
        part = calls[i:i + chunk]
        got = obj._batch([(name, args, {}) for name, args in part])
        if type(got) is not list or len(got) != len(part):
            raise AnswerError("the object's methods did not answer as methods do")
        out += got
    return out


def call_each(obj: object, method: str, args: Iterable[tuple], chunk: int = 4000) -> list:
    """``[getattr(obj, method)(*a) for a in args]`` (batched like :func:`call_methods`)."""
    return call_methods(obj, [(method, a) for a in args], chunk)


def is_generator_function(fn: object) -> bool:
    """Is ``fn`` a generator function? Works for a local function and for the grader's proxy of a
    student's function (which says what it is without being introspected)."""
    import inspect

    flag = getattr(type(fn), "is_generator_function", None)
    if isinstance(flag, property):
        return bool(fn.is_generator_function)
    return inspect.isgeneratorfunction(fn)


# the grader's clean process sets this to the text of the student's code cells before the test
_STUDENT_CODE: list[list[str] | None] = [None]


def student_code() -> list[str] | None:
    """The source text of the student's code cells before this test: from the grader (plain text
    from the submitted file, which student code cannot change), else from the IPython history
    of the notebook being run, else None."""
    if _STUDENT_CODE[0] is not None:
        return list(_STUDENT_CODE[0])
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return None
    hist = ip.user_ns.get("In") if ip is not None else None
    if not isinstance(hist, list):
        return None
    if not any(isinstance(h, str) and h.strip() for h in hist):
        return None       # a kernel that keeps no history (nbval, nbclient): nothing to check statically
    # the notebook's test cells (they import from course_tools.grading) are not the student's code
    return [h for h in hist if isinstance(h, str) and "course_tools.grading" not in h]


def _trees(question: object):
    import ast

    for text in student_code() or []:
        try:
            yield ast.parse(text)
        except SyntaxError:
            try:    # IPython syntax (magics, !commands): transform as a kernel would
                from IPython.core.inputtransformer2 import TransformerManager

                yield ast.parse(TransformerManager().transform_cell(text))
            except Exception:
                continue


def check_defined_class(name: str, *, question: object = "?") -> None:
    """Static check of the student's code: ``class <name>`` is defined by a ``class`` statement at
    the top level of a cell (not assigned from, or imported as, someone else's class). That it is
    not built on the course's own implementation is enforced while grading by hiding that module
    from the student's process (``metadata.course.hidden_modules``)."""
    import ast

    if student_code() is None:
        return
    found = False
    for tree in _trees(question):
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                found = True
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    _fail(question, f"{name} must be defined with a `class {name}:` statement, not assigned.", None)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if any((a.asname or a.name) == name for a in node.names):
                    _fail(question, f"{name} must be your own class, not imported.", None)
    if not found:
        _fail(question, f"define `class {name}:` in your notebook.", None)


_DYNAMIC = {"exec", "eval", "compile", "__import__", "importlib", "import_module", "globals", "locals", "vars",
            "__dict__", "__getattribute__", "__builtins__", "builtins", "__globals__", "__code__", "__closure__",
            "modules", "get_ipython", "run_line_magic", "run_cell", "user_ns"}


def check_not_using(names: Iterable[str], *, question: object = "?", what: str = "the course's implementation") -> None:
    """Static check of the student's code cells (plain text): they name none of ``names`` (as a
    name, an attribute, an import or inside a string), and they do not look names up at run time
    (``exec``, ``eval``, ``__import__``, ``importlib``, ``getattr`` with a computed name,
    ``globals()``, ``vars()``, ``sys.modules``, ``__dict__``, magics...), which could fetch them
    without writing them."""
    import ast

    banned = set(names)
    if student_code() is None:
        return

    def refuse(ident: str) -> None:
        if ident in banned:
            _fail(question, f"write this yourself instead of using {what}.", None)
        _fail(question, f"`{ident}` is not allowed in this answer: write the code directly (the grader "
                        "cannot check code that is built or looked up at run time).", None)

    for tree in _trees(question):
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and (node.id in banned or node.id in _DYNAMIC):
                refuse(node.id)
            elif isinstance(node, ast.Attribute) and (node.attr in banned or node.attr in _DYNAMIC):
                refuse(node.attr)
            elif isinstance(node, ast.alias):
                for part in [*(node.name.split(".")), node.asname or ""]:
                    if part in banned or part in _DYNAMIC:
                        refuse(part)
                if node.name == "*":
                    _fail(question, "`import *` is not allowed in this answer: import the names you use.", None)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(b in node.value for b in banned):
                refuse(next(b for b in banned if b in node.value))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "setattr", "delattr", "hasattr")
                  and not (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant))):
                refuse(node.func.id)
