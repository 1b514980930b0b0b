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
    "plot_pool", "step_through", "timeline_explorer",
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


def draw_wait_for(trace: Trace, ax=None, *, title: str | None = None):
    """Threads (circles) and locks (squares) at the end of ``trace``.

    A solid arrow lock → thread means "is held by"; a dashed arrow thread → lock means
    "waits for". Collapsing each thread → lock → holder path gives the wait-for graph; a
    cycle in it (drawn in red) is a deadlock.
    """
    if ax is None:
        fig, ax = new_figure(width=4.6, height=3.6)
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
    pos = {}
    for i, n in enumerate(nodes):
        angle = math.pi / 2 - 2 * math.pi * i / len(nodes)
        pos[n] = (math.cos(angle), math.sin(angle))

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
    ax.set_title(f"{title}\n{verdict}" if title else f"holds (solid) / waits for (dashed) — {verdict}",
                 loc="left", fontsize=9)
    return ax.figure


def plot_pool(runs: Mapping[str, PoolRun]):
    """Connections in use over (virtual) time, one line per run, with each run's capacity."""
    fig, ax = new_figure(height=3.0)
    for i, (label, r) in enumerate(runs.items()):
        ts, ns = zip(*r.steps)
        ax.step(ts, ns, where="post", color=PALETTE[i], label=label)
        if r.capacity is not None:
            ax.axhline(r.capacity, color=PALETTE[i], linestyle=":", linewidth=1)
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("connections in use")
    ax.legend(loc="upper left")
    ax.set_title("Concurrency over time", loc="left")
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
