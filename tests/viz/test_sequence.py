"""The message-sequence diagram (course_tools.viz.sequence)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_tools.viz.sequence import Arrow, sequence_diagram  # noqa: E402

MESSAGES = [("client", "relay", "POST /orders"), ("relay", "server", "POST /orders"),
            ("server", "relay", "201 Created"), ("relay", "client", "201 Created", "lost"),
            ("client", "server", "Finished", "encrypted")]


def _boxes(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return ax.title.get_window_extent(r), ax.get_legend().get_window_extent(r), ax, r


def test_one_arrow_per_message_in_order_and_lost_ones_marked():
    """Is every message drawn top-down in the order given, and is a lost one crossed out short of its receiver?"""
    fig = sequence_diagram(["client", "relay", "server"], MESSAGES, title="t")
    ax = fig.axes[0]
    from matplotlib.text import Annotation
    arrows = [c for c in ax.get_children() if isinstance(c, Annotation) and c.arrow_patch is not None]
    ys = [a.xy[1] for a in arrows]
    assert len(arrows) == len(MESSAGES) and ys == sorted(ys, reverse=True)
    lost = arrows[3]
    assert lost.xy[0] > 0 and lost.xyann[0] == 1 and 0 < lost.xy[0] < 1   # stops before the client's lifeline
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["message delivered", "message lost on the way", "encrypted (only sizes visible)"]
    plt.close(fig)


@pytest.mark.parametrize("n", [1, 4, 12])
def test_the_legend_never_overlaps_the_title(n):
    """Whatever the number of rows, are the legend's and the title's drawn boxes disjoint?"""
    msgs = (MESSAGES * 3)[:n]
    fig = sequence_diagram(["client", "relay", "server"], msgs, title="A long title that names the experiment")
    title, legend, ax, r = _boxes(fig)
    assert not title.overlaps(legend)
    assert legend.y1 <= ax.get_window_extent(r).y0 + 1     # the legend is below the diagram
    plt.close(fig)


def test_unknown_participants_and_styles_are_refused():
    with pytest.raises(ValueError, match="participants"):
        sequence_diagram(["a"], [("a", "b", "x")])
    with pytest.raises(ValueError, match="styles"):
        sequence_diagram(["a", "b"], [Arrow("a", "b", "x", "dotted")])
    plt.close("all")
