"""Does every assessment grade right in both directions?

The instructor's source scores full marks; the untouched student version scores zero;
nothing needs manual grading; the student version shows no solution or hidden test.
"""

import nbformat
import pytest

from course_tools.grading.nbgrader_io import COURSE_DIR, assignments, find_leaks, roundtrip

pytestmark = [pytest.mark.grading, pytest.mark.slow]


@pytest.mark.parametrize("assignment", assignments(COURSE_DIR))
def test_solution_full_marks_student_version_zero(assignment, tmp_path):
    rt = roundtrip(assignment, COURSE_DIR, tmp_path)
    assert rt.max_score > 0
    for nb in rt.solution:
        failed = [c.grade_id for c in nb.cells if c.score < c.max_score]
        assert nb.score == nb.max_score, f"solution lost points in {failed}"
        assert not nb.needs_manual_grade
    for nb in rt.student:
        passed = [c.grade_id for c in nb.cells if c.score > 0]
        assert nb.score == 0, f"the untouched student version earns points in {passed}"
        assert not nb.needs_manual_grade
    for rel in rt.released:
        student = nbformat.read(tmp_path / "course" / rel, as_version=4)
        source = nbformat.read(COURSE_DIR / "source" / assignment / rel.name, as_version=4)
        assert find_leaks(source, student) == []


def test_leak_detector_finds_solution_text():
    """A student version that still holds solution lines is caught."""
    from course_tools.authoring import notebook, solution

    src = notebook([solution("### BEGIN SOLUTION\nanswer_1 = 'b'  # the answer\n### END SOLUTION",
                             grade_id="a", objectives=["2.8.1"])])
    leaked = notebook([solution("answer_1 = 'b'  # the answer", grade_id="a", objectives=["2.8.1"])])
    clean = notebook([solution("answer_1 = None", grade_id="a", objectives=["2.8.1"])])
    assert find_leaks(src, leaked) and not find_leaks(src, clean)
