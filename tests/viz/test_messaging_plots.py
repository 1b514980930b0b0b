"""Do the chapter 2.6 plots render headless from seeded runs, with what they claim to show?"""

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_tools.sim import delivery as d, eventflow as ef, partlog as pl  # noqa: E402
from course_tools.viz import messaging as viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_crash_report_bars_match_the_counts():
    """One pair of bars per consumer, with the report's counts as heights."""
    reports = [d.explore_crashes(c, d.payments(2), name=n) for n, c in d.CONSUMERS.items()]
    ax = viz.plot_crash_reports(reports)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [r.lost_runs for r in reports] + [r.duplicated_runs for r in reports]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(d.CONSUMERS)


def test_other_plots_render_with_legends():
    """Partition, outage, backpressure and latency plots render and label their series."""
    run = pl.simulate(rng=random.Random(1), members=("c1", "c2", "c3"), leave=("c1", 0.5), commit_every=4)
    ax = viz.plot_partitions(run)
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"c1", "c2", "c3"}
    a1, _ = viz.plot_outage(ef.outage_timeline("sync", rng=random.Random(2)),
                            ef.outage_timeline("events", rng=random.Random(2)), (30, 60))
    assert len(a1.get_legend().get_texts()) == 4
    runs = {p: ef.bounded_queue(policy=p, rng=random.Random(3)) for p in ("block", "reject")}
    a1, _ = viz.plot_backpressure(runs, (20, 35))
    assert [t.get_text() for t in a1.get_legend().get_texts()] == ["block", "reject"]
    ax = viz.plot_sync_vs_events(ef.sync_chain(requests=2000, rng=random.Random(4)),
                                 ef.async_accept(requests=2000, rng=random.Random(4)))
    assert len(ax.get_legend().get_texts()) == 2


def test_explorers_build_and_run_headless():
    """The two widgets build, and their functions return seeded results without a human."""
    pe = viz.partition_explorer(lambda: random.Random(5))
    res = pe.children and pe.result
    assert res.duplicates() >= 0 and res.in_order_per_key()
    be = viz.backpressure_explorer(lambda: random.Random(6))
    assert set(be.result) == {"block", "reject"}


def test_crash_explorer_shows_the_chosen_run():
    """The crash widget's default run is the ack-after consumer crashed before its first ack: a duplicate."""
    ce = viz.crash_explorer(d.CONSUMERS, d.payments(3))
    assert ce.result.crash_point == 3 and ce.result.duplicated == ["m1"]
