"""Histories of register and key-value operations, and a linearizability checker.

A history is what clients saw: for each operation its invocation and response times, what
it wrote or what it read, and whether it succeeded. It is *linearizable* (Herlihy & Wing,
"Linearizability: A Correctness Condition for Concurrent Objects", ACM TOPLAS 12(3), 1990)
if every operation can be given one instant between its invocation and its response such
that, taken in that order, the operations behave like a single copy of the data.

Operations (``Op.kind``) and what ``Op.value`` holds:

============  ==========================================  ===================================
kind          value                                       effect on the key
============  ==========================================  ===================================
``read``      the value returned (``None`` = initial)     none; must equal the current value
``write``     the value written                           becomes ``value``
``cas``       ``(expected, new)``                         if current == expected: becomes new
``append``    the element appended (the key is a list)    ``current + [value]``
============  ==========================================  ===================================

These are the register of Knossos's ``cas-register`` model and the list-append of Jepsen's
key-value tests: a history recorded by such a test can be checked as recorded (see
:func:`from_jepsen`). On a key that has appends, a read returns a list; an empty list and
``None`` (a key never written) are the same value.

Rules for operations that did not succeed (``ok=False``) or got no response (``end=None``):

- a **write, cas or append** whose outcome is unknown (timeout, crash) may have taken
  effect at any time after it started, or never: the checker tries both (Jepsen's
  ``:info``). A cas *known* to have failed its comparison changed nothing: leave it out of
  the history, as Knossos drops ``:fail`` operations;
- a failed **read** returned nothing and constrains nothing.

:func:`check` is the search of Wing & Gong ("Testing and verifying concurrent objects",
J. Parallel Distrib. Comput. 17, 1993) as Lowe improved it ("Testing for linearizability",
Concurrency and Computation 29(4), 2017) and Porcupine implements it: walk the calls and
returns in time order, linearize a pending call when the model allows it, backtrack at a
return whose call is still pending, and memoize (set of linearized operations, value) so no
state is explored twice. Keys are checked one at a time: linearizability is a *local*
property (Herlihy & Wing, 1990), so a history is linearizable iff each key's is. Every
operation is validated before any key is searched.

When a history is not linearizable, the :class:`Verdict` names the operation that breaks
it: the one whose response makes the shortest prefix of the history (cut at a response
time) impossible, and the values a single register could have returned at that point.
Finding it costs several more searches, so it is computed only when asked for
(``verdict.culprit``, ``verdict.allowed``, ``verdict.explain()``): the verdict itself costs
one search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["Op", "History", "Verdict", "check", "check_key", "possible_reads", "validate", "from_jepsen", "KINDS"]

INF = math.inf
KINDS = ("read", "write", "cas", "append")
STATE_LIMIT = 2_000_000  # memoized states per key before the search gives up with an error


@dataclass(frozen=True)
class Op:
    """One client operation on a key.

    ``value`` is the value written (writes), returned (reads; ``None`` = initial value),
    ``(expected, new)`` (cas) or the element appended (append).
    ``end`` is ``None`` when no response came back (timed out or still running).
    """

    id: int
    client: str
    kind: str            # "read" | "write" | "cas" | "append"
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
        if self.kind == "read":
            what = f"read() -> {self.value!r}"
        elif self.kind == "cas" and isinstance(self.value, (list, tuple)) and len(self.value) == 2:
            what = f"cas({self.value[0]!r} -> {self.value[1]!r})"
        else:
            what = f"{self.kind}({self.value!r})"
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


class Verdict:
    """The result of :func:`check`: ``bool(verdict)`` is True when linearizable.

    ``culprit`` (the operation that breaks it) and ``allowed`` (what a register could have
    returned to it, for a read) are computed on first access, not by :func:`check`.
    """

    def __init__(self, linearizable: bool, checked_ops: int = 0, *, key: Any = None,
                 ops: Sequence[Op] = (), initial: Any = None) -> None:
        self.linearizable = linearizable
        self.checked_ops = checked_ops
        self.key = key                  # the first key found not linearizable
        self._ops = list(ops)           # that key's operations
        self._initial = initial

    def __bool__(self) -> bool:
        return self.linearizable

    def __repr__(self) -> str:
        where = "" if self.linearizable else f", key={self.key!r}"
        return f"Verdict(linearizable={self.linearizable}, checked_ops={self.checked_ops}{where})"

    @cached_property
    def _cut(self) -> tuple[Op | None, float]:
        return (None, INF) if self.linearizable else _first_failing_cut(self._ops, self._initial)

    @property
    def culprit(self) -> Op | None:
        return self._cut[0]

    @cached_property
    def allowed(self) -> tuple:
        op, t = self._cut
        if op is None or not op.is_read:
            return ()
        return possible_reads(_prefix(self._ops, t), op, self._initial)

    def explain(self) -> str:
        if self.linearizable:
            return f"linearizable ({self.checked_ops} operations checked)"
        op = self.culprit
        if op is None:
            return f"NOT linearizable (key {self.key!r})"
        if not op.is_read:
            return (f"NOT linearizable: {op.describe()}\n"
                    f"  no order of the operations that respects real time allows it, given what completed before")
        allowed = ", ".join(repr(v) for v in self.allowed) or "nothing"
        return (f"NOT linearizable: {op.describe()}\n"
                f"  no order of the operations that respects real time lets it return {op.value!r};"
                f" a single register could have returned: {allowed}")


# -- validation ----------------------------------------------------------------------------
def validate(ops: Iterable[Op]) -> list[Op]:
    """Check every operation's kind and shape; raise ValueError naming the first bad one."""
    out = list(ops)
    for op in out:
        if not isinstance(op, Op):
            raise ValueError(f"not an Op: {op!r}")
        if op.kind not in KINDS:
            raise ValueError(f"op {op.id}: unknown operation kind {op.kind!r} (expected one of {', '.join(KINDS)})")
        if not isinstance(op.start, (int, float)) or not math.isfinite(op.start):
            raise ValueError(f"op {op.id}: start must be a finite number, got {op.start!r}")
        if op.end is not None and (not isinstance(op.end, (int, float)) or not op.end >= op.start):
            raise ValueError(f"op {op.id}: end must be None or a number >= start, got {op.end!r}")
        if op.kind == "cas" and not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
            raise ValueError(f"op {op.id}: a cas value must be (expected, new), got {op.value!r}")
        try:
            hash(op.key)
        except TypeError:
            raise ValueError(f"op {op.id}: key {op.key!r} is not hashable") from None
    return out


# -- the search ------------------------------------------------------------------------
_FAIL = object()


@dataclass(frozen=True)
class _Entry:
    start: float
    end: float        # INF when the outcome is unknown
    kind: str
    arg: Any          # read: value seen; write: value; cas: (expected, new); append: element
    optional: bool    # outcome unknown: may never have taken effect


def _entries(ops: Sequence[Op]) -> list[_Entry]:
    out = []
    for op in ops:
        if op.kind == "read":
            if not op.ok or op.end is None:
                continue  # a read that returned nothing constrains nothing
            out.append(_Entry(op.start, op.end, "read", _hashable(op.value), False))
        else:
            done = op.ok and op.end is not None
            arg = (_hashable(op.value[0]), _hashable(op.value[1])) if op.kind == "cas" else _hashable(op.value)
            out.append(_Entry(op.start, op.end if done else INF, op.kind, arg, not done))
    return out


def _hashable(v: Any) -> Any:
    """Lists become tuples; the empty list is ``None``, the value of a key never written."""
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v) or None
    return v


def _step(kind: str, arg: Any, state: Any) -> Any:
    """The state after the operation, or _FAIL if the model does not allow it here."""
    if kind == "read":
        return state if arg == state else _FAIL
    if kind == "write":
        return arg
    if kind == "cas":
        return arg[1] if state == arg[0] else _FAIL
    # append
    if state is None:
        return (arg,)
    return state + (arg,) if isinstance(state, tuple) else _FAIL


def _search(entries: list[_Entry], initial: Any, limit: int | None = None, step=None, viable=None) -> bool:
    """Wing & Gong / Lowe search over a doubly linked list of calls and returns (Porcupine's layout).

    Operations whose outcome is unknown have no return: they can be linearized at any point
    after their call, and leaving one pending to the end is the same as it never happening.
    """
    n = len(entries)
    limit = STATE_LIMIT if limit is None else limit
    step = step or _step  # viable(kind, new_state, linearized): False prunes a state no future allows
    remaining = sum(1 for e in entries if not e.optional)
    if remaining == 0:
        return True
    # events: (time, 0 = call / 1 = return, op); at equal times calls come first (overlap)
    events = sorted([(e.start, 0, i) for i, e in enumerate(entries)]
                    + [(e.end, 1, i) for i, e in enumerate(entries) if not e.optional])
    m = len(events)
    head, tail = m, m + 1
    nxt = list(range(1, m + 1)) + [0, tail]
    prv = [head] + list(range(m - 1)) + [m, m - 1]
    nxt[head], prv[tail] = (0 if m else tail), (m - 1 if m else head)
    is_call = [ev[1] == 0 for ev in events]
    op_of = [ev[2] for ev in events]
    ret_of = [-1] * n  # the return event of each op, -1 if none
    call_of = [0] * n
    for k, ev in enumerate(events):
        if ev[1]:
            ret_of[ev[2]] = k
        else:
            call_of[ev[2]] = k

    def unlink(k: int) -> None:
        nxt[prv[k]] = nxt[k]
        prv[nxt[k]] = prv[k]

    def relink(k: int) -> None:
        nxt[prv[k]] = k
        prv[nxt[k]] = k

    kinds = [e.kind for e in entries]
    args = [e.arg for e in entries]
    optional = [e.optional for e in entries]
    # Symmetry: two operations of unknown outcome with the same kind and argument, both
    # started, are interchangeable (neither ever has to respond), so only the earlier-started
    # of a pending pair is tried. ``twin[i]``: the previous such operation (by call order), or -1.
    twin = [-1] * n
    last: dict[tuple[str, Any], int] = {}
    for ev in events:
        i = ev[2]
        if ev[1] == 0 and optional[i]:
            twin[i] = last.get((kinds[i], args[i]), -1)
            last[(kinds[i], args[i])] = i
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []
    linearized, state = 0, initial
    k = nxt[head]
    while True:
        if k != tail and is_call[k]:
            i = op_of[k]
            j = twin[i]
            new = _FAIL if j >= 0 and not linearized >> j & 1 else step(kinds[i], args[i], state)
            if new is not _FAIL and viable is not None and not viable(kinds[i], new, linearized):
                new = _FAIL
            if new is not _FAIL:
                mask = linearized | (1 << i)
                memo = (mask, new)
                if memo not in seen:
                    seen.add(memo)
                    if len(seen) > limit:
                        raise RuntimeError(f"the search visited more than {limit:,} states on one key: this history "
                                           f"is too concurrent for an exhaustive check; check a shorter window")
                    stack.append((k, state))
                    linearized, state = mask, new
                    unlink(k)
                    if ret_of[i] >= 0:
                        unlink(ret_of[i])
                    if not optional[i]:
                        remaining -= 1
                        if remaining == 0:
                            return True
                    k = nxt[head]
                    continue
            k = nxt[k]
        else:  # the return of a pending operation (or the end): undo the last choice
            if not stack:
                return False
            k, state = stack.pop()
            i = op_of[k]
            linearized &= ~(1 << i)
            if not optional[i]:
                remaining += 1
            if ret_of[i] >= 0:
                relink(ret_of[i])
            relink(k)
            k = nxt[k]


def _has_appends(ops: Sequence[Op]) -> bool:
    return any(op.kind == "append" for op in ops)


def _drop_unobserved(entries: list[_Entry]) -> list[_Entry]:
    """Leave out operations of unknown outcome whose effect nobody could have observed.

    Sound, and the main defence against the blow-up that timeouts cause (each one stays
    concurrent with everything after it): if a write or cas of unknown outcome put ``v`` in
    the register and no read returned ``v`` and no cas expected it, then taking effect
    can only lead to states nothing completes from until an overwrite, so "never happened"
    is always at least as good. Likewise an append whose element no read ever contains.
    """
    reads = [e.arg for e in entries if e.kind == "read"]
    kinds = {e.kind for e in entries}
    if "append" in kinds:
        if kinds - {"append", "read"}:
            return entries
        seen = {x for r in reads if isinstance(r, tuple) for x in r}
        return [e for e in entries if not (e.optional and e.arg not in seen)]
    observed = set(reads) | {e.arg[0] for e in entries if e.kind == "cas"}
    return [e for e in entries if not (e.optional and (e.arg[1] if e.kind == "cas" else e.arg) not in observed)]


def _interned_lists(entries: list[_Entry], initial: Any):
    """Lists as small ints: (list id, element) -> id of the longer list, so that a state
    is hashed and compared in O(1) however long the list grows. Returns entries, initial,
    step, and (for keys with only appends and reads) a pruning rule: lists only grow, so
    after an append the list must be a prefix of what every read still to come returned."""
    table: dict[tuple[int, Any], int] = {}

    def intern(value: Any) -> Any:
        if value is None:
            return 0  # the empty list
        if not isinstance(value, tuple):
            return ("scalar", value)  # a write of a non-list on a list key: kept distinct
        node = 0
        for x in value:
            node = table.setdefault((node, x), len(table) + 1)
        return node

    def convert(e: _Entry) -> _Entry:
        if e.kind in ("read", "write"):
            return replace(e, arg=intern(e.arg))
        if e.kind == "cas":
            return replace(e, arg=(intern(e.arg[0]), intern(e.arg[1])))
        return e

    def step(kind: str, arg: Any, state: Any) -> Any:
        if kind != "append":
            return _step(kind, arg, state)
        if not isinstance(state, int):
            return _FAIL
        return table.setdefault((state, arg), len(table) + 1)

    converted = [convert(e) for e in entries]
    start = intern(_hashable(initial))
    if {e.kind for e in entries} - {"append", "read"}:
        return converted, start, step, None
    prefixes: dict[int, set[int]] = {}
    for e, raw in zip(converted, entries):
        if e.kind == "read" and e.arg not in prefixes:
            value = raw.arg or ()
            prefixes[e.arg] = {intern(value[:k] or None) for k in range(len(value) + 1)}
    reads = [(1 << i, prefixes[e.arg]) for i, e in enumerate(converted) if e.kind == "read"]

    def viable(kind: str, state: int, linearized: int) -> bool:
        return kind != "append" or all(state in allowed for bit, allowed in reads if not linearized & bit)

    return converted, start, step, viable


def _search_ops(ops: Sequence[Op], initial: Any) -> bool:
    entries = _drop_unobserved(_entries(ops))
    if _has_appends(ops):
        entries, start, step, viable = _interned_lists(entries, initial)
        return _search(entries, start, step=step, viable=viable)
    return _search(entries, _hashable(initial))


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


def _first_failing_cut(ops: Sequence[Op], initial: Any) -> tuple[Op | None, float]:
    """The operation whose response first makes the history impossible, and that time."""
    times = sorted({op.end for op in ops if op.end is not None and op.ok})
    if not times:
        return None, INF
    lo, hi = 0, len(times) - 1  # the full history (times[-1]) fails; find the first failing cut
    while lo < hi:
        mid = (lo + hi) // 2
        if _search_ops(_prefix(ops, times[mid]), initial):
            lo = mid + 1
        else:
            hi = mid
    t = times[lo]
    candidates = [op for op in ops if op.end == t and op.ok]
    return next((op for op in candidates if op.is_read), candidates[0]), t


def possible_reads(ops: Sequence[Op], read: Op, initial: Any = None) -> tuple:
    """Values a single register could have returned to ``read`` given the other operations.

    Candidates are the initial value and every value written or swapped in (for a key with
    appends, a read's possible lists are not enumerated: returns ``()``).
    """
    others = validate(op for op in ops if op.id != read.id)
    if _has_appends(others):
        return ()
    base = _entries(others)
    end = read.end if read.end is not None else INF
    candidates = {_hashable(initial)} | {e.arg for e in base if e.kind == "write"} | {
        e.arg[1] for e in base if e.kind == "cas"}
    values = [v for v in candidates if _search(base + [_Entry(read.start, end, "read", v, False)], _hashable(initial))]
    return tuple(sorted(values, key=repr))


def check_key(ops: Sequence[Op], initial: Any = None) -> Verdict:
    """Check the operations of one key (validated first)."""
    ops = validate(ops)
    key = ops[0].key if ops else None
    if _search_ops(ops, initial):
        return Verdict(True, len(ops), key=key)
    return Verdict(False, len(ops), key=key, ops=ops, initial=initial)


def check(history: History | Iterable[Op], initial: Any = None) -> Verdict:
    """Is this history linearizable (every key starting at ``initial``)?

    Every operation is validated before any key is searched; the verdict costs one search
    per key, and its explanation is computed only when asked for.
    """
    ops = validate(history.ops if isinstance(history, History) else history)
    by_key: dict[Any, list[Op]] = {}
    for op in ops:
        by_key.setdefault(_hashable(op.key), []).append(op)
    for key in sorted(by_key, key=repr):
        if not _search_ops(by_key[key], initial):
            return Verdict(False, len(ops), key=by_key[key][0].key, ops=by_key[key], initial=initial)
    return Verdict(True, len(ops))


# -- Jepsen-style histories ------------------------------------------------------------------
def from_jepsen(events: Iterable[Mapping[str, Any]], *, default_key: Any = "x", independent: bool = False) -> History:
    """A :class:`History` from Jepsen-style events, as recorded.

    Each event is a mapping with ``type`` (``"invoke"``, ``"ok"``, ``"fail"`` or ``"info"``),
    ``f`` (``"read"``, ``"write"``, ``"cas"``, ``"append"``), ``value``, ``process`` and
    ``time``, and optionally ``key`` (else ``default_key``); a completion follows its
    process's invocation. ``ok``: completed (a read's value comes from the completion);
    ``fail``: known not to have happened, so it is left out (as Knossos does); ``info`` or
    no completion at all: outcome unknown (``ok=False, end=None``). As in Jepsen, a process
    whose operation was left ``info`` never invokes again (a new process takes over), so a
    process with an open invocation that invokes again is an error.

    Keywords may be written as in EDN (``":invoke"``, ``":cas"``) or without the colon.
    ``independent=True`` reads values as jepsen.independent writes them, ``[key, value]``
    pairs (the key of every operation, and of a read's result, is the pair's first element).
    """
    def kw(v: Any) -> Any:
        return v[1:] if isinstance(v, str) and v.startswith(":") else v

    def split(v: Any, fallback: Any) -> tuple[Any, Any]:
        if not independent:
            return fallback, v
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            raise ValueError(f"independent=True expects [key, value] pairs, got {v!r}")
        return (tuple(v[0]) if isinstance(v[0], list) else v[0]), v[1]

    open_: dict[Any, tuple[int, Mapping[str, Any]]] = {}
    ops: list[Op | None] = []
    for n, ev in enumerate(events):
        kind, process = kw(ev.get("type")), ev.get("process")
        if kind == "invoke":
            if process in open_:
                raise ValueError(f"event {n}: process {process!r} invokes again before its operation completed")
            open_[process] = (len(ops), ev)
            ops.append(None)
        elif kind in ("ok", "fail", "info"):
            if process not in open_:
                raise ValueError(f"event {n}: a {kind!r} completion for process {process!r}, which has nothing open")
            slot, inv = open_.pop(process)
            if kind == "fail":
                continue
            f = kw(inv.get("f"))
            key, value = split(ev.get("value") if f == "read" else inv.get("value"), inv.get("key", default_key))
            done = kind == "ok"
            ops[slot] = Op(slot, str(process), f, key, value, inv.get("time"), ev.get("time") if done else None,
                           done, info="" if done else "info")
        else:
            raise ValueError(f"event {n}: unknown event type {kind!r} (expected invoke, ok, fail or info)")
    for slot, inv in open_.values():
        key, value = split(inv.get("value"), inv.get("key", default_key))
        ops[slot] = Op(slot, str(inv.get("process")), kw(inv.get("f")), key, value, inv.get("time"), None, False,
                       info="no completion")
    return History(validate(op for op in ops if op is not None))
