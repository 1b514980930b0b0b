"""Plots and widgets for chapter 2.7 (distributed systems and scaling).

- :func:`plot_timeline`   operations as bars per client, partitions shaded, the culprit of a
                          linearizability violation marked
- :func:`plot_staleness`  how stale the stale reads were (histogram)
- :func:`plot_convergence` time for every replica to hold a write (ECDF)
- :func:`plot_usl`        measured throughput, USL and Amdahl fits, the retrograde region
- :func:`plot_ring_load`  keys per node for several routers; :func:`plot_moved` keys moved on join
- :func:`plot_chain`      latency percentiles and success of call chains
- :func:`partition_explorer` a widget: choose when the partition opens and heals, and the mode
- :func:`usl_explorer`, :func:`ring_explorer` widgets for the scaling section
"""

from __future__ import annotations

import random
from typing import Callable, Mapping, Sequence

import numpy as np

from course_tools.viz.style import PALETTE, new_figure, fit_labels

__all__ = ["plot_timeline", "plot_staleness", "plot_convergence", "plot_usl", "plot_ring_load", "plot_moved",
           "plot_chain", "show_partition_run", "partition_explorer", "usl_explorer", "ring_explorer"]

OK_READ, OK_WRITE, FAILED, CULPRIT, SHADE, STALE = PALETTE[0], PALETTE[2], "#9a9a9a", PALETTE[3], PALETTE[1], PALETTE[4]


def plot_timeline(history, partitions=(), *, until: float | None = None, culprit=None, title: str = "",
                  ax=None, label_values: bool | None = None, stale=(), timeout: float = 0.5):
    """One row per client (``client@node``); reads blue, writes green, failed grey (hatched),
    ``stale`` reads orange, the ``culprit`` red with a marker. Values are labelled when there
    are few operations (``label_values=None``) or when asked."""
    ops = sorted(history, key=lambda o: (o.node, o.client, o.start))
    rows = sorted({(op.node, op.client) for op in ops})
    y = {row: i for i, row in enumerate(rows)}
    if ax is None:
        _, ax = new_figure(height=max(2.2, 0.45 * len(rows) + 1.2))
    t_end = until if until is not None else max((op.end or op.start) for op in ops) if ops else 1.0
    for p in partitions:
        ax.axvspan(p.start, min(p.end, t_end), color=SHADE, alpha=0.15, lw=0)
        ax.text((p.start + min(p.end, t_end)) / 2, len(rows) - 0.35, "partition " + p.label(), ha="center",
                va="bottom", fontsize=8, color="#7a4f00")
    stale_ids = {op.id for op in stale}
    if label_values is None:
        label_values = len(ops) <= 50
    for op in ops:
        if op.end is not None:
            end = op.end
        else:  # no response: draw until the client gave up (its next operation) or the timeout
            later = [o.start for o in ops if (o.node, o.client) == (op.node, op.client) and o.start > op.start]
            end = min([op.start + timeout, *later])
        is_culprit = culprit is not None and op.id == culprit.id
        colour = CULPRIT if is_culprit else (FAILED if not op.ok else (
            STALE if op.id in stale_ids else (OK_WRITE if op.is_write else OK_READ)))
        width = max(end - op.start, 0.006 * t_end)
        if is_culprit:
            ax.plot([op.start], [y[(op.node, op.client)] - 0.45], marker="^", color=CULPRIT, ms=9, clip_on=False)
        ax.barh(y[(op.node, op.client)], width, left=op.start, height=0.5, color=colour,
                edgecolor="black" if is_culprit else colour, hatch="//" if not op.ok else None, alpha=0.9)
        if label_values and (op.ok or op.is_write):
            text = ("W " if op.is_write else "R ") + ("" if op.value is None else str(op.value))
            ax.text(op.start, y[(op.node, op.client)] + 0.3, text, fontsize=6, color="black", clip_on=True)
    ax.set_yticks(range(len(rows)), [f"{c}@{n}" for n, c in rows])
    ax.set_ylim(-0.6, len(rows) + 0.2)
    ax.set_xlim(0, t_end)
    ax.set_xlabel("virtual time (s)")
    from matplotlib.patches import Patch

    handles = [Patch(color=OK_WRITE, label="write ok"), Patch(color=OK_READ, label="read ok"),
               Patch(facecolor=FAILED, hatch="//", label="failed / timed out")]
    if stale_ids:
        handles.append(Patch(color=STALE, label="stale read"))
    if culprit is not None:
        handles.append(Patch(facecolor=CULPRIT, edgecolor="black", label="breaks linearizability"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_staleness(ages: Sequence[float], *, total_reads: int, title: str = "Stale reads", ax=None):
    """Histogram of staleness (ms) of the stale reads, with the stale fraction in the title."""
    if ax is None:
        _, ax = new_figure()
    ms = np.asarray(ages, dtype=float) * 1000
    if len(ms):
        ax.hist(ms, bins=min(30, max(5, len(ms) // 3)), color=PALETTE[0])
    ax.set_xlabel("staleness: ms since the value read had been overwritten")
    ax.set_ylabel("reads")
    frac = len(ms) / total_reads if total_reads else 0.0
    ax.set_title(f"{title}: {len(ms)} of {total_reads} reads ({frac:.0%})")
    return ax


def plot_convergence(series: Mapping[str, Sequence[float]], *, ax=None):
    """ECDF of convergence times (ms) for each labelled run."""
    if ax is None:
        _, ax = new_figure()
    for i, (label, times) in enumerate(series.items()):
        t = np.sort(np.asarray(times, dtype=float)) * 1000
        if len(t):
            ax.step(t, np.arange(1, len(t) + 1) / len(t), where="post", label=label, color=PALETTE[i % len(PALETTE)])
    ax.set_xlabel("ms until every replica holds the write")
    ax.set_ylabel("fraction of writes")
    ax.set_title("Convergence")
    ax.legend()
    return ax


def plot_usl(n, throughput, fit=None, *, amdahl_p: float | None = None, ax=None, title: str = "Throughput vs workers"):
    """Measured points, the USL fit (peak marked, retrograde region shaded) and optionally Amdahl."""
    from course_tools.sim.scaling import amdahl

    if ax is None:
        _, ax = new_figure()
    n = np.asarray(n, dtype=float)
    ax.plot(n, throughput, "o", color=PALETTE[0], label="measured (simulator)")
    grid = np.linspace(1, n.max(), 300)
    if fit is not None:
        ax.plot(grid, fit(grid), color=PALETTE[1],
                label=f"USL fit: α={fit.alpha:.3f}, β={fit.beta:.5f}")
        if np.isfinite(fit.peak) and fit.peak < n.max():
            ax.axvline(fit.peak, color=PALETTE[3], ls="--", lw=1)
            ax.axvspan(fit.peak, n.max(), color=PALETTE[3], alpha=0.08, lw=0)
            ax.text(fit.peak, ax.get_ylim()[1] * 0.05, f" N* ≈ {fit.peak:.0f}\n retrograde →", color=PALETTE[3], fontsize=8)
    if amdahl_p is not None:
        lam = throughput[0]
        ax.plot(grid, lam * amdahl(grid, amdahl_p), color=PALETTE[2], ls=":", label=f"Amdahl, p={amdahl_p:.3f}")
    ax.set_xlabel("workers N")
    ax.set_ylabel("requests / s")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_ring_load(loads: Mapping[str, Mapping[str, int]], *, ax=None):
    """Keys per node, one group of bars per router (e.g. 'modulo', 'ring, 1 vnode', 'ring, 200 vnodes')."""
    if ax is None:
        _, ax = new_figure()
    labels = list(loads)
    nodes = sorted({n for load in loads.values() for n in load})
    width = 0.8 / len(labels)
    x = np.arange(len(nodes))
    for i, label in enumerate(labels):
        ax.bar(x + i * width, [loads[label].get(n, 0) for n in nodes], width, label=label, color=PALETTE[i % len(PALETTE)])
    mean = sum(next(iter(loads.values())).values()) / len(nodes)
    ax.axhline(mean, color="black", lw=1, ls="--", label="even share")
    ax.set_xticks(x + width * (len(labels) - 1) / 2, nodes, rotation=0)
    ax.set_ylabel("keys")
    ax.set_title("Load per node")
    ax.legend(fontsize=8)
    return ax


def plot_moved(moved: Mapping[str, float], *, ideal: float | None = None, ax=None):
    """Fraction of keys that moved when one node joined, per router."""
    if ax is None:
        _, ax = new_figure()
    ax.bar(list(moved), list(moved.values()), color=[PALETTE[i % len(PALETTE)] for i in range(len(moved))])
    if ideal is not None:
        ax.axhline(ideal, color="black", ls="--", lw=1, label=f"K/(n+1) = {ideal:.0%}")
        ax.legend()
    ax.set_ylabel("fraction of keys moved")
    ax.set_title("Keys moved when one node joins")
    return ax


def plot_chain(results: Mapping[str, object], *, ax=None):
    """p50 / p99 latency (ms) of several call-chain results, with success rates on top."""
    if ax is None:
        _, ax = new_figure()
    labels = list(results)
    x = np.arange(len(labels))
    p50 = [1000 * results[k].percentile(50) for k in labels]
    p99 = [1000 * results[k].percentile(99) for k in labels]
    ax.bar(x - 0.2, p50, 0.4, label="p50", color=PALETTE[0])
    ax.bar(x + 0.2, p99, 0.4, label="p99", color=PALETTE[1])
    for i, k in enumerate(labels):
        ax.text(i, max(p50[i], p99[i]) * 1.02, f"{results[k].success_rate:.1%} ok", ha="center", fontsize=8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency and success across a call chain")
    ax.legend()
    return ax


def show_partition_run(mode: str, open_at: float, heal_at: float, *, rng: random.Random, until: float = 4.0,
                       reconcile: str = "lww", think: tuple[float, float] = (0.2, 0.4)):
    """Run :func:`course_tools.sim.cluster.run_partition_scenario`, print what happened, plot the timeline."""
    import matplotlib.pyplot as plt

    from course_tools.sim.cluster import run_partition_scenario, stale_reads
    from course_tools.sim.linearizability import check

    res = run_partition_scenario(mode, open_at=open_at, heal_at=heal_at, until=until, rng=rng, reconcile=reconcile,
                                 think=think)
    verdict = check(res.history)
    stale = stale_reads(res.history)
    ops = res.history.ops
    inside = [op for op in ops if open_at <= op.start < heal_at]
    minority = [op for op in inside if op.node in ("n1", "n2")]
    print(f"{mode.upper()}: {len(ops)} operations, {sum(not o.ok for o in ops)} failed; "
          f"during the partition the minority side (n1, n2) got {sum(o.ok for o in minority)}/{len(minority)} answers, "
          f"{len(stale)} stale reads overall")
    print(verdict.explain().splitlines()[0] if verdict else verdict.explain())
    plot_timeline(res.history, res.partitions, until=until, culprit=verdict.culprit, stale=[r for r, _ in stale],
                  timeout=res.cluster.timeout,
                  title=f"{mode.upper()} mode, partition {open_at:g}–{heal_at:g} s")
    plt.show()
    return res


def partition_explorer(rng_for: Callable[[], random.Random], *, until: float = 4.0):
    """A widget: mode, and a range slider for when the partition opens and heals."""
    import ipywidgets as w

    def run(mode="cp", window=(1.0, 2.5)):
        show_partition_run(mode, window[0], window[1], rng=rng_for(), until=until)

    return fit_labels(w.interactive(
        run,
        mode=w.ToggleButtons(options=[("CP (majority quorum)", "cp"), ("AP (local, LWW)", "ap")], value="cp"),
        window=w.FloatRangeSlider(value=(1.0, 2.5), min=0.0, max=until, step=0.25,
                                  description="partition", continuous_update=False),
    ))


def usl_explorer(rng_for: Callable[[], random.Random], workers: Sequence[int] = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)):
    """A widget: serial and coherency cost of the simulated service -> measured throughput and USL fit."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_tools.sim import scaling

    def run(serial_ms=0.5, coherency_us=20):
        x = scaling.measure(workers, rng=rng_for(), duration=8.0, serial=serial_ms / 1000,
                            coherency=coherency_us / 1e6)
        fit = scaling.fit_usl(workers, x)
        plot_usl(workers, x, fit, title=f"serial {serial_ms:g} ms, coherency {coherency_us:g} µs per other worker")
        plt.show()
        print(f"measured peak {x.max():.0f} req/s at N={workers[int(x.argmax())]}; "
              f"USL: alpha={fit.alpha:.4f}, beta={fit.beta:.6f}, N*={fit.peak:.1f}")

    return fit_labels(w.interactive(
        run,
        serial_ms=w.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.1, description="serial (ms)", continuous_update=False),
        coherency_us=w.FloatSlider(value=20, min=0, max=100, step=5, description="coherency (µs)",
                                   continuous_update=False),
    ))


def ring_explorer(keys: Sequence[str]):
    """A widget: nodes and virtual nodes per node -> load per node and keys moved when one node joins."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_tools.sim.hashing import load, moved_keys
    from course_tools.sim.ring import HashRing

    def run(nodes=5, vnodes=100):
        names = [f"cache{i}" for i in range(1, nodes + 1)]
        ring = HashRing(names, vnodes=vnodes)
        grown = ring.copy()
        grown.add(f"cache{nodes + 1}")
        moved = moved_keys(ring, grown, keys) / len(keys)
        counts = load(ring, keys)
        plot_ring_load({f"ring, {vnodes} vnodes": counts})
        plt.show()
        print(f"busiest node: {max(counts.values()) / (len(keys) / nodes):.2f}x its share; "
              f"one more node moves {moved:.1%} of keys (ideal 1/{nodes + 1} = {1 / (nodes + 1):.1%})")

    return fit_labels(w.interactive(
        run,
        nodes=w.IntSlider(value=5, min=2, max=12, description="nodes", continuous_update=False),
        vnodes=w.IntSlider(value=100, min=1, max=300, description="vnodes", continuous_update=False),
    ))
