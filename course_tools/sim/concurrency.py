"""Concurrency vs parallelism on a virtual clock: tasks on cores, and a bounded pool.

:func:`schedule_tasks` runs tasks made of CPU bursts and I/O waits on ``cores`` simulated
cores with round-robin time slices. On one core the tasks are *concurrent* (their
lifetimes overlap, their CPU bursts take turns); on two cores they are also *parallel*
(two bursts at the same instant). An I/O wait needs no core, so even one core overlaps
the waits of several tasks.

:func:`simulate_pool` puts requests through a pool of ``capacity`` connections guarded by
a counting semaphore (FIFO waiters) and records how many are in use over time.

Everything runs on a :class:`course_tools.clock.VirtualClock` (``clock=``); arrival times
come from a seeded ``rng=``. Nothing here sleeps or starts a thread.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from course_tools.clock import VirtualClock

__all__ = ["Segment", "Timeline", "schedule_tasks", "cpu_tasks", "PoolRun", "simulate_pool"]


@dataclass(frozen=True)
class Segment:
    """A stretch of one task's life: running on a core (``kind="cpu"``) or waiting for I/O."""

    task: str
    kind: str  # "cpu" or "io"
    start: float
    end: float
    core: int | None  # None while waiting for I/O


@dataclass
class Timeline:
    cores: int
    segments: list[Segment]
    finish: dict[str, float]

    @property
    def makespan(self) -> float:
        """When the last task finished."""
        return max(self.finish.values(), default=0.0)

    @property
    def busy(self) -> float:
        """Core-seconds spent running tasks."""
        return sum(s.end - s.start for s in self.segments if s.kind == "cpu")

    def max_parallel(self) -> int:
        """The most CPU bursts running at the same instant (1 means concurrency without parallelism)."""
        points = sorted([(s.start, 1) for s in self.segments if s.kind == "cpu"] +
                        [(s.end, -1) for s in self.segments if s.kind == "cpu"], key=lambda p: (p[0], p[1]))
        best = cur = 0
        for _, d in points:
            cur += d
            best = max(best, cur)
        return best

    def utilisation(self) -> float:
        return self.busy / (self.cores * self.makespan) if self.makespan else 0.0


def cpu_tasks(n: int, seconds: float) -> dict[str, list[tuple[str, float]]]:
    """``n`` CPU-only tasks of ``seconds`` each, named A, B, C, ..."""
    return {chr(ord("A") + i): [("cpu", seconds)] for i in range(n)}


def schedule_tasks(tasks: Mapping[str, Sequence[tuple[str, float]]], cores: int = 1, *, quantum: float = 1.0,
                   clock: VirtualClock | None = None) -> Timeline:
    """Run ``tasks`` (name -> list of ``("cpu" | "io", seconds)``) on ``cores`` cores.

    Round robin: a task runs at most ``quantum`` seconds, then goes to the back of the
    ready queue. Ties at the same instant are broken in a fixed order (finishing cores by
    number, then I/O completions by task order), so the timeline is deterministic.
    """
    if cores < 1 or quantum <= 0:
        raise ValueError("need cores >= 1 and quantum > 0")
    clock = clock or VirtualClock()
    t0 = clock()
    order = list(tasks)
    remaining = {name: deque((k, float(d)) for k, d in tasks[name]) for name in order}
    for name, segs in remaining.items():
        for kind, d in segs:
            if kind not in ("cpu", "io") or d < 0:
                raise ValueError(f"task {name}: segments are ('cpu'|'io', seconds >= 0), got {(kind, d)!r}")
    ready: deque[str] = deque()
    io_until: dict[str, float] = {}
    running: dict[int, tuple[str, float, float]] = {}  # core -> (task, start, end)
    segments: list[Segment] = []
    finish: dict[str, float] = {}

    def next_segment(name: str, now: float) -> None:
        segs = remaining[name]
        while segs and segs[0][1] == 0:
            segs.popleft()
        if not segs:
            finish[name] = now - t0
            return
        kind, d = segs[0]
        if kind == "cpu":
            ready.append(name)
        else:
            segs.popleft()
            io_until[name] = now + d
            segments.append(Segment(name, "io", now - t0, now + d - t0, None))

    now = clock()
    for name in order:
        next_segment(name, now)
    while ready or io_until or running:
        # dispatch ready tasks on free cores
        for core in range(cores):
            if core not in running and ready:
                name = ready.popleft()
                kind, d = remaining[name][0]
                run_for = min(quantum, d)
                running[core] = (name, now, now + run_for)
        events = [end for _, _, end in running.values()] + list(io_until.values())
        now = clock.advance_to(min(events))
        for core in sorted(running):
            name, start, end = running[core]
            if end <= now:
                del running[core]
                segments.append(Segment(name, "cpu", start - t0, end - t0, core))
                kind, d = remaining[name][0]
                left = d - (end - start)
                if left > 1e-12:
                    remaining[name][0] = (kind, left)
                    ready.append(name)
                else:
                    remaining[name].popleft()
                    next_segment(name, now)
        for name in [n for n in order if n in io_until and io_until[n] <= now]:
            del io_until[name]
            next_segment(name, now)
    return Timeline(cores, sorted(segments, key=lambda s: (s.start, s.task)), finish)


@dataclass
class PoolRun:
    """What happened to requests going through a bounded pool.

    ``starts[i]``/``ends[i]`` are ``None`` for a request that never got a connection: it gave
    up after ``acquire_timeout`` (``"timeout"``) or was refused on arrival because
    ``max_waiting`` requests were already queued (``"shed"``); ``rejected`` maps it to why.
    """

    capacity: int | None
    arrivals: list[float]
    starts: list[float | None]
    ends: list[float | None]
    steps: list[tuple[float, int]] = field(default_factory=list)  # (time, connections in use) after each change
    queue: list[tuple[float, int]] = field(default_factory=list)  # (time, requests waiting) after each change
    rejected: dict[int, str] = field(default_factory=dict)
    service: float = 1.0
    mean_gap: float = 0.25

    @property
    def waits(self) -> list[float]:
        """How long each *served* request waited for a connection."""
        return [s - a for a, s in zip(self.arrivals, self.starts) if s is not None]

    @property
    def max_in_use(self) -> int:
        return max(n for _, n in self.steps)

    @property
    def max_waiting(self) -> int:
        return max((n for _, n in self.queue), default=0)

    @property
    def served(self) -> int:
        return sum(s is not None for s in self.starts)

    @property
    def utilisation(self) -> float | None:
        """Offered load per connection, rho = arrival rate x service time / capacity. Below 1
        the pool keeps up on average and queues stay short; above 1 the queue of a pool that
        only waits grows for as long as the overload lasts."""
        if self.capacity is None:
            return None
        return self.service / self.mean_gap / self.capacity


def simulate_pool(n_requests: int, *, capacity: int | None, service: float = 1.0, mean_gap: float = 0.25,
                  rng: random.Random, clock: VirtualClock | None = None, acquire_timeout: float | None = None,
                  max_waiting: int | None = None) -> PoolRun:
    """Requests arrive (exponential gaps with mean ``mean_gap``) and each holds a connection
    for ``service`` seconds. At most ``capacity`` connections are in use (a counting
    semaphore with FIFO waiters); ``capacity=None`` means no limit.

    Overload protection: with ``acquire_timeout`` a waiting request gives up after that many
    seconds (``acquire(timeout=...)`` returning False: the caller answers 503 at once); with
    ``max_waiting`` a request that finds that many already waiting is refused on arrival
    (load shedding). Either bounds the wait of every request that is served.
    """
    clock = clock or VirtualClock()
    arrivals, t = [], 0.0
    for _ in range(n_requests):
        t += rng.expovariate(1.0 / mean_gap)
        arrivals.append(round(t, 6))
    starts: list[float | None] = [None] * n_requests
    ends: list[float | None] = [None] * n_requests
    rejected: dict[int, str] = {}
    free = capacity if capacity is not None else n_requests
    waiting: deque[int] = deque()
    busy_until: list[tuple[float, int]] = []  # (end, request)
    steps: list[tuple[float, int]] = [(0.0, 0)]
    queue: list[tuple[float, int]] = [(0.0, 0)]
    in_use = 0
    i = 0
    inf = float("inf")

    def start(r: int) -> None:
        starts[r], ends[r] = clock(), clock() + service
        busy_until.append((ends[r], r))

    while i < n_requests or busy_until or waiting:
        next_arrival = arrivals[i] if i < n_requests else inf
        next_end = min(busy_until)[0] if busy_until else inf
        # FIFO with one timeout for all: the oldest waiter's deadline comes first
        next_timeout = arrivals[waiting[0]] + acquire_timeout if waiting and acquire_timeout is not None else inf
        if next_end <= min(next_arrival, next_timeout):  # a release (V): hand the connection to the first waiter
            clock.advance_to(max(clock(), next_end))
            busy_until.remove(min(busy_until))
            in_use -= 1
            free += 1
            if waiting:
                free -= 1
                in_use += 1
                start(waiting.popleft())
        elif next_timeout <= next_arrival:  # the oldest waiter gives up
            clock.advance_to(max(clock(), next_timeout))
            rejected[waiting.popleft()] = "timeout"
        else:  # an arrival (P): take a connection, wait, or be refused
            clock.advance_to(max(clock(), next_arrival))
            if free > 0:
                free -= 1
                in_use += 1
                start(i)
            elif max_waiting is not None and len(waiting) >= max_waiting:
                rejected[i] = "shed"
            else:
                waiting.append(i)
            i += 1
        steps.append((clock(), in_use))
        queue.append((clock(), len(waiting)))
    return PoolRun(capacity, arrivals, starts, ends, steps, queue, rejected, service, mean_gap)
