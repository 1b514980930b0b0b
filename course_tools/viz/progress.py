"""The course map as a picture: one square per objective, coloured by the learner's status."""

from __future__ import annotations

from typing import Mapping

from course_tools.progress import STATUSES, ObjectiveProgress
from course_tools.syllabus import CHAPTERS
from course_tools.viz.style import PALETTE, new_figure

COLOURS = {"not started": "#E5E5E5", "practised": PALETTE[5], "self-checked": PALETTE[0], "passed": PALETTE[2]}


def plot_progress(status: Mapping[str, ObjectiveProgress], *, title: str = "Your progress per objective"):
    """Rows are chapters, squares their objectives (★ = core); an empty map for a learner who has done nothing."""
    from matplotlib.patches import Patch, Rectangle

    width = max(len(ch.objectives) for ch in CHAPTERS)
    fig, ax = new_figure(width=7.5, height=0.42 * len(CHAPTERS) + 1.2)
    for row, ch in enumerate(CHAPTERS):
        y = len(CHAPTERS) - 1 - row
        for col, o in enumerate(ch.objectives):
            st = status[o.id].status if o.id in status else "not started"
            ax.add_patch(Rectangle((col + 0.05, y + 0.08), 0.9, 0.84, color=COLOURS[st]))
            ax.text(col + 0.5, y + 0.5, o.id + (" ★" if o.core else ""), ha="center", va="center", fontsize=7,
                    color="black" if st in ("not started", "practised") else "white")
    ax.set_xlim(0, width)
    ax.set_ylim(0, len(CHAPTERS))
    ax.set_yticks([len(CHAPTERS) - 1 - r + 0.5 for r in range(len(CHAPTERS))],
                  [f"{ch.number} {ch.title[:26]}" for ch in CHAPTERS], fontsize=8)
    ax.set_xticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    done = sum(p.status != "not started" for p in status.values())
    ax.set_title(f"{title}: {done} of {len(status)} objectives started", loc="left")
    ax.legend([Patch(color=COLOURS[s]) for s in STATUSES], STATUSES, loc="upper center", ncols=len(STATUSES),
              bbox_to_anchor=(0.5, -0.02))
    return fig
