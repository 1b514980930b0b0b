import pytest

from course_tools.net.latency import measure_ladder, median_seconds

pytestmark = [pytest.mark.redis, pytest.mark.network]


def test_ladder_measures_every_rung_and_cleans_up():
    """Every rung is measured (a positive time) and the servers it started are gone."""
    ladder = measure_ladder(repeat=20)
    assert list(ladder) == ["dict in this process", "LRUCache in this process", "SQLite read by primary key (file)",
                            "Redis GET, Unix socket",
                            "Redis GET, TCP loopback", "HTTP GET, loopback keep-alive"]
    assert all(v > 0 for v in ladder.values())


def test_median_of_a_constant_operation():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeat=7) >= 0 and len(calls) == 7


def test_the_store_rung_is_a_real_sqlite_read_and_leaves_no_file(tmp_path, monkeypatch):
    """The ladder's "database" is measured on a real SQLite file (not a hard-coded number), removed afterwards."""
    import tempfile

    from course_tools.net.latency import sqlite_read_seconds

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert sqlite_read_seconds(repeat=5, rows=100) > 0
    assert list(tmp_path.iterdir()) == []
