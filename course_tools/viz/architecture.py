"""Pictures for the architecture lesson: the middleware onion and a dependency graph."""

from __future__ import annotations

from typing import Mapping, Sequence

from matplotlib.patches import FancyBboxPatch

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["plot_onion", "plot_dependencies", "format_trace"]


def format_trace(trace: Sequence[tuple]) -> str:
    """One line per layer crossing, indented by depth: the request going in and coming out."""
    lines, depth = [], 0
    for direction, layer, detail in trace:
        if direction == "->":
            lines.append(f"{'  ' * depth}-> {layer}")
            depth += 1
        else:
            depth = max(depth - 1, 0)
            lines.append(f"{'  ' * depth}{'<-' if direction == '<-' else '!!'} {layer} ({detail})")
    return "\n".join(lines)


def plot_onion(orders: Mapping[str, Sequence[str]], traces: Mapping[str, Sequence[tuple]] | None = None):
    """One onion per pipeline (outermost layer first); the layers a request reached are filled.

    ``traces`` (same keys) marks where the response was produced: a layer that answered
    without calling the next one, or the handler.
    """
    fig, axes = new_figure(len(orders), width=4.2 * len(orders), height=4.0)
    axes = [axes] if len(orders) == 1 else list(axes)
    for ax, (title, layers) in zip(axes, orders.items()):
        trace = list((traces or {}).get(title, ()))
        reached = {layer for d, layer, _ in trace if d == "->"}
        n = len(layers) + 1
        for i, layer in enumerate(list(layers) + ["handler"]):
            pad = i * 0.42 / n
            colour = PALETTE[i % len(PALETTE)] if layer != "handler" else "#777777"
            box = FancyBboxPatch((pad, pad * 0.9), 1 - 2 * pad, 1 - 1.8 * pad, boxstyle="round,pad=0.01",
                                 facecolor=colour, alpha=0.55 if (not trace or layer in reached) else 0.08,
                                 edgecolor=colour, linewidth=1.5)
            ax.add_patch(box)
            ax.text(0.5, 1 - pad * 0.9 - 0.045, layer, ha="center", va="center", fontsize=9,
                    fontweight="bold" if layer in reached else "normal")
        answered = _answered_by(trace)
        status = trace[-1][2] if trace and trace[-1][0] == "<-" else "a server error"
        if answered:
            ax.text(0.5, -0.06, f"answered by {answered}; client got {status}", ha="center", va="top", fontsize=9)
        ax.set_xlim(-0.02, 1.02); ax.set_ylim(-0.12, 1.02)
        ax.set_aspect("equal"); ax.axis("off")
        ax.set_title(title, fontsize=10)
    return fig


def _answered_by(trace: Sequence[tuple]) -> str | None:
    """The innermost layer that returned a response (where the request turned back)."""
    for i, (d, layer, _) in enumerate(trace):
        if d in ("<-", "!!"):
            return layer if d == "<-" else f"an exception from {layer}"
    return None


def plot_dependencies(edges: Sequence[tuple[str, str]], layers: Mapping[str, int], title: str = ""):
    """Draw ``a -> b`` (a depends on b) with nodes placed in rows by ``layers`` (0 = top)."""
    fig, ax = new_figure(width=8, height=3.6)
    rows: dict[int, list[str]] = {}
    for node, row in layers.items():
        rows.setdefault(row, []).append(node)
    pos = {}
    for row, nodes in rows.items():
        for j, node in enumerate(nodes):
            pos[node] = ((j + 1) / (len(nodes) + 1), 1 - row / max(1, max(rows)) * 0.85 - 0.07)
    for a, b in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        ax.annotate("", xy=(x2, y2 + 0.05), xytext=(x1, y1 - 0.05),
                    arrowprops=dict(arrowstyle="->", color="#555555", lw=1.2))
    for node, (x, y) in pos.items():
        ax.text(x, y, node, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.3", facecolor=PALETTE[layers[node] % len(PALETTE)], alpha=0.35))
    ax.set_xlim(0, 1); ax.set_ylim(-0.05, 1.05); ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
