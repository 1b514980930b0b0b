"""The dual-write bug and the transactional outbox, crashed at every point (SQLite + a relay).

A service that must *save an order* and *publish an OrderPlaced event* writes to two
systems. Without a shared transaction, a crash between the two writes leaves them
disagreeing: an order nobody hears about, or an event about an order that does not exist
(the *dual write*). The *transactional outbox* writes the event into an ``outbox`` table in
the **same** database transaction as the order; a separate *relay* later reads unsent rows
in order, publishes each one, and then marks it sent. A crash can make the relay publish an
event twice (so consumers must be idempotent) but never lose one or change their order.

Every call on the database or the broker passes through :class:`Crashes`, which raises
:class:`~course_tools.sim.broker_errors.ConsumerCrash` just before call ``crash_before``; the
``explore_*`` functions try every crash point. The database is a real SQLite database
(``sqlite3``, in memory) and its transactions are real: a crash inside ``with conn:``
rolls the transaction back.

The relay works on any *outbox* with ``pending() -> [(event_id, payload), ...]`` (oldest
first) and ``mark_sent(event_id)``, and any *broker* with ``publish(event_id, payload)``,
so the same relay function runs on the SQLite outbox here and on the plain fakes of the
assessment (:class:`ListOutbox`, :class:`LogBroker`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from course_tools.sim.broker_errors import ConsumerCrash, PublishError

__all__ = ["Crashes", "PublishError", "OrderDB", "ListOutbox", "LogBroker", "FlowOutcome", "relay_once",
           "mark_then_publish", "place_dual_write", "place_publish_first", "explore_dual_write",
           "explore_outbox", "check_log"]


class Crashes:
    """Numbers every call and raises :class:`ConsumerCrash` just before call ``crash_before``."""

    def __init__(self, crash_before: int | None = None, fail_publish: set[int] | frozenset[int] = frozenset()) -> None:
        self.crash_before = crash_before
        self.fail_publish = set(fail_publish)   # indices (among publish calls) that raise PublishError
        self.crashed = False
        self.dead = False                 # crashed and not yet restarted: every call fails
        self.calls: list[str] = []
        self.publishes = 0

    def step(self, label: str) -> None:
        if self.dead:
            raise ConsumerCrash("this process has crashed")
        if self.crash_before is not None and not self.crashed and len(self.calls) == self.crash_before:
            self.crashed = self.dead = True
            raise ConsumerCrash(f"crash before {label}")
        self.calls.append(label)

    def restart(self) -> None:
        """A fresh process takes over after a crash."""
        self.dead = False


class OrderDB:
    """The service's SQLite database: ``orders`` and the ``outbox`` table."""

    def __init__(self, crashes: Crashes | None = None) -> None:
        self.crashes = crashes or Crashes()
        self.conn = sqlite3.connect(":memory:")
        self.conn.executescript(
            "CREATE TABLE orders (id TEXT PRIMARY KEY, item TEXT NOT NULL);"
            "CREATE TABLE outbox (event_id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL,"
            " sent INTEGER NOT NULL DEFAULT 0);")

    def close(self) -> None:
        self.conn.close()

    def save_order(self, order: dict) -> None:
        """Insert the order and commit (one transaction, no event)."""
        self.crashes.step(f"commit order {order['id']}")
        with self.conn:
            self.conn.execute("INSERT INTO orders VALUES (?, ?)", (order["id"], order["item"]))

    def save_order_with_event(self, order: dict) -> None:
        """Insert the order and its OrderPlaced event in ONE transaction."""
        with self.conn:                      # BEGIN ... COMMIT, or ROLLBACK if anything raises
            self.conn.execute("INSERT INTO orders VALUES (?, ?)", (order["id"], order["item"]))
            self.crashes.step(f"insert outbox row for {order['id']} (same transaction)")
            self.conn.execute("INSERT INTO outbox (payload) VALUES (?)",
                              (json.dumps({"type": "OrderPlaced", "order": order["id"]}),))
            self.crashes.step(f"commit order {order['id']} + event")

    def orders(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM orders ORDER BY rowid")]

    # the outbox interface the relay uses
    def pending(self) -> list[tuple[int, str]]:
        self.crashes.step("read pending outbox rows")
        return list(self.conn.execute("SELECT event_id, payload FROM outbox WHERE sent = 0 ORDER BY event_id"))

    def mark_sent(self, event_id: int) -> None:
        self.crashes.step(f"mark event {event_id} sent")
        with self.conn:
            self.conn.execute("UPDATE outbox SET sent = 1 WHERE event_id = ?", (event_id,))


class ListOutbox:
    """A plain in-memory outbox (the assessment's fake): rows ``(event_id, payload)``, oldest first."""

    def __init__(self, rows: Sequence[tuple[Any, Any]], crashes: Crashes | None = None) -> None:
        self.crashes = crashes or Crashes()
        self.rows = [list(r) + [False] for r in rows]

    def pending(self) -> list[tuple[Any, Any]]:
        self.crashes.step("pending")
        return [(eid, payload) for eid, payload, sent in self.rows if not sent]

    def mark_sent(self, event_id: Any) -> None:
        self.crashes.step(f"mark_sent {event_id!r}")
        for r in self.rows:
            if r[0] == event_id and type(r[0]) is type(event_id):
                r[2] = True

    def unsent(self) -> list[Any]:
        return [eid for eid, _, sent in self.rows if not sent]


class LogBroker:
    """A broker that appends what it is given to a log; may refuse chosen publishes."""

    def __init__(self, crashes: Crashes | None = None) -> None:
        self.crashes = crashes or Crashes()
        self.log: list[tuple[Any, Any]] = []

    def publish(self, event_id: Any, payload: Any) -> None:
        self.crashes.step(f"publish {event_id!r}")
        n = self.crashes.publishes
        self.crashes.publishes += 1
        if n in self.crashes.fail_publish:
            raise PublishError(f"broker unavailable (publish #{n})")
        self.log.append((event_id, payload))


def relay_once(outbox: Any, broker: Any) -> None:
    """Publish every pending event in order, marking each sent only AFTER the broker has it.
    Stops at the first failed publish (the next round retries it), so order is kept."""
    for event_id, payload in outbox.pending():
        broker.publish(event_id, payload)
        outbox.mark_sent(event_id)


def mark_then_publish(outbox: Any, broker: Any) -> None:
    """The bug: mark sent first, then publish — a crash in between loses the event."""
    for event_id, payload in outbox.pending():
        outbox.mark_sent(event_id)
        broker.publish(event_id, payload)


def place_dual_write(db: OrderDB, broker: LogBroker, order: dict) -> None:
    """The dual write: commit the order, then publish the event (two systems, no shared transaction)."""
    db.save_order(order)
    broker.publish(order["id"], json.dumps({"type": "OrderPlaced", "order": order["id"]}))


def place_publish_first(db: OrderDB, broker: LogBroker, order: dict) -> None:
    """The other dual write: publish, then commit."""
    broker.publish(order["id"], json.dumps({"type": "OrderPlaced", "order": order["id"]}))
    db.save_order(order)


@dataclass(frozen=True)
class FlowOutcome:
    crash_label: str | None
    orders: tuple[str, ...]          # orders in the database
    events: tuple[str, ...]          # orders named by published events, in publish order (duplicates kept)

    @property
    def lost(self) -> list[str]:
        return [o for o in self.orders if o not in self.events]

    @property
    def phantom(self) -> list[str]:
        return sorted({e for e in self.events if e not in self.orders})

    @property
    def duplicated(self) -> list[str]:
        return sorted({e for e in self.events if self.events.count(e) > 1})

    @property
    def reordered(self) -> bool:
        firsts = [e for e in dict.fromkeys(self.events) if e in self.orders]
        return firsts != [o for o in self.orders if o in firsts]


def _orders(n: int) -> list[dict]:
    return [{"id": f"o{i + 1}", "item": item} for i, item in zip(range(n), ["mug", "tea", "pen", "cap", "bag"] * n)]


def _explore(flow: Callable[[OrderDB, LogBroker, Crashes], str | None]) -> list[FlowOutcome]:
    """Run ``flow`` once without a crash, then once per call it makes, crashing before that call.
    ``flow`` returns the label of the crash it met (None: none)."""
    def one(crash_before: int | None) -> tuple[FlowOutcome, int]:
        crashes = Crashes(crash_before)
        db, broker = OrderDB(crashes), LogBroker(crashes)
        label = None
        try:
            label = flow(db, broker, crashes)
        finally:
            out = FlowOutcome(label, tuple(db.orders()), tuple(json.loads(p)["order"] for _, p in broker.log))
            db.close()
        return out, len(crashes.calls)

    clean, n = one(None)
    return [clean] + [one(k)[0] for k in range(n)]


def _surviving(crashes: Crashes, call: Callable, *args) -> str | None:
    """``call(*args)``; if the process "died" in it, restart and return the crash's label."""
    try:
        call(*args)
    except ConsumerCrash as crash:   # the process died; after a restart the next request comes
        crashes.restart()
        return str(crash)
    return None


def explore_dual_write(place: Callable = place_dual_write, n_orders: int = 2) -> list[FlowOutcome]:
    """Crash before every call of placing ``n_orders`` orders; the crashed request is not retried."""
    def flow(db: OrderDB, broker: LogBroker, crashes: Crashes) -> str | None:
        label = None
        for order in _orders(n_orders):
            label = _surviving(crashes, place, db, broker, order) or label
        return label

    return _explore(flow)


def explore_outbox(relay: Callable = relay_once, n_orders: int = 2, max_rounds: int = 10) -> list[FlowOutcome]:
    """Crash before every call of: place ``n_orders`` orders with the outbox, then run the relay
    until the outbox is empty (a crashed relay restarts)."""
    def flow(db: OrderDB, broker: LogBroker, crashes: Crashes) -> str | None:
        label = None
        for order in _orders(n_orders):
            label = _surviving(crashes, db.save_order_with_event, order) or label
        for _ in range(max_rounds):
            label = _surviving(crashes, relay, db, broker) or label
            if not db.conn.execute("SELECT 1 FROM outbox WHERE sent = 0").fetchone():
                break
        return label

    return _explore(flow)


def check_log(log: Sequence[tuple[Any, Any]], expected: Sequence[Any]) -> dict[str, Any]:
    """Compare a broker log with the events that had to be published, in order:
    ``{"lost": [...], "reordered": bool, "duplicates": int}``."""
    ids = [eid for eid, _ in log]
    firsts = list(dict.fromkeys(ids))
    return {"lost": [e for e in expected if e not in firsts], "reordered": [e for e in firsts if e in expected] !=
            [e for e in expected if e in firsts], "duplicates": len(ids) - len(firsts)}
