"""Do the architecture pictures draw what they are given?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_tools.viz.architecture import format_trace, plot_dependencies, plot_onion  # noqa: E402

TRACE = [("->", "request_id", "/"), ("->", "auth", "/"), ("<-", "auth", 401), ("<-", "request_id", 401)]


def test_format_trace_indents_by_depth():
    """Each layer crossing on its own line, nested as the onion is."""
    assert format_trace(TRACE).splitlines() == ["-> request_id", "  -> auth", "  <- auth (401)", "<- request_id (401)"]


def test_onion_draws_one_panel_per_pipeline_with_every_layer():
    """Every layer and the handler are labelled; the caption names the layer that answered."""
    fig = plot_onion({"a": ["request_id", "auth"], "b": ["auth"]}, {"a": TRACE})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(fig.axes) == 2 and texts.count("handler") == 2 and "request_id" in texts
    assert any("answered by auth" in t and "401" in t for t in texts)


def test_dependency_graph_draws_every_node_and_edge():
    """One label per node, one arrow per edge."""
    fig = plot_dependencies([("a", "b")], {"a": (0.5, 0.8), "b": (0.2, 0.2), "c": (0.8, 0.2)}, {"a": 1},
                            creates=[("a", "c")], title="t")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts if t.get_text()) == ["a", "b", "c"]
    assert len([c for c in ax.get_children() if type(c).__name__ == "Annotation"]) == 2
