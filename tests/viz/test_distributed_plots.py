"""Do the chapter 2.7 plots and the partition widget render headless from seeded runs?"""

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_tools.sim.callchain import Service, simulate_chain  # noqa: E402
from course_tools.sim.cluster import convergence_times, run_partition_scenario, stale_reads  # noqa: E402
from course_tools.sim.hashing import load  # noqa: E402
from course_tools.sim.ring import HashRing, ModuloRouter  # noqa: E402
from course_tools.sim.linearizability import check  # noqa: E402
from course_tools.sim.scaling import fit_usl, measure  # noqa: E402
from course_tools.viz import distributed as viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_timeline_marks_the_culprit_and_partition():
    res = run_partition_scenario("ap", rng=random.Random(1))
    verdict = check(res.history)
    ax = viz.plot_timeline(res.history, res.partitions, until=4.0, culprit=verdict.culprit,
                           stale=[r for r, _ in stale_reads(res.history)])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "breaks linearizability" in labels and "stale read" in labels
    assert any("partition" in t.get_text() for t in ax.texts)


def test_other_plots_render():
    res = run_partition_scenario("ap", rng=random.Random(2))
    viz.plot_convergence({"run": convergence_times(res.cluster)})
    viz.plot_staleness([a for _, a in stale_reads(res.history)], total_reads=40)
    ns = [1, 2, 4, 8, 16, 32]
    x = measure(ns, rng=random.Random(0), duration=5.0)
    viz.plot_usl(ns, x, fit_usl(ns, x), amdahl_p=0.9)
    keys = [f"k{i}" for i in range(2000)]
    viz.plot_ring_load({"modulo": load(ModuloRouter(["a", "b"]), keys), "ring": load(HashRing(["a", "b"]), keys)})
    viz.plot_moved({"modulo": 0.5, "ring": 0.33}, ideal=1 / 3)
    viz.plot_chain({"one": simulate_chain([Service("a")], requests=200, rng=random.Random(0))})


def test_partition_run_prints_and_widget_reacts(capsys, monkeypatch):
    """The widget's function prints a verdict; changing a control re-runs it with the new value."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    viz.show_partition_run("cp", 1.0, 2.0, rng=random.Random(3))
    out = capsys.readouterr().out
    assert out.startswith("CP:") and "linearizable" in out
    widget = viz.partition_explorer(lambda: random.Random(3))
    widget.children[0].value = "ap"
    widget.children[1].value = (0.5, 3.0)
    assert widget.kwargs == {"mode": "ap", "window": (0.5, 3.0)}


def test_scaling_widgets_rerun_with_new_values(monkeypatch):
    """The USL and ring widgets render headless and follow their sliders."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    usl = viz.usl_explorer(lambda: random.Random(0), workers=(1, 2, 4, 8))
    usl.children[1].value = 50
    assert usl.kwargs["coherency_us"] == 50
    ring = viz.ring_explorer([f"k{i}" for i in range(500)])
    ring.children[1].value = 7
    assert ring.kwargs == {"nodes": 5, "vnodes": 7}
