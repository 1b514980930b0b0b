"""Pagination on a real SQLite table: cost by depth, and what a reader sees while rows change."""

from __future__ import annotations

import random
import sqlite3

import pytest

from course_tools.sim import pagination as pg


@pytest.fixture(scope="module")
def table():
    return pg.events_table(20_000, rng=random.Random(1))


def _copy(conn):
    c = sqlite3.connect(":memory:")
    conn.backup(c)
    return c


def test_table_is_seeded_and_has_ties(table):
    again = pg.events_table(20_000, rng=random.Random(1))
    assert table.execute("SELECT * FROM events ORDER BY id LIMIT 50").fetchall() == \
        again.execute("SELECT * FROM events ORDER BY id LIMIT 50").fetchall()
    n, distinct = table.execute("SELECT count(*), count(DISTINCT created_at) FROM events").fetchone()
    assert n == 20_000 and distinct < n / 2


def test_offset_and_keyset_pages_agree_on_a_static_table(table):
    page = pg.offset_page(table, 25, 0)
    for k in range(1, 40):
        after = (page[-1][1], page[-1][0])
        page = pg.keyset_page(table, 25, after)
        assert page == pg.offset_page(table, 25, 25 * k)


def test_offset_work_grows_with_depth_and_keyset_work_does_not(table):
    """Counted in SQLite VM steps, which no machine load can change."""
    shallow, deep = pg.vm_steps(table, pg.offset_page, 50, 100), pg.vm_steps(table, pg.offset_page, 50, 19_000)
    assert deep > 50 * shallow
    rows = pg.offset_page(table, 1, 19_000)
    k_deep = pg.vm_steps(table, pg.keyset_page, 50, (rows[0][1], rows[0][0]))
    k_shallow = pg.vm_steps(table, pg.keyset_page, 50, None)
    assert k_deep <= 2 * k_shallow + 200


def test_query_plans_use_the_index(table):
    assert any("USING INDEX events_by_time" in d for d in
               pg.query_plan(table, "SELECT * FROM events ORDER BY created_at, id LIMIT 5 OFFSET 10"))
    plan = pg.query_plan(table, "SELECT * FROM events WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT 5", (1, 2))
    assert any(d.startswith("SEARCH") for d in plan)


def test_under_changes_offset_skips_and_repeats_keyset_does_neither(table):
    small = pg.events_table(1500, rng=random.Random(3))
    results = {}
    for strategy in ("offset", "keyset", "keyset-no-tiebreak"):
        results[strategy] = pg.page_through(_copy(small), strategy, 40,
                                            pg.random_changes(inserts=4, deletes=4, rng=random.Random(5)))
    assert results["offset"].skipped > 0 and results["offset"].duplicates > 0
    assert results["keyset"].skipped == 0 and results["keyset"].duplicates == 0
    assert results["keyset-no-tiebreak"].skipped > 0


def test_without_changes_only_the_missing_tiebreaker_loses_rows():
    small = pg.events_table(1000, rng=random.Random(4))
    assert pg.page_through(_copy(small), "offset", 30).skipped == 0
    assert pg.page_through(_copy(small), "keyset", 30).skipped == 0
    assert pg.page_through(_copy(small), "keyset-no-tiebreak", 30).skipped > 0


def test_cursors_round_trip_and_refuse_tampering():
    c = pg.encode_cursor((1_700_000_123, 42), b"secret")
    assert pg.decode_cursor(c, b"secret") == (1_700_000_123, 42)
    assert "1700000123" not in c
    with pytest.raises(pg.InvalidCursor):
        pg.decode_cursor(c, b"other")
    forged = pg.encode_cursor((1, 1), b"guess")
    with pytest.raises(pg.InvalidCursor):
        pg.decode_cursor(forged, b"secret")
    with pytest.raises(pg.InvalidCursor):
        pg.decode_cursor("!!!", b"secret")
