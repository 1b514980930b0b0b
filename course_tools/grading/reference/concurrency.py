"""Checks for the Concurrency assessment (05_concurrency), run by the deterministic scheduler.

A learner's step-program is run under *every* interleaving (``course_tools.sim.interleave``
explores all reachable states), so a grade never depends on thread timing. What can go
wrong in a learner's code costs that question only:

- a deadlock is a state the scheduler reports (no thread can run), not a hang;
- a loop that keeps yielding (spinning on a try-lock) stops at ``max_steps``;
- a loop that never yields is stopped by :func:`time_limit` (a ``SIGALRM`` timer);
- too many interleavings stop at ``max_runs``.

Failure messages describe the behaviour that went wrong. Visible checks may show the
learner's own failing schedule (its set-up is printed in the notebook anyway); hidden
checks never print their set-up or data.

Every ``check_*`` takes ``show_schedule``: ``True`` in a *visible* test (its set-up is shown
to the learner anyway), where a failure prints the learner's failing schedule step by step;
``False`` (the default) in a hidden test, where a failure names the kind of problem only.
Each returns the number of runs it explored.

The reference solutions at the bottom are what the instructor's source notebook uses.
"""

from __future__ import annotations

import inspect
import json
from collections import Counter
from typing import Any, Callable, Iterator

from course_tools.grading.checks import fail as _fail, is_generator_function, time_limit as _time_limit
from course_tools.sim.interleave import (
    DEADLOCK, ERROR, PRUNED, STEP_LIMIT, Acquire, AtomicAdd, ExplorationLimit, Instruction, Program, Read, Release,
    Trace, Write, explore,
)

__all__ = [
    "time_limit", "deposit_program", "check_deposit", "bank_program", "check_transfer", "pool_program",
    "check_pool", "reference_safe_deposit", "reference_ordered_transfer", "reference_borrow",
    "reference_give_back", "unsafe_deposit", "unordered_transfer",
]

MAX_STEPS = 120
MAX_RUNS = 40_000




def time_limit(seconds: float, question: object = "?"):
    """The shared time limit, with advice for step-programs."""
    return _time_limit(seconds, question, advice='Does a loop never reach a `yield`, or never end?')


def _require_generator_function(fn: object, name: str, question: object) -> None:
    if fn is None or fn is ...:
        _fail(question, f"define `{name}` first.")
    if not callable(fn) or not is_generator_function(fn):
        _fail(question, f"`{name}` must be a generator function: a `def` whose body uses `yield` for every "
                        "shared step (e.g. `value = yield Read('balance')`).")


def _every_state(program: Program, question: object, seconds: float) -> Iterator[Trace]:
    """Every run of the reduced search, pruned ones included: their *new* steps together
    cover every transition of every reachable state; final-state checks skip pruned runs."""
    with time_limit(seconds, question):
        try:
            yield from explore(program, reduce=True, max_steps=MAX_STEPS, max_runs=MAX_RUNS,
                               include_pruned=True, new_events_only=True, symmetry=True)
        except ExplorationLimit:
            _fail(question, "your threads have too many interleavings to check; keep each one short "
                            "(a few steps: acquire, read, write, release).")


def _status_problem(trace: Trace, detail: bool = True) -> str | None:
    if trace.status == DEADLOCK:
        waits = ", ".join(f"{t} waits for {lk}" for t, lk in trace.waiting.items())
        return f"the threads deadlocked ({waits})" if detail else "the threads deadlocked: no thread could run"
    if trace.status == ERROR:
        return f"a thread failed: {trace.error}" if detail else f"a thread failed ({_kind(trace.error)})"
    if trace.status == STEP_LIMIT:
        return f"the threads were still running after {MAX_STEPS} steps (a loop that spins forever?)"
    return None


def _kind(error: str | None) -> str:
    """The kind of failure without names or values from the hidden set-up."""
    text = error or ""
    if " raised " in text:
        return "it raised " + text.split(" raised ", 1)[1].split(":", 1)[0]
    if "released" in text:
        return "it released a lock or semaphore it did not hold"
    if "unknown lock" in text:
        return "it used a lock name the program does not declare"
    if "not an instruction" in text:
        return "it yielded something that is not an instruction"
    return "see the visible test for details"


def _held_at_end(trace: Trace) -> str | None:
    return next(iter(trace.holders), None)


# --------------------------------------------------------------------------------------
# Question: the lost update
# --------------------------------------------------------------------------------------
def unsafe_deposit(amount: int) -> Iterator[Instruction]:
    """The racy version the learner starts from: read, then write (two separate steps)."""
    balance = yield Read("balance")
    yield Write("balance", balance + amount)


def _as_generator(gen):
    """A local generator that drives ``gen`` (the grader's proxy of a student's generator, or a
    generator): the simulator accepts generators only."""
    if inspect.isgenerator(gen):
        return gen
    return _delegate(gen)


def _delegate(gen):
    return (yield from gen)


def _key(value) -> str:
    from course_tools.grading import protocol

    try:
        return json.dumps(protocol.encode(value))
    except protocol.ProtocolError:
        return f"object:{id(value)}"


class _Node:
    __slots__ = ("children", "live")

    def __init__(self) -> None:
        self.children: dict = {}     # key of the value sent -> (kind, value, next node)
        self.live = None             # a student generator positioned at this node, if any


class _Memoized:
    """A student's step-program function (a proxy: it runs in the student's process), remembered.

    A step-program's thread is a function of what the scheduler sends it (its local Python is
    invisible to other threads; see :mod:`course_tools.sim.interleave`), and the exhaustive search
    replays the same prefixes thousands of times. Each distinct (arguments, values sent so far) is
    asked of the student's process once and remembered in a trie; a new branch resumes a live
    generator or replays its prefix into a fresh one. A local function is used as it is."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.roots: dict[str, _Node] = {}

    def __call__(self, *args):
        return self._run(args, self.roots.setdefault(_key(args), _Node()))

    def _step(self, args, node: _Node, path: list, key: str, value):
        gen, node.live = node.live, None
        if gen is None:
            gen = _as_generator(self.fn(*args))
            for k, v in path:
                next(gen) if k == "start" else gen.send(v)
        try:
            out = ("y", next(gen) if key == "start" else gen.send(value))
        except StopIteration as stop:
            out = ("r", stop.value)
        except Exception as exc:
            out = ("e", exc)
        child = _Node()
        if out[0] == "y":
            child.live = gen
        entry = (*out, child)
        node.children[key] = entry
        return entry

    def _run(self, args, node: _Node):
        path: list = []
        key, value = "start", None
        while True:
            entry = node.children.get(key) or self._step(args, node, path, key, value)
            kind, out, child = entry
            path.append((key, value))
            if kind == "r":
                return out
            if kind == "e":
                raise out.with_traceback(None)
            value = yield out
            key, node = _key(value), child


def _memoized(fn):
    return fn if inspect.isfunction(fn) or not callable(fn) else _Memoized(fn)


def deposit_program(fn: Callable[[int], Iterator[Instruction]], amounts: list[int], start: int) -> Program:
    """One thread per amount, each running ``fn(amount)`` on a shared ``balance``."""
    fn = _memoized(fn)
    return Program({f"T{i + 1}": (lambda a=a: _as_generator(fn(a))) for i, a in enumerate(amounts)},
                   memory={"balance": start}, locks=["balance_lock"])


def check_deposit(fn: Any, *, amounts: list[int], start: int, question: object = "?", show_schedule: bool = False,
                  seconds: float = 20.0) -> int:
    """Every interleaving of one thread per amount must end with ``start + sum(amounts)``,
    no deadlock and no lock left held. Returns the number of runs checked."""
    _require_generator_function(fn, "safe_deposit", question)
    want = start + sum(amounts)
    n = 0
    for trace in _every_state(deposit_program(fn, amounts, start), question, seconds):
        n += 1
        if trace.status == PRUNED:
            continue
        problem = _status_problem(trace, detail=show_schedule)
        if problem is None and trace.memory.get("balance") != want:
            problem = (f"a deposit was lost: {len(amounts)} threads deposited {amounts} into {start} and the "
                       f"balance ended at {trace.memory.get('balance')!r}, not {want}" if show_schedule else
                       "a deposit was lost: the final balance was not the start plus every deposit")
        if problem is None and _held_at_end(trace):
            problem = (f"{_held_at_end(trace) if show_schedule else 'a lock'} was still held when every thread had "
                       "finished (release what you acquire)")
        if problem:
            if show_schedule:
                problem += f". The schedule that shows it: {list(trace.schedule)}\n{trace.replay().text()}"
            else:
                problem += " (in one of the interleavings the hidden test explores)"
            _fail(question, problem + ".")
    return n


# --------------------------------------------------------------------------------------
# Question: the deadlock
# --------------------------------------------------------------------------------------
def unordered_transfer(src: str, dst: str, amount: int) -> Iterator[Instruction]:
    """The deadlock-prone version: lock the source account, then the destination."""
    yield Acquire(f"lock_{src}")
    yield Acquire(f"lock_{dst}")
    balance = yield Read(src)
    yield Write(src, balance - amount)
    balance = yield Read(dst)
    yield Write(dst, balance + amount)
    yield Release(f"lock_{dst}")
    yield Release(f"lock_{src}")


def bank_program(fn: Callable[[str, str, int], Iterator[Instruction]], transfers: list[tuple[str, str, int]],
                 balances: dict[str, int]) -> Program:
    """One thread per ``(src, dst, amount)``; account ``X`` is protected by lock ``lock_X``."""
    fn = _memoized(fn)
    return Program({f"T{i + 1}": (lambda t=t: _as_generator(fn(*t))) for i, t in enumerate(transfers)},
                   memory=dict(balances), locks=[f"lock_{a}" for a in balances])


def check_transfer(fn: Any, *, transfers: list[tuple[str, str, int]], balances: dict[str, int],
                   question: object = "?", show_schedule: bool = False, strict_locking: bool = False,
                   seconds: float = 20.0) -> int:
    """Every interleaving must finish (no deadlock) with the right balances; with
    ``strict_locking``, every write to account ``X`` must happen while holding ``lock_X``."""
    _require_generator_function(fn, "ordered_transfer", question)
    want = dict(balances)
    for src, dst, amount in transfers:
        want[src] -= amount
        want[dst] += amount
    n = 0
    for trace in _every_state(bank_program(fn, transfers, balances), question, seconds):
        n += 1
        final = trace.status != PRUNED
        problem = _status_problem(trace, detail=show_schedule) if final else None
        if problem is None and final and trace.memory != want:
            problem = "the balances were wrong after every transfer had finished (was a write made without its lock?)"
        if problem is None and final and _held_at_end(trace):
            problem = f"{_held_at_end(trace) if show_schedule else 'a lock'} was still held when every thread had finished"
        if problem is None and strict_locking:
            for e in trace.events:
                if isinstance(e.instruction, Write) and e.thread not in e.holders.get(f"lock_{e.instruction.var}", ()):
                    problem = ("a thread wrote an account's balance without holding that account's lock; "
                               "each account must be changed only under its own lock")
                    break
        if problem:
            if show_schedule:
                problem += f". The schedule that shows it: {list(trace.schedule)}\n{trace.replay().text()}"
            else:
                problem += " (in one of the interleavings the hidden test explores)"
            _fail(question, problem + ".")
    return n


# --------------------------------------------------------------------------------------
# Question: the bounded pool
# --------------------------------------------------------------------------------------
def pool_program(borrow: Callable[[], Iterator[Instruction]], give_back: Callable[[str], Iterator[Instruction]],
                 *, workers: int, connections: int) -> Program:
    """``workers`` threads share ``connections`` connections through ``borrow``/``give_back``.

    Shared memory: ``free`` (a tuple of free connection names), and counters the checks
    read: ``in_use``, ``peak`` violations and ``double_use``. Semaphore ``slots`` starts at
    ``connections``; lock ``pool_lock`` protects ``free``.
    """
    names = tuple(f"c{i + 1}" for i in range(connections))
    borrow, give_back = _memoized(borrow), _memoized(give_back)

    def worker() -> Iterator[Instruction]:
        conn = yield from borrow()
        if conn not in names:
            yield AtomicAdd("bad_connection", 1)
            return
        users = yield AtomicAdd(f"users_{conn}", 1)
        if users > 1:
            yield AtomicAdd("double_use", 1)
        in_use = yield AtomicAdd("in_use", 1)
        if in_use > connections:
            yield AtomicAdd("too_many", 1)
        yield AtomicAdd("in_use", -1)
        yield AtomicAdd(f"users_{conn}", -1)
        yield from give_back(conn)

    memory = {"free": names, "in_use": 0, "double_use": 0, "too_many": 0, "bad_connection": 0}
    memory.update({f"users_{c}": 0 for c in names})
    return Program({f"W{i + 1}": worker for i in range(workers)}, memory=memory, locks=["pool_lock"],
                   semaphores={"slots": connections})


def check_pool(borrow: Any, give_back: Any, *, workers: int, connections: int, question: object = "?",
               show_schedule: bool = False, seconds: float = 20.0) -> int:
    """Every interleaving: all workers finish, no connection is used by two workers at
    once, never more than ``connections`` in use, and every connection is back in ``free``."""
    _require_generator_function(borrow, "borrow", question)
    _require_generator_function(give_back, "give_back", question)
    names = tuple(f"c{i + 1}" for i in range(connections))
    n = 0
    for trace in _every_state(pool_program(borrow, give_back, workers=workers, connections=connections),
                              question, seconds):
        n += 1
        if trace.status == PRUNED:
            continue
        problem = _status_problem(trace, detail=show_schedule)
        mem = trace.memory
        if problem is None and mem["bad_connection"]:
            problem = "borrow() returned something that is not one of the pool's connections"
        if problem is None and mem["double_use"]:
            problem = "two workers were given the same connection at the same time"
        if problem is None and mem["too_many"]:
            problem = "more workers held a connection at once than the pool has connections"
        if problem is None and (not isinstance(mem["free"], tuple) or Counter(mem["free"]) != Counter(names)):
            problem = ("after every worker had given its connection back, `free` did not hold every connection "
                       "exactly once" + (f": {mem['free']!r}" if show_schedule else ""))
        if problem is None and _held_at_end(trace):
            problem = f"{_held_at_end(trace) if show_schedule else 'a lock'} was still held when every worker had finished"
        if problem:
            if show_schedule:
                problem += f". The schedule that shows it: {list(trace.schedule)}\n{trace.replay().text()}"
            else:
                problem += " (in one of the interleavings the hidden test explores)"
            _fail(question, problem + ".")
    return n


# --------------------------------------------------------------------------------------
# Reference solutions (the source notebook's answers)
# --------------------------------------------------------------------------------------
def reference_safe_deposit(amount: int) -> Iterator[Instruction]:
    yield Acquire("balance_lock")
    balance = yield Read("balance")
    yield Write("balance", balance + amount)
    yield Release("balance_lock")


def reference_ordered_transfer(src: str, dst: str, amount: int) -> Iterator[Instruction]:
    first, second = sorted([src, dst])
    yield Acquire(f"lock_{first}")
    yield Acquire(f"lock_{second}")
    balance = yield Read(src)
    yield Write(src, balance - amount)
    balance = yield Read(dst)
    yield Write(dst, balance + amount)
    yield Release(f"lock_{second}")
    yield Release(f"lock_{first}")


def reference_borrow() -> Iterator[Instruction]:
    yield Acquire("slots")
    yield Acquire("pool_lock")
    free = yield Read("free")
    yield Write("free", free[1:])
    yield Release("pool_lock")
    return free[0]


def reference_give_back(conn: str) -> Iterator[Instruction]:
    yield Acquire("pool_lock")
    free = yield Read("free")
    yield Write("free", free + (conn,))
    yield Release("pool_lock")
    yield Release("slots")
