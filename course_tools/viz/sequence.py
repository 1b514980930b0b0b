"""Sequence diagrams of messages between parties (OAuth flows, retries, replication, 2PC…).

    sequence_diagram([("browser", "client", "GET /login"),
                      ("client", "browser", "302 → /authorize", True)])

A message is a tuple ``(frm, to, label)`` or ``(frm, to, label, is_response)``, or any object
with ``frm``, ``to``, ``label`` (and optionally ``response``) attributes, such as
:class:`course_tools.net.oauth.Message`. Requests are solid arrows, responses dashed;
messages are numbered top to bottom in the order given. Participants appear in order of first
mention unless ``participants`` fixes the order.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["sequence_diagram", "normalise_messages"]


def normalise_messages(messages: Iterable) -> list[tuple[str, str, str, bool]]:
    out = []
    for m in messages:
        if isinstance(m, (tuple, list)):
            if len(m) not in (3, 4):
                raise ValueError(f"a message is (frm, to, label[, is_response]), got {m!r}")
            frm, to, label = m[:3]
            resp = bool(m[3]) if len(m) == 4 else False
        else:
            frm, to, label, resp = m.frm, m.to, m.label, bool(getattr(m, "response", False))
        out.append((str(frm), str(to), str(label), resp))
    return out


def sequence_diagram(messages: Iterable, *, participants: Sequence[str] | None = None, title: str = "",
                     highlight: Iterable[str] = (), ax=None, max_label: int = 48):
    """Draw the messages as a UML-style sequence diagram; returns the Axes.

    ``highlight`` names parties whose messages are drawn in a warning colour (e.g. "attacker").
    """
    msgs = normalise_messages(messages)
    names = list(participants or [])
    for frm, to, _, _ in msgs:
        for p in (frm, to):
            if p not in names:
                names.append(p)
    if not names:
        raise ValueError("no messages to draw")
    x = {p: i for i, p in enumerate(names)}
    hot = set(highlight)
    n = len(msgs)
    if ax is None:
        _, ax = new_figure(width=max(6.0, 2.1 * len(names)), height=1.0 + 0.36 * (n + 1))
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(n + 0.6, -0.9)
    ax.axis("off")
    for p, i in x.items():
        ax.plot([i, i], [-0.4, n + 0.5], color="#999999", lw=1, ls=(0, (2, 2)), zorder=0)
        ax.text(i, -0.55, p, ha="center", va="bottom", fontsize=10, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.3", fc="#f2f2f2", ec="#888888"))
    for k, (frm, to, label, resp) in enumerate(msgs, start=1):
        y = k
        colour = PALETTE[3] if (frm in hot or to in hot) else (PALETTE[0] if not resp else "#555555")
        text = label if len(label) <= max_label else label[: max_label - 1] + "…"
        if frm == to:
            ax.annotate("", xy=(x[to] + 0.02, y + 0.3), xytext=(x[frm] + 0.02, y),
                        arrowprops=dict(arrowstyle="-|>", color=colour, connectionstyle="arc3,rad=-1.2"))
            ax.text(x[frm] + 0.15, y, f"{k}. {text}", fontsize=8, va="center", color=colour)
            continue
        ax.annotate("", xy=(x[to], y), xytext=(x[frm], y),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.4, ls="--" if resp else "-"))
        ax.text((x[frm] + x[to]) / 2, y - 0.08, f"{k}. {text}", ha="center", va="bottom", fontsize=8, color=colour)
    if title:
        ax.set_title(title, pad=22)
    return ax
