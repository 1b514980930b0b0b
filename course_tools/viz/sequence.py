"""Message-sequence diagrams: who sent what to whom, in order, time flowing down.

    sequence_diagram(["client", "relay", "server"],
                     [("client", "relay", "POST /orders"), ("relay", "server", "POST /orders"),
                      ("server", "relay", "201 Created"), ("relay", "client", "201 Created", "lost")],
                     title="A lost response")

Each participant is a vertical lifeline; each message an arrow one row below the previous
one, labelled above its middle. An arrow's style is ``"normal"``, ``"lost"`` (dashed, and
it stops short of its receiver with a cross: the message never arrived) or ``"encrypted"``
(a second colour, for records nobody on the path can read) or ``"response"`` (dashed: an
answer to an earlier request). ``notes`` puts a remark at the right of a row; ``highlight`` names
parties (e.g. an attacker) whose messages are drawn in a warning colour; ``number=True`` numbers
the messages top to bottom. A message is an :class:`Arrow`, a tuple ``(sender, receiver, label[, style])``
(``True`` as style means lost), or any object with ``frm``, ``to``, ``label`` and optionally ``response``
attributes (e.g. :class:`course_tools.net.oauth.Message`). ``participants=None`` draws them in order of
first mention. The legend sits *below* the diagram, the title above it, so they can never
overlap (``tests/viz/test_sequence.py`` checks the drawn boxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["Arrow", "sequence_diagram", "STYLES"]

STYLES = {
    "normal": {"color": PALETTE[0], "linestyle": "-", "label": "message delivered"},
    "lost": {"color": PALETTE[3], "linestyle": "--", "label": "message lost on the way"},
    "encrypted": {"color": PALETTE[2], "linestyle": "-", "label": "encrypted (only sizes visible)"},
    "response": {"color": "#555555", "linestyle": "--", "label": "response"},
}
HIGHLIGHT = PALETTE[4]


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
        if not isinstance(m, (tuple, list)):         # a message object: frm, to, label[, response]
            return cls(str(m.frm), str(m.to), str(m.label), "response" if getattr(m, "response", False) else "normal")
        if len(m) not in (3, 4):
            raise ValueError(f"a message is (sender, receiver, label[, style]), got {m!r}")
        sender, receiver, label, *rest = m
        style = rest[0] if rest else "normal"
        if style is True:
            style = "lost"
        elif style is False or style is None:
            style = "normal"
        return cls(sender, receiver, label, style)


def sequence_diagram(participants: Sequence[str] | None, messages: Iterable, *, ax=None,
                     title: str | None = None, notes: Mapping[int, str] | None = None, row_height: float = 0.42,
                     width: float | None = None, highlight: Iterable[str] = (), number: bool = False,
                     max_label: int = 60):
    """Draw the diagram and return the figure. ``notes`` maps a message index to a remark."""
    arrows = [Arrow.of(m) for m in messages]
    if participants is None:
        participants = list(dict.fromkeys(p for a in arrows for p in (a.sender, a.receiver)))
    if not participants:
        raise ValueError("no messages to draw")
    hot = set(highlight)
    width = width or max(8.0, 2.1 * len(participants))
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
        st = dict(STYLES[a.style])
        if a.sender in hot or a.receiver in hot:
            st["color"] = HIGHLIGHT
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
        label = a.label if len(a.label) <= max_label else a.label[: max_label - 1] + "…"
        if number:
            label = f"{row + 1}. {label}"
        ax.text((x0 + x1) / 2, y + 0.06, label, ha="center", va="bottom", fontsize=8.5, zorder=5,
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
        labels = [STYLES[s]["label"] for s in used]
        if hot:
            handles.append(Line2D([0], [0], color=HIGHLIGHT))
            labels.append(f"to or from {', '.join(sorted(hot))}")
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncols=len(handles))
    return ax.figure
