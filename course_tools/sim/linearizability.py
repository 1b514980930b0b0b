"""Histories of register operations and a linearizability checker for small histories.

A history is what clients saw: for each operation its invocation and response times, what
it wrote or what it read, and whether it succeeded. It is *linearizable* (Herlihy & Wing,
"Linearizability: A Correctness Condition for Concurrent Objects", ACM TOPLAS 12(3), 1990)
if every operation can be given one instant between its invocation and its response such
that, taken in that order, the operations behave like a single register.

:func:`check` searches for such an order in the style of Wing & Gong ("Testing and
verifying concurrent objects", J. Parallel Distrib. Comput. 17, 1993), with the memo of
(linearized set, register value) that makes it practical for the small histories of a
lesson (tens of operations per key). Keys are checked one at a time: linearizability is a
*local* property (Herlihy & Wing, 1990), so a history is linearizable iff each key's is.

Rules for operations that did not succeed:

- a failed or timed-out **write** may have taken effect (at any time after it started) or
  not at all: the client cannot tell, so the checker tries both;
- a failed **read** returned nothing and constrains nothing.

When a history is not linearizable, :func:`check` names the operation that breaks it: the
one whose response makes the shortest prefix of the history (cut at a response time)
impossible, and the values a single register could have returned at that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

__all__ = ["Op", "History", "Verdict", "check", "check_key", "possible_reads"]

INF = math.inf
MAX_OPS_PER_KEY = 600  # the search recurses once per operation


@dataclass(frozen=True)
class Op:
    """One client operation on a register.

    ``value`` is the value written (writes) or returned (reads; ``None`` = initial value).
    ``end`` is ``None`` when no response came back (timed out or still running).
    """

    id: int
    client: str
    kind: str            # "read" | "write"
    key: str
    value: Any
    start: float
    end: float | None
    ok: bool = True
    node: str = ""
    info: str = ""       # "timeout: no quorum", "stale", ...
    version: Any = None  # the version the store attached (for session guarantees), if any

    @property
    def is_write(self) -> bool:
        return self.kind == "write"

    @property
    def is_read(self) -> bool:
        return self.kind == "read"

    def describe(self) -> str:
        what = f"write({self.value!r})" if self.is_write else f"read() -> {self.value!r}"
        when = f"[{self.start:.3f}, {self.end:.3f}]" if self.end is not None else f"[{self.start:.3f}, ...)"
        status = "" if self.ok else f" FAILED ({self.info or 'no response'})"
        at = f" via {self.node}" if self.node else ""
        return f"op {self.id}: {self.client} {what} on {self.key!r} {when}{at}{status}"


@dataclass
class History:
    """An append-only record of operations (and anything else worth showing on a timeline)."""

    ops: list[Op] = field(default_factory=list)

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def __iter__(self):
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def keys(self) -> list[str]:
        return sorted({op.key for op in self.ops})

    def for_key(self, key: str) -> list[Op]:
        return [op for op in self.ops if op.key == key]

    def succeeded(self) -> list[Op]:
        return [op for op in self.ops if op.ok]

    def failed(self) -> list[Op]:
        return [op for op in self.ops if not op.ok]


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`check`: ``bool(verdict)`` is True when linearizable."""

    linearizable: bool
    culprit: Op | None = None
    allowed: tuple = ()          # values a register could have returned to ``culprit``
    checked_ops: int = 0

    def __bool__(self) -> bool:
        return self.linearizable

    def explain(self) -> str:
        if self.linearizable:
            return f"linearizable ({self.checked_ops} operations checked)"
        assert self.culprit is not None
        allowed = ", ".join(repr(v) for v in self.allowed) or "nothing"
        return (f"NOT linearizable: {self.culprit.describe()}\n"
                f"  no order of the operations that respects real time lets it return {self.culprit.value!r};"
                f" a single register could have returned: {allowed}")


# -- the search ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    start: float
    end: float        # INF for writes without a (successful) response
    write: bool
    value: Any
    optional: bool    # a failed write: may be skipped (never took effect)


def _entries(ops: Sequence[Op]) -> list[_Entry]:
    out = []
    for op in ops:
        if op.is_read:
            if not op.ok or op.end is None:
                continue  # a read that returned nothing constrains nothing
            out.append(_Entry(op.start, op.end, False, _hashable(op.value), False))
        elif op.is_write:
            done = op.ok and op.end is not None
            out.append(_Entry(op.start, op.end if done else INF, True, _hashable(op.value), not done))
        else:
            raise ValueError(f"unknown operation kind {op.kind!r}")
    return out


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _search(entries: list[_Entry], initial: Any, limit: int = 2_000_000) -> bool:
    """Wing & Gong search with a memo of (linearized set, register value)."""
    n = len(entries)
    if n > MAX_OPS_PER_KEY:
        raise ValueError(f"{n} operations on one key: this exhaustive checker is for small histories "
                         f"(at most {MAX_OPS_PER_KEY}); check a shorter window of the run")
    full = (1 << n) - 1
    order = sorted(range(n), key=lambda i: (entries[i].start, entries[i].end))
    seen: set[tuple[int, Any]] = set()
    budget = [limit]

    def rec(mask: int, value: Any) -> bool:
        if mask == full:
            return True
        state = (mask, value)
        if state in seen:
            return False
        seen.add(state)
        budget[0] -= 1
        if budget[0] < 0:
            raise RuntimeError("history too large for the exhaustive checker (keep histories small)")
        # an operation can go next only if no other pending op responded before it started
        min_end = min(entries[i].end for i in range(n) if not mask >> i & 1)
        for i in order:
            if mask >> i & 1:
                continue
            e = entries[i]
            if e.start > min_end:
                break  # sorted by start: every later op started even later
            bit = 1 << i
            if e.write:
                if rec(mask | bit, e.value):
                    return True
                if e.optional and rec(mask | bit, value):
                    return True
            elif e.value == value:
                if rec(mask | bit, value):
                    return True
        return False

    return rec(0, initial)


def _prefix(ops: Sequence[Op], t: float) -> list[Op]:
    """The history as it looked at time ``t``: ops invoked by then; responses after ``t`` unknown."""
    out = []
    for op in ops:
        if op.start > t:
            continue
        if op.end is not None and op.end > t:
            if op.is_read:
                continue
            op = replace(op, ok=False, end=None)
        out.append(op)
    return out


def possible_reads(ops: Sequence[Op], read: Op, initial: Any = None) -> tuple:
    """Values a single register could have returned to ``read`` given the other operations."""
    others = [op for op in ops if op.id != read.id]
    base = _entries(others)
    end = read.end if read.end is not None else INF
    candidates = {initial} | {e.value for e in base if e.write}
    values = [v for v in candidates if _search(base + [_Entry(read.start, end, False, v, False)], initial)]
    return tuple(sorted(values, key=repr))


def check_key(ops: Sequence[Op], initial: Any = None) -> Verdict:
    """Check the operations of one key."""
    ops = list(ops)
    if _search(_entries(ops), initial):
        return Verdict(True, checked_ops=len(ops))
    # find the first response time at which the history stops being linearizable
    times = sorted({op.end for op in ops if op.end is not None and op.ok})
    if not times:  # cannot happen for register histories (nothing completed constrains nothing)
        return Verdict(False, checked_ops=len(ops))
    lo, hi = 0, len(times) - 1  # the full history (times[-1]) fails; find the first failing cut
    while lo < hi:
        mid = (lo + hi) // 2
        if _search(_entries(_prefix(ops, times[mid])), initial):
            lo = mid + 1
        else:
            hi = mid
    t = times[lo]
    candidates = [op for op in ops if op.end == t and op.ok]
    culprit = next((op for op in candidates if op.is_read), candidates[0])
    allowed = possible_reads(_prefix(ops, t), culprit, initial) if culprit.is_read else ()
    return Verdict(False, culprit, allowed, len(ops))


def check(history: History | Iterable[Op], initial: Any = None) -> Verdict:
    """Is this history linearizable (register semantics, every key starting at ``initial``)?"""
    ops = list(history.ops if isinstance(history, History) else history)
    for key in sorted({op.key for op in ops}):
        verdict = check_key([op for op in ops if op.key == key], initial)
        if not verdict:
            return replace(verdict, checked_ops=len(ops))
    return Verdict(True, checked_ops=len(ops))
