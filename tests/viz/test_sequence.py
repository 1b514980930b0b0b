"""Does sequence_diagram draw one arrow per message, numbered, for tuples and message objects alike?"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_tools.net.oauth import Message  # noqa: E402
from course_tools.security.passwords import Rate  # noqa: E402
from course_tools.viz.auth import plot_exhaustion  # noqa: E402
from course_tools.viz.sequence import normalise_messages, sequence_diagram  # noqa: E402


def test_tuples_and_objects_normalise_alike():
    assert normalise_messages([("a", "b", "x"), ("b", "a", "y", True), Message("a", "b", "z")]) == [
        ("a", "b", "x", False), ("b", "a", "y", True), ("a", "b", "z", False)]
    with pytest.raises(ValueError):
        normalise_messages([("a", "b")])


def test_one_numbered_arrow_per_message_and_participants_in_order():
    msgs = [("browser", "client", "GET /login"), ("client", "browser", "302", True), ("client", "client", "think")]
    ax = sequence_diagram(msgs, participants=["client", "browser"], title="t", highlight=["browser"])
    texts = [t.get_text() for t in ax.texts]
    assert texts[:2] == ["client", "browser"]
    assert [t for t in texts if t[:2] in ("1.", "2.", "3.")] == ["1. GET /login", "2. 302", "3. think"]
    plt.close(ax.figure)


def test_long_labels_are_shortened():
    ax = sequence_diagram([("a", "b", "x" * 100)], max_label=20)
    assert any(t.get_text().endswith("…") and len(t.get_text()) <= 24 for t in ax.texts)
    plt.close(ax.figure)


def test_exhaustion_plot_is_log_scaled_with_one_bar_per_scheme():
    rates = {"a": Rate("a", "fast", 1e6, 10, 1), "b": Rate("b", "slow", 10.0, 10, 1)}
    ax = plot_exhaustion(rates)
    assert ax.get_xscale() == "log" and len(ax.patches) == 2
    plt.close(ax.figure)
