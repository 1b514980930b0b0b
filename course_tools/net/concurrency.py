"""Real concurrency on this machine: a slow loopback server, workloads, and timed runs.

The lesson on concurrency measures the same work done three ways — a thread pool, a
process pool and an asyncio event loop — for I/O-bound work (waits, and requests to a
loopback server that answers after a delay) and for CPU-bound work (a pure-Python loop).
The timings depend on this machine and on whatever else it is doing: lessons print them
as observations and never draw a conclusion that a noisy run could flip.

Everything here cleans up after itself: pools are shut down, threads joined, and
:class:`SlowEchoServer` stops at the end of its ``with`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import socketserver
import sys
import sysconfig
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from course_tools.net.server import BackgroundServer, TrackingThreadingMixIn
from course_tools.sim.concurrency_workloads import cpu_work, cpu_work_timed, sleep_for as _sleep

__all__ = [
    "SlowEchoServer", "fetch", "afetch", "run_async", "cpu_work", "gil_status",
    "Timing", "time_io", "time_sockets", "time_cpu", "speedups", "CoreUse", "cores_used",
]


# --------------------------------------------------------------------------------------
# A loopback server that answers slowly: the stand-in for a database or another service
# --------------------------------------------------------------------------------------
class _SlowEchoHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        try:
            self.wfile.write(line)
        except OSError:
            pass


class _Server(TrackingThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 64


class SlowEchoServer(BackgroundServer):
    """A TCP server on 127.0.0.1 that echoes one line back after ``delay`` seconds.

    Each connection gets its own thread, so the server itself is never the bottleneck:
    how long a batch of requests takes depends only on how the *client* overlaps them.
    """

    name = "slow-echo"

    def __init__(self, delay: float = 0.05, **kw) -> None:
        super().__init__(**kw)
        self.delay = float(delay)

    def make_server(self, address):
        server = _Server(address, _SlowEchoHandler)
        server.delay = self.delay  # type: ignore[attr-defined]
        return server


def fetch(address: tuple[str, int], payload: bytes = b"ping\n", timeout: float = 10.0) -> bytes:
    """One blocking request to :class:`SlowEchoServer` (the thread waits in ``recv``)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.makefile("rb").readline()


async def afetch(address: tuple[str, int], payload: bytes = b"ping\n", timeout: float = 10.0) -> bytes:
    """The same request with asyncio streams (the event loop runs others while this one waits)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


# --------------------------------------------------------------------------------------
# Running coroutines, and which interpreter is this
def run_async(make_coro: Callable[[], Any]) -> Any:
    """``asyncio.run(make_coro())``, also from inside Jupyter.

    A Jupyter kernel already runs an event loop in the cell's thread, where
    ``asyncio.run`` refuses to start a second one; then the coroutine runs on a fresh loop
    in a helper thread, which is joined before this returns.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="course-asyncio-runner")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def gil_status() -> dict[str, object]:
    """Which CPython build is this, and is the GIL on right now?

    ``Py_GIL_DISABLED`` is 1 in a free-threaded build (PEP 703); ``sys._is_gil_enabled()``
    (3.13+) says whether the GIL is actually on, since a free-threaded build can re-enable
    it (``PYTHON_GIL=1``, ``-X gil=1``, or an extension that does not declare support).
    """
    build = sysconfig.get_config_var("Py_GIL_DISABLED")
    probe = getattr(sys, "_is_gil_enabled", None)
    return {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "free_threaded_build": bool(build),
        "gil_enabled": True if probe is None else bool(probe()),
        "can_ask_at_runtime": probe is not None,
    }


# --------------------------------------------------------------------------------------
# Timed runs
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """One measured run: ``tasks`` pieces of work done by ``workers`` with ``how``."""

    how: str  # "sequential", "threads", "processes", "asyncio"
    workers: int
    tasks: int
    seconds: float


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _process_pool(workers: int) -> ProcessPoolExecutor:
    # "spawn" behaves the same on Linux, macOS and Windows and never forks a process that
    # has threads running (a Jupyter kernel always has some).
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _warm(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start every worker before the clock starts, so start-up is not counted as work."""
    list(pool.map(_sleep, [0.0] * workers))


def time_io(tasks: int = 8, wait: float = 0.05, workers: tuple[int, ...] = (1, 2, 4, 8),
            process_workers: tuple[int, ...] = ()) -> list[Timing]:
    """``tasks`` waits of ``wait`` seconds, with thread pools of each size, process pools of
    each size in ``process_workers`` (started before the clock starts) and one asyncio loop."""
    out = [Timing("sequential", 1, tasks, _timed(lambda: [_sleep(wait) for _ in range(tasks)]))]
    for w in workers:
        with ThreadPoolExecutor(max_workers=w) as pool:
            out.append(Timing("threads", w, tasks, _timed(lambda: list(pool.map(_sleep, [wait] * tasks)))))
    if process_workers:
        with _own_resource_tracker():
            for w in process_workers:
                with _process_pool(w) as pool:
                    _warm(pool, w)
                    out.append(Timing("processes", w, tasks, _timed(lambda: list(pool.map(_sleep, [wait] * tasks)))))

    async def main() -> None:
        await asyncio.gather(*(asyncio.sleep(wait) for _ in range(tasks)))

    out.append(Timing("asyncio", tasks, tasks, _timed(lambda: run_async(main))))
    return out


def time_sockets(address: tuple[str, int], tasks: int = 8, workers: tuple[int, ...] = (1, 2, 4, 8)) -> list[Timing]:
    """``tasks`` requests to a :class:`SlowEchoServer`: sequential, thread pools, asyncio."""
    out = [Timing("sequential", 1, tasks, _timed(lambda: [fetch(address) for _ in range(tasks)]))]
    for w in workers:
        with ThreadPoolExecutor(max_workers=w) as pool:
            out.append(Timing("threads", w, tasks, _timed(lambda: list(pool.map(fetch, [address] * tasks)))))

    async def main() -> None:
        await asyncio.gather(*(afetch(address) for _ in range(tasks)))

    out.append(Timing("asyncio", tasks, tasks, _timed(lambda: run_async(main))))
    return out


@contextlib.contextmanager
def _own_resource_tracker():
    """Process pools started with "spawn" also start multiprocessing's resource tracker, a
    helper process that otherwise lives as long as this one. Stop it afterwards if it was
    started here, so a lesson leaves nothing running (it restarts on demand)."""
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    was_running = getattr(tracker, "_pid", None) is not None
    try:
        yield
    finally:
        stop = getattr(tracker, "_stop", None)
        if not was_running and stop is not None and getattr(tracker, "_pid", None) is not None:
            stop()


def time_cpu(tasks: int = 4, size: int = 300_000, workers: tuple[int, ...] = (1, 2, 4),
             process_workers: tuple[int, ...] | None = None) -> list[Timing]:
    """``tasks`` calls of :func:`cpu_work` with thread pools and process pools of each size.

    ``process_workers`` (default: ``workers``) lets a lesson start fewer process pools,
    since each new process costs a fraction of a second to start.
    """
    with _own_resource_tracker():
        return _time_cpu(tasks, size, workers, workers if process_workers is None else process_workers)


def _time_cpu(tasks: int, size: int, workers: tuple[int, ...], process_workers: tuple[int, ...]) -> list[Timing]:
    out = [Timing("sequential", 1, tasks, _timed(lambda: [cpu_work(size) for _ in range(tasks)]))]
    for w in workers:
        with ThreadPoolExecutor(max_workers=w) as pool:
            out.append(Timing("threads", w, tasks, _timed(lambda: list(pool.map(cpu_work, [size] * tasks)))))
    for w in process_workers:
        with _process_pool(w) as pool:
            _warm(pool, w)
            out.append(Timing("processes", w, tasks, _timed(lambda: list(pool.map(cpu_work, [size] * tasks)))))
    return out


@dataclass(frozen=True)
class CoreUse:
    """CPU-bound work done by ``workers`` threads or processes: the CPU seconds all workers
    spent on it, and the wall-clock seconds it took. ``cores`` = CPU seconds per wall second,
    the number of cores the work kept busy on average."""

    how: str  # "threads" or "processes"
    workers: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


def _at_most(pool, fn: Callable[[Any], float], args: list, limit: int) -> float:
    """Run ``fn`` over ``args`` on ``pool`` with at most ``limit`` calls in flight; sum the results.
    One pool of the largest size then serves every smaller worker count too."""
    from concurrent.futures import FIRST_COMPLETED, wait

    total, pending = 0.0, set()
    for a in args:
        pending.add(pool.submit(fn, a))
        if len(pending) >= limit:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            total += sum(f.result() for f in done)
    return total + sum(f.result() for f in pending)


def cores_used(tasks: int = 4, size: int = 1_000_000, workers: tuple[int, ...] = (1, 2),
               repeats: int = 3) -> list[CoreUse]:
    """How many cores CPU-bound pure Python keeps busy with threads and with processes.

    Robust on a loaded machine: the pools are started and warmed up (one untimed round)
    before any clock starts; each configuration runs ``repeats`` times and keeps its best
    round (the one that got the most CPU per wall second, i.e. was least disturbed); and the
    measure is CPU time per wall time, not a speed-up against a sequential run that load may
    slow down on its own. Load can only *lower* a round's cores, never raise them: with the
    GIL, threads cannot exceed one core however idle the machine, while processes can use as
    many cores as are free. ``w`` workers means at most ``w`` tasks in flight at once.
    """
    most = max(workers)
    out = []
    with _own_resource_tracker():
        for how in ("threads", "processes"):
            with (ThreadPoolExecutor(max_workers=most) if how == "threads" else _process_pool(most)) as pool:
                if how == "processes":
                    _warm(pool, most)
                _at_most(pool, cpu_work_timed, [size // 10] * most, most)        # warm-up round, not timed
                for w in workers:
                    best = None
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        cpu = _at_most(pool, cpu_work_timed, [size] * tasks, w)
                        run = CoreUse(how, w, cpu, time.perf_counter() - t0)
                        if best is None or run.cores > best.cores:
                            best = run
                    out.append(best)
    return out


def speedups(timings: list[Timing]) -> dict[str, list[tuple[int, float]]]:
    """Per method, ``(workers, speed-up over the sequential run)`` pairs."""
    base = next(t.seconds for t in timings if t.how == "sequential")
    out: dict[str, list[tuple[int, float]]] = {}
    for t in timings:
        if t.how != "sequential":
            out.setdefault(t.how, []).append((t.workers, base / t.seconds if t.seconds else float("inf")))
    return out
