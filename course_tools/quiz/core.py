"""Questions, options with explanations, and their two front-ends (widgets and text)."""

from __future__ import annotations

import html
import os
import string
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Option", "Question", "Quiz", "widgets_available"]

LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool = False
    why: str = ""

    def __post_init__(self) -> None:
        if not self.why.strip():
            raise ValueError(f"option {self.text!r} needs an explanation (why=...)")


@dataclass(frozen=True)
class Question:
    prompt: str
    options: Sequence[Option]
    objectives: tuple[str, ...] = ()
    source: str = ""  # primary source backing the answer, e.g. "RFC 9110 §15.5.21"

    def __post_init__(self) -> None:
        if len(self.options) < 2:
            raise ValueError(f"question {self.prompt!r} needs at least two options")
        if sum(o.correct for o in self.options) != 1:
            raise ValueError(f"question {self.prompt!r} needs exactly one correct option")

    @property
    def answer(self) -> str:
        return LETTERS[next(i for i, o in enumerate(self.options) if o.correct)]

    def feedback(self, letter: str) -> tuple[bool, str]:
        """``(correct, explanation)`` for the option with this letter."""
        letter = str(letter).strip().lower()
        valid = LETTERS[: len(self.options)]
        if len(letter) != 1 or letter not in valid:
            raise ValueError(f"choose one of {', '.join(LETTERS[:len(self.options)])}")
        opt = self.options[LETTERS.index(letter)]
        return opt.correct, opt.why

    def as_text(self, number: int) -> str:
        tag = f"  [{', '.join(self.objectives)}]" if self.objectives else ""
        lines = [f"Q{number}. {self.prompt}{tag}"]
        lines += [f"   ({LETTERS[i]}) {o.text}" for i, o in enumerate(self.options)]
        return "\n".join(lines)


def widgets_available() -> bool:
    """True inside an IPython kernel with ipywidgets, unless COURSE_QUIZ_TEXT=1 forces text."""
    if os.environ.get("COURSE_QUIZ_TEXT", "").strip() not in ("", "0"):
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None or not hasattr(ip, "kernel"):
            return False
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class Quiz:
    """A list of questions with a widget front-end and a text fallback."""

    def __init__(self, questions: Sequence[Question], title: str = "Self-check") -> None:
        self.questions = list(questions)
        self.title = title
        self.keys: list[str] = []          # "<slug>:<id>" per question, when loaded from a bank
        self.hint = "quiz.check(question_number, 'letter')"

    def __len__(self) -> int:
        return len(self.questions)

    def as_text(self) -> str:
        parts = [f"{self.title} ({len(self)} questions)"]
        parts += [q.as_text(i + 1) for i, q in enumerate(self.questions)]
        parts.append(f"Check an answer with {self.hint}.")
        return "\n\n".join(parts)

    def _record(self, index: int, ok: bool) -> None:
        if self.keys:
            from course_tools.progress import record_self_check

            record_self_check(self.keys[index], self.questions[index].objectives, ok)

    def check(self, number: int, letter: str) -> bool:
        """Print whether ``letter`` answers question ``number`` (1-based) and why."""
        q = self.questions[number - 1]
        ok, why = q.feedback(letter)
        self._record(number - 1, ok)
        print(f"Q{number} ({letter}): {'correct' if ok else 'not quite'}. {why}")
        if not ok:
            print("Try another option; every option has its own explanation.")
        return ok

    def _widget(self):
        import ipywidgets as w

        boxes = [w.HTML(f"<h4>{html.escape(self.title)}</h4>")]
        for n, q in enumerate(self.questions, 1):
            radio = w.RadioButtons(
                options=[(f"({LETTERS[i]}) {o.text}", LETTERS[i]) for i, o in enumerate(q.options)],
                value=None, layout=w.Layout(width="auto"),
            )
            button = w.Button(description="Check", button_style="primary", layout=w.Layout(width="90px"))
            out = w.HTML()

            def on_click(_b, q=q, radio=radio, out=out, index=n - 1):
                if radio.value is None:
                    out.value = "<i>Choose an option first.</i>"
                    return
                ok, why = q.feedback(radio.value)
                self._record(index, ok)
                colour = "#009E73" if ok else "#D55E00"
                verdict = "Correct." if ok else "Not quite."
                out.value = f"<span style='color:{colour}'><b>{verdict}</b></span> {html.escape(why)}"

            button.on_click(on_click)
            tag = f" <small>[{', '.join(q.objectives)}]</small>" if q.objectives else ""
            boxes.append(w.VBox([w.HTML(f"<b>Q{n}.</b> {html.escape(q.prompt)}{tag}"), radio, button, out]))
        return w.VBox(boxes)

    def show(self) -> None:
        """Display the quiz: widgets where they render, the same text everywhere else."""
        text = self.as_text()
        if not widgets_available():
            print(text)
            return
        from IPython.display import display

        widget = self._widget()
        bundle = widget._repr_mimebundle_() or {}
        bundle = dict(bundle)
        bundle["text/plain"] = text  # what nbval, nbconvert and terminals show
        display(bundle, raw=True)

    def _repr_pretty_(self, p, cycle) -> None:  # a bare `quiz` at the end of a cell prints the text
        p.text(self.as_text())
