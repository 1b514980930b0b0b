"""Work functions that the concurrency lesson hands to thread and process pools.

A process pool started with "spawn" pickles a function *by name* and each new worker
process imports its module. This module imports nothing heavy, so a worker starts in a
fraction of a second (importing ``course_tools.net`` instead would pull in the HTTP and
Redis helpers and double the start-up time).
"""

from __future__ import annotations

import time

__all__ = ["cpu_work", "cpu_work_timed", "sleep_for"]


def cpu_work(n: int) -> int:
    """Pure-Python arithmetic that holds the interpreter for a while (CPU-bound)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def cpu_work_timed(n: int) -> float:
    """:func:`cpu_work`, returning the CPU seconds *this thread* spent on it
    (``time.thread_time``: only this thread's CPU time, whether it runs in a pool thread or
    in a worker process)."""
    t0 = time.thread_time()
    cpu_work(n)
    return time.thread_time() - t0


def sleep_for(seconds: float) -> float:
    """Wait without using the CPU (I/O-bound stand-in); returns ``seconds``."""
    time.sleep(seconds)
    return seconds
