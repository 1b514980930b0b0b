"""Delivery guarantees, made visible: a consumer crashed at every point, exhaustively.

A *consumer* here is a plain function ``consumer(queue, store) -> bool`` that handles at
most one message: it calls ``queue.receive()`` (a dict, or ``None`` when the queue is
empty), changes ``store`` (the durable state: a database), and acknowledges with
``queue.ack(receipt)``. It returns ``False`` when there was nothing to receive::

    def ack_after(queue, store):
        msg = queue.receive()
        if msg is None:
            return False
        balance = store.get("balance:" + msg["account"]) or 0
        store.put("balance:" + msg["account"], balance + msg["amount"])   # the effect
        queue.ack(msg["receipt"])                                         # then the ack
        return True

Every call the consumer makes on ``queue`` or ``store`` is one *crash point*: the process
may die just before it. :func:`explore_crashes` first runs the consumer without a crash and
counts its calls (N); then, for every k < N, it runs again from scratch and raises
:class:`ConsumerCrash` just before call k. Like a real broker, the queue forgets nothing:
a message received but not acknowledged becomes visible again (its *visibility timeout*
expires, as in Amazon SQS, or its channel closes, as in RabbitMQ), and a new incarnation of
the consumer continues. The redelivered message may come back at *any* position among the
messages still waiting — every position is explored too. Optionally, every message is also
delivered twice without any crash, as an at-least-once queue may do.

Per run the explorer counts, for every message, how many times its *effect* was applied: a
write to any store key except bookkeeping keys starting with ``seen:``. Zero is a *lost*
message, two or more a *duplicated* one. No threads, no clocks, no randomness are involved
in the exploration: the same consumer always yields the same report.

Store values are plain data (``None``, bool, int, float, str, or lists/tuples/dicts of them);
``store.put_many({...})`` writes several keys in one atomic step (a database transaction).
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from course_tools.sim.broker_errors import ConsumerCrash, ProcessingError

__all__ = [
    "ConsumerCrash", "SimQueue", "Store", "World", "CrashOutcome", "CrashReport", "run_consumer",
    "explore_crashes", "count_crash_points", "random_crash_run", "ack_before", "ack_after",
    "dedupe_not_atomic", "idempotent", "CONSUMERS", "payments", "DONE", "STEP_LIMIT", "UNACKED",
    "ProcessingError", "FlakyHandler", "DLQOutcome", "stream_of", "run_with_dlq", "handle_one", "with_dead_letters", "retry_forever",
    "TimedQueue", "VisibilityRun", "simulate_visibility",
]

DONE, STEP_LIMIT, UNACKED = "done", "step limit", "never acknowledged"
BOOKKEEPING_PREFIX = "seen:"
PLAIN = (type(None), bool, int, float, str)


def _plain(value: Any, what: str) -> Any:
    """A deep copy of ``value`` if it is plain data; ``TypeError`` otherwise."""
    if type(value) in PLAIN:
        return value
    if type(value) in (list, tuple):
        return type(value)(_plain(v, what) for v in value)
    if type(value) is dict:
        return {_plain(k, what): _plain(v, what) for k, v in value.items()}
    raise TypeError(f"{what} must be plain data (None, bool, int, float, str, list, tuple, dict), "
                    f"not {type(value).__name__}")


class World:
    """The durable state one run sees: the queue, the store and the crash injector.

    Every fake call passes through :meth:`step`, which numbers it, records a label and
    raises :class:`ConsumerCrash` just before call ``crash_before`` (once per run).
    """

    def __init__(self, messages: Sequence[Mapping[str, Any]], *, crash_before: int | None = None,
                 max_receives: int | None = None) -> None:
        self.crash_before = crash_before
        self.crashed = False
        self.dead = False                        # crashed and not yet restarted
        self.calls: list[str] = []
        self.crash_label: str | None = None
        self.current: str | None = None          # id of the message being handled
        self.effects: Counter[str] = Counter()
        self.queue = SimQueue(messages, self, max_receives=max_receives)
        self.store = Store(self)

    def step(self, label: str) -> None:
        if self.dead:      # a dead process makes no more calls, even if it caught its own crash
            raise ConsumerCrash("this consumer process has crashed")
        if self.crash_before is not None and not self.crashed and len(self.calls) == self.crash_before:
            self.crashed = self.dead = True
            self.crash_label = label
            raise ConsumerCrash(f"crash before call {self.crash_before}: {label}")
        self.calls.append(label)

    def record_write(self, keys: Iterable[str]) -> None:
        if self.current is not None and any(not k.startswith(BOOKKEEPING_PREFIX) for k in keys):
            self.effects[self.current] += 1


class SimQueue:
    """An at-least-once queue (SQS-like) with receipts, receive counts and a dead-letter list.

    - ``receive()`` -> ``{"id", ..., "receipt", "receive_count"}`` or ``None``; the message
      becomes invisible (in flight) until acknowledged or redelivered.
    - ``ack(receipt)`` deletes it (``True``), or returns ``False`` for an unknown receipt.
    - ``release(receipt)`` makes it visible again at once (a nack / requeue).
    - ``dead_letter(receipt)`` moves it to :attr:`dead_letters`.
    - With ``max_receives``, a message already received that many times is moved to the
      dead-letter list instead of being delivered again (SQS's redrive policy).
    """

    def __init__(self, messages: Sequence[Mapping[str, Any]], world: World | None = None, *,
                 max_receives: int | None = None) -> None:
        self.world = world
        self.messages = {m["id"]: _plain(dict(m), "a message") for m in messages}
        if len(self.messages) != len(messages):
            raise ValueError("message ids must be unique")
        self.ready: list[str] = [m["id"] for m in messages]
        self.inflight: dict[str, str] = {}       # receipt -> message id
        self.receive_count: Counter[str] = Counter()
        self.acked: list[str] = []
        self.dead_letters: list[str] = []
        self.max_receives = max_receives
        self._receipts = 0

    def _step(self, label: str) -> None:
        if self.world is not None:
            self.world.step(label)

    def receive(self) -> dict | None:
        self._step("receive")
        while self.ready:
            mid = self.ready.pop(0)
            if self.max_receives is not None and self.receive_count[mid] >= self.max_receives:
                self.dead_letters.append(mid)
                continue
            self.receive_count[mid] += 1
            self._receipts += 1
            receipt = f"r{self._receipts}"
            self.inflight[receipt] = mid
            if self.world is not None:
                self.world.current = mid
                self.world.calls[-1] = f"receive -> {mid}"
            return {**copy.deepcopy(self.messages[mid]), "receipt": receipt, "receive_count": self.receive_count[mid]}
        return None

    def _settle(self, receipt: object, verb: str) -> str | None:
        if type(receipt) is not str:
            raise TypeError(f"{verb} takes the message's receipt (a str), not {type(receipt).__name__}")
        self._step(f"{verb} {self.inflight.get(receipt, receipt)}")
        return self.inflight.pop(receipt, None)

    def ack(self, receipt: str) -> bool:
        mid = self._settle(receipt, "ack")
        if mid is not None:
            self.acked.append(mid)
        return mid is not None

    def release(self, receipt: str) -> bool:
        mid = self._settle(receipt, "release")
        if mid is not None:
            self.ready.append(mid)
        return mid is not None

    def dead_letter(self, receipt: str) -> bool:
        mid = self._settle(receipt, "dead-letter")
        if mid is not None:
            self.dead_letters.append(mid)
        return mid is not None

    def redeliver_inflight(self, position: int | None = None) -> list[str]:
        """Every in-flight message becomes visible again, inserted at ``position`` of the
        ready list (default: the end) — what a visibility timeout or a closed channel does."""
        mids = list(self.inflight.values())
        self.inflight.clear()
        pos = len(self.ready) if position is None else position
        self.ready[pos:pos] = mids
        return mids

    def duplicate(self, mid: str, position: int) -> None:
        """Deliver ``mid`` once more (an at-least-once queue may, without any crash)."""
        self.ready.insert(position, mid)


class Store:
    """The consumer's durable key-value state (a database), with plain-data values."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world
        self.data: dict[str, Any] = {}

    def _step(self, label: str) -> None:
        if self.world is not None:
            self.world.step(label)

    @staticmethod
    def _key(key: object) -> str:
        if type(key) is not str:
            raise TypeError(f"store keys are str, not {type(key).__name__}")
        return key

    def get(self, key: str) -> Any:
        self._step(f"get {self._key(key)}")
        return copy.deepcopy(self.data.get(key))

    def put(self, key: str, value: Any) -> None:
        self._step(f"put {self._key(key)}={value!r}")
        self.data[key] = _plain(value, "a stored value")
        if self.world is not None:
            self.world.record_write([key])

    def put_many(self, items: Mapping[str, Any]) -> None:
        """Write several keys in one atomic step (all or nothing, like a transaction)."""
        if type(items) is not dict:
            raise TypeError(f"put_many takes a dict, not {type(items).__name__}")
        clean = {self._key(k): _plain(v, "a stored value") for k, v in items.items()}
        self._step("put_many " + ", ".join(f"{k}={v!r}" for k, v in clean.items()))
        self.data.update(clean)
        if self.world is not None:
            self.world.record_write(clean)


# --------------------------------------------------------------------------------------
# Running a consumer
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrashOutcome:
    """One run: where it crashed, where the redelivered message went, what happened."""

    crash_point: int | None          # index of the call the crash came before (None: no crash)
    crash_label: str | None          # that call, e.g. "ack m2"
    position: int | None             # where redelivered (or duplicated) messages re-entered the queue
    effects: Mapping[str, int]       # message id -> how many times its effect was applied
    store: Mapping[str, Any]
    status: str                      # DONE, STEP_LIMIT or UNACKED
    calls: tuple[str, ...]
    duplicated_delivery: str | None = None   # a message delivered twice without a crash

    @property
    def lost(self) -> list[str]:
        return [m for m, n in self.effects.items() if n == 0]

    @property
    def duplicated(self) -> list[str]:
        return [m for m, n in self.effects.items() if n > 1]

    @property
    def ok(self) -> bool:
        return self.status == DONE and not self.lost and not self.duplicated

    def text(self) -> str:
        where = "no crash" if self.crash_point is None else f"crash before call {self.crash_point} ({self.crash_label})"
        if self.duplicated_delivery:
            where += f", {self.duplicated_delivery} delivered twice"
        if self.position is not None:
            where += f", redelivered at position {self.position}"
        verdict = "ok" if self.ok else f"lost {self.lost} duplicated {self.duplicated} {self.status}"
        return f"{where}: {verdict}"


Consumer = Callable[[SimQueue, Store], Any]


def run_consumer(consumer: Consumer, messages: Sequence[Mapping[str, Any]], *, crash_before: int | None = None,
                 position: int | None = None, duplicate: tuple[str, int] | None = None, max_calls: int = 2_000,
                 max_receives_before_giving_up: int = 4) -> CrashOutcome:
    """Run ``consumer`` until the queue is drained, crashing once before call ``crash_before``.

    After the crash, the in-flight messages re-enter the queue at ``position`` (default: the
    end) and a fresh incarnation of the consumer carries on. A message the consumer leaves
    unacknowledged is redelivered at the end (its visibility timeout expires); one received
    ``max_receives_before_giving_up`` times ends the run as UNACKED. ``duplicate=(id, pos)``
    delivers message ``id`` a second time, inserted at ``pos`` before the run starts.
    """
    world = World(messages, crash_before=crash_before)
    queue, store = world.queue, world.store
    if duplicate is not None:
        queue.duplicate(*duplicate)
    status = DONE
    redelivered = False                          # did the crash leave a message to redeliver?
    while True:
        try:
            while True:
                if len(world.calls) >= max_calls:
                    status = STEP_LIMIT
                    break
                result = consumer(queue, store)
                if world.dead:                       # it caught ConsumerCrash and returned: still a crash
                    raise ConsumerCrash("caught, but the process is dead all the same")
                if result is False:
                    if not queue.inflight:
                        break
                    queue.redeliver_inflight()       # the visibility timeout of forgotten messages expires
                if queue.receive_count and max(queue.receive_count.values()) > max_receives_before_giving_up:
                    status = UNACKED
                    break
            break
        except ConsumerCrash:
            world.current, world.dead = None, False      # a fresh process takes over
            redelivered = bool(queue.redeliver_inflight(position)) or redelivered
    effects = {m["id"]: world.effects.get(m["id"], 0) for m in messages}
    return CrashOutcome(crash_before if world.crashed else None, world.crash_label,
                        position if (redelivered or duplicate) else None, effects, dict(store.data), status,
                        tuple(world.calls), duplicate[0] if duplicate else None)


def count_crash_points(consumer: Consumer, messages: Sequence[Mapping[str, Any]], **kw) -> int:
    """N: the number of calls the consumer makes in a crash-free run (one crash point before each)."""
    return len(run_consumer(consumer, messages, **kw).calls)


@dataclass
class CrashReport:
    """Every run of an exploration, and the counts a lesson plots."""

    consumer: str
    crash_points: int                 # calls in the crash-free run
    outcomes: list[CrashOutcome] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.outcomes)

    @property
    def explored_points(self) -> int:
        return len({o.crash_point for o in self.outcomes if o.crash_point is not None})

    @property
    def lost_runs(self) -> int:
        return sum(1 for o in self.outcomes if o.lost)

    @property
    def duplicated_runs(self) -> int:
        return sum(1 for o in self.outcomes if o.duplicated)

    @property
    def lost_effects(self) -> int:
        return sum(len(o.lost) for o in self.outcomes)

    @property
    def duplicated_effects(self) -> int:
        return sum(n - 1 for o in self.outcomes for n in o.effects.values() if n > 1)

    def failures(self) -> list[CrashOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        return (f"{self.consumer:<18} {self.crash_points:2d} crash points, {self.runs:3d} runs: "
                f"{self.lost_runs:3d} runs lost a message, {self.duplicated_runs:3d} runs applied one twice")


def explore_crashes(consumer: Consumer, messages: Sequence[Mapping[str, Any]], *, positions: bool = True,
                    duplicates: bool = False, name: str | None = None, max_calls: int = 2_000) -> CrashReport:
    """Crash ``consumer`` before each of its N calls in turn (N from a crash-free run).

    With ``positions`` every place the redelivered message can re-enter the waiting queue is
    explored (else only the end). A crash that leaves no message in flight (before a
    ``receive``, or after the ack) redelivers nothing, so it gets one run, not one per
    position: every run in the report is a different scenario. With ``duplicates`` the
    crash-free run is also repeated with each message delivered a second time at every position.
    """
    clean = run_consumer(consumer, messages, max_calls=max_calls)
    report = CrashReport(name or getattr(consumer, "__name__", "consumer"), len(clean.calls), [clean])
    for k in range(len(clean.calls)):
        waiting, inflight = _waiting_at(consumer, messages, k, max_calls)   # queue state when the crash came
        if not inflight:
            choices: Iterable[int | None] = [None]
        else:
            choices = range(waiting + 1) if positions else [waiting]
        for pos in choices:
            report.outcomes.append(run_consumer(consumer, messages, crash_before=k, position=pos, max_calls=max_calls))
    if duplicates:
        for m in messages:
            for pos in range(len(messages) + 1):
                report.outcomes.append(run_consumer(consumer, messages, duplicate=(m["id"], pos), max_calls=max_calls))
    return report


def _waiting_at(consumer: Consumer, messages: Sequence[Mapping[str, Any]], k: int,
                max_calls: int) -> tuple[int, int]:
    """(messages waiting, messages in flight) at the moment of a crash before call ``k``."""
    seen: list[tuple[int, int]] = []

    def spy(queue: SimQueue, store: Store) -> Any:
        try:
            result = consumer(queue, store)
        except ConsumerCrash:
            seen.append((len(queue.ready), len(queue.inflight)))
            raise
        if queue.world is not None and queue.world.dead and not seen:   # it swallowed its own crash
            seen.append((len(queue.ready), len(queue.inflight)))
        return result

    run_consumer(spy, messages, crash_before=k, max_calls=max_calls)
    return seen[0] if seen else (0, 0)


def random_crash_run(consumer: Consumer, messages: Sequence[Mapping[str, Any]], *, rng: random.Random) -> CrashOutcome:
    """One run with a crash at a point chosen by ``rng`` (seeded: the same seed, the same run)."""
    n = count_crash_points(consumer, messages)
    k = rng.randrange(n)
    waiting, _ = _waiting_at(consumer, messages, k, 2_000)
    return run_consumer(consumer, messages, crash_before=k, position=rng.randint(0, waiting))


# --------------------------------------------------------------------------------------
# Four consumers the lesson compares
# --------------------------------------------------------------------------------------
def payments(n: int = 3, accounts: Sequence[str] = ("alice", "bob")) -> list[dict]:
    """``n`` payment messages ``{"id": "m1", "account": ..., "amount": ...}`` (deterministic)."""
    return [{"id": f"m{i + 1}", "account": accounts[i % len(accounts)], "amount": 10 * (i + 1)} for i in range(n)]


def _credit(store: Store, msg: Mapping[str, Any]) -> None:
    key = "balance:" + msg["account"]
    store.put(key, (store.get(key) or 0) + msg["amount"])


def ack_before(queue: SimQueue, store: Store) -> bool:
    """Acknowledge first, then apply the effect: at-most-once."""
    msg = queue.receive()
    if msg is None:
        return False
    queue.ack(msg["receipt"])
    _credit(store, msg)
    return True


def ack_after(queue: SimQueue, store: Store) -> bool:
    """Apply the effect, then acknowledge: at-least-once."""
    msg = queue.receive()
    if msg is None:
        return False
    _credit(store, msg)
    queue.ack(msg["receipt"])
    return True


def dedupe_not_atomic(queue: SimQueue, store: Store) -> bool:
    """Ack after, and skip ids already seen — but the effect and the 'seen' mark are two writes."""
    msg = queue.receive()
    if msg is None:
        return False
    if not store.get("seen:" + msg["id"]):
        _credit(store, msg)
        store.put("seen:" + msg["id"], True)
    queue.ack(msg["receipt"])
    return True


def idempotent(queue: SimQueue, store: Store) -> bool:
    """Ack after; the effect and the 'seen' mark are written in one transaction: exactly-once effect."""
    msg = queue.receive()
    if msg is None:
        return False
    if not store.get("seen:" + msg["id"]):
        key = "balance:" + msg["account"]
        balance = store.get(key) or 0
        store.put_many({key: balance + msg["amount"], "seen:" + msg["id"]: True})
    queue.ack(msg["receipt"])
    return True


CONSUMERS: dict[str, Consumer] = {"ack before": ack_before, "ack after": ack_after,
                                  "dedupe, two writes": dedupe_not_atomic, "idempotent": idempotent}


# --------------------------------------------------------------------------------------
# Poison messages and a dead-letter queue
# --------------------------------------------------------------------------------------
class FlakyHandler:
    """A message handler that fails the first ``failures[id]`` times it sees a message, then
    succeeds; ``None`` means it always fails (a *poison* message). Bodies are ``{"id": ...}``
    dicts; ``calls`` counts calls per id and ``succeeded`` lists successes in order."""

    def __init__(self, failures: Mapping[str, int | None]) -> None:
        self.failures = dict(failures)
        self.calls: Counter[str] = Counter()
        self.succeeded: list[str] = []

    def __call__(self, body: Any) -> None:
        mid = body.get("id") if type(body) is dict else None
        if mid not in self.failures:
            raise TypeError("call the handler with the message's body (msg['body'])")
        self.calls[mid] += 1
        limit = self.failures[mid]
        if limit is None or self.calls[mid] <= limit:
            raise ProcessingError(f"could not process {mid} (attempt {self.calls[mid]})")
        self.succeeded.append(mid)


@dataclass(frozen=True)
class DLQOutcome:
    deliveries: Mapping[str, int]     # id -> how many times the queue delivered it
    acked: tuple[str, ...]
    dead_letters: tuple[str, ...]
    succeeded: tuple[str, ...]        # handler successes, in order
    status: str

    def expected(self, failures: Mapping[str, int | None], max_deliveries: int) -> dict[str, tuple[str, int]]:
        """What a correct rule gives: id -> ("acked", deliveries) or ("dead-letter", deliveries)."""
        out = {}
        for mid, f in failures.items():
            out[mid] = ("acked", f + 1) if f is not None and f < max_deliveries else ("dead-letter", max_deliveries)
        return out

    def actual(self) -> dict[str, tuple[str, int]]:
        out = {}
        for mid, n in self.deliveries.items():
            fate = "acked" if mid in self.acked else "dead-letter" if mid in self.dead_letters else "neither"
            out[mid] = (fate, n)
        return out


def stream_of(failures: Mapping[str, int | None]) -> list[dict]:
    """Messages ``{"id": id, "body": {"id": id}}`` in the mapping's order."""
    return [{"id": mid, "body": {"id": mid}} for mid in failures]


def run_with_dlq(consumer: Callable[[SimQueue, Callable, int], Any], failures: Mapping[str, int | None],
                 max_deliveries: int, *, max_calls: int = 2_000) -> DLQOutcome:
    """Drain a queue whose messages fail as ``failures`` says, with ``consumer(queue, handler,
    max_deliveries)`` handling one message per call (``False`` when the queue is empty)."""
    queue = SimQueue(stream_of(failures))
    handler = FlakyHandler(failures)
    status = DONE
    give_up = max_deliveries + 3
    for _ in range(max_calls):
        if consumer(queue, handler, max_deliveries) is False:
            if not queue.inflight:
                break
            queue.redeliver_inflight()
        if max(queue.receive_count.values(), default=0) > give_up:
            status = UNACKED
            break
    else:
        status = STEP_LIMIT
    return DLQOutcome(dict(queue.receive_count), tuple(queue.acked), tuple(queue.dead_letters),
                      tuple(handler.succeeded), status)


def handle_one(queue: SimQueue, handler: Callable, on_failure: Callable[[SimQueue, dict], None]) -> bool:
    """Receive one message, call ``handler(body)``; ack on success, else ``on_failure(queue, msg)``."""
    msg = queue.receive()
    if msg is None:
        return False
    try:
        handler(msg["body"])
    except ProcessingError:
        on_failure(queue, msg)
        return True
    queue.ack(msg["receipt"])
    return True


def with_dead_letters(queue: SimQueue, handler: Callable, max_deliveries: int) -> bool:
    """Handle one message; on failure requeue it, unless this was its ``max_deliveries``-th delivery."""
    def on_failure(q: SimQueue, msg: dict) -> None:
        if msg["receive_count"] >= max_deliveries:
            q.dead_letter(msg["receipt"])
        else:
            q.release(msg["receipt"])
    return handle_one(queue, handler, on_failure)


def retry_forever(queue: SimQueue, handler: Callable, max_deliveries: int) -> bool:
    """No dead-letter queue: a failed message always goes back (a poison message never leaves)."""
    return handle_one(queue, handler, lambda q, msg: q.release(msg["receipt"]))


# --------------------------------------------------------------------------------------
# The visibility timeout, on a virtual clock (SQS-like)
# --------------------------------------------------------------------------------------
class TimedQueue:
    """An SQS-like queue on a clock: a received message stays in the queue, invisible for
    ``visibility_timeout`` seconds; deleted with its latest receipt it is gone; otherwise it
    becomes visible again and is delivered to whoever asks next. ``change_visibility``
    (a heartbeat) restarts the timeout. A delete with an older receipt deletes nothing here
    (SQS's DeleteMessage accepts it, but "the message might not be deleted")."""

    def __init__(self, messages: Sequence[str], *, visibility_timeout: float, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.visibility_timeout = visibility_timeout
        self.order = list(messages)
        self.visible_at = {m: 0.0 for m in messages}
        self.latest_receipt: dict[str, str] = {}
        self.receive_count: Counter[str] = Counter()
        self.deleted: set[str] = set()
        self._n = 0

    def receive(self) -> tuple[str, str] | None:
        now = self.clock()
        for m in self.order:
            if m not in self.deleted and self.visible_at[m] <= now:
                self._n += 1
                receipt = f"{m}/r{self._n}"
                self.latest_receipt[m] = receipt
                self.visible_at[m] = now + self.visibility_timeout
                self.receive_count[m] += 1
                return m, receipt
        return None

    def _owner(self, receipt: str) -> str | None:
        m = receipt.split("/", 1)[0]
        return m if self.latest_receipt.get(m) == receipt and m not in self.deleted else None

    def delete(self, receipt: str) -> bool:
        m = self._owner(receipt)
        if m is not None:
            self.deleted.add(m)
        return m is not None

    def change_visibility(self, receipt: str, seconds: float) -> bool:
        m = self._owner(receipt)
        if m is not None:
            self.visible_at[m] = self.clock() + seconds
        return m is not None


@dataclass
class VisibilityRun:
    processed: Counter[str]            # message -> times a consumer finished processing it
    deliveries: int
    stale_deletes: int                 # deletes with an outdated receipt (redelivered meanwhile): SQS accepts
                                       # the call but may not delete; here they delete nothing
    finished_at: float
    log: list[str]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.processed.values() if n > 1)


def simulate_visibility(*, messages: int = 20, consumers: int = 3, visibility_timeout: float = 30.0,
                        work_mean: float = 20.0, heartbeat: float | None = None, dt: float = 0.5,
                        rng: random.Random, clock: Any = None) -> VisibilityRun:
    """``consumers`` workers drain ``messages`` jobs whose processing time is log-normal with
    mean ``work_mean`` s. A job that outlives the visibility timeout is delivered to another
    worker while the first is still on it. With ``heartbeat`` (seconds), a worker extends
    the timeout every ``heartbeat`` s while it works (``ChangeMessageVisibility``)."""
    import math

    from course_tools.clock import VirtualClock

    clock = clock or VirtualClock()
    q = TimedQueue([f"job{i + 1:02d}" for i in range(messages)], visibility_timeout=visibility_timeout, clock=clock)
    sigma = 0.6
    busy: dict[int, tuple[str, str, float, float]] = {}     # worker -> (message, receipt, done at, last beat)
    run = VisibilityRun(Counter(), 0, 0, 0.0, [])
    while len(q.deleted) < messages and clock() < 100 * visibility_timeout:
        now = clock()
        for w in range(consumers):
            if w in busy:
                m, receipt, done, beat = busy[w]
                if now >= done:
                    run.processed[m] += 1
                    if not q.delete(receipt):
                        run.stale_deletes += 1
                        run.log.append(f"t={now:5.1f}s worker {w} finished {m}, but its receipt is stale: done twice")
                    del busy[w]
                elif heartbeat is not None and now - beat >= heartbeat:
                    q.change_visibility(receipt, visibility_timeout)
                    busy[w] = (m, receipt, done, now)
            if w not in busy:
                got = q.receive()
                if got is not None:
                    run.deliveries += 1
                    m, receipt = got
                    if q.receive_count[m] > 1:
                        run.log.append(f"t={now:5.1f}s {m} visible again: delivered to worker {w} "
                                       f"(delivery {q.receive_count[m]})")
                    work = rng.lognormvariate(math.log(work_mean) - sigma ** 2 / 2, sigma)
                    busy[w] = (m, receipt, now + work, now)
        clock.advance(dt)
    run.finished_at = clock()
    return run
