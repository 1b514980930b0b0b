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


def test_message_objects_responses_numbers_and_highlight():
    """The OAuth lab's Message objects draw like tuples: responses dashed, numbered, an attacker highlighted."""
    from course_tools.net.oauth import Message
    from course_tools.viz.sequence import HIGHLIGHT

    msgs = [("browser", "client", "GET /login"), Message("client", "browser", "302", True),
            ("attacker", "client", "x" * 100)]
    fig = sequence_diagram(None, msgs, title="t", highlight=["attacker"], number=True, max_label=20)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["browser", "client", "attacker"]          # order of first mention
    numbered = [t for t in texts if t[:2] in ("1.", "2.", "3.")]
    assert numbered[:2] == ["1. GET /login", "2. 302"] and numbered[2].endswith("…") and len(numbered[2]) <= 24
    styles = [p.arrow_patch.get_linestyle() for p in ax.texts if hasattr(p, "arrow_patch") and p.arrow_patch]
    assert "--" in styles or (0, (3.7, 1.6)) in styles or any(s != "-" and s != "solid" for s in styles)
    colours = {matplotlib.colors.to_hex(p.arrow_patch.get_edgecolor()) for p in ax.texts
               if hasattr(p, "arrow_patch") and p.arrow_patch}
    assert HIGHLIGHT.lower() in colours
    plt.close(fig)
