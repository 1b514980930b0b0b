import random

import matplotlib

matplotlib.use("Agg")

from course_tools.sim import stampede, writepaths as wp  # noqa: E402
from course_tools.sim.caches import LFUCache, LRUCache  # noqa: E402
from course_tools.viz.caching import (  # noqa: E402
    hit_rate_curves, hit_rate_explorer, plot_hit_rate_curves, plot_stampede, plot_write_paths,
)
from course_tools.viz.style import PALETTE, course_style  # noqa: E402


def test_style_applies_the_palette():
    with course_style():
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:2] == PALETTE[:2]


def test_caching_plots_draw_what_they_are_given():
    trace = list(range(50)) * 4
    curves = hit_rate_curves({"LRU": LRUCache, "LFU": LFUCache}, trace, [10, 60])
    assert curves["LRU"] == [0.0, 0.75]
    ax = plot_hit_rate_curves(curves, [10, 60], title="t")
    assert [l.get_label() for l in ax.get_lines()] == ["LRU", "LFU"]
    ops = wp.workload(200, rng=random.Random(1))
    fig = plot_write_paths([wp.run(p, ops) for p in wp.PATTERNS])
    assert len(fig.axes) == 2
    runs = [stampede.simulate(stampede.arrivals(50, 30, rng=random.Random(1)), mitigation=m, rng=random.Random(2))
            for m in stampede.MITIGATIONS]
    assert len(plot_stampede(runs, duration=30).get_lines()) == 3
    import matplotlib.pyplot as plt
    plt.close("all")


def test_explorer_is_a_widget_with_two_controls():
    import matplotlib.pyplot as plt
    w = hit_rate_explorer({"t": list(range(30)) * 3}, {"LRU": LRUCache}, [5, 10])
    assert [c.description for c in w.children[:2]] == ["trace", "max size"]
    plt.close("all")


def test_every_figure_is_displayed_in_a_real_kernel():
    """Regression: the first figure created inside course_style() switched interactive mode
    off on exit, so in Jupyter only the first plot of a lesson was ever shown."""
    import nbclient
    from course_tools.authoring import code, notebook

    nb = notebook([
        code("from course_tools.viz import use_course_style, new_figure\nuse_course_style()"),
        code("fig, ax = new_figure()\nax.plot([1, 2])"),
        code("fig, ax = new_figure()\nax.plot([1, 2]);"),
        code("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nprint('x')"),
    ])
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3")
    client.execute()
    for cell in nb.cells[1:]:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source
