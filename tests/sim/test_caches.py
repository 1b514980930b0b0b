"""Cache policies: one shared invariant suite every policy passes, then each policy's own rule."""

from __future__ import annotations

import random

import pytest

from course_tools.clock import VirtualClock
from course_tools.grading.reference.caching import CountingKey
from course_tools.sim import traces
from course_tools.sim.caches import (
    FIFOCache, LFUCache, LRUCache, RandomCache, SampledLRUCache, TTLCache, hit_rate, replay,
)


class CacheInvariants:
    """Every policy must pass these (cachetools-style shared mixin)."""

    max_calls_per_op = 40  # hash/eq calls; a policy that scans its entries makes thousands
    # which of "a" (re-put after expiring, so a fresh insert) and "b" (live, used 3 times)
    # the policy evicts next in test_put_on_an_expired_key_is_a_fresh_insert; None: random
    victim_after_fresh_reinsert: str | None = "b"

    def make(self, capacity: int, **kw):
        raise NotImplementedError

    def test_rejects_bad_capacity(self):
        with pytest.raises(ValueError):
            self.make(0)

    def test_get_after_put_and_default_on_miss(self):
        c = self.make(3)
        assert c.get("a", "dflt") == "dflt" and c.misses == 1
        c.put("a", 1)
        assert c.get("a") == 1 and c.hits == 1
        assert "a" in c and "b" not in c

    def test_never_exceeds_capacity(self, rng):
        c = self.make(10)
        for _ in range(2000):
            c.put(rng.randrange(50), 0)
            assert len(c) <= 10
        assert len(c) == 10 and c.evictions > 0

    def test_update_does_not_evict(self):
        c = self.make(2)
        c.put("a", 1)
        c.put("b", 2)
        c.put("a", 3)
        assert c.evictions == 0 and c.get("a") == 3 and c.get("b") == 2

    def test_delete_invalidates(self):
        c = self.make(2)
        c.put("a", 1)
        assert c.delete("a") and not c.delete("a")
        assert c.get("a") is None and len(c) == 0

    def test_counters_add_up_on_a_replay(self, rng):
        trace = traces.zipf(100, 3000, rng=rng)
        c = replay(self.make(20), trace)
        assert c.hits + c.misses == len(trace)
        assert len(c) + c.evictions + c.expirations == c.misses  # every miss inserted once

    def test_ttl_expires_on_the_clock(self, clock):
        c = self.make(5, ttl=10, clock=clock)
        c.put("a", 1)
        clock.advance(9.99)
        assert c.get("a") == 1
        clock.advance(0.01)
        assert c.get("a") is None and c.expirations == 1 and "a" not in c

    def test_len_does_not_count_expired_entries(self, clock):
        """len() agrees with `in` and keys(): an expired entry is not in the cache."""
        c = self.make(5, ttl=10, clock=clock)
        c.put("a", 1)
        clock.advance(5)
        c.put("b", 2)
        clock.advance(5)  # a expires now, b at t = 15
        assert "a" not in c and c.keys() == ["b"] and len(c) == 1
        clock.advance(5)
        assert len(c) == 0 and c.keys() == [] and c.expirations == 2

    def test_delete_of_an_expired_key_returns_false(self, clock):
        """delete() says True only when it removed something a reader could still see."""
        c = self.make(5, ttl=10, clock=clock)
        c.put("a", 1)
        clock.advance(10)
        assert c.delete("a") is False and c.expirations == 1 and len(c) == 0

    def test_put_on_an_expired_key_is_a_fresh_insert(self, clock):
        """Re-putting an expired key is an insert: old use counts and queue positions are gone."""
        c = self.make(2, ttl=10, clock=clock)
        c.put("a", 1)
        for _ in range(5):
            c.get("a")  # a is used a lot and is the oldest write...
        clock.advance(6)
        c.put("b", 2)
        c.get("b"), c.get("b")
        clock.advance(4)  # ...then expires (t = 10); b lives until t = 16
        c.put("a", 3)
        assert c.expirations == 1 and c.evictions == 0 and c.get("a") == 3 and len(c) == 2
        c.put("c", 4)  # full: one of a, b goes
        assert c.evictions == 1 and "c" in c
        if self.victim_after_fresh_reinsert is not None:
            survivor = "a" if self.victim_after_fresh_reinsert == "b" else "b"
            assert self.victim_after_fresh_reinsert not in c and survivor in c

    def test_counters_add_up_with_expiry(self, rng, clock):
        """Every insert ends as exactly one of: live entry, eviction, expiration, successful delete."""
        c = self.make(8, ttl=7, clock=clock)
        inserts = deletes = 0
        for _ in range(3000):
            key = rng.randrange(30)
            if c.get(key, None) is None:
                c.put(key, 1)
                inserts += 1
            if rng.random() < 0.05:
                deletes += c.delete(rng.randrange(30))
            clock.advance(rng.random())
        assert inserts == len(c) + c.evictions + c.expirations + deletes
        assert len(c) == len(c.keys()) == sum(1 for k in range(30) if k in c) <= 8

    def test_operations_are_constant_time(self):
        """get/put hash each key a bounded number of times, whatever the size (no scans)."""
        c = self.make(5000)
        keys = [CountingKey(i) for i in range(20000)]
        for k in keys[:5000]:
            c.put(k, 1)
        CountingKey.calls = 0
        for k in keys[5000:6000]:  # each put evicts one entry
            c.put(k, 1)
            c.get(k)
            c.get(keys[0])
        assert CountingKey.calls / 1000 < self.max_calls_per_op, f"{CountingKey.calls / 1000:.0f} hash/eq calls per operation"


class TestLRU(CacheInvariants):
    def make(self, capacity, **kw):
        return LRUCache(capacity, **kw)

    def test_evicts_least_recently_used(self):
        c = self.make(2)
        c.put("a", 1)
        c.put("b", 2)
        c.get("a")
        c.put("c", 3)
        assert c.keys() == ["a", "c"]


class TestFIFO(CacheInvariants):
    def make(self, capacity, **kw):
        return FIFOCache(capacity, **kw)

    def test_hits_do_not_save_the_oldest(self):
        c = self.make(2)
        c.put("a", 1)
        c.put("b", 2)
        c.get("a")
        c.put("c", 3)
        assert sorted(c.keys()) == ["b", "c"]


class TestLFU(CacheInvariants):
    victim_after_fresh_reinsert = "a"  # count restarted at 1; b has 3

    def make(self, capacity, **kw):
        return LFUCache(capacity, **kw)

    def test_count_list_stays_sorted_with_the_minimum_at_its_head(self, rng, clock):
        """The O(1) structure: counts strictly increase along the list, no empty node, head = min."""
        c = self.make(40, ttl=50, clock=clock)
        for _ in range(5000):
            op, key = rng.random(), rng.randrange(120)
            if op < 0.6:
                c.get(key)
            elif op < 0.95:
                c.put(key, 1)
            else:
                c.delete(key)
            clock.advance(rng.random())
            node, counts = c._head, []
            while node is not None:
                assert node.keys and (node.next is None or node.next.prev is node)
                counts.append(node.count)
                assert all(c._node[k] is node for k in node.keys)
                node = node.next
            assert counts == sorted(set(counts))
            live = [c.frequency(k) for k in c.keys()]
            assert not live or counts[0] == min(live)

    def test_evicts_least_frequently_used_then_least_recent(self):
        c = self.make(3)
        for k in "abc":
            c.put(k, k)
        c.get("a"), c.get("a"), c.get("b")
        c.put("d", "d")  # c has count 1: evicted
        assert sorted(c.keys()) == ["a", "b", "d"]
        c.put("e", "e")  # d (count 1) goes before b (count 2)
        assert sorted(c.keys()) == ["a", "b", "e"]
        assert c.frequency("a") == 3

    def test_min_count_recovers_after_arbitrary_delete(self):
        c = self.make(3)
        for k in "abc":
            c.put(k, k)
            c.get(k)
        c.get("a")
        c.delete("b"), c.delete("c")
        c.put("x", 1)
        c.put("y", 1)
        c.put("z", 1)  # evicts x (count 1), not a (count 3)
        assert "a" in c and "x" not in c


class TestTTL(CacheInvariants):
    def make(self, capacity, ttl=1000.0, clock=None, **kw):
        return TTLCache(capacity, ttl=ttl, clock=clock or VirtualClock(), **kw)

    def test_needs_a_ttl(self):
        with pytest.raises(TypeError):
            TTLCache(3)

    def test_evicts_the_entry_closest_to_expiry(self, clock):
        c = self.make(2, ttl=10, clock=clock)
        c.put("a", 1)
        clock.advance(1)
        c.put("b", 2)
        clock.advance(1)
        c.get("a")  # reading does not extend a ttl
        c.put("c", 3)
        assert sorted(c.keys()) == ["b", "c"]


class TestRandom(CacheInvariants):
    victim_after_fresh_reinsert = None

    def make(self, capacity, **kw):
        return RandomCache(capacity, rng=random.Random(7), **kw)

    def test_same_seed_same_victims(self, rng):
        trace = traces.zipf(100, 2000, rng=rng)
        a = replay(RandomCache(10, rng=random.Random(3)), trace)
        b = replay(RandomCache(10, rng=random.Random(3)), trace)
        assert a.keys() == b.keys() and a.hits == b.hits


class TestSampledLRU(CacheInvariants):
    max_calls_per_op = 250  # O(samples + pool), independent of the number of entries
    victim_after_fresh_reinsert = None  # samples: with 2 entries it may pick either

    def make(self, capacity, **kw):
        return SampledLRUCache(capacity, rng=random.Random(7), **kw)

    def test_more_samples_approach_exact_lru(self):
        """Redis's claim: with more samples the approximation gets closer to true LRU."""
        trace = traces.shifting_hot_set(2000, 20000, rng=random.Random(5))
        exact = hit_rate(LRUCache, trace, 100)
        errors = [abs(exact - hit_rate(lambda c, s=s: SampledLRUCache(c, samples=s, pool=0, rng=random.Random(1)),
                                       trace, 100)) for s in (1, 3, 10)]
        assert errors[0] > errors[1] > errors[2]


def test_policies_differ_on_the_traces_built_for_it():
    """The lesson's claims: LFU resists scans, LRU adapts to a shifting hot set."""
    r = random.Random(2026)
    scan = traces.scan_over_hot_set(300, 20000, rng=r)
    shift = traces.shifting_hot_set(2000, 20000, rng=r)
    assert hit_rate(LFUCache, scan, 100) > hit_rate(LRUCache, scan, 100) > hit_rate(FIFOCache, scan, 100)
    assert hit_rate(LRUCache, shift, 50) > hit_rate(FIFOCache, shift, 50) > hit_rate(LFUCache, shift, 50)


def test_traces_are_reproducible():
    assert traces.zipf(50, 100, rng=random.Random(1)) == traces.zipf(50, 100, rng=random.Random(1))
    assert traces.scan_over_hot_set(10, 100, scan_every=20, scan_length=5, rng=random.Random(1))[20:25] == [
        "scan0-0", "scan0-1", "scan0-2", "scan0-3", "scan0-4"]


def test_on_evict_sees_evicted_entries_only(clock):
    seen = []
    c = LRUCache(2, ttl=5, clock=clock, on_evict=lambda k, v: seen.append((k, v)))
    c.put("a", 1)
    c.put("b", 2)
    c.put("c", 3)
    assert seen == [("a", 1)]
    clock.advance(5)
    c.put("d", 4)  # b and c have expired: expirations, not evictions
    assert seen == [("a", 1)] and c.expirations == 2
