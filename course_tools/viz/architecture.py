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


def _tint(colour: str, amount: float) -> tuple:
    """``colour`` mixed with white (amount 1 = the colour itself): opaque, so nested boxes do not blend."""
    from matplotlib.colors import to_rgb

    return tuple(1 - amount * (1 - c) for c in to_rgb(colour))


def plot_onion(orders: Mapping[str, Sequence[str]], traces: Mapping[str, Sequence[tuple]] | None = None):
    """One onion per pipeline (outermost layer first); the layers a request reached are coloured.

    ``traces`` (same keys, as recorded by :func:`course_tools.net.asgi.compose`) decides which
    layers are coloured and which stay grey, and the caption names the layer that answered.
    """
    fig, axes = new_figure(len(orders), width=4.2 * len(orders), height=4.2)
    axes = [axes] if len(orders) == 1 else list(axes)
    colours: dict[str, str] = {"handler": "#777777"}     # one colour per layer name, in every onion
    for layers in orders.values():
        for layer in layers:
            colours.setdefault(layer, PALETTE[(len(colours) - 1) % len(PALETTE)])
    for ax, (title, layers) in zip(axes, orders.items()):
        trace = list((traces or {}).get(title, ()))
        reached = {layer for d, layer, _ in trace if d == "->"}
        names = list(layers) + ["handler"]
        step = 0.46 / len(names)
        for i, layer in enumerate(names):
            pad = i * step
            colour = colours[layer]
            seen = not trace or layer in reached
            box = FancyBboxPatch((pad, pad), 1 - 2 * pad, 1 - 2 * pad, boxstyle="round,pad=0.005",
                                 facecolor=_tint(colour, 0.45) if seen else "#f4f4f4",
                                 edgecolor=colour if seen else "#bbbbbb", linewidth=1.5,
                                 linestyle="-" if seen else "--")
            ax.add_patch(box)
            ax.text(0.5, 1 - pad - step / 2, layer, ha="center", va="center", fontsize=9,
                    color="black" if seen else "#999999", fontweight="bold" if seen and trace else "normal")
        answered = _answered_by(trace)
        status = trace[-1][2] if trace and trace[-1][0] == "<-" else "a server error"
        if answered:
            ax.text(0.5, -0.04, f"answered by {answered}; client got {status}", ha="center", va="top", fontsize=9)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.12, 1.02)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=10)
    return fig


def _answered_by(trace: Sequence[tuple]) -> str | None:
    """The innermost layer that returned a response (where the request turned back)."""
    for i, (d, layer, _) in enumerate(trace):
        if d in ("<-", "!!"):
            return layer if d == "<-" else f"an exception from {layer}"
    return None


def plot_dependencies(edges: Sequence[tuple[str, str]], positions: Mapping[str, tuple[float, float]],
                      groups: Mapping[str, int] | None = None, creates: Sequence[tuple[str, str]] = (),
                      title: str = ""):
    """Draw ``a -> b`` for "a uses b" (solid) and for "a creates b" (``creates``, dashed).

    ``positions`` places each node (axes coordinates, 0..1); ``groups`` colours nodes by layer.
    Arrows start and end at the node boxes.
    """
    fig, ax = new_figure(width=8.5, height=4.2)
    nodes = {}
    for node, (x, y) in positions.items():
        colour = PALETTE[(groups or {}).get(node, 0) % len(PALETTE)]
        nodes[node] = ax.text(x, y, node, ha="center", va="center", fontsize=9, zorder=3,
                              bbox=dict(boxstyle="round,pad=0.35", facecolor=_tint(colour, 0.35), edgecolor=colour))
    fig.canvas.draw()      # the boxes need a size before arrows can end at them
    for style, pairs in (("-", edges), ("--", creates)):
        for a, b in pairs:
            ax.annotate("", xy=(0.5, 0.5), xycoords=nodes[b], xytext=(0.5, 0.5), textcoords=nodes[a],
                        arrowprops=dict(arrowstyle="->", color="#555555", lw=1.2, linestyle=style,
                                        patchA=nodes[a].get_bbox_patch(), patchB=nodes[b].get_bbox_patch(),
                                        shrinkA=2, shrinkB=2))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
