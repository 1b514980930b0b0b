"""Plots and controls for the Caching chapter (the simulators live in course_tools.sim)."""

from __future__ import annotations

from typing import Callable, Hashable, Mapping, Sequence

from course_tools.sim.caches import Cache, hit_rate
from course_tools.viz.style import PALETTE, new_figure, fit_labels

__all__ = ["hit_rate_curves", "plot_hit_rate_curves", "plot_write_paths", "plot_stampede", "hit_rate_explorer"]

POLICY_COLOURS = {"LRU": PALETTE[0], "LFU": PALETTE[1], "FIFO": PALETTE[2], "Random": PALETTE[3],
                  "Sampled LRU": PALETTE[4], "TTL": PALETTE[5]}


def hit_rate_curves(policies: Mapping[str, Callable[[int], Cache]], trace: Sequence[Hashable],
                    sizes: Sequence[int]) -> dict[str, list[float]]:
    """``{policy: [hit rate at each size]}`` on one trace."""
    return {name: [hit_rate(f, list(trace), s) for s in sizes] for name, f in policies.items()}


def plot_hit_rate_curves(curves: Mapping[str, Sequence[float]], sizes: Sequence[int], *, title: str = "", ax=None):
    if ax is None:
        fig, ax = new_figure()
    for name, ys in curves.items():
        ax.plot(sizes, ys, marker="o", ms=3, label=name, color=POLICY_COLOURS.get(name))
    ax.set_xlabel("cache size (entries)")
    ax.set_ylabel("hit rate")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    return ax


def plot_write_paths(results: Sequence, *, title: str = "Write paths against a slow store"):
    """Bars: mean read / write latency and store operations per pattern (PatternResult list)."""
    fig, (a1, a2) = new_figure(2, width=9)
    names = [r.pattern for r in results]
    x = range(len(names))
    a1.bar([i - 0.2 for i in x], [r.mean_read_ms for r in results], 0.4, label="read", color=PALETTE[0])
    a1.bar([i + 0.2 for i in x], [r.mean_write_ms for r in results], 0.4, label="write", color=PALETTE[1])
    a1.set_xticks(list(x), names, rotation=15)
    a1.set_ylabel("mean latency (ms, virtual)")
    a1.set_title("what the application waits")
    a1.legend()
    a2.bar([i - 0.2 for i in x], [r.store_reads for r in results], 0.4, label="store reads", color=PALETTE[2])
    a2.bar([i + 0.2 for i in x], [r.store_writes for r in results], 0.4, label="store writes", color=PALETTE[3])
    a2.set_xticks(list(x), names, rotation=15)
    a2.set_ylabel("operations")
    a2.set_title("what the store serves")
    a2.legend()
    fig.suptitle(title)
    return fig


STAMPEDE_STYLES = ("-", "--", ":")
STAMPEDE_MARKERS = ("o", "s", "^")


def plot_stampede(results: Sequence, *, duration: float, bin_seconds: float = 1.0):
    """Recomputes started per second, one line per mitigation (StampedeResult list), on a
    symmetric-log axis so that 1 and 100 are both visible; below it, one row of ticks per
    mitigation, one tick per recompute started, so curves that are near zero stay apart.
    Returns the upper axes."""
    fig, (ax, raster) = new_figure(1, 2, height=4.2, gridspec_kw={"height_ratios": [3, 1.3]}, sharex=True)
    bins = int(duration / bin_seconds) + 1
    for i, r in enumerate(results):
        counts = [0] * bins
        for t in r.recompute_starts:
            counts[int(t / bin_seconds)] += 1
        style = STAMPEDE_STYLES[i % len(STAMPEDE_STYLES)]
        ax.step([b * bin_seconds for b in range(bins)], counts, where="post", color=PALETTE[i], lw=1.8,
                ls=style, label=f"{r.mitigation} ({r.recomputes} rebuilds)")
        raster.eventplot([r.recompute_starts], lineoffsets=i, linelengths=0.7, colors=[PALETTE[i]])
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("rebuilds started per second")
    ax.set_title("A hot key expiring: who rebuilds it?")
    ax.legend()
    raster.set_yticks(range(len(results)), [r.mitigation for r in results])
    raster.set_ylim(-0.6, len(results) - 0.4)
    raster.invert_yaxis()
    raster.set_xlabel("time (s, virtual); one tick per rebuild started")
    return ax


def hit_rate_explorer(traces: Mapping[str, Sequence[Hashable]], policies: Mapping[str, Callable[[int], Cache]],
                      sizes: Sequence[int]):
    """An ipywidgets control: pick a trace and a largest size; the curves redraw."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    def draw(trace: str, largest: int):
        chosen = [s for s in sizes if s <= largest]
        plot_hit_rate_curves(hit_rate_curves(policies, traces[trace], chosen), chosen, title=trace)
        plt.show()

    return fit_labels(w.interactive(draw, trace=w.Dropdown(options=list(traces), description="trace"),
                         largest=w.SelectionSlider(options=list(sizes), value=sizes[-1], description="max size")))
