"""The stampede plot: curves that sit near zero must still be told apart."""

import random

import matplotlib

matplotlib.use("Agg")

from course_tools.sim import stampede  # noqa: E402
from course_tools.viz.caching import plot_stampede  # noqa: E402


def test_stampede_curves_are_distinguishable():
    """Two cures each start a handful of rebuilds: distinct line styles on a log scale, and one
    raster row per mitigation under the plot, so neither hides the other at zero."""
    import matplotlib.pyplot as plt

    runs = [stampede.simulate(stampede.arrivals(50, 30, rng=random.Random(1)), mitigation=m, rng=random.Random(2))
            for m in stampede.MITIGATIONS]
    ax = plot_stampede(runs, duration=30)
    lines = ax.get_lines()
    assert len(lines) == 3 and len({line.get_linestyle() for line in lines}) == 3
    assert ax.get_yscale() == "symlog"
    raster = ax.figure.axes[1]
    assert [t.get_text() for t in raster.get_yticklabels()] == list(stampede.MITIGATIONS)
    plt.close("all")
