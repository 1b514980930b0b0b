"""Plots for the Auth chapter: how long an attacker needs to exhaust a password space."""

from __future__ import annotations

from typing import Mapping

from course_tools.security.passwords import exhaustion_seconds, human_duration
from course_tools.viz.style import PALETTE, new_figure

__all__ = ["plot_exhaustion"]

_MARKS = [(1, "1 s"), (3600, "1 hour"), (86400, "1 day"), (365.25 * 86400, "1 year"),
          (1000 * 365.25 * 86400, "1000 years")]


def plot_exhaustion(rates: Mapping[str, object], *, alphabet: int = 26, length: int = 8, title: str | None = None,
                    ax=None):
    """Horizontal bars on a log scale: seconds for one core to try all ``alphabet**length``
    passwords at each measured rate (``rates``: name -> object with ``label`` and ``rate``)."""
    if ax is None:
        _, ax = new_figure(width=9, height=2.8)
    items = list(rates.values())
    secs = [exhaustion_seconds(r.rate, alphabet=alphabet, length=length) for r in items]
    ax.barh([r.label for r in items], secs, color=PALETTE[: len(items)])
    ax.set_xscale("log")
    lo, hi = min(secs) / 20, max(secs) * 50
    ax.set_xlim(lo, hi)
    for s, lab in _MARKS:
        if lo < s < hi:
            ax.axvline(s, color="#999999", lw=0.8, ls=":")
            ax.text(s, -0.5, lab, fontsize=8, color="#666666", ha="center", va="bottom")
    for i, s in enumerate(secs):
        ax.text(s * 1.15, i, human_duration(s), va="center", fontsize=9)
    ax.set_ylim(len(items) - 0.5, -0.75)
    ax.set_xlabel(f"seconds for one core to try all {alphabet}^{length} = {alphabet ** length:.2e} passwords (log)")
    ax.set_title(title or f"Time to exhaust {length}-character lowercase passwords (rates measured here)", pad=16)
    return ax
