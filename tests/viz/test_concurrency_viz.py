"""Do the concurrency plots and the interleaving widget render headless?"""

from __future__ import annotations

import random
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_tools.sim.concurrency import cpu_tasks, schedule_tasks, simulate_pool  # noqa: E402
from course_tools.sim.interleave import Acquire, Program, Release, explore, run  # noqa: E402
from course_tools.viz.concurrency import (  # noqa: E402
    compare_timelines, draw_wait_for, plot_outcomes, plot_pool, plot_speedup, step_through,
)


def take(a, b):
    def thread():
        yield Acquire(a)
        yield Acquire(b)
        yield Release(b)
        yield Release(a)
    return thread


def test_plots_render():
    """Every plot returns a figure with something drawn on it."""
    figs = [
        compare_timelines([schedule_tasks(cpu_tasks(2, 2.0), 1), schedule_tasks(cpu_tasks(2, 2.0), 2)]),
        plot_speedup({"CPU": {"threads": [(1, 1.0), (2, 1.0)], "processes": [(1, 1.0), (2, 1.9)]}}, cores=2),
        plot_outcomes(Counter({1: 4, 2: 2}), bad={1}),
        plot_pool({"k=2": simulate_pool(10, capacity=2, rng=random.Random(1))}),
    ]
    for fig in figs:
        assert fig.axes and any(ax.has_data() for ax in fig.axes)
        plt.close(fig)


def test_wait_for_drawing_names_the_cycle():
    """The deadlock drawing's title names the cycle it found."""
    program = Program({"T1": take("A", "B"), "T2": take("B", "A")}, locks="AB")
    fig = draw_wait_for(run(program, ["T1", "T2"]))
    assert "T1 → T2 → T1" in fig.axes[0].get_title(loc="left")
    plt.close(fig)


def test_step_through_widget(capsys):
    """The widget shows the chosen interleaving up to the chosen step."""
    program = Program({"T1": take("A", "B"), "T2": take("B", "A")}, locks="AB")
    traces = {"".join(t.schedule): t for t in explore(program)}
    w = step_through(traces, start=1)
    w.update()
    assert "acquire A" in capsys.readouterr().out
    assert w.children[1].max == max(len(t.events) for t in traces.values())


def test_timeline_legends_stay_clear_of_titles_with_long_titles():
    """Regression: the lesson's third timeline (I/O legend, long title) put its legend over the title."""
    from course_tools.sim.concurrency import cpu_tasks, schedule_tasks
    from course_tools.viz.concurrency import compare_timelines

    with_io = {name: [("cpu", 1.0), ("io", 2.0), ("cpu", 1.0)] for name in "AB"}
    compare_timelines([schedule_tasks(cpu_tasks(2, 3.0), cores=2, quantum=0.5),
                       schedule_tasks(with_io, cores=1, quantum=0.5)],
                      ["Parallel: 2 cores at once", "1 core, tasks waiting for I/O overlap one another"])
    # the autouse fixture in tests/viz/conftest.py checks the layout of this figure


def test_layout_check_finds_a_legend_over_a_title():
    """Does layout_problems() see the overlap the lesson had (so the fixture is not vacuous)?"""
    import matplotlib.pyplot as plt

    from course_tools.viz.style import layout_problems

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], label="a long legend entry")
    ax.set_title("a long title that runs across the axes", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(0, 1.12))
    assert any("overlaps" in p for p in layout_problems(fig))
    plt.close(fig)


def test_fit_labels_gives_descriptions_and_buttons_their_full_width():
    """Regression: the partition explorer's toggle read "CP (majority quor…" and long slider names were cut."""
    import ipywidgets as w

    from course_tools.viz.style import fit_labels

    ui = fit_labels(w.interactive(lambda mode, c: None,
                                  mode=w.ToggleButtons(options=["CP (majority quorum)", "AP (local, LWW)"]),
                                  c=w.FloatSlider(description="coherency (µs)")))
    toggle, slider = ui.children[0], ui.children[1]
    assert toggle.style.button_width == "auto"
    assert slider.style.description_width == "initial"

def test_the_two_deadlock_pictures_say_which_graph_they_are():
    """Regression: the picture was a resource-allocation graph (threads and locks, with a
    holds/waits legend) while the text defines the wait-for graph. Does kind="wait-for" draw
    threads only, one arrow per wait-for edge, and does each picture name its graph?"""
    from matplotlib.text import Annotation

    program = Program({"T1": take("A", "B"), "T2": take("B", "A")}, locks="AB")
    trace = run(program, ["T1", "T2"])
    wf = draw_wait_for(trace)
    ax = wf.axes[0]
    arrows = [c for c in ax.get_children() if isinstance(c, Annotation) and c.arrow_patch is not None]
    assert ax.get_title(loc="left").startswith("wait-for graph") and len(arrows) == 2
    assert {t.get_text() for t in ax.texts} >= {"T1", "T2", "waits for A", "waits for B"}
    assert not ({"A", "B"} & {t.get_text() for t in ax.texts})       # no lock nodes
    ra = draw_wait_for(trace, kind="resource")
    ax = ra.axes[0]
    assert ax.get_title(loc="left").startswith("resource-allocation graph")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lock → thread: is held by", "thread → lock: waits for"]
    plt.close("all")


def test_legends_never_overlap_titles():
    """Every concurrency figure with a legend keeps it clear of every axes title."""
    from course_tools.net.concurrency import CoreUse
    from course_tools.viz.concurrency import plot_core_use

    program = Program({"T1": take("A", "B"), "T2": take("B", "A")}, locks="AB")
    figs = [
        plot_pool({"a": simulate_pool(30, capacity=2, rng=random.Random(1)),
                   "b": simulate_pool(30, capacity=2, rng=random.Random(1), acquire_timeout=0.2)}),
        plot_core_use([CoreUse("threads", 1, 1.0, 1.0), CoreUse("processes", 2, 1.8, 1.0)], cores=2),
        draw_wait_for(run(program, ["T1", "T2"]), kind="resource"),
    ]
    for fig in figs:
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends
        for legend in legends:
            box = legend.get_window_extent(r)
            for ax in fig.axes:
                for loc in ("left", "center", "right"):
                    title = ax.get_title(loc=loc)
                    if title:
                        t = {"left": ax._left_title, "center": ax.title, "right": ax._right_title}[loc]
                        assert not box.overlaps(t.get_window_extent(r)), title
        plt.close(fig)
