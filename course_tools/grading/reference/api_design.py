"""Checks for the API design assessment (02_api_design): fakes the learner's code talks to,
references, and the probes hidden tests run.

Every collaborator handed to learner code is owned by the test and speaks plain data:

- :class:`EventsDB` — ``db.query(sql, params) -> list[tuple]`` on a private SQLite table
  ``events(id, created_at, title)``. Learner SQL is confined: an authorizer allows reading
  that table only (no PRAGMA, ATTACH, writes or other tables) and a progress handler stops
  a query after a budget of VM steps.
- a clock: :class:`course_tools.clock.VirtualClock` (``clock() -> float``).
- :class:`KeyStore` — a Redis-like ``get`` / ``set(nx=, ex=)`` / ``delete`` on ``str`` values;
  ``charge(payload) -> dict`` fakes that count payments.

Failure messages describe the behaviour that went wrong, never the hidden data.
"""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any, Callable

from course_tools.clock import VirtualClock
from course_tools.grading.checks import fail as _fail
from course_tools.sim.ratelimit import TokenBucket as _ReferenceBucket

__all__ = [
    "EventsDB", "QueryRefused", "check_page_basics", "check_pagination_ties", "check_pagination_changes",
    "check_cursor_opaque", "check_bucket_basics", "check_bucket_refill", "compare_bucket_with_reference",
    "check_bucket_validation", "KeyStore", "Charges", "check_idempotency_basics", "check_idempotency_mismatch",
    "check_idempotency_in_flight", "check_idempotency_expiry",
]

# --------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------

_ALLOWED_FUNCTIONS = {"max", "min", "count", "coalesce", "ifnull", "abs", "length", "substr", "printf",
                      "lower", "upper", "cast", "typeof", "nullif", "instr", "replace", "trim"}
STEP_BUDGET = 2_000_000


class QueryRefused(Exception):
    """The test database refused a statement (not a SELECT on events, or too much work)."""


class EventsDB:
    """A private table ``events(id INTEGER PRIMARY KEY, created_at INTEGER, title TEXT)``.

    ``query(sql, params)`` runs one SELECT on it and returns a list of plain tuples.
    ``queries`` counts calls; the test (never the learner) changes rows with
    :meth:`insert` and :meth:`delete`.
    """

    def __init__(self, rows: list[tuple[int, int, str]] = ()) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, title TEXT NOT NULL)")
        self._conn.execute("CREATE INDEX events_by_time ON events (created_at, id)")
        self._conn.executemany("INSERT INTO events VALUES (?, ?, ?)", list(rows))
        self._conn.commit()
        self.queries = 0
        self._steps = 0
        self._conn.set_authorizer(self._authorize)
        self._conn.set_progress_handler(self._progress, 1000)

    # --- confinement ----------------------------------------------------------------
    def _authorize(self, action, arg1, arg2, dbname, source):
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and arg1 == "events" and dbname in ("main", None):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _ALLOWED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        self._steps += 1000
        return 1 if self._steps > STEP_BUDGET else 0

    def query(self, sql, params=()) -> list[tuple]:
        if type(sql) is not str:
            raise TypeError("sql must be a str")
        if type(params) not in (tuple, list) or any(type(p) not in (int, float, str, type(None)) for p in params):
            raise TypeError("params must be a tuple or list of int, float, str or None")
        self.queries += 1
        self._steps = 0
        try:
            rows = self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise QueryRefused(f"the database refused the query: {exc}") from None
        finally:
            self._steps = 0
        return [tuple(r) for r in rows]

    # --- test-side changes (authorizer off) -------------------------------------------
    def _admin(self, sql: str, params=()) -> list[tuple]:
        self._conn.set_authorizer(None)
        try:
            rows = self._conn.execute(sql, params).fetchall()
            self._conn.commit()
            return rows
        finally:
            self._conn.set_authorizer(self._authorize)

    def insert(self, created_at: int, title: str) -> int:
        self._admin("INSERT INTO events (created_at, title) VALUES (?, ?)", (created_at, title))
        return self._admin("SELECT max(id) FROM events")[0][0]

    def delete(self, row_id: int) -> None:
        self._admin("DELETE FROM events WHERE id = ?", (row_id,))

    def ids(self) -> set[int]:
        return {r[0] for r in self._admin("SELECT id FROM events")}

    def all_rows(self) -> list[tuple]:
        return self._admin("SELECT id, created_at, title FROM events ORDER BY created_at, id")

    def close(self) -> None:
        self._conn.close()


def _table(rng: random.Random, n: int, spread: int) -> list[tuple[int, int, str]]:
    return [(i, 1_700_000_000 + rng.randrange(spread), f"event {i}") for i in range(1, n + 1)]


def _call_page(fetch_page: Callable, db: EventsDB, cursor, size: int, question: object) -> tuple[list[tuple], Any]:
    try:
        result = fetch_page(db, cursor, size)
    except QueryRefused as exc:
        _fail(question, f"{exc}. Only SELECT on the events table is allowed.")
    if type(result) is not tuple or len(result) != 2:
        _fail(question, "fetch_page must return a tuple (rows, next_cursor).")
    rows, nxt = result
    if type(rows) is not list or any(type(r) is not tuple or len(r) != 3 for r in rows):
        _fail(question, "rows must be a list of (id, created_at, title) tuples.")
    for r in rows:
        if type(r[0]) is not int or type(r[1]) is not int or type(r[2]) is not str:
            _fail(question, "each row must be (id: int, created_at: int, title: str), as the table holds them.")
    if nxt is not None and type(nxt) is not str:
        _fail(question, "next_cursor must be a str, or None after the last page.")
    if len(rows) > size:
        _fail(question, f"a page held {len(rows)} rows; page_size was {size}.")
    return rows, nxt


def _read_all(fetch_page: Callable, db: EventsDB, size: int, question: object,
              between: Callable[[list[tuple]], None] | None = None, max_pages: int = 2000) -> list[tuple]:
    seen: list[tuple] = []
    cursor = None
    for _ in range(max_pages):
        rows, cursor = _call_page(fetch_page, db, cursor, size, question)
        if cursor is not None and len(rows) < size:
            _fail(question, "a page came back short but with a next_cursor: a short page only happens at the end.")
        seen.extend(rows)
        if cursor is None:
            return seen
        if between is not None:
            between(rows)
    _fail(question, f"after {max_pages} pages the cursor was still not None: does your cursor move forward?")
    return seen


def check_page_basics(fetch_page: Callable, *, question: object = "?") -> None:
    """A small static table: the first page, the whole walk, and the end."""
    rng = random.Random(7)
    rows = _table(rng, 23, 40)
    db = EventsDB(rows)
    want = db.all_rows()
    first, cursor = _call_page(fetch_page, db, None, 5, question)
    if first != want[:5]:
        _fail(question, "the first page must be the 5 earliest rows, ordered by created_at, then id.")
    if cursor is None:
        _fail(question, "after a full first page, next_cursor must not be None.")
    got = _read_all(fetch_page, db, 5, question)
    if got != want:
        _fail(question, "reading every page of an unchanging table must give every row once, in order.")


def check_pagination_ties(fetch_page: Callable, *, seeds=(1, 2, 3), question: object = "?") -> None:
    """Many rows share a created_at, and pages end in the middle of a tie."""
    for seed in seeds:
        rng = random.Random(seed)
        db = EventsDB(_table(rng, rng.randrange(60, 120), rng.randrange(4, 9)))
        want = db.all_rows()
        size = rng.randrange(3, 8)
        got = _read_all(fetch_page, db, size, question)
        if [r[0] for r in got] != [r[0] for r in want]:
            missing = len({r[0] for r in want} - {r[0] for r in got})
            _fail(question, f"with many rows sharing one created_at, {missing} rows were never returned "
                            f"(or came out of order). What decides the order of rows with equal created_at?")


def check_pagination_changes(fetch_page: Callable, *, seeds=(11, 12, 13, 14), question: object = "?") -> None:
    """Rows are inserted (before and after the reader) and deleted (seen and unseen) between
    page requests: every row present throughout must come back exactly once, in order."""
    for seed in seeds:
        rng = random.Random(seed)
        spread = rng.randrange(30, 60)
        db = EventsDB(_table(rng, rng.randrange(80, 150), spread))
        initial = db.ids()
        deleted: set[int] = set()
        size = rng.randrange(4, 9)

        def mutate(page: list[tuple]) -> None:
            for _ in range(rng.randrange(1, 4)):
                at = page[-1][1] if page and rng.random() < 0.3 else 1_700_000_000 + rng.randrange(spread)
                db.insert(at, "inserted")
            ids = sorted(db.ids())
            for victim in rng.sample(ids, min(len(ids), rng.randrange(1, 4))):
                db.delete(victim)
                deleted.add(victim)

        got = _read_all(fetch_page, db, size, question, between=mutate)
        ids = [r[0] for r in got]
        if len(ids) != len(set(ids)):
            _fail(question, "while rows were inserted and deleted between pages, some rows came back twice. "
                            "Where does your next page start?")
        stable = initial - deleted
        if stable - set(ids):
            _fail(question, f"while rows were inserted and deleted between pages, {len(stable - set(ids))} rows "
                            "that existed the whole time were never returned.")
        keys = [(r[1], r[0]) for r in got]
        if keys != sorted(keys):
            _fail(question, "the rows, page after page, must be in (created_at, id) order.")


def check_cursor_opaque(fetch_page: Callable, *, question: object = "?") -> None:
    """The cursor is a string the client cannot read a row position or a key out of."""
    db = EventsDB(_table(random.Random(5), 30, 12))
    rows, cursor = _call_page(fetch_page, db, None, 4, question)
    if cursor is None:
        _fail(question, "a full first page needs a next_cursor.")
    if cursor.strip().lstrip("-").isdigit():
        _fail(question, "the cursor is a plain number: clients will do arithmetic on it. Make it opaque.")
    last = rows[-1]
    if str(last[1]) in cursor:
        _fail(question, "the cursor shows the sort key in plain text: encode it (e.g. base64) so it is opaque.")
    again, _ = _call_page(fetch_page, db, cursor, 4, question)
    if again and again[0] == rows[0]:
        _fail(question, "passing the cursor back returned the first page again.")


# --------------------------------------------------------------------------------------
# Token bucket
# --------------------------------------------------------------------------------------

def _bucket(cls: Callable, rate, burst, clock, question: object):
    try:
        return cls(rate, burst, clock)
    except TypeError:
        _fail(question, "TokenBucket(rate, burst, clock) must accept three arguments.")


def _allow(bucket, question: object) -> bool:
    got = bucket.allow()
    if type(got) is not bool:
        _fail(question, f"allow() must return True or False, not {type(got).__name__}.")
    return got


def _retry(bucket, question: object) -> float:
    got = bucket.retry_after()
    if type(got) not in (int, float):
        _fail(question, f"retry_after() must return a number of seconds, not {type(got).__name__}.")
    return float(got)


def check_bucket_basics(cls: Callable, *, question: object = "?") -> None:
    """A full bucket admits a burst of exactly ``burst``, then refuses."""
    clock = VirtualClock()
    b = _bucket(cls, 2, 4, clock, question)
    got = [_allow(b, question) for _ in range(6)]
    if got != [True] * 4 + [False] * 2:
        _fail(question, "a new bucket with burst 4 must admit 4 requests at once and refuse the 5th and 6th.")


def check_bucket_refill(cls: Callable, *, question: object = "?") -> None:
    """Refill at ``rate`` tokens/s, never above ``burst``; refused requests cost nothing;
    ``retry_after`` is the exact wait."""
    clock = VirtualClock()
    b = _bucket(cls, 4, 3, clock, question)
    for _ in range(3):
        _allow(b, question)
    if _allow(b, question):
        _fail(question, "an empty bucket admitted a request.")
    wait = _retry(b, question)
    if abs(wait - 0.25) > 1e-6:
        _fail(question, "after emptying a bucket refilled at 4 tokens/s, retry_after() must be the time to the next token.")
    clock.advance(0.125)
    if _allow(b, question):
        _fail(question, "half a token is not a token.")
    clock.advance(0.125)
    if not _allow(b, question):
        _fail(question, "a refused request must not cost a token: after 1/rate seconds one request must pass.")
    clock.advance(3600)
    got = [_allow(b, question) for _ in range(5)]
    if got != [True] * 3 + [False] * 2:
        _fail(question, "after a long idle time the bucket holds at most burst tokens: the refill must be capped.")
    if _retry(b, question) <= 0:
        _fail(question, "retry_after() must be positive while requests are refused.")
    clock.advance(10)
    if _retry(b, question) != 0:
        _fail(question, "retry_after() must be 0 when a request would be admitted now.")


def compare_bucket_with_reference(cls: Callable, *, seeds=(1, 2, 3), n: int = 400, question: object = "?") -> None:
    """Seeded bursty traffic on a fake clock: every decision (and every wait) must match an
    exact token bucket. Times are multiples of 1/64 s and rates powers of two, so the
    arithmetic is exact in floating point."""
    for seed in seeds:
        rng = random.Random(seed)
        rate, burst = rng.choice([0.5, 1, 2, 4, 8]), rng.randrange(1, 12)
        c1, c2 = VirtualClock(), VirtualClock()
        mine, ref = _bucket(cls, rate, burst, c1, question), _ReferenceBucket(rate, burst, clock=c2)
        for i in range(n):
            r = rng.random()
            step = 0 if r < 0.3 else rng.randrange(1, 8) if r < 0.8 else rng.randrange(64, 64 * 8)
            c1.advance(step / 64)
            c2.advance(step / 64)
            got, want = _allow(mine, question), ref.allow()
            if got != want:
                _fail(question, f"on bursty traffic (rate {rate}/s, burst {burst}) request {i + 1} was "
                                f"{'admitted' if got else 'refused'} where a token bucket would have "
                                f"{'admitted' if want else 'refused'} it.")
            if not want:
                if abs(_retry(mine, question) - ref.retry_after()) > 1e-6:
                    _fail(question, f"retry_after() after a refusal (rate {rate}/s, burst {burst}) is not the "
                                    "time until the next whole token.")


def check_bucket_validation(cls: Callable, *, question: object = "?") -> None:
    clock = VirtualClock()
    for rate, burst in ((0, 1), (-1, 1), (1, 0), (1, -2)):
        try:
            cls(rate, burst, clock)
        except ValueError:
            continue
        except Exception as exc:
            _fail(question, f"TokenBucket({rate}, {burst}, clock) raised {type(exc).__name__}; expected ValueError.")
        _fail(question, f"TokenBucket({rate}, {burst}, clock) must raise ValueError.")


# --------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------

class KeyStore:
    """A Redis-like store of ``str`` values: ``get``, ``set(key, value, nx=False, ex=None,
    keepttl=False)`` (``True`` if written; ``nx=True`` writes only a missing key, atomically),
    ``delete``. ``ex`` (seconds) is recorded in ``expiry``; as in Redis, a ``set`` without
    ``ex`` or ``keepttl=True`` removes the key's expiry."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.expiry: dict[str, int] = {}
        self.log: list[tuple] = []

    def get(self, key):
        if type(key) is not str:
            raise TypeError("keys are str")
        self.log.append(("get", key))
        return self.data.get(key)

    def set(self, key, value, nx=False, ex=None, keepttl=False):
        if type(key) is not str or type(value) is not str:
            raise TypeError("keys and values are str (serialise with json.dumps)")
        if ex is not None and (type(ex) is not int or ex < 1):
            raise TypeError("ex must be a positive int (seconds)")
        self.log.append(("set", key, bool(nx)))
        if nx and key in self.data:
            return False
        self.data[key] = value
        if ex is not None:
            self.expiry[key] = ex
        elif not keepttl:            # like Redis: a SET without EX or KEEPTTL removes the expiry
            self.expiry.pop(key, None)
        return True

    def delete(self, key):
        self.log.append(("delete", key))
        self.expiry.pop(key, None)
        return 1 if self.data.pop(key, None) is not None else 0


class Charges:
    """``charge(payload) -> dict``: makes a payment and counts it. ``during`` (optional) is
    called inside the first charge, to issue a duplicate request mid-operation."""

    def __init__(self, during: Callable[[], None] | None = None) -> None:
        self.made: list[dict] = []
        self.during = during

    def __call__(self, payload) -> dict:
        if type(payload) is not dict:
            raise TypeError("charge() takes the payload dict")
        during, self.during = self.during, None
        if during is not None:
            during()
        record = {"id": f"pay_{len(self.made) + 1}", "amount": payload.get("amount"), "status": "succeeded"}
        self.made.append(record)
        return dict(record)


def _handle(handler: Callable, key, payload, store, charge, question: object) -> tuple[int, str]:
    result = handler(key, payload, store, charge)
    if type(result) is not tuple or len(result) != 2 or type(result[0]) is not int or type(result[1]) is not str:
        _fail(question, "handle_payment must return a tuple (status: int, body: str).")
    return result


def check_idempotency_basics(handler: Callable, *, question: object = "?") -> None:
    """A lost response: the client retries with the same key and payload."""
    store, charge = KeyStore(), Charges()
    pay = {"amount": 500, "currency": "GBP"}
    first = _handle(handler, "key-1", pay, store, charge, question)
    if first[0] != 201:
        _fail(question, f"the first request must succeed with 201, got {first[0]}.")
    try:
        body = json.loads(first[1])
    except ValueError:
        _fail(question, "the 201 body must be the charge's result as JSON.")
    if body != charge.made[0]:
        _fail(question, "the 201 body must be the charge's result as JSON.")
    again = _handle(handler, "key-1", dict(pay), store, charge, question)
    if len(charge.made) != 1:
        _fail(question, f"a retry with the same Idempotency-Key charged again ({len(charge.made)} charges).")
    if again != first:
        _fail(question, "a retry must get the first response back, status and body byte for byte.")
    other = _handle(handler, "key-2", dict(pay), store, charge, question)
    if other[0] != 201 or len(charge.made) != 2:
        _fail(question, "a new Idempotency-Key is a new payment: it must charge.")
    for missing in (None, ""):
        status, _ = _handle(handler, missing, dict(pay), store, charge, question)
        if status != 400:
            _fail(question, f"a request without an Idempotency-Key must get 400, got {status}.")
    if len(charge.made) != 2:
        _fail(question, "a request without an Idempotency-Key must not charge.")


def check_idempotency_mismatch(handler: Callable, *, question: object = "?") -> None:
    """Same key, another payload: 422 and no charge; the original response is still replayed."""
    store, charge = KeyStore(), Charges()
    first = _handle(handler, "order-77", {"amount": 300, "currency": "GBP"}, store, charge, question)
    for other in ({"amount": 301, "currency": "GBP"}, {"amount": 300, "currency": "EUR"}):
        status, _ = _handle(handler, "order-77", other, store, charge, question)
        if status != 422:
            _fail(question, f"the same key with a different payload must get 422, got {status}.")
    if len(charge.made) != 1:
        _fail(question, "a payload mismatch must not charge.")
    same_reordered = {"currency": "GBP", "amount": 300}
    if _handle(handler, "order-77", same_reordered, store, charge, question) != first:
        _fail(question, "the same payload (keys in another order) must replay the first response.")


def check_idempotency_in_flight(handler: Callable, *, question: object = "?") -> None:
    """A retry arrives while the first request is inside the charge: it must get 409 and not
    charge; the first request then completes; one charge in all. The key is claimed with an
    atomic ``set(nx=True)``: a get-then-set passes this sequential probe but not two servers at once."""
    store = KeyStore()
    pay = {"amount": 900, "currency": "GBP"}
    seen: list[tuple[int, str]] = []
    charge = Charges()
    charge.during = lambda: seen.append(_handle(handler, "dup", dict(pay), store, charge, question))
    first = _handle(handler, "dup", pay, store, charge, question)
    if len(charge.made) != 1:
        _fail(question, f"a retry that arrived while the first request was being processed was charged too "
                        f"({len(charge.made)} charges). When do you record the key?")
    if not seen or seen[0][0] != 409:
        got = seen[0][0] if seen else None
        _fail(question, f"a retry while the first request is still in flight must get 409, got {got}.")
    if first[0] != 201:
        _fail(question, "the first request must still complete with 201.")
    if _handle(handler, "dup", dict(pay), store, charge, question) != first or len(charge.made) != 1:
        _fail(question, "once the first request has finished, a retry must replay its response.")
    claims = [e for e in store.log if e[0] == "set" and "dup" in e[1]]
    if not claims or not claims[0][2]:
        _fail(question, "claim the key in one atomic step, set(..., nx=True): with a get and then a set, two "
                        "requests that arrive together on two servers both find no key and both charge.")


def check_idempotency_expiry(handler: Callable, *, question: object = "?") -> None:
    """The key record is written with an expiry (``ex``) of 24 hours: a published policy."""
    store, charge = KeyStore(), Charges()
    _handle(handler, "exp-1", {"amount": 5, "currency": "GBP"}, store, charge, question)
    keys = [k for k in store.data if "exp-1" in k]
    if not keys:
        _fail(question, "store the record under a key that contains the Idempotency-Key.")
    if any(store.expiry.get(k) != 86400 for k in keys):
        _fail(question, "every record for the key must expire after 24 hours (ex=86400).")
