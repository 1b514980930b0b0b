"""Plots for the Messaging chapter (the simulators live in course_tools.sim)."""

from __future__ import annotations

import random
from typing import Callable, Mapping, Sequence

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["plot_crash_reports", "plot_partitions", "plot_outage", "plot_backpressure", "plot_sync_vs_events",
           "partition_explorer", "backpressure_explorer", "crash_explorer"]


def plot_crash_reports(reports: Sequence, *, title: str = "A crash at every point: what happens to the effects"):
    """Bars per consumer: runs that lost a message and runs that applied one twice (CrashReport list)."""
    fig, ax = new_figure(width=8, height=3.4)
    names = [r.consumer for r in reports]
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [r.lost_runs for r in reports], 0.4, label="runs that lost a message",
           color=PALETTE[3])
    ax.bar([i + 0.2 for i in x], [r.duplicated_runs for r in reports], 0.4, label="runs that applied one twice",
           color=PALETTE[1])
    for i, r in enumerate(reports):
        ax.annotate(f"{r.runs} runs", (i, 0), xytext=(0, -28), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("runs")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return ax


def plot_partitions(run, *, title: str = "Records as consumed: order per partition, not across"):
    """Each delivery as a point: x = delivery order, y = partition; colour = member; label = key#seq."""
    fig, ax = new_figure(width=9, height=3.2)
    members = sorted({d.member for d in run.deliveries})
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(members)}
    seen = set()
    for i, d in enumerate(run.deliveries):
        again = (d.record.partition, d.record.offset) in seen
        seen.add((d.record.partition, d.record.offset))
        ax.scatter(i, d.record.partition, color=colours[d.member], marker="x" if again else "o", s=30,
                   label=d.member if d.member not in ax.get_legend_handles_labels()[1] else None)
        ax.annotate(d.record.value.replace("order-", "o"), (i, d.record.partition), xytext=(0, 6),
                    textcoords="offset points", ha="center", fontsize=6, rotation=90)
    ax.set_yticks(range(len(run.log.partitions)), [f"partition {p}" for p in range(len(run.log.partitions))])
    ax.set_ylim(-0.5, len(run.log.partitions) - 0.2)
    ax.set_xlabel("delivery number (x = delivered again after a rebalance)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, ncol=len(members))
    return ax


def plot_outage(sync, events, down: tuple[float, float], *, title: str = "Inventory down: sync vs events"):
    """Two panels: cumulative orders accepted/processed in each mode, and the event backlog."""
    fig, (a1, a2) = new_figure(2, width=10, height=3.4)
    a1.plot(sync.t, sync.offered, color="0.6", ls=":", label="orders sent")
    a1.plot(sync.t, sync.accepted, color=PALETTE[3], label="sync: accepted (= processed)")
    a1.plot(events.t, events.accepted, color=PALETTE[0], label="events: accepted")
    a1.plot(events.t, events.processed, color=PALETTE[0], ls="--", label="events: processed by inventory")
    a2.plot(events.t, events.lag, color=PALETTE[1])
    for a in (a1, a2):
        a.axvspan(*down, color="0.9", zorder=0)
        a.set_xlabel("time (s, virtual)")
    a1.set_ylabel("orders (cumulative)")
    a1.set_title(title)
    a1.legend(fontsize=8, loc="upper left")
    a2.set_ylabel("accepted, not yet processed")
    a2.set_title("Eventual consistency: the consumer's lag")
    return a1, a2


def plot_backpressure(runs: Mapping[str, object], slow: tuple[float, float] | None = None, *,
                      title: str = "A slow consumer behind a queue"):
    """Queue depth and consumer lag (age of the oldest waiting message) per configuration."""
    fig, (a1, a2) = new_figure(2, width=10, height=3.4)
    for i, (name, run) in enumerate(runs.items()):
        a1.plot(run.t, run.depth, color=PALETTE[i], label=name)
        a2.plot(run.t, run.lag_s, color=PALETTE[i], label=name)
    for a in (a1, a2):
        if slow:
            a.axvspan(*slow, color="0.9", zorder=0)
        a.set_xlabel("time (s, virtual)")
    a1.set_ylabel("messages waiting")
    a1.set_title(title)
    a2.set_ylabel("lag: age of oldest message (s)")
    a2.set_title("Consumer lag")
    a1.legend(fontsize=8, loc="upper left")
    return a1, a2


def plot_sync_vs_events(sync, events, *, title: str = "Placing an order: latency the client waits for"):
    """Latency histograms (ms) of the synchronous chain and of 'save and publish' (callchain.ChainResult)."""
    fig, ax = new_figure(width=8, height=3.2)
    top = sync.percentile(99.5) * 1000
    bins = [top * i / 60 for i in range(61)]
    for res, colour, name in ((sync, PALETTE[3], "sync chain"), (events, PALETTE[0], "save + publish")):
        ms = res.latency[res.ok] * 1000
        ax.hist(ms[ms <= top], bins=bins, color=colour, alpha=0.7,
                label=f"{name}: p50 {res.percentile(50) * 1000:.0f} ms, p99 {res.percentile(99) * 1000:.0f} ms, "
                      f"success {res.success_rate:.2%}")
    ax.set_xlabel("latency (ms, simulated)")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return ax


def partition_explorer(rng_for: Callable[[], random.Random]):
    """A widget: how often members commit, and when one of them dies -> redeliveries after the rebalance."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_tools.sim import partlog

    def run(commit_every=4, dies_at=0.5):
        res = partlog.simulate(rng=rng_for(), members=("c1", "c2", "c3"), commit_every=commit_every,
                               leave=("c1", dies_at))
        plot_partitions(res, title=f"commit every {commit_every} records; c1 dies at t={dies_at:g} s")
        plt.show()
        print(f"{len(res.deliveries)} deliveries, {res.duplicates()} of them again after the rebalance; "
              f"order kept per key: {res.in_order_per_key()}; across keys: {res.in_global_order()}")
        return res

    return w.interactive(
        run,
        commit_every=w.IntSlider(value=4, min=1, max=8, description="commit every", continuous_update=False),
        dies_at=w.FloatSlider(value=0.5, min=0.1, max=1.5, step=0.05, description="c1 dies at (s)",
                              continuous_update=False),
    )


def backpressure_explorer(rng_for: Callable[[], random.Random]):
    """A widget: queue capacity and consumer speed -> depth, lag, and what the producer experienced."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_tools.sim import eventflow

    def run(capacity=50, consume_rate=10.0):
        runs = {p: eventflow.bounded_queue(policy=p, capacity=capacity, consume_rate=consume_rate, rng=rng_for())
                for p in ("block", "reject")}
        plot_backpressure(runs, (20.0, 35.0), title=f"capacity {capacity}, consumer {consume_rate:g}/s")
        plt.show()
        b, r = runs["block"], runs["reject"]
        print(f"block: producer waited {b.blocked_s:.1f} s, max lag {max(b.lag_s):.1f} s | "
              f"reject: {r.rejected} messages refused, max lag {max(r.lag_s):.1f} s")
        return runs

    return w.interactive(
        run,
        capacity=w.IntSlider(value=50, min=10, max=300, step=10, description="capacity", continuous_update=False),
        consume_rate=w.FloatSlider(value=10.0, min=6.0, max=20.0, step=1.0, description="consumer /s",
                                   continuous_update=False),
    )


def crash_explorer(consumers: Mapping[str, Callable], messages: Sequence[Mapping]):
    """A widget: pick a consumer, a crash point and where the redelivered message re-enters the
    queue -> the run, call by call, and what happened to each payment."""
    import ipywidgets as w

    from course_tools.sim import delivery

    def run(consumer="ack after", crash_before=3, position=0):
        fn = consumers[consumer]
        n = delivery.count_crash_points(fn, messages)
        k = min(crash_before, n - 1)
        out = delivery.run_consumer(fn, messages, crash_before=k, position=position)
        print(f"{consumer}: {n} crash points; crash before call {k}")
        print(" -> ".join(out.calls))
        print(out.text())
        print("balances:", {key: v for key, v in out.store.items() if key.startswith("balance:")})
        return out

    return w.interactive(
        run,
        consumer=w.Dropdown(options=list(consumers), value="ack after", description="consumer"),
        crash_before=w.IntSlider(value=3, min=0, max=24, description="crash before", continuous_update=False),
        position=w.IntSlider(value=0, min=0, max=len(messages), description="back at pos.", continuous_update=False),
    )
