"""Benchmark: cost of LFUCache.put() when the cache holds many distinct use counts.

Run: ``make bench-caches`` (or ``.venv/bin/python benchmarks/caches.py``). Not a test:
it prints timings as observations (best of several repeats, so a loaded machine inflates
them less), and asserts nothing.

The case that exposed a hidden scan: 1,500 keys with distinct odd use counts 3..3,001,
then a stream of new keys, each evicting the previous new key (count 1). After each
eviction no key has count 1 or 2, so the next minimum is not "the old one + 1"; an LFU that finds the next minimum by ``min()`` over
the counts pays O(distinct counts) per put, an O(1) LFU (Shah, Mitra & Matani 2010) does not.
"""

from __future__ import annotations

import argparse
import time

from course_tools.sim.caches import LFUCache, LRUCache


def build(distinct: int) -> LFUCache:
    c = LFUCache(distinct + 1)
    for i in range(distinct):
        c.put(("hot", i), i)
        for _ in range(2 * i + 2):  # counts 3, 5, 7, ...: no key ever has count 2
            c.get(("hot", i))
    return c


def per_put_us(cache, n: int, repeats: int) -> float:
    best = float("inf")
    serial = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            serial += 1
            cache.put(("new", serial), serial)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--puts", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"put() cost, best of {args.repeats} x {args.puts} evicting puts (microseconds per put)")
    for distinct in (1, 100, 1500):
        lfu = per_put_us(build(distinct), args.puts, args.repeats)
        print(f"  LFU with {distinct:>5} distinct use counts: {lfu:6.2f} us")
    lru = LRUCache(1501)
    for i in range(1501):
        lru.put(i, i)
    print(f"  LRU (reference, 1501 entries):        {per_put_us(lru, args.puts, args.repeats):6.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
