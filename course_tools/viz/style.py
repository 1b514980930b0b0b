"""One plot style for the whole course.

``use_course_style()`` (called in each lesson's set-up cell) applies it for the session;
``with course_style():`` applies it to one block. Colours come from a colour-blind-safe
palette (Okabe & Ito), always in the same order so that e.g. LRU has one colour everywhere.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import matplotlib

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

RC = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "font.size": 10,
    "svg.hashsalt": "course",  # stable SVG ids: outputs diff cleanly
}


def _rc() -> dict:
    from cycler import cycler

    return {**RC, "axes.prop_cycle": cycler(color=PALETTE)}


def use_course_style() -> None:
    """Apply the course style to every later plot in this process."""
    matplotlib.rcParams.update(_rc())


@contextlib.contextmanager
def course_style() -> Iterator[None]:
    """Apply the course style inside a ``with`` block only.

    ``rc_context`` restores every rcParam on exit, ``interactive`` included. If the first
    figure of a Jupyter session is created inside the block, the inline backend switches
    interactive mode on *inside* it, and the restore would switch it off again: later
    figures would never be shown. So interactive mode survives the block.
    """
    with matplotlib.rc_context(_rc()):
        try:
            yield
        finally:
            interactive = matplotlib.is_interactive()
    matplotlib.interactive(interactive)


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None, **kw):
    """``plt.subplots`` with the course's sizes; returns ``(fig, axes)``."""
    import matplotlib.pyplot as plt

    w = width or RC["figure.figsize"][0]
    h = height or RC["figure.figsize"][1] * (1 if nrows == 1 else 0.8 * nrows)
    with course_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), layout="constrained", **kw)
    return fig, axes


def layout_problems(fig) -> list[str]:
    """What a reader would see as broken in ``fig``: a legend over a title, or a title or legend cut off
    by the figure's edge. Empty when the layout is clean. Tests call it on every figure a plot helper draws."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    titles, legends = [], []
    for ax in fig.axes:
        for t in (ax.title, ax._left_title, ax._right_title):
            if t.get_text().strip() and t.get_visible():
                titles.append((f"title {t.get_text()[:40]!r}", t.get_window_extent(renderer)))
        leg = ax.get_legend()
        if leg is not None and leg.get_visible():
            legends.append((f"legend of axes {fig.axes.index(ax)}", leg.get_window_extent(renderer)))
    if fig._suptitle is not None and fig._suptitle.get_text().strip():
        titles.append((f"suptitle {fig._suptitle.get_text()[:40]!r}", fig._suptitle.get_window_extent(renderer)))
    for leg in fig.legends:
        legends.append(("figure legend", leg.get_window_extent(renderer)))
    problems = []
    for lname, lbox in legends:
        for tname, tbox in titles:
            if lbox.overlaps(tbox):
                problems.append(f"{lname} overlaps {tname}")
    for name, box in titles + legends:
        if box.x0 < fig_box.x0 - 1 or box.x1 > fig_box.x1 + 1 or box.y0 < fig_box.y0 - 1 or box.y1 > fig_box.y1 + 1:
            problems.append(f"{name} is cut off by the figure's edge")
    return problems


def fit_labels(ui):
    """Give every control of an ``ipywidgets.interactive`` (or box) room for its whole description and
    option labels, so that none is cut off ("coherency (µs)", "CP (majority quorum)"). Returns ``ui``."""
    for child in getattr(ui, "children", ()):
        style = getattr(child, "style", None)
        if style is None:
            continue
        if getattr(child, "description", "") and hasattr(style, "description_width"):
            style.description_width = "initial"
        if hasattr(style, "button_width"):
            style.button_width = "auto"
    return ui
