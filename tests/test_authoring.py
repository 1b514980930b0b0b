import json

import nbformat
import pytest

from course_tools.authoring import code, md, notebook, solution, write
from course_tools.authoring import tests as graded_tests


def test_graded_cells_need_known_objectives():
    with pytest.raises(ValueError):
        graded_tests("assert True", grade_id="t", points=1, objectives=[])
    with pytest.raises(ValueError):
        graded_tests("assert True", grade_id="t", points=1, objectives=["9.9.9"])


def test_duplicate_grade_ids_are_refused():
    a = graded_tests("assert True", grade_id="t", points=1, objectives=["2.8.1"])
    b = graded_tests("assert True", grade_id="t", points=1, objectives=["2.8.1"])
    with pytest.raises(ValueError, match="duplicate"):
        notebook([a, b])


def test_written_notebooks_are_valid_and_stripped(tmp_path):
    cell = code("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    cell.execution_count = 3
    nb = notebook([md("# t"), cell, solution("x = 1", grade_id="s", objectives=["2.8.2"])])
    path = write(nb, tmp_path / "a" / "t.ipynb")
    data = json.loads(path.read_text())
    assert data["cells"][1]["outputs"] == [] and data["cells"][1]["execution_count"] is None
    assert data["cells"][2]["metadata"]["nbgrader"]["solution"] is True
    assert data["cells"][2]["metadata"]["course"]["objectives"] == ["2.8.2"]
    nbformat.validate(nbformat.read(path, as_version=4))
