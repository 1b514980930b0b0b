"""Does a learner's progress per objective follow from what they did, from an empty start to passed?"""

import json

import pytest

from course_tools import progress
from course_tools.grading.results import CellResult
from course_tools.quiz.bank import load_bank, load_quiz


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(path))
    return path


def test_nothing_done_is_an_empty_map_not_an_error(store):
    status = progress.objective_status()
    assert {p.status for p in status.values()} == {"not started"}
    text = progress.course_map()
    assert "2.8.2" in text and "not started: 33" in text


def test_self_checks_move_an_objective_to_practised_then_self_checked(store, capsys):
    quiz = load_quiz("08_caching")
    [(i, q)] = [(i, q) for i, q in enumerate(quiz.questions) if q.objectives == ("2.8.1",)]
    wrong = next(l for l in "abcd" if l != q.answer)
    quiz.check(i + 1, wrong)
    assert progress.objective_status()["2.8.1"].status == "practised"
    keys = {bq.key for bq in load_bank("08_caching") if "2.8.1" in bq.question.objectives}
    for n, bq in enumerate(load_bank("08_caching"), 1):
        if bq.key in keys:
            quiz.check(n, bq.question.answer)
    assert progress.objective_status()["2.8.1"].status == "self-checked"
    assert len(json.loads(store.read_text())["events"]) == 1 + len(keys)


def test_a_course_check_at_75_percent_passes_and_below_does_not(store):
    cells = [CellResult("a", 3, 4, ["2.8.2"]), CellResult("b", 0, 1, ["2.8.1"])]
    progress.record_check("08_caching", cells)
    status = progress.objective_status()
    assert status["2.8.2"].status == "passed" and status["2.8.2"].best_check == 0.75
    assert status["2.8.1"].status == "practised"
    progress.record_check("08_caching", [CellResult("a", 2.9, 4, ["2.8.2"])])    # the latest attempt counts
    assert progress.objective_status()["2.8.2"].status == "practised"


def test_a_damaged_file_is_set_aside_and_reads_as_empty(store):
    store.write_text("{not json")
    assert progress.load_events() == []
    assert not store.exists() and list(store.parent.glob("progress.damaged-*.json"))
    progress.record_self_check("08_caching:x", ["2.8.1"], True)
    assert progress.load_events()[0]["key"] == "08_caching:x"


def test_progress_plot_draws_every_objective(store):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_tools.viz.progress import plot_progress
    from course_tools.viz.style import layout_problems

    fig = plot_progress(progress.objective_status())
    assert len(fig.axes[0].patches) == 33
    assert layout_problems(fig) == []
    plt.close(fig)
