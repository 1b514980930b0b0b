"""Plots and widgets for the concurrency lesson: timelines, speed-ups, interleavings, wait-for graphs.

Everything draws with matplotlib in the course style (``course_tools.viz.style``) and
returns the figure, so a headless run (nbval) renders the same picture a learner sees.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Mapping, Sequence

from course_tools.sim.concurrency import PoolRun, Timeline
from course_tools.sim.interleave import Trace, find_cycle, wait_for_graph
from course_tools.viz.style import PALETTE, new_figure, fit_labels

__all__ = [
    "plot_timeline", "compare_timelines", "plot_speedup", "plot_outcomes", "draw_wait_for",
    "plot_pool", "step_through", "timeline_explorer", "plot_core_use",
]

_IO = "#BBBBBB"


def plot_timeline(timeline: Timeline, ax=None, *, title: str | None = None):
    """One row per task: CPU bursts coloured by the core they ran on, I/O waits hatched grey."""
    if ax is None:
        fig, ax = new_figure(height=1.0 + 0.45 * len(timeline.finish))
    tasks = sorted({s.task for s in timeline.segments})
    rows = {t: i for i, t in enumerate(reversed(tasks))}
    for s in timeline.segments:
        y = rows[s.task]
        if s.kind == "cpu":
            ax.barh(y, s.end - s.start, left=s.start, height=0.6, color=PALETTE[s.core % len(PALETTE)],
                    edgecolor="white", linewidth=0.8)
        else:
            ax.barh(y, s.end - s.start, left=s.start, height=0.3, color="none", edgecolor=_IO, hatch="///")
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.set_xlabel("virtual time (s)")
    ax.set_xlim(0, max(timeline.makespan, 1e-9) * 1.02)
    ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch

    handles = [Patch(color=PALETTE[c]) for c in range(timeline.cores)]
    labels = [f"running on core {c}" for c in range(timeline.cores)]
    if any(s.kind == "io" for s in timeline.segments):
        handles.append(Patch(facecolor="none", edgecolor=_IO, hatch="///"))
        labels.append("waiting for I/O (no core)")
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5))   # beside the plot, never over the title
    ax.set_title(title or f"{timeline.cores} core(s): done at t = {timeline.makespan:g} s", loc="left")
    return ax.figure


def compare_timelines(timelines: Sequence[Timeline], titles: Sequence[str] | None = None):
    """Timelines stacked on one shared time axis."""
    n_tasks = max(len(t.finish) for t in timelines)
    fig, axes = new_figure(nrows=len(timelines), height=len(timelines) * (1.2 + 0.45 * n_tasks), sharex=True)
    axes = list(axes) if len(timelines) > 1 else [axes]
    for i, (tl, ax) in enumerate(zip(timelines, axes)):
        plot_timeline(tl, ax, title=(titles[i] if titles else None))
    end = max(t.makespan for t in timelines)
    for ax in axes:
        ax.set_xlim(0, end * 1.02)
    return fig


def plot_speedup(results: Mapping[str, Mapping[str, list[tuple[int, float]]]], *, cores: int | None = None):
    """Speed-up over the sequential run vs number of workers, one panel per workload.

    ``results`` maps a workload name ("I/O-bound: sleeps") to ``speedups(...)`` output.
    The dotted line is the ideal (speed-up = workers); ``cores`` draws the core count.
    """
    fig, axes = new_figure(ncols=len(results), width=3.4 * len(results), height=3.2)
    axes = list(axes) if len(results) > 1 else [axes]
    colours = {"threads": PALETTE[0], "processes": PALETTE[1], "asyncio": PALETTE[2]}
    markers = {"threads": "o", "processes": "s", "asyncio": "*"}
    for ax, (name, per_method) in zip(axes, results.items()):
        ws = sorted({w for pts in per_method.values() for w, _ in pts} | {1})
        ax.plot(ws, ws, ":", color="grey", linewidth=1, label="ideal (= workers)")
        for how, pts in per_method.items():
            xs, ys = zip(*pts)
            style = "" if how == "asyncio" else "-"
            ax.plot(xs, ys, style + markers.get(how, "o"), color=colours.get(how), label=how,
                    markersize=10 if how == "asyncio" else 6)
        if cores:
            ax.axvline(cores, color=PALETTE[3], linewidth=1, alpha=0.6, label=f"{cores} cores on this machine")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({w for pts in per_method.values() for w, _ in pts}))
        ax.get_xaxis().set_major_formatter("{x:g}")
        ax.set_xlabel("workers (tasks in flight)")
        ax.set_title(name, loc="left")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("speed-up vs sequential")
    return fig


def plot_outcomes(counts: Counter | Mapping, *, bad: Iterable = (), title: str = "", xlabel: str = "final value"):
    """How many interleavings end in each outcome; ``bad`` outcomes in red."""
    bad = set(bad)
    fig, ax = new_figure(width=5.0, height=2.8)
    keys = sorted(counts, key=lambda k: (isinstance(k, str), str(k)))
    colours = [PALETTE[3] if k in bad else PALETTE[2] for k in keys]
    bars = ax.bar([str(k) for k in keys], [counts[k] for k in keys], color=colours)
    ax.bar_label(bars)
    total = sum(counts.values())
    ax.set_title(title or f"{total} interleavings", loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("interleavings")
    ax.grid(axis="x", visible=False)
    return fig


def _ring(nodes: list[str]) -> dict[str, tuple[float, float]]:
    """Nodes evenly on a circle, the first at the top, clockwise."""
    return {n: (math.cos(math.pi / 2 - 2 * math.pi * i / len(nodes)), math.sin(math.pi / 2 - 2 * math.pi * i / len(nodes)))
            for i, n in enumerate(nodes)}


def _draw_nodes(ax, pos, nodes, threads, title: str, cycle: list[str]) -> None:
    """Threads as circles, locks as squares, then the axes and a title naming the cycle."""
    for n in nodes:
        x, y = pos[n]
        is_thread = n in threads
        ax.scatter([x], [y], s=900, marker="o" if is_thread else "s",
                   color=PALETTE[0] if is_thread else PALETTE[1], zorder=3, edgecolor="white")
        ax.text(x, y, n, ha="center", va="center", color="white", fontweight="bold", zorder=4)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    verdict = ("cycle: " + " → ".join(cycle)) if cycle else "no cycle"
    ax.set_title(f"{title}\n{verdict}", loc="left", fontsize=9)


def draw_wait_for(trace: Trace, ax=None, *, title: str | None = None, kind: str = "wait-for"):
    """The graph of who waits for whom at the end of ``trace``; a cycle (drawn in red) is a deadlock.

    ``kind="wait-for"`` (the default) draws the *wait-for graph*: threads only, an arrow T → U
    labelled with a lock means "T waits for that lock, which U holds". ``kind="resource"``
    draws the *resource-allocation graph* it comes from: threads (circles) and locks
    (squares), a solid arrow lock → thread for "is held by" and a dashed arrow thread → lock
    for "waits for". Collapsing each thread → lock → holder path of the second gives the first.
    """
    if kind not in ("wait-for", "resource"):
        raise ValueError(f"kind must be 'wait-for' or 'resource', not {kind!r}")
    if ax is None:
        fig, ax = new_figure(width=4.6, height=3.6)
    if kind == "wait-for":
        return _draw_wait_for_only(trace, ax, title)
    threads = list(trace.program.threads)
    locks = sorted(set(trace.holders) | set(trace.waiting.values()))
    graph = wait_for_graph(trace)
    cycle = find_cycle(graph) or []
    cycle_edges = set(zip(cycle, cycle[1:]))
    # walk the cycle (thread, the lock it waits for, next thread, ...) so it is drawn as a ring
    nodes: list[str] = []
    for t in cycle[:-1]:
        nodes.append(t)
        if t in trace.waiting:
            nodes.append(trace.waiting[t])
    nodes += [n for n in threads + locks if n not in nodes]
    pos = _ring(nodes)

    def arrow(a, b, *, dashed, red):
        ax.annotate("", xy=pos[b], xytext=pos[a],
                    arrowprops=dict(arrowstyle="-|>", color=PALETTE[3] if red else "#444444", lw=2.2 if red else 1.4,
                                    linestyle="--" if dashed else "-", shrinkA=18, shrinkB=18,
                                    connectionstyle="arc3,rad=0.12"))

    for lock, holders in trace.holders.items():
        for h in holders:
            waiter_in_cycle = any((w, h) in cycle_edges for w, lk in trace.waiting.items() if lk == lock)
            arrow(lock, h, dashed=False, red=waiter_in_cycle)
    for t, lock in trace.waiting.items():
        red = any((t, h) in cycle_edges for h in trace.holders.get(lock, ()))
        arrow(t, lock, dashed=True, red=red)
    _draw_nodes(ax, pos, nodes, threads, title or "resource-allocation graph", cycle)
    from matplotlib.lines import Line2D

    ax.legend([Line2D([0], [0], color="#444444"), Line2D([0], [0], color="#444444", linestyle="--")],
              ["lock → thread: is held by", "thread → lock: waits for"], loc="upper center",
              bbox_to_anchor=(0.5, 0.0), ncols=1, fontsize=8)
    return ax.figure


def _draw_wait_for_only(trace: Trace, ax, title: str | None):
    threads = list(trace.program.threads)
    graph = wait_for_graph(trace)
    cycle = find_cycle(graph) or []
    cycle_edges = set(zip(cycle, cycle[1:]))
    ordered = [t for t in cycle[:-1]] + [t for t in threads if t not in cycle]
    pos = _ring(ordered)
    for t, targets in graph.items():
        for u in targets:
            red = (t, u) in cycle_edges
            ax.annotate("", xy=pos[u], xytext=pos[t],
                        arrowprops=dict(arrowstyle="-|>", color=PALETTE[3] if red else "#444444", lw=2.2 if red else 1.4,
                                        shrinkA=18, shrinkB=18, connectionstyle="arc3,rad=0.15"))
            # the label sits on the side the arc bows to, just outside the curve, so two opposite
            # edges between the same threads stay apart
            (x0, y0), (x1, y1) = pos[t], pos[u]
            ax.text((x0 + x1) / 2 - 0.15 * (y1 - y0), (y0 + y1) / 2 + 0.15 * (x1 - x0), f"waits for {trace.waiting[t]}",
                    ha="center", va="center", fontsize=8, color=PALETTE[3] if red else "#444444",
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})
    _draw_nodes(ax, pos, ordered, threads, title or "wait-for graph", cycle)
    return ax.figure


def plot_core_use(uses, *, cores: int | None = None, gil: bool = True,
                  title: str = "CPU-bound pure Python: cores kept busy (CPU seconds per wall second)"):
    """One bar per (threads|processes, workers): the best round's CPU seconds per wall second.
    A dashed line at 1 marks one core, the ceiling for threads while the GIL is on; a dotted
    line marks the cores this machine has."""
    fig, ax = new_figure(height=3.2)
    labels = [f"{u.how}\nx{u.workers}" for u in uses]
    colours = [PALETTE[0] if u.how == "threads" else PALETTE[1] for u in uses]
    bars = ax.bar(range(len(uses)), [u.cores for u in uses], color=colours)
    for bar, u in zip(bars, uses):
        ax.annotate(f"{u.cores:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(uses)), labels)
    ax.axhline(1.0, color="#444444", linestyle="--", linewidth=1.2,
               label="1 core" + (": the ceiling for threads while the GIL is on" if gil else ""))
    top = max([1.0] + [u.cores for u in uses])
    if cores:
        ax.axhline(cores, color="#888888", linestyle=":", linewidth=1.2, label=f"{cores} cores on this machine")
        top = max(top, cores)
    ax.set_ylim(0, top * 1.25)
    ax.set_ylabel("cores busy")
    ax.grid(axis="x", visible=False)
    ax.set_title(title, loc="left")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def plot_pool(runs: Mapping[str, PoolRun], *, title: str = "Connections in use, and requests waiting for one"):
    """Two panels on one virtual time axis: connections in use (with each run's capacity
    dotted) and requests waiting; a run's refused requests are counted in the legend."""
    fig, (top, bottom) = new_figure(nrows=2, height=4.6, sharex=True)
    for i, (label, r) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        refused = f", {len(r.rejected)} refused" if r.rejected else ""
        ts, ns = zip(*r.steps)
        top.step(ts, ns, where="post", color=colour, label=f"{label}{refused}")
        if r.capacity is not None:
            top.axhline(r.capacity, color=colour, linestyle=":", linewidth=1)
        qs, qn = zip(*r.queue)
        bottom.step(qs, qn, where="post", color=colour)
    top.set_ylabel("in use")
    bottom.set_ylabel("waiting")
    bottom.set_xlabel("virtual time (s)")
    top.set_title(title, loc="left")
    fig.legend(loc="outside lower center", ncols=min(len(runs), 3))
    return fig


def step_through(traces: Mapping[str, Trace], *, start: int | None = None):
    """A widget: pick an interleaving, move a slider through its steps.

    Returns an ``ipywidgets.interactive``; displaying it runs the view once with the
    defaults (the first interleaving, all steps), so a headless run prints the full trace.
    """
    import ipywidgets as w

    labels = list(traces)
    longest = max(len(t.events) for t in traces.values())

    def view(interleaving: str = labels[0], steps: int = longest if start is None else start) -> None:
        trace = traces[interleaving]
        print(trace.text(upto=min(steps, len(trace.events))))

    return fit_labels(w.interactive(
        view,
        interleaving=w.Dropdown(options=labels, value=labels[0], description="schedule"),
        steps=w.IntSlider(value=longest if start is None else start, min=0, max=longest, description="steps"),
    ))


def timeline_explorer(tasks, *, max_cores: int = 4):
    """A widget: the same tasks on 1..``max_cores`` cores with a chosen time slice."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_tools.sim.concurrency import schedule_tasks

    def draw(cores: int = 1, quantum: float = 0.5) -> None:
        tl = schedule_tasks(tasks, cores=cores, quantum=quantum)
        plot_timeline(tl, title=f"{cores} core(s), time slice {quantum:g} s: done at {tl.makespan:g} s, "
                                f"at most {tl.max_parallel()} running at once")
        plt.show()

    return fit_labels(w.interactive(draw, cores=w.IntSlider(value=1, min=1, max=max_cores, description="cores"),
                         quantum=w.FloatSlider(value=0.5, min=0.25, max=3.0, step=0.25, description="time slice")))
