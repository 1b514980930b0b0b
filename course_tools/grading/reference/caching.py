"""Checks for the Caching assessment (08_caching): a reference LRU and the probes hidden tests run.

Failure messages describe the behaviour that went wrong, never the test's data or source.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from course_tools.clock import VirtualClock
from course_tools.grading.checks import fail as _fail
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


def compare_with_reference(cls: Callable[..., Any], *, seeds=(1, 2, 3), n_ops: int = 3000, question: object = "?") -> None:
    """Random get/put sequences (no TTL): every get must agree with an exact LRU cache."""
    for seed in seeds:
        rng = random.Random(seed)
        capacity = rng.choice([1, 2, 5, 17, 64])
        mine, ref = cls(capacity), _ReferenceLRU(capacity)
        n_keys = capacity * rng.choice([2, 3, 5])
        for i in range(n_ops):
            key = rng.randrange(n_keys)
            if rng.random() < 0.5:
                value = rng.random()
                mine.put(key, value)
                ref.put(key, value)
            else:
                got, want = mine.get(key, _MISSING), ref.get(key, _MISSING)
                if got is not want and got != want:
                    what = ("a key that should have been evicted was still there" if want is _MISSING else
                            "a key that should still be cached was missing" if got is _MISSING else
                            "a key returned an outdated value")
                    _fail(question, f"a random sequence of puts and gets (capacity {capacity}) went wrong after "
                                    f"{i + 1} operations: {what}. Check which entry you evict and what a get "
                                    "does to recency.")
            if len(mine) != len(ref):
                _fail(question, f"len() was {len(mine)} where an LRU cache of capacity {capacity} holds {len(ref)}.")


def check_constant_time(cls: Callable[..., Any], *, question: object = "?") -> None:
    """get/put must not scan the entries: count key hash/eq calls per operation."""
    cache = cls(2000)
    keys = [CountingKey(i) for i in range(6000)]
    for k in keys[:2000]:
        cache.put(k, 1)
    CountingKey.calls = 0
    for k in keys[2000:3000]:
        cache.put(k, 1)      # each put evicts
        cache.get(k)
        cache.get(keys[0])
    per_op = CountingKey.calls / 3000
    if per_op > 20:
        _fail(question, f"each get/put compared or hashed keys about {per_op:.0f} times on a cache of 2000 entries; "
                        "an O(1) design touches a constant number (hint: a dict plus an order that can move an "
                        "entry to the end in O(1), like collections.OrderedDict or a doubly linked list).")


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
    """Hidden checks: ttl passed, store written before the cache is invalidated, fresh after update,
    and nothing cached for a product the database does not have.

    Works when the student's functions are proxies: they are called with plain data and
    test-owned fakes, and only plain results and the fakes' own records are judged."""
    log: list = []
    db, cache = FakeDB({7: {"name": "kettle", "price": 30}}, log), FakeCache(log)
    first = get_product(7, cache, db, ttl=90)
    if type(first) is not dict or first != {"name": "kettle", "price": 30}:
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
    fresh = get_product(7, cache, db, ttl=90)
    if type(fresh) is not dict or fresh != {"name": "kettle", "price": 25}:
        _fail(question, "after an update, the next read must see the new data.")
    log.clear()
    if get_product(404, cache, db, ttl=90) is not None:
        _fail(question, "a product that does not exist should give None.")
    # judged on what the test-owned fake cache was asked to do, never on an object the student made
    if "product:404" in cache.data or ("cache.set", "product:404") in log:
        _fail(question, "do not cache a missing product: when the database has no row, cache nothing "
                        "(a cached None would hide the product once it is created).")
