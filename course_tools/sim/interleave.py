"""A deterministic thread scheduler: races and deadlocks you can replay.

A *thread* here is a Python generator function. Every access to shared state is one
instruction it ``yield``\\ s; the scheduler executes that instruction atomically and sends
the result back. Between two yields the thread runs plain local Python, which no other
thread can see, so each yield is exactly one point where another thread may run::

    def increment():                       # the classic lost update
        value = yield Read("counter")      # step 1: read the shared counter
        yield Write("counter", value + 1)  # step 2: write it back

    program = Program({"T1": increment, "T2": increment}, memory={"counter": 0})
    run(program, schedule=["T1", "T2", "T1", "T2"]).memory   # {'counter': 1}: one update lost

:func:`run` follows a given schedule (a list of thread names), a seeded ``rng=`` or the
first runnable thread; :func:`explore` enumerates every interleaving (or, with
``reduce=True``, every distinct reachable state). Locks and counting semaphores live inside
the simulator: ``Acquire`` blocks while the lock is held; when no thread can run and some
have not finished, the run ends as a *deadlock* and :func:`wait_for_graph` and
:func:`find_cycle` show who waits for whom. A :class:`Trace` remembers its schedule, so
``trace.replay()`` reproduces it step for step. No real threads are involved.

Simulated locks record which thread holds them (so a wait-for graph can be drawn) and
refuse a release by a thread that does not hold them, like an error-checking POSIX mutex
or Python's ``RLock``. Python's plain ``threading.Lock`` does not check this (it is "not
owned by a particular thread", Python docs, threading — Lock Objects). Simulated
semaphores are bounded (a release above the initial value is an error, like
``threading.BoundedSemaphore``) and not owned: any thread may release them.
"""

from __future__ import annotations

import inspect
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

__all__ = [
    "Instruction", "Read", "Write", "AtomicAdd", "Acquire", "TryAcquire", "Release", "Pause",
    "Program", "Event", "Trace", "ScheduleError", "ExplorationLimit", "SimulationError",
    "run", "explore", "outcomes", "count_interleavings", "wait_for_graph", "find_cycle",
    "check_every_interleaving", "find_interleaving", "DONE", "DEADLOCK", "STEP_LIMIT", "ERROR", "PRUNED",
]

DONE, DEADLOCK, STEP_LIMIT, ERROR, PRUNED = "done", "deadlock", "step limit", "error", "pruned"


class SimulationError(RuntimeError):
    """A thread did something the simulator forbids (e.g. released a lock it does not hold)."""


class ScheduleError(ValueError):
    """A schedule named a thread that cannot run at that step."""


class ExplorationLimit(RuntimeError):
    """:func:`explore` would need more runs than ``max_runs``."""


# --------------------------------------------------------------------------------------
# Instructions: what a thread yields. Each one is a single atomic step.
# --------------------------------------------------------------------------------------
class Instruction:
    """Base class of the instructions a simulated thread yields."""

    def text(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__


@dataclass(frozen=True)
class Read(Instruction):
    """Read a shared variable; the value is sent back into the thread."""

    var: str

    def text(self) -> str:
        return f"read {self.var}"


@dataclass(frozen=True)
class Write(Instruction):
    """Write a shared variable."""

    var: str
    value: Any

    def text(self) -> str:
        return f"write {self.var} = {self.value!r}"


@dataclass(frozen=True)
class AtomicAdd(Instruction):
    """Add ``delta`` to a shared number in one indivisible step; returns the new value."""

    var: str
    delta: Any = 1

    def text(self) -> str:
        return f"atomic {self.var} += {self.delta!r}"


@dataclass(frozen=True)
class Acquire(Instruction):
    """Take a lock or one unit of a semaphore; the thread cannot run while none is free."""

    lock: str

    def text(self) -> str:
        return f"acquire {self.lock}"


@dataclass(frozen=True)
class TryAcquire(Instruction):
    """Take a lock if it is free; never blocks. Sends back ``True`` or ``False``."""

    lock: str

    def text(self) -> str:
        return f"try-acquire {self.lock}"


@dataclass(frozen=True)
class Release(Instruction):
    """Give a lock back (or one unit of a semaphore)."""

    lock: str

    def text(self) -> str:
        return f"release {self.lock}"


@dataclass(frozen=True)
class Pause(Instruction):
    """A step that touches nothing shared (local work), still a point where others may run."""

    label: str = "work"

    def text(self) -> str:
        return self.label


# --------------------------------------------------------------------------------------
# Programs and traces
# --------------------------------------------------------------------------------------
ThreadFn = Callable[[], Iterator[Instruction]]


@dataclass
class Program:
    """Threads (name -> generator function), initial shared memory, locks and semaphores.

    ``threads`` may be a mapping or a sequence (named ``T1``, ``T2``, ...). A thread
    function is called with no arguments (use ``functools.partial`` or a lambda to pass
    some) and must return a generator. ``locks`` are mutexes; ``semaphores`` maps a name
    to its initial (and maximum) count.
    """

    threads: Mapping[str, ThreadFn] | Sequence[ThreadFn]
    memory: Mapping[str, Any] = field(default_factory=dict)
    locks: Iterable[str] = ()
    semaphores: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.threads, Mapping):
            self.threads = {f"T{i + 1}": fn for i, fn in enumerate(self.threads)}
        self.threads = dict(self.threads)
        if not self.threads:
            raise ValueError("a program needs at least one thread")
        self.memory = dict(self.memory)
        self.locks = tuple(self.locks)
        self.semaphores = dict(self.semaphores)
        clash = set(self.locks) & set(self.semaphores)
        if clash:
            raise ValueError(f"{sorted(clash)} declared both as lock and as semaphore")
        for name, count in self.semaphores.items():
            if not isinstance(count, int) or count < 0:
                raise ValueError(f"semaphore {name!r} needs a count >= 0, got {count!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.threads)


@dataclass(frozen=True)
class Event:
    """One executed step: which thread ran which instruction, and what it got back."""

    step: int
    thread: str
    instruction: Instruction
    result: Any
    memory: Mapping[str, Any]  # shared memory just after the step
    holders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # locks held just after the step

    def text(self) -> str:
        op = self.instruction.text()
        if isinstance(self.instruction, (Read, TryAcquire, AtomicAdd)):
            op += f" -> {self.result!r}"
        mem = ", ".join(f"{k}={v!r}" for k, v in self.memory.items())
        return f"{self.step:>3}  {self.thread:<4} {op:<28} | {mem}"


@dataclass
class Trace:
    """What one run did: the schedule it followed, every step, and how it ended."""

    program: Program
    schedule: tuple[str, ...]
    events: list[Event]
    memory: dict[str, Any]
    status: str  # DONE, DEADLOCK, STEP_LIMIT, ERROR (or PRUNED, from explore(include_pruned=True))
    holders: dict[str, tuple[str, ...]]  # lock / semaphore -> threads holding it at the end
    waiting: dict[str, str]  # blocked thread -> the lock it waits for (at the end)
    finished: tuple[str, ...]
    error: str | None = None

    @property
    def deadlocked(self) -> bool:
        return self.status == DEADLOCK

    def replay(self) -> "Trace":
        """Run the same program again under the same schedule (an identical trace; for a
        pruned or step-limited run, exactly its steps with every event recorded)."""
        stop_early = self.status in (STEP_LIMIT, PRUNED)
        return run(self.program, self.schedule, max_steps=len(self.schedule) if stop_early else 1000)

    def text(self, upto: int | None = None) -> str:
        """The trace as a table, one line per step (the first ``upto`` steps if given)."""
        events = self.events if upto is None else self.events[:upto]
        lines = ["step thr  instruction                  | shared memory after the step"]
        lines += [e.text() for e in events]
        if upto is None or upto >= len(self.events):
            lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        mem = ", ".join(f"{k}={v!r}" for k, v in self.memory.items())
        if self.status == DEADLOCK:
            waits = "; ".join(f"{t} waits for {lk} (held by {', '.join(self.holders.get(lk, ())) or 'nobody'})"
                              for t, lk in self.waiting.items())
            return f"DEADLOCK after {len(self.events)} steps: {waits}"
        if self.status == ERROR:
            return f"ERROR after {len(self.events)} steps: {self.error}"
        if self.status == STEP_LIMIT:
            return f"stopped at the step limit ({len(self.events)} steps); {mem}"
        return f"done after {len(self.events)} steps: {mem}"

    def __repr__(self) -> str:
        return f"Trace(schedule={''.join(s[-1] for s in self.schedule) if all(len(s) <= 3 for s in self.schedule) else self.schedule!r}, status={self.status!r}, memory={self.memory!r})"


# --------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------
def _freeze(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return ("<unhashable>", repr(value))


class _Machine:
    """The state of one run: live generators, memory, lock holders."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.memory = dict(program.memory)
        self.lock_holder: dict[str, str | None] = {name: None for name in program.locks}
        self.sem_count: dict[str, int] = dict(program.semaphores)
        self.sem_holders: dict[str, list[str]] = {name: [] for name in program.semaphores}
        self.pending: dict[str, Instruction] = {}
        self.gens: dict[str, Iterator[Instruction]] = {}
        self.history: dict[str, list[Any]] = {name: [] for name in program.threads}
        self.finished: list[str] = []
        self.error: str | None = None
        for name, fn in program.threads.items():
            gen = fn()
            if not inspect.isgenerator(gen):
                raise TypeError(f"thread {name!r} must be a generator function (use `yield`), "
                                f"it returned {type(gen).__name__}")
            self.gens[name] = gen
            self._advance(name, None, first=True)
            if self.error:
                break

    # -- thread bookkeeping ---------------------------------------------------------------
    def _advance(self, name: str, result: Any, first: bool = False) -> None:
        gen = self.gens[name]
        try:
            instr = next(gen) if first else gen.send(result)
        except StopIteration:
            self.pending.pop(name, None)
            self.finished.append(name)
            return
        except Exception as exc:  # the thread crashed: the run ends with an error
            self.pending.pop(name, None)
            self.error = f"thread {name} raised {type(exc).__name__}: {exc}"
            return
        if not isinstance(instr, Instruction):
            self.error = f"thread {name} yielded {instr!r}, not an instruction (Read, Write, Acquire, ...)"
            return
        self._known(instr)
        if not self.error:
            self.pending[name] = instr

    def _known(self, instr: Instruction) -> None:
        if isinstance(instr, (Acquire, TryAcquire, Release)):
            if instr.lock not in self.lock_holder and instr.lock not in self.sem_count:
                self.error = f"unknown lock {instr.lock!r}: declare it in Program(locks=...) or semaphores="

    def enabled(self) -> list[str]:
        """Threads that can take a step now, in program order."""
        out: list[str] = []
        if self.error:
            return out
        for name in self.program.threads:
            instr = self.pending.get(name)
            if instr is None:
                continue
            if isinstance(instr, Acquire) and not self._free(instr.lock):
                continue
            out.append(name)
        return out

    def _free(self, lock: str) -> bool:
        if lock in self.lock_holder:
            return self.lock_holder[lock] is None
        return self.sem_count[lock] > 0

    def _take(self, lock: str, name: str) -> None:
        if lock in self.lock_holder:
            self.lock_holder[lock] = name
        else:
            self.sem_count[lock] -= 1
            self.sem_holders[lock].append(name)

    def _execute(self, name: str, instr: Instruction) -> Any:
        if isinstance(instr, Read):
            if instr.var not in self.memory:
                raise SimulationError(f"{name} read {instr.var!r}, which is not in shared memory")
            return self.memory[instr.var]
        if isinstance(instr, Write):
            self.memory[instr.var] = instr.value
            return None
        if isinstance(instr, AtomicAdd):
            if instr.var not in self.memory:
                raise SimulationError(f"{name} added to {instr.var!r}, which is not in shared memory")
            self.memory[instr.var] = self.memory[instr.var] + instr.delta
            return self.memory[instr.var]
        if isinstance(instr, Acquire):
            self._take(instr.lock, name)
            return None
        if isinstance(instr, TryAcquire):
            if self._free(instr.lock):
                self._take(instr.lock, name)
                return True
            return False
        if isinstance(instr, Release):
            lock = instr.lock
            if lock in self.lock_holder:
                if self.lock_holder[lock] != name:
                    holder = self.lock_holder[lock]
                    raise SimulationError(f"{name} released {lock!r}, which "
                                          f"{'nobody holds' if holder is None else 'is held by ' + holder}")
                self.lock_holder[lock] = None
            else:
                if self.sem_count[lock] >= self.program.semaphores[lock]:
                    raise SimulationError(f"{name} released semaphore {lock!r} more times than it was acquired "
                                          f"(a bounded semaphore refuses this)")
                self.sem_count[lock] += 1
                holders = self.sem_holders[lock]
                holders.remove(name if name in holders else holders[0])
            return None
        if isinstance(instr, Pause):
            return None
        raise SimulationError(f"unknown instruction {instr!r}")  # pragma: no cover

    def step(self, name: str) -> Any:
        instr = self.pending[name]
        try:
            result = self._execute(name, instr)
        except SimulationError as exc:
            self.error = str(exc)
            return None
        self.history[name].append(_freeze(result))
        self._advance(name, result)
        return result

    def holders(self) -> dict[str, tuple[str, ...]]:
        out = {lk: (h,) for lk, h in self.lock_holder.items() if h is not None}
        out.update({s: tuple(h) for s, h in self.sem_holders.items() if h})
        return out

    def waiting(self) -> dict[str, str]:
        return {n: i.lock for n, i in self.pending.items() if isinstance(i, Acquire) and not self._free(i.lock)}

    def key(self, symmetry: bool = False) -> tuple:
        """Everything that decides the future of this run (used to prune repeated states).

        With ``symmetry``, threads running the *same* function object are interchangeable:
        they are renamed in a canonical order (by their history), so two states that differ
        only by which of two identical workers did what count as one.
        """
        mem = tuple(sorted((k, _freeze(v)) for k, v in self.memory.items()))
        if symmetry:
            fns = self.program.threads
            order = sorted(fns, key=lambda n: (id(fns[n]), tuple(map(repr, self.history[n]))))
            rename = {n: (id(fns[n]), i) for i, n in enumerate(order)}
            rename[None] = None
            hist = tuple((id(fns[n]), tuple(self.history[n])) for n in order)
        else:
            rename = {n: n for n in self.program.threads}
            rename[None] = None
            hist = tuple((n, tuple(self.history[n])) for n in self.program.threads)
        locks = tuple(sorted((k, rename[h]) for k, h in self.lock_holder.items()))
        sems = tuple(sorted((k, tuple(sorted(map(rename.get, v), key=repr))) for k, v in self.sem_holders.items()))
        return mem, locks, sems, hist


def _status(m: _Machine, enabled: list[str]) -> str | None:
    if m.error:
        return ERROR
    if not m.pending:
        return DONE
    if not enabled:
        return DEADLOCK
    return None


def _finish(program: Program, m: _Machine, schedule: list[str], events: list[Event], status: str) -> Trace:
    return Trace(program, tuple(schedule), events, dict(m.memory), status, m.holders(), m.waiting(),
                 tuple(m.finished), m.error)


def run(program: Program, schedule: Sequence[str] | None = None, *, rng: random.Random | None = None,
        max_steps: int = 1000) -> Trace:
    """Run ``program`` once and return its :class:`Trace`.

    The thread for each step comes from ``schedule`` while it lasts (naming a thread that
    cannot run raises :class:`ScheduleError`); after that from ``rng`` (a seeded
    ``random.Random``: a uniformly random runnable thread) or, without ``rng``, the first
    runnable thread in program order. The run ends when every thread has finished, when no
    thread can run (deadlock), when a thread fails, or after ``max_steps`` steps.
    """
    schedule = list(schedule or ())
    m = _Machine(program)
    events: list[Event] = []
    taken: list[str] = []
    while True:
        enabled = m.enabled()
        status = _status(m, enabled)
        if status:
            return _finish(program, m, taken, events, status)
        if len(events) >= max_steps:
            return _finish(program, m, taken, events, STEP_LIMIT)
        i = len(events)
        if i < len(schedule):
            name = schedule[i]
            if name not in enabled:
                why = ("has finished" if name in m.finished else
                       f"is blocked on {m.pending[name].lock}" if name in m.pending else "does not exist")
                raise ScheduleError(f"step {i + 1}: thread {name!r} cannot run ({why}); runnable: {enabled}")
        elif rng is not None:
            name = enabled[rng.randrange(len(enabled))]
        else:
            name = enabled[0]
        instr = m.pending[name]
        result = m.step(name)
        taken.append(name)
        events.append(Event(i + 1, name, instr, result, dict(m.memory), m.holders()))


def explore(program: Program, *, reduce: bool = False, max_steps: int = 200, max_runs: int = 200_000,
            include_pruned: bool = False, new_events_only: bool = False, symmetry: bool = False,
            stats: dict | None = None) -> Iterator[Trace]:
    """Yield a trace for every interleaving of ``program`` (depth-first, in schedule order).

    With ``reduce=False`` every distinct schedule is produced once: two threads of ``m`` and
    ``n`` steps without locks give ``C(m + n, m)`` traces. With ``reduce=True`` a run stops
    as soon as it reaches a state an earlier run has already been in (same memory, lock
    holders and per-thread history), so every reachable *final state* still appears but
    repeated ones are skipped: use it to check a property, not to count schedules.

    How it works: each run replays a schedule prefix from the start (generators cannot be
    copied), then always picks the first runnable thread, pushing every other runnable
    thread at each new step as a prefix to explore later ("stateless model checking").

    ``include_pruned=True`` also yields the runs cut short (``status == "pruned"``): together
    the yielded runs then execute every transition of every reachable state once, so a
    property of single steps (e.g. "every write happens under its lock") can be checked on
    their events. ``new_events_only=True`` records only the steps a run adds beyond its
    replayed prefix (each step of the search then appears in exactly one trace) and is
    much faster; ``trace.replay()`` rebuilds the full trace. ``stats`` (a dict) receives
    ``runs`` and ``steps``. ``symmetry=True`` (with ``reduce``) also treats states that
    differ only by a permutation of threads running the same function object as one (for
    identical workers: up to n! fewer states). Raises :class:`ExplorationLimit` after
    ``max_runs`` runs.
    """
    seen: set = set()
    stack: list[tuple[str, ...]] = [()]
    runs = steps = 0
    try:
        while stack:
            prefix = stack.pop()
            runs += 1
            if runs > max_runs:
                raise ExplorationLimit(f"more than {max_runs} runs; shorten the program or raise max_runs")
            m = _Machine(program)
            events: list[Event] = []
            taken: list[str] = []
            pruned = False
            n_prefix = len(prefix)
            while True:
                enabled = m.enabled()
                status = _status(m, enabled)
                if status:
                    break
                i = len(taken)
                if i >= max_steps:
                    status = STEP_LIMIT
                    break
                if i < n_prefix:
                    name = prefix[i]
                else:
                    name = enabled[0]
                    for alt in reversed(enabled[1:]):
                        stack.append(tuple(taken) + (alt,))
                instr = m.pending[name]
                result = m.step(name)
                steps += 1
                taken.append(name)
                if i + 1 >= n_prefix or not new_events_only:  # the prefix's last step is the new branch
                    events.append(Event(i + 1, name, instr, result, dict(m.memory), m.holders()))
                if reduce and i + 1 >= n_prefix:
                    k = m.key(symmetry)
                    if k in seen:
                        pruned = True
                        break
                    seen.add(k)
            if not pruned:
                yield _finish(program, m, taken, events, status)
            elif include_pruned:
                yield _finish(program, m, taken, events, PRUNED)
    finally:
        if stats is not None:
            stats.update(runs=runs, steps=steps)


def outcomes(program: Program, key: Callable[[Trace], Any] | None = None, **kw) -> Counter:
    """Count the interleavings of ``program`` by outcome.

    ``key(trace)`` names the outcome (default: the final value of the only shared variable,
    or the whole memory; a deadlock counts as ``"deadlock"``).

    The counts are numbers of *schedules*, not probabilities: a real scheduler does not pick
    interleavings uniformly (a thread usually runs many steps before a switch), so "4 of 6"
    says an outcome is reachable and by how many schedules, not how often it happens. With
    ``reduce=True`` the runs counted are the reduced search's representatives, not every
    interleaving, so only *which* outcomes occur is meaningful then.
    """
    def default(trace: Trace) -> Any:
        if trace.status != DONE:
            return trace.status
        if len(trace.memory) == 1:
            return next(iter(trace.memory.values()))
        return tuple(sorted(trace.memory.items()))

    key = key or default
    return Counter(key(t) for t in explore(program, **kw))


def find_interleaving(program: Program, predicate: Callable[[Trace], bool], **kw) -> Trace | None:
    """The first interleaving (in depth-first order) whose trace satisfies ``predicate``."""
    for trace in explore(program, **kw):
        if predicate(trace):
            return trace
    return None


def check_every_interleaving(program: Program, ok: Callable[[Trace], bool], *, reduce: bool = True,
                             max_steps: int = 200, max_runs: int = 50_000) -> tuple[int, Trace | None]:
    """Check ``ok(trace)`` on every reachable final state; ``(runs checked, first counterexample)``.

    A run that deadlocks, fails or hits the step limit is a counterexample unless ``ok``
    accepts it (it sees ``trace.status``).
    """
    n = 0
    for trace in explore(program, reduce=reduce, max_steps=max_steps, max_runs=max_runs):
        n += 1
        if not ok(trace):
            return n, trace
    return n, None


def count_interleavings(*steps: int) -> int:
    """How many ways threads of ``steps[0], steps[1], ...`` steps can interleave (no locks):
    the multinomial ``(sum steps)! / prod(steps_i!)``; for two threads ``C(m + n, m)``."""
    total = math.factorial(sum(steps))
    for s in steps:
        total //= math.factorial(s)
    return total


# --------------------------------------------------------------------------------------
# Who waits for whom
# --------------------------------------------------------------------------------------
def wait_for_graph(trace: Trace) -> dict[str, set[str]]:
    """Thread -> the threads it waits for (they hold the lock it is blocked on), at the end of ``trace``."""
    graph: dict[str, set[str]] = {name: set() for name in trace.program.threads}
    for thread, lock in trace.waiting.items():
        graph[thread] |= set(trace.holders.get(lock, ()))  # itself, if it re-takes a lock it holds
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in a directed graph as a list of nodes ``[a, b, ..., a]``, or ``None``.

    Depth-first search with three colours: meeting a node that is still on the current
    path (grey) closes a cycle.
    """
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in graph}
    for targets in graph.values():
        for t in targets:
            colour.setdefault(t, WHITE)
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour[nxt] == GREY:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == WHITE:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        colour[node] = BLACK
        return None

    for node in sorted(colour):
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None
