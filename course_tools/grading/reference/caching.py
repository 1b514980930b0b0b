"""Checks for the Caching assessment (08_caching): a reference LRU and the probes hidden tests run.

Failure messages describe the behaviour that went wrong, never the test's data or source.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from course_tools.clock import VirtualClock
from course_tools.grading.checks import call_methods, fail as _fail
from course_tools.sim.caches import LRUCache as _ReferenceLRU

__all__ = ["CountingKey", "compare_with_reference", "check_constant_time", "check_ttl", "FakeDB", "FakeCache",
           "check_cache_aside"]


class CountingKey:
    """A key that counts hash and equality calls: a scan over the entries makes thousands."""

    calls = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        CountingKey.calls += 1
        return hash(self.n)

    def __eq__(self, other: object) -> bool:
        CountingKey.calls += 1
        return isinstance(other, CountingKey) and other.n == self.n

    def __repr__(self) -> str:
        return f"key{self.n}"


_MISSING = object()


def _same(got: Any, want: Any) -> bool:
    """Exact comparison on plain data: the same object, or the same exact type and value
    (never calls a method of something the student's code made)."""
    if got is want:
        return True
    return type(got) is type(want) and type(want) in (int, float, str, bytes, bool) and got == want


def compare_with_reference(cls: Callable[..., Any], *, seeds=(1, 2, 3), n_ops: int = 3000, question: object = "?") -> None:
    """Random get/put sequences (no TTL): every get and len() must agree with an exact LRU cache.
    The sequence does not depend on the answers, so a student's cache gets it in batches."""
    for seed in seeds:
        rng = random.Random(seed)
        capacity = rng.choice([1, 2, 5, 17, 64])
        mine, ref = cls(capacity), _ReferenceLRU(capacity)
        n_keys = capacity * rng.choice([2, 3, 5])
        calls: list = []
        for _ in range(n_ops):
            key = rng.randrange(n_keys)
            calls.append(("put", (key, rng.random())) if rng.random() < 0.5 else ("get", (key, _MISSING)))
            calls.append(("__len__", ()))
        got_all = call_methods(mine, calls)
        for j, ((name, args), got) in enumerate(zip(calls, got_all)):
            want = getattr(ref, name)(*args)
            i = j // 2
            if name == "get" and not _same(got, want):
                what = ("a key that should have been evicted was still there" if want is _MISSING else
                        "a key that should still be cached was missing" if got is _MISSING else
                        "a key returned an outdated value, or not the value that was put")
                _fail(question, f"a random sequence of puts and gets (capacity {capacity}) went wrong after "
                                f"{i + 1} operations: {what}. Check which entry you evict and what a get "
                                "does to recency.")
            if name == "__len__" and (type(got) is not int or got != want):
                _fail(question, f"len() was {got!r} where an LRU cache of capacity {capacity} holds {want}.")


def _cpu_per_op(make: Callable[[int], Any], capacity: int, ops: int, repeats: int, budget: float = 0.4) -> float:
    """Best-of-``repeats`` CPU seconds per operation of a cache holding ``capacity`` entries: puts of
    new keys (each evicts the least recently used entry), then gets of the most recent keys, in
    chunks until ``ops`` of each or ``budget`` CPU seconds (a scan makes that happen early). A
    student's cache is measured in the student's process by the kernel (the jail's CPU time), the
    loop running there; a local class with ``time.process_time``."""
    import time

    from course_tools.grading.clean import current_student

    best = float("inf")
    for _ in range(repeats):
        cache = make(capacity)
        remote = hasattr(type(cache), "_repeat")
        student = current_student() if remote else None
        if remote and student is None:
            raise RuntimeError("a student's cache can only be measured while grading")
        clock = student.cpu_seconds if student is not None else time.process_time

        def loop(name: str, start: int, stop: int, arity: int) -> None:
            if remote:
                cache._repeat(name, start, stop, arity)
            else:
                method = getattr(cache, name)
                for i in range(start, stop):
                    method(i) if arity == 1 else method(i, i)

        loop("put", 0, capacity, 2)                      # fill: not measured
        done, t0, chunk, start = 0, clock(), 64, capacity
        while done < 2 * ops and clock() - t0 <= budget:   # chunks double while cheap: few round trips
            c0 = clock()
            loop("put", start, start + chunk, 2)
            loop("get", start + chunk - min(chunk, capacity), start + chunk, 1)
            done += chunk + min(chunk, capacity)
            start += chunk
            if clock() - c0 < 0.05:
                chunk = min(chunk * 2, 20_000)
        best = min(best, (clock() - t0) / done)
        if remote:
            cache._release()
        del cache
    return best


def check_constant_time(cls: Callable[..., Any], *, question: object = "?", small: int = 1_000,
                        large: int = 60_000, ops: int = 30_000, repeats: int = 3) -> None:
    """get/put must cost about the same per operation at 1,000 and at 60,000 entries (CPU time,
    best of 3), and at 60,000 entries no more than a generous multiple of the reference LRU's cost
    measured the same way (so that slowing the small case down cannot hide a scan)."""
    hint = ("Hint: a dict plus an order that can move an entry in O(1), like collections.OrderedDict or a "
            "doubly linked list.")
    ref_large = _cpu_per_op(_ReferenceLRU, large, ops, repeats)
    limit = 25 * ref_large + 2e-6
    mine_large = _cpu_per_op(cls, large, ops, 1)          # one run first: a scan shows at once
    if mine_large <= 4 * limit:
        mine_large = min(mine_large, _cpu_per_op(cls, large, ops, repeats - 1)) if repeats > 1 else mine_large
    if mine_large > limit:
        _fail(question, f"at {large:,} entries each get/put took about {mine_large * 1e6:.0f} µs of CPU, far more "
                        f"than an O(1) design (about {ref_large * 1e6:.1f} µs here): does eviction or a get scan the "
                        f"entries (list.pop(0), list.remove, min(...))? {hint}")
    mine_small = _cpu_per_op(cls, small, ops, repeats)
    if mine_large > 5 * max(mine_small, ref_large):
        _fail(question, f"each get/put cost about {mine_small * 1e6:.1f} µs at {small:,} entries but "
                        f"{mine_large * 1e6:.1f} µs at {large:,}: the cost grows with the number of entries, so "
                        f"something scans them. {hint}")


def check_ttl(cls: Callable[..., Any], *, question: object = "?") -> None:
    """Entries expire ``ttl`` seconds after their last put; gets do not extend them."""
    clock = VirtualClock()
    cache = cls(10, ttl=5.0, clock=clock)
    cache.put("a", 1)
    clock.advance(5.0)
    if cache.get("a", _MISSING) is not _MISSING:
        _fail(question, "an entry was still returned when exactly ttl seconds had passed (expired means clock() >= put time + ttl).")
    cache.put("b", 2)
    clock.advance(3)
    if cache.get("b") != 2:
        _fail(question, "an entry disappeared before its ttl had passed.")
    clock.advance(2)
    if cache.get("b", _MISSING) is not _MISSING:
        _fail(question, "reading an entry must not extend its lifetime; only put does.")
    cache.put("e", 6)
    clock.advance(4.999)
    if cache.get("e") != 6:
        _fail(question, "an entry disappeared before its ttl had passed.")
    cache.put("c", 3)
    clock.advance(3)
    cache.put("c", 4)
    clock.advance(3)
    if cache.get("c") != 4:
        _fail(question, "putting a key again must store the new value and restart its ttl.")
    cache.put("d", 5)
    clock.advance(10)
    if len(cache) != 0:
        _fail(question, "len() must not count expired entries.")


class FakeDB:
    """A database double that records calls in order (shared log with FakeCache)."""

    def __init__(self, rows: dict, log: list) -> None:
        self.rows, self.log = dict(rows), log

    def load(self, product_id):
        self.log.append(("db.load", product_id))
        return self.rows.get(product_id)

    def save(self, product_id, fields: dict):
        self.log.append(("db.save", product_id))
        self.rows[product_id] = {**self.rows.get(product_id, {}), **fields}


class FakeCache:
    """A cache double with a Redis-like interface: get, set(key, value, ex=None), delete."""

    def __init__(self, log: list) -> None:
        self.data: dict = {}
        self.ttls: dict = {}
        self.log = log

    def get(self, key):
        self.log.append(("cache.get", key))
        return self.data.get(key)

    def set(self, key, value, ex=None):
        self.log.append(("cache.set", key))
        self.data[key] = value
        self.ttls[key] = ex

    def delete(self, key):
        self.log.append(("cache.delete", key))
        self.data.pop(key, None)


def check_cache_aside(get_product, update_product, *, question: object = "?") -> None:
    """Hidden checks: ttl passed, store written before the cache is invalidated, fresh after update."""
    log: list = []
    db, cache = FakeDB({7: {"name": "kettle", "price": 30}}, log), FakeCache(log)
    first = get_product(7, cache, db, ttl=90)
    if first != {"name": "kettle", "price": 30}:
        _fail(question, "get_product must return what the database holds for that product.")
    if cache.ttls.get("product:7") != 90:
        _fail(question, "cache the product under 'product:<id>' with the ttl you were given (set(key, value, ex=ttl)).")
    log.clear()
    update_product(7, {"price": 25}, cache, db)
    ops = [op for op, _ in log]
    if "db.save" not in ops or "cache.delete" not in ops:
        _fail(question, "update_product must save to the database and invalidate the cached copy.")
    if "cache.set" in ops:
        _fail(question, "cache-aside invalidates on write; it does not write the cache.")
    if ops.index("cache.delete") < ops.index("db.save"):
        _fail(question, "invalidate AFTER saving: deleting first lets a concurrent reader refill the cache "
                        "with the old row before your save lands.")
    if get_product(7, cache, db, ttl=90) != {"name": "kettle", "price": 25}:
        _fail(question, "after an update, the next read must see the new data.")
    log.clear()
    if get_product(404, cache, db, ttl=90) is not None:
        _fail(question, "a product that does not exist should give None.")
