import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_tools.security.passwords import Rate  # noqa: E402
from course_tools.viz.auth import plot_exhaustion  # noqa: E402


def test_exhaustion_plot_is_log_scaled_with_one_bar_per_scheme():
    rates = {"a": Rate("a", "fast", 1e6, 10, 1), "b": Rate("b", "slow", 10.0, 10, 1)}
    ax = plot_exhaustion(rates)
    assert ax.get_xscale() == "log" and len(ax.patches) == 2
    plt.close(ax.figure)
