"""Message-sequence diagrams: who sent what to whom, in order, time flowing down.

    sequence_diagram(["client", "relay", "server"],
                     [("client", "relay", "POST /orders"), ("relay", "server", "POST /orders"),
                      ("server", "relay", "201 Created"), ("relay", "client", "201 Created", "lost")],
                     title="A lost response")

Each participant is a vertical lifeline; each message an arrow one row below the previous
one, labelled above its middle. An arrow's style is ``"normal"``, ``"lost"`` (dashed, and
it stops short of its receiver with a cross: the message never arrived) or ``"encrypted"``
(a second colour, for records nobody on the path can read). ``notes`` puts a remark at the
right of a row. The legend sits *below* the diagram, the title above it, so they can never
overlap (``tests/viz/test_sequence.py`` checks the drawn boxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["Arrow", "sequence_diagram", "STYLES"]

STYLES = {
    "normal": {"color": PALETTE[0], "linestyle": "-", "label": "message delivered"},
    "lost": {"color": PALETTE[3], "linestyle": "--", "label": "message lost on the way"},
    "encrypted": {"color": PALETTE[2], "linestyle": "-", "label": "encrypted (only sizes visible)"},
}


@dataclass(frozen=True)
class Arrow:
    """One message: ``sender -> receiver`` with a ``label`` and a ``style`` from :data:`STYLES`."""

    sender: str
    receiver: str
    label: str
    style: str = "normal"

    @classmethod
    def of(cls, m: "Arrow | Sequence") -> "Arrow":
        if isinstance(m, Arrow):
            return m
        sender, receiver, label, *rest = m
        style = rest[0] if rest else "normal"
        if style is True:
            style = "lost"
        elif style is False or style is None:
            style = "normal"
        return cls(sender, receiver, label, style)


def sequence_diagram(participants: Sequence[str], messages: Sequence["Arrow | Sequence"], *, ax=None,
                     title: str | None = None, notes: Mapping[int, str] | None = None, row_height: float = 0.42,
                     width: float = 8.0):
    """Draw the diagram and return the figure. ``notes`` maps a message index to a remark."""
    arrows = [Arrow.of(m) for m in messages]
    unknown = {a.sender for a in arrows} | {a.receiver for a in arrows}
    unknown -= set(participants)
    if unknown:
        raise ValueError(f"messages name participants that are not drawn: {sorted(unknown)}")
    bad = {a.style for a in arrows} - set(STYLES)
    if bad:
        raise ValueError(f"unknown arrow styles {sorted(bad)}; use one of {sorted(STYLES)}")
    notes = dict(notes or {})
    if ax is None:
        _, ax = new_figure(width=width, height=1.4 + row_height * (len(arrows) + 1))
    x = {p: i for i, p in enumerate(participants)}
    n = len(arrows)
    bottom = -(n + 0.6)
    for p, i in x.items():
        ax.plot([i, i], [0.1, bottom], color="#888888", linewidth=1, zorder=1)
        ax.text(i, 0.35, p, ha="center", va="bottom", fontweight="bold",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "#F2F2F2", "edgecolor": "#888888"})
    used = []
    for row, a in enumerate(arrows):
        y = -(row + 0.7)
        x0, x1 = x[a.sender], x[a.receiver]
        st = STYLES[a.style]
        if a.style not in used:
            used.append(a.style)
        end = x1 if a.style != "lost" else x0 + (x1 - x0) * 0.6
        if x0 == x1:                                   # a message to oneself: a small loop
            ax.annotate("", xy=(x0, y - 0.25), xytext=(x0, y), zorder=3,
                        arrowprops={"arrowstyle": "-|>", "color": st["color"], "connectionstyle": "arc3,rad=-1.2"})
        else:
            ax.annotate("", xy=(end, y), xytext=(x0, y), zorder=3,
                        arrowprops={"arrowstyle": "-|>" if a.style != "lost" else "-", "color": st["color"],
                                    "linestyle": st["linestyle"], "linewidth": 1.6})
        if a.style == "lost":
            ax.plot([end], [y], marker="x", markersize=9, markeredgewidth=2.5, color=st["color"], zorder=4)
        ax.text((x0 + x1) / 2, y + 0.06, a.label, ha="center", va="bottom", fontsize=8.5, zorder=5,
                bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
        if row in notes:
            ax.text(len(participants) - 0.55, y, notes[row], ha="left", va="center", fontsize=8.5,
                    style="italic", color="#444444")
    right = len(participants) - 0.4 + (1.6 if notes else 0)
    ax.set_xlim(-0.6, right)
    ax.set_ylim(bottom - 0.1, 0.9)
    ax.axis("off")
    if title:
        ax.set_title(title, loc="left")
    if used:
        from matplotlib.lines import Line2D

        handles = [Line2D([0], [0], color=STYLES[s]["color"], linestyle=STYLES[s]["linestyle"]) for s in used]
        ax.legend(handles, [STYLES[s]["label"] for s in used], loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncols=len(used))
    return ax.figure
