"""The API design plots draw what they are given."""

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_tools.sim import push, ratelimit as rl  # noqa: E402
from course_tools.viz.api_design import plot_limiters, plot_page_cost, plot_push_vs_poll, plot_wire_costs  # noqa: E402


def test_plots_draw_their_inputs():
    fig = plot_wire_costs({"REST": {"round trips": 3, "bytes": 1500}, "GraphQL": {"round trips": 1, "bytes": 600}})
    assert [p.get_height() for p in fig.axes[0].patches] == [3, 1]
    ch = push.change_times(10, 100, rng=random.Random(1))
    fig = plot_push_vs_poll([push.poll(ch, i, 100, rng=random.Random(2)) for i in (1, 10)], push.push(ch))
    assert len(fig.axes) == 2
    ax = plot_page_cost([0, 100, 1000], {"OFFSET": [1, 10, 100], "keyset": [1, 1, 1]}, ylabel="steps")
    assert [l.get_label() for l in ax.get_lines()] == ["OFFSET", "keyset"]
    arr = rl.bursty_traffic(10, base_rate=5, burst_every=3, burst_size=10, rng=random.Random(1))
    reps = [rl.replay(lambda c, n=n: rl.make_limiter(n, 5, 1, clock=c), arr) for n in rl.LIMITERS]
    ax = plot_limiters(reps, offered=arr)
    assert [l.get_label() for l in ax.get_lines()] == ["offered", *rl.LIMITERS]
    plt.close("all")
