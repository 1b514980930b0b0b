"""The results contract: atomic writes, and readers never see a half-written file."""

from course_tools.grading.results import (
    CellResult, NotebookResult, SubmissionResult, load_results, result_path, save_result,
)


def _result(student="ada"):
    return SubmissionResult(student, "08_caching", "graded", 3.0, 4.0,
                            [NotebookResult("08_caching", 3.0, 4.0, [CellResult("q1_test", 1, 1, ["2.8.1"])])])


def test_round_trip_through_json(tmp_path):
    path = save_result(tmp_path, _result())
    assert path == result_path(tmp_path, "08_caching", "ada")
    [back] = load_results(tmp_path, "08_caching")
    assert back == _result() and back.cells()[0].objectives == ["2.8.1"] and not back.failed


def test_temp_files_are_ignored(tmp_path):
    save_result(tmp_path, _result("ada"))
    (tmp_path / "grades" / "08_caching" / ".tmp-abc.json").write_text("{half")
    assert [r.student for r in load_results(tmp_path)] == ["ada"]
