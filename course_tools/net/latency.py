"""What one cache hit costs at each layer we can run on this machine (measured, not assumed).

Times are medians of many repetitions with ``time.perf_counter``; they are observations of
*this* machine, printed for the learner to compare, never used in a conclusion or a test.
"""

from __future__ import annotations

import http.client
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from course_tools.net.http import HTTPServer, Response
from course_tools.net.redis import RedisServer
from course_tools.sim.caches import LRUCache

__all__ = ["median_seconds", "measure_ladder", "sqlite_read_seconds"]


def median_seconds(op: Callable[[], object], repeat: int = 200) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def sqlite_read_seconds(repeat: int = 200, rows: int = 10_000) -> float:
    """Median seconds for one primary-key read from a real SQLite database file.

    A store, not a cache: a file on this machine's disk (its pages soon sit in the operating
    system's page cache), read through Python's ``sqlite3``; the file is removed afterwards.
    A database server across a network adds at least one round trip to this.
    """
    with tempfile.TemporaryDirectory(prefix="course-ladder-") as tmp:
        db = sqlite3.connect(Path(tmp) / "shop.db")
        try:
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
            db.executemany("INSERT INTO users VALUES (?, ?)", ((i, f"user-{i}") for i in range(rows)))
            db.commit()
            return median_seconds(lambda: db.execute("SELECT name FROM users WHERE id = ?", (42,)).fetchone(),
                                  repeat)
        finally:
            db.close()


def measure_ladder(repeat: int = 200) -> dict[str, float]:
    """Median seconds for one cache read at each layer, cheapest first."""
    out: dict[str, float] = {}
    plain = {"user:42": "alice"}
    out["dict in this process"] = median_seconds(lambda: plain.get("user:42"), repeat)
    lru = LRUCache(100)
    lru.put("user:42", "alice")
    out["LRUCache in this process"] = median_seconds(lambda: lru.get("user:42"), repeat)
    out["SQLite read by primary key (file)"] = sqlite_read_seconds(repeat)
    with RedisServer(tcp=True) as server:
        unix = server.client()
        unix.set("user:42", "alice")
        out["Redis GET, Unix socket"] = median_seconds(lambda: unix.get("user:42"), repeat)
        import redis as redis_py

        tcp = redis_py.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        try:
            out["Redis GET, TCP loopback"] = median_seconds(lambda: tcp.get("user:42"), repeat)
        finally:
            tcp.close()
    with HTTPServer(lambda req: Response.text(200, "alice")) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)

        def get() -> bytes:
            conn.request("GET", "/user/42")
            return conn.getresponse().read()

        try:
            out["HTTP GET, loopback keep-alive"] = median_seconds(get, repeat)
        finally:
            conn.close()
    return out
