"""What ``course report`` adds for an assessment with a pass mark (the section assessment).

* the score distribution against the pass line, and the pass rate;
* mastery per objective, lowest first: which objectives most learners miss;
* mastery per chapter (all objectives of a chapter together).

A learner *masters* an objective (or a chapter) when they earned at least
:data:`course_tools.grading.report.MASTERY` of its points. Only graded submissions count;
failed or ungraded ones are counted in the main report, never averaged in as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course_tools.grading import results as R
from course_tools.grading.export import class_results
from course_tools.grading.passmark import pass_mark, passed
from course_tools.syllabus import CHAPTERS, OBJECTIVES, chapter_of

__all__ = ["Mastery", "SectionReport", "build", "format_text", "figures", "write_plots", "extend"]


@dataclass
class Mastery:
    id: str                   # objective id ("2.7.3") or chapter number ("2.7")
    title: str
    earned: float = 0.0
    possible: float = 0.0
    learners: int = 0         # graded learners with points possible here
    mastered: int = 0

    @property
    def fraction(self) -> float | None:
        return self.earned / self.possible if self.possible else None

    @property
    def mastery_rate(self) -> float | None:
        return self.mastered / self.learners if self.learners else None


@dataclass
class SectionReport:
    assignment: str
    pass_mark: float
    max_score: float | None
    scores: list[float] = field(default_factory=list)
    passed: int = 0
    objectives: list[Mastery] = field(default_factory=list)   # lowest mastery first
    chapters: list[Mastery] = field(default_factory=list)     # in syllabus order

    @property
    def pass_line(self) -> float | None:
        return None if self.max_score is None else self.pass_mark * self.max_score

    @property
    def pass_rate(self) -> float | None:
        return self.passed / len(self.scores) if self.scores else None


def build(course_dir: Path | str, assignment: str) -> SectionReport | None:
    """The section statistics, or None for an assessment without a pass mark."""
    from course_tools.grading.report import MASTERY

    mark = pass_mark(course_dir, assignment)
    if mark is None:
        return None
    graded = [r for r in class_results(course_dir, assignment).results if r.status == R.GRADED]
    rep = SectionReport(assignment, mark, max((r.max_score for r in graded), default=None))
    objs: dict[str, Mastery] = {}
    chaps: dict[str, Mastery] = {c.number: Mastery(c.number, c.title) for c in CHAPTERS}
    for r in graded:
        rep.scores.append(r.score)
        rep.passed += bool(passed(r.score, r.max_score, mark))
        mine: dict[str, list[float]] = {}
        for cell in r.cells():
            for o in cell.objectives:
                for key in (o, chapter_of(o).number if o in OBJECTIVES else None):
                    if key is None:
                        continue
                    acc = mine.setdefault(key, [0.0, 0.0])
                    acc[0] += cell.points
                    acc[1] += cell.max_points
        for key, (earned, possible) in mine.items():
            if not possible:
                continue
            m = chaps.get(key) or objs.setdefault(key, Mastery(key, OBJECTIVES[key].title if key in OBJECTIVES
                                                                   else "(unknown id)"))
            m.earned += earned
            m.possible += possible
            m.learners += 1
            m.mastered += earned / possible >= MASTERY
    rep.scores.sort()
    rep.objectives = sorted(objs.values(), key=lambda m: (m.mastery_rate if m.mastery_rate is not None else 2,
                                                          m.fraction or 0, [int(p) for p in m.id.split(".")]))
    rep.chapters = [m for m in chaps.values() if m.possible]
    return rep


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


def format_text(s: SectionReport, most_missed: int = 5) -> str:
    from course_tools.grading.report import MASTERY, _table

    n = len(s.scores)
    line = "—" if s.pass_line is None else f"{s.pass_line:g} / {s.max_score:g}"
    out = ["", f"Pass mark {_pct(s.pass_mark)} (pass line {line}): {s.passed} of {n} graded learner(s) passed"
               f" — pass rate {_pct(s.pass_rate)}"]
    if s.scores:
        below = sum(1 for x in s.scores if not passed(x, s.max_score or 0, s.pass_mark))
        out.append(f"scores: min {s.scores[0]:g}, median {s.scores[len(s.scores) // 2]:g}, max {s.scores[-1]:g}; "
                   f"{below} below the pass line")
    out += ["", f"Per chapter (mastered = at least {MASTERY:.0%} of the chapter's points)"]
    out += _table(["chapter", "points %", "mastered", "title"],
                  [[c.id, _pct(c.fraction), f"{c.mastered}/{c.learners}", c.title] for c in s.chapters])
    missed = [o for o in s.objectives if o.mastery_rate is not None and o.mastery_rate < 1][:most_missed]
    out += ["", "Objectives most learners miss (lowest mastery first)"]
    if missed:
        out += _table(["objective", "mastered", "points %", "title"],
                      [[o.id, f"{o.mastered}/{o.learners}", _pct(o.fraction), o.title] for o in missed])
    else:
        out.append("  none: every graded learner mastered every objective")
    return "\n".join(out)


def figures(s: SectionReport) -> dict[str, "Figure"]:  # noqa: F821
    """``{"pass_line.png": score histogram and the pass line, "chapters.png": mastery per chapter}``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from course_tools.grading.report import MASTERY
    from course_tools.viz.style import PALETTE, RC, course_style

    figs = {}
    w, h = RC["figure.figsize"]
    with course_style():
        fig = Figure(figsize=(w, h), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        top = s.max_score or max(s.scores, default=1.0) or 1.0
        below = [x for x in s.scores if not passed(x, top, s.pass_mark)]
        above = [x for x in s.scores if passed(x, top, s.pass_mark)]
        # one bar per point, [k, k + 1): the pass line at an integer score is a bar edge, so every bar is
        # entirely on one side of it
        edges = list(range(0, int(top) + 2)) if top <= 200 else None
        ax.hist([below, above], bins=edges or 40, range=None if edges else (0, top), stacked=True,
                color=[PALETTE[3], PALETTE[2]], label=["not yet", "passed"])
        if s.pass_line is not None:
            ax.axvline(s.pass_line, color=PALETTE[7], linestyle="--", linewidth=1.5,
                       label=f"pass line {s.pass_line:g} ({_pct(s.pass_mark)})")
        ax.set_xlabel("score")
        ax.set_ylabel("graded learners")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{s.assignment}: scores, pass rate {_pct(s.pass_rate)} (n = {len(s.scores)})")
        fig.legend(loc="outside lower center", ncols=3)
        figs["pass_line.png"] = fig

        fig = Figure(figsize=(w, max(h, 0.45 * len(s.chapters) + 1.4)), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        chaps = s.chapters[::-1]
        labels = [f"{c.id} {c.title}" for c in chaps]
        ax.barh(labels, [100 * (c.fraction or 0) for c in chaps], color=PALETTE[2], label="points %")
        ax.barh(labels, [100 * (c.mastery_rate or 0) for c in chaps], height=0.35, color=PALETTE[1],
                label=f"learners with >= {MASTERY:.0%}")
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.set_title(f"{s.assignment}: mastery per chapter")
        fig.legend(loc="outside lower center", ncols=2)
        figs["chapters.png"] = fig
    return figs


def write_plots(s: SectionReport, out_dir: Path | str) -> list[Path]:
    """Save :func:`figures` as PNG files under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures(s).items():
        fig.savefig(out_dir / name, format="png")
        written.append(out_dir / name)
    return written


def extend(course_dir: Path | str, assignment: str, out_dir: Path | str | None, *,
           plots: bool = True) -> tuple[str, list[Path]]:
    """``(text, plot paths)`` to add to ``course report``; ``("", [])`` without a pass mark."""
    s = build(course_dir, assignment)
    if s is None:
        return "", []
    return format_text(s), (write_plots(s, out_dir) if plots and out_dir is not None else [])
