"""Where the course lives, importable without nbformat/nbgrader (whose import alone takes seconds).

``nbgrader_io.COURSE_DIR`` is the same path; the ``course`` CLI imports it from here so that
``course autograde`` starts fast.
"""

from pathlib import Path

COURSE_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "assessments"
