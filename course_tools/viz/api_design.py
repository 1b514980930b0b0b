"""Plots for the API design chapter (the experiments live in course_tools.sim and course_tools.net)."""

from __future__ import annotations

from typing import Mapping, Sequence

from course_tools.viz.style import PALETTE, new_figure

__all__ = ["plot_wire_costs", "plot_push_vs_poll", "plot_page_cost", "plot_limiters", "LIMITER_COLOURS"]

LIMITER_COLOURS = {"token bucket": PALETTE[0], "leaky bucket": PALETTE[1], "fixed window": PALETTE[3],
                   "sliding log": PALETTE[2], "sliding window counter": PALETTE[4]}


def plot_wire_costs(costs: Mapping[str, Mapping[str, int]], *, title: str = "One screen, four API styles"):
    """Bars per style: round trips and bytes on the wire (``{style: {"round trips", "bytes"}}``)."""
    fig, (a1, a2) = new_figure(2, width=9)
    names = list(costs)
    x = range(len(names))
    a1.bar(x, [costs[n]["round trips"] for n in names], color=PALETTE[:len(names)])
    a1.set_xticks(list(x), names)
    a1.set_ylabel("requests the client waits for")
    a1.set_title("round trips")
    a2.bar(x, [costs[n]["bytes"] for n in names], color=PALETTE[:len(names)])
    a2.set_xticks(list(x), names)
    a2.set_ylabel("bytes, both directions")
    a2.set_title("bytes on the wire")
    fig.suptitle(title)
    return fig


def plot_push_vs_poll(polls: Sequence, push, *, title: str = "Polling vs push"):
    """Mean time to notice a change, and requests spent, against the polling interval."""
    fig, (a1, a2) = new_figure(2, width=9)
    xs = [o.interval for o in polls]
    a1.plot(xs, [o.mean_delay for o in polls], marker="o", label="polling", color=PALETTE[1])
    a1.axhline(push.mean_delay, color=PALETTE[0], label="push (WebSocket)")
    a1.set_xscale("log")
    a1.set_xlabel("polling interval (s)")
    a1.set_ylabel("mean delay to notice (s)")
    a1.set_title("staleness")
    a1.legend(loc="upper left")
    a2.plot(xs, [o.requests for o in polls], marker="o", label="polls sent", color=PALETTE[1])
    a2.plot(xs, [o.useless for o in polls], marker="x", ls="--", label="polls that found nothing", color=PALETTE[3])
    a2.axhline(push.requests, color=PALETTE[0], label="messages pushed")
    a2.set_xscale("log")
    a2.set_xlabel("polling interval (s)")
    a2.set_ylabel("messages")
    a2.set_title("cost")
    a2.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def plot_page_cost(depths: Sequence[int], series: Mapping[str, Sequence[float]], *, ylabel: str,
                   title: str = "Cost of one page vs how deep it is"):
    fig, ax = new_figure()
    for i, (name, ys) in enumerate(series.items()):
        ax.plot(depths, ys, marker="o", label=name, color=PALETTE[i])
    ax.set_xlabel("rows before the page (depth)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return ax


def plot_limiters(replays: Sequence, *, offered=None, title: str = "Requests passed on to the server"):
    """Cumulative requests reaching the server over time, one line per limiter (leaky bucket:
    when they leave its queue); ``offered`` (arrival times) drawn in grey for reference."""
    fig, ax = new_figure(width=8, height=4)
    if offered is not None:
        ax.step(sorted(offered), range(1, len(offered) + 1), where="post", color="#AAAAAA", ls="--", label="offered")
    for r in replays:
        ts = sorted(r.served_at)
        ax.step(ts, range(1, len(ts) + 1), where="post", color=LIMITER_COLOURS.get(r.name, PALETTE[0]), label=r.name)
    ax.set_xlabel("time (s, virtual)")
    ax.set_ylabel("requests so far")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return ax
