"""OFFSET vs keyset pagination on a real SQLite table (stdlib ``sqlite3``), measured in work done.

    conn = events_table(200_000, rng=seeds.spawn("pages"))
    rows = offset_page(conn, 50, offset=150_000)
    rows = keyset_page(conn, 50, after=(rows[-1][1], rows[-1][0]))
    vm_steps(conn, offset_page, 50, offset=150_000)     # SQLite virtual-machine steps

The table is ``events(id INTEGER PRIMARY KEY, created_at INTEGER, customer TEXT,
amount INTEGER)`` with an index on ``(created_at, id)``. Pages are in ``(created_at, id)``
order; ``created_at`` has ties on purpose, so ``id`` is the tie-breaker that makes the
order total. The cost of a query is counted in SQLite virtual-machine instructions with a
progress handler (``Connection.set_progress_handler``, Python docs): the count does not
depend on how fast or loaded the machine is, unlike a stopwatch.

:func:`page_through` pages a client through the table while a ``mutate`` function inserts
and deletes rows between page requests, and counts rows skipped and repeated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

__all__ = [
    "events_table", "offset_page", "keyset_page", "keyset_page_no_tiebreak", "vm_steps", "best_time",
    "query_plan", "encode_cursor", "decode_cursor", "InvalidCursor", "page_through", "PagingResult",
    "random_changes",
]

COLUMNS = "id, created_at, customer, amount"
STEP_GRANULARITY = 100   # the progress handler is called every 100 VM instructions


def events_table(n_rows: int, *, rng: random.Random, ties: int = 5, conn: sqlite3.Connection | None = None
                 ) -> sqlite3.Connection:
    """An in-memory table of ``n_rows`` events; about ``ties`` rows share each ``created_at``."""
    conn = conn or sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, "
                 "customer TEXT NOT NULL, amount INTEGER NOT NULL)")
    conn.execute("CREATE INDEX events_by_time ON events (created_at, id)")
    spread = max(1, n_rows // ties)
    rows = ((i, 1_700_000_000 + rng.randrange(spread), f"c{rng.randrange(1000):03d}", rng.randrange(1, 500))
            for i in range(1, n_rows + 1))
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    return conn


def offset_page(conn: sqlite3.Connection, size: int, offset: int = 0) -> list[tuple]:
    """Page by position: SQLite walks past ``offset`` rows and throws them away."""
    return conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY created_at, id LIMIT ? OFFSET ?",
                        (size, offset)).fetchall()


def keyset_page(conn: sqlite3.Connection, size: int, after: tuple[int, int] | None = None) -> list[tuple]:
    """Page by key: rows strictly after ``(created_at, id)`` (a row-value comparison), via the index."""
    if after is None:
        return conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY created_at, id LIMIT ?", (size,)).fetchall()
    return conn.execute(f"SELECT {COLUMNS} FROM events WHERE (created_at, id) > (?, ?) "
                        "ORDER BY created_at, id LIMIT ?", (*after, size)).fetchall()


def keyset_page_no_tiebreak(conn: sqlite3.Connection, size: int, after: int | None = None) -> list[tuple]:
    """The classic mistake: a keyset on ``created_at`` alone, which is not unique."""
    if after is None:
        return conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY created_at LIMIT ?", (size,)).fetchall()
    return conn.execute(f"SELECT {COLUMNS} FROM events WHERE created_at > ? ORDER BY created_at LIMIT ?",
                        (after, size)).fetchall()


def vm_steps(conn: sqlite3.Connection, fn: Callable, *args, **kwargs) -> int:
    """SQLite VM instructions ``fn(conn, ...)`` executed (to within ``STEP_GRANULARITY``)."""
    calls = 0

    def tick() -> int:
        nonlocal calls
        calls += 1
        return 0

    conn.set_progress_handler(tick, STEP_GRANULARITY)
    try:
        fn(conn, *args, **kwargs)
    finally:
        conn.set_progress_handler(None, STEP_GRANULARITY)
    return calls * STEP_GRANULARITY


def best_time(fn: Callable, *args, repeat: int = 5, **kwargs) -> float:
    """The best of ``repeat`` wall-clock timings, in seconds (an observation, never an assertion)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best


def query_plan(conn: sqlite3.Connection, sql: str, params: Sequence = ()) -> list[str]:
    """The ``detail`` column of ``EXPLAIN QUERY PLAN`` (SQLite docs, *EXPLAIN QUERY PLAN*)."""
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


class InvalidCursor(ValueError):
    """A cursor that this server did not issue (or that was tampered with)."""


def encode_cursor(key: Sequence[int], secret: bytes) -> str:
    """An opaque cursor: the last key, base64url-encoded and signed so clients cannot forge it."""
    payload = json.dumps(list(key), separators=(",", ":")).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode_cursor(cursor: str, secret: bytes) -> tuple[int, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("not a cursor") from exc
    mac, payload = raw[:8], raw[8:]
    if not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()[:8]):
        raise InvalidCursor("cursor signature does not match")
    return tuple(json.loads(payload))


@dataclass
class PagingResult:
    """What a client saw paging through a table that changed under it."""

    strategy: str
    pages: int
    seen: list[int] = field(default_factory=list)        # ids in the order received
    stable_ids: set[int] = field(default_factory=set)    # ids present from the first page to the last

    @property
    def duplicates(self) -> int:
        return len(self.seen) - len(set(self.seen))

    @property
    def skipped(self) -> int:
        return len(self.stable_ids - set(self.seen))


def random_changes(*, inserts: int, deletes: int, rng: random.Random) -> Callable[[sqlite3.Connection], None]:
    """A ``mutate(conn)`` that inserts rows at random times (before and after the reader's
    position) and deletes random existing rows."""

    def mutate(conn: sqlite3.Connection) -> None:
        lo, hi = conn.execute("SELECT min(created_at), max(created_at) FROM events").fetchone()
        for _ in range(inserts):
            conn.execute("INSERT INTO events (created_at, customer, amount) VALUES (?, ?, ?)",
                         (rng.randint(lo, hi), "new", rng.randrange(1, 500)))
        ids = [r[0] for r in conn.execute("SELECT id FROM events")]
        for victim in rng.sample(ids, min(deletes, len(ids))):
            conn.execute("DELETE FROM events WHERE id = ?", (victim,))
        conn.commit()

    return mutate


def page_through(conn: sqlite3.Connection, strategy: str, size: int,
                 mutate: Callable[[sqlite3.Connection], None] | None = None, *, max_pages: int = 10_000
                 ) -> PagingResult:
    """Read the whole table page by page (``"offset"``, ``"keyset"`` or ``"keyset-no-tiebreak"``),
    calling ``mutate(conn)`` between two page requests."""
    initial = {r[0] for r in conn.execute("SELECT id FROM events")}
    # deletions are recorded by a temporary trigger (cheaper than diffing every id around each change)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS paging_deleted (id INTEGER)")
    conn.execute("DELETE FROM temp.paging_deleted")
    conn.execute("CREATE TEMP TRIGGER IF NOT EXISTS paging_record_delete AFTER DELETE ON main.events "
                 "BEGIN INSERT INTO paging_deleted VALUES (old.id); END")
    result = PagingResult(strategy, 0)
    offset, after = 0, None
    while result.pages < max_pages:
        if strategy == "offset":
            rows = offset_page(conn, size, offset)
            offset += size
        elif strategy == "keyset":
            rows = keyset_page(conn, size, after)
            after = (rows[-1][1], rows[-1][0]) if rows else after
        elif strategy == "keyset-no-tiebreak":
            rows = keyset_page_no_tiebreak(conn, size, after)
            after = rows[-1][1] if rows else after
        else:
            raise ValueError(f"unknown strategy {strategy!r}")
        result.pages += 1
        result.seen.extend(r[0] for r in rows)
        if len(rows) < size:
            break
        if mutate is not None:
            mutate(conn)
    deleted = {r[0] for r in conn.execute("SELECT id FROM temp.paging_deleted")}
    conn.execute("DROP TRIGGER temp.paging_record_delete")
    conn.execute("DROP TABLE temp.paging_deleted")
    result.stable_ids = initial - deleted
    return result
