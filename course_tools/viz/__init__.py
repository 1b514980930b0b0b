"""Plots and widgets shared by every lesson (simulators never import this)."""

from course_tools.viz.style import PALETTE, course_style, use_course_style, new_figure

__all__ = ["PALETTE", "course_style", "use_course_style", "new_figure"]
