"""Question banks: a chapter's self-check questions live in ``banks/<slug>.toml``, not in the lesson.

A lesson's last cell is one short call, so the correct option and its explanation are not on
screen before the learner answers::

    from course_tools.quiz import self_check
    self_check("08_caching")                 # the bank's default part, "main"
    self_check("01_http", "status-codes")    # another part of the same bank

``check_answer("08_caching", 1, "b")`` prints the explanation of one option where widgets do
not render (a terminal, nbconvert).

Bank format (TOML, read with the standard library's ``tomllib``)::

    title = "Self-check"                  # optional default title for every part

    [[question]]
    id = "write-back-crash"               # stable within the bank; progress is recorded by "<slug>:<id>"
    part = "main"                         # optional, default "main"
    objectives = ["2.8.1"]
    source = "RFC 9111 §5.2.2"            # optional: the primary source backing the answer
    prompt = "..."
    options = [
      { text = "...", why = "..." },
      { text = "...", why = "...", correct = true },
    ]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from course_tools.quiz.core import Option, Question, Quiz

__all__ = ["BANK_DIR", "BankError", "BankQuestion", "bank_slugs", "load_bank", "load_quiz", "self_check",
           "check_answer"]

BANK_DIR = Path(__file__).with_name("banks")
_KEYS = {"id", "part", "objectives", "source", "prompt", "options"}
_OPTION_KEYS = {"text", "why", "correct"}


class BankError(ValueError):
    """A question bank is missing or malformed (the message names the file and the question)."""


@dataclass(frozen=True)
class BankQuestion:
    slug: str
    id: str
    part: str
    question: Question

    @property
    def key(self) -> str:
        return f"{self.slug}:{self.id}"


def bank_slugs() -> list[str]:
    return sorted(p.stem for p in BANK_DIR.glob("*.toml"))


@lru_cache(maxsize=None)
def _load(slug: str) -> tuple[str, tuple[BankQuestion, ...]]:
    path = BANK_DIR / f"{slug}.toml"
    if not path.is_file():
        raise BankError(f"no question bank {path.name} (have: {', '.join(bank_slugs()) or 'none'})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BankError(f"{path.name}: {exc}") from None
    out: list[BankQuestion] = []
    seen: set[str] = set()
    for n, q in enumerate(data.get("question", []), 1):
        where = f"{path.name}, question {n} ({q.get('id', 'no id')})"
        extra = set(q) - _KEYS
        if extra or not {"id", "prompt", "options"} <= set(q):
            raise BankError(f"{where}: needs id, prompt, options; unknown keys {sorted(extra)}")
        if q["id"] in seen:
            raise BankError(f"{where}: duplicate id")
        seen.add(q["id"])
        options = []
        for o in q["options"]:
            if set(o) - _OPTION_KEYS or "text" not in o:
                raise BankError(f"{where}: an option needs text and why, got keys {sorted(o)}")
            options.append(Option(o["text"], bool(o.get("correct", False)), o.get("why", "")))
        try:
            question = Question(q["prompt"], options, tuple(q.get("objectives", ())), q.get("source", ""))
        except ValueError as exc:
            raise BankError(f"{where}: {exc}") from None
        out.append(BankQuestion(slug, q["id"], q.get("part", "main"), question))
    return data.get("title", "Self-check"), tuple(out)


def load_bank(slug: str) -> list[BankQuestion]:
    """Every question of a bank, in file order."""
    return list(_load(slug)[1])


def load_quiz(slug: str, part: str = "main") -> Quiz:
    """The quiz for one part of a bank (not displayed)."""
    title, questions = _load(slug)
    chosen = [bq for bq in questions if bq.part == part]
    if not chosen:
        parts = sorted({bq.part for bq in questions})
        raise BankError(f"{slug}.toml has no part {part!r} (parts: {', '.join(parts)})")
    quiz = Quiz([bq.question for bq in chosen], title=title)
    quiz.keys = [bq.key for bq in chosen]
    quiz.hint = f"check_answer({slug!r}, question_number, 'letter'" + (f", part={part!r})" if part != "main" else ")")
    return quiz


def self_check(slug: str, part: str = "main") -> None:
    """Show a lesson's self-check: widgets in JupyterLab, text elsewhere. Returns nothing, so the
    quiz is shown once."""
    load_quiz(slug, part).show()


def check_answer(slug: str, number: int, letter: str, part: str = "main") -> bool:
    """Print whether ``letter`` answers question ``number`` (1-based) of a bank's part, and why."""
    return load_quiz(slug, part).check(number, letter)
