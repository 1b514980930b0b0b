"""Every figure a plot helper draws in these tests is checked for a clean layout afterwards."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_tools.viz.style import layout_problems  # noqa: E402


@pytest.fixture(autouse=True)
def clean_layout():
    plt.close("all")
    yield
    problems = {n: layout_problems(plt.figure(n)) for n in plt.get_fignums()}
    plt.close("all")
    bad = {n: p for n, p in problems.items() if p}
    assert not bad, f"legends must not overlap titles, nothing may be cut off: {bad}"
