"""Do the Caching assessment's hidden checks catch the mistakes learners make?

Each probe must accept a correct implementation and reject a specific wrong one, with a
message that names the behaviour, not the test data.
"""

import time
from collections import OrderedDict

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference.caching import (
    check_cache_aside, check_constant_time, check_ttl, compare_with_reference,
)


class GoodLRU:
    def __init__(self, capacity, ttl=None, clock=time.monotonic):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError
        self.capacity, self.ttl, self.clock, self.d = capacity, ttl, clock, OrderedDict()

    def _alive(self, k):
        return self.d[k][1] is None or self.clock() < self.d[k][1]

    def get(self, key, default=None):
        if key not in self.d or not self._alive(key):
            self.d.pop(key, None)
            return default
        self.d.move_to_end(key)
        return self.d[key][0]

    def put(self, key, value):
        if key in self.d:
            self.d.move_to_end(key)
        elif len(self.d) >= self.capacity:
            self.d.popitem(last=False)
        self.d[key] = (value, None if self.ttl is None else self.clock() + self.ttl)

    def __len__(self):
        return sum(1 for k in self.d if self._alive(k))


class FIFOInsteadOfLRU(GoodLRU):
    def get(self, key, default=None):
        if key not in self.d or not self._alive(key):
            return default
        return self.d[key][0]  # forgets to refresh recency


class ListLRU:
    """Correct results, O(n) operations."""

    def __init__(self, capacity, ttl=None, clock=time.monotonic):
        self.capacity, self.keys, self.vals = capacity, [], {}

    def get(self, key, default=None):
        if key not in self.vals:
            return default
        self.keys.remove(key)
        self.keys.append(key)
        return self.vals[key]

    def put(self, key, value):
        if key in self.vals:
            self.keys.remove(key)
        elif len(self.keys) >= self.capacity:
            del self.vals[self.keys.pop(0)]
        self.keys.append(key)
        self.vals[key] = value

    def __len__(self):
        return len(self.keys)


class SlidingTTL(GoodLRU):
    def get(self, key, default=None):
        value = super().get(key, default)
        if key in self.d:
            self.d[key] = (self.d[key][0], self.clock() + self.ttl)  # extends on read: wrong
        return value


def test_a_correct_lru_passes_every_probe():
    compare_with_reference(GoodLRU, question=8)
    check_constant_time(GoodLRU, question=8)
    check_ttl(GoodLRU, question=8)


def test_fifo_is_caught_by_the_random_comparison():
    with pytest.raises(AnswerError, match="went wrong after"):
        compare_with_reference(FIFOInsteadOfLRU, question=8)


def test_a_scanning_lru_is_caught_by_the_o1_probe():
    compare_with_reference(ListLRU, question=8)  # right answers...
    with pytest.raises(AnswerError, match="O\\(1\\)"):
        check_constant_time(ListLRU, question=8)  # ...in O(n)


def test_a_sliding_ttl_is_caught():
    with pytest.raises(AnswerError, match="must not extend"):
        check_ttl(SlidingTTL, question=8)


def _good_get(pid, cache, db, ttl=60):
    v = cache.get(f"product:{pid}")
    if v is None:
        v = db.load(pid)
        if v is not None:
            cache.set(f"product:{pid}", v, ex=ttl)
    return v


def _good_update(pid, fields, cache, db):
    db.save(pid, fields)
    cache.delete(f"product:{pid}")


def _delete_first(pid, fields, cache, db):
    cache.delete(f"product:{pid}")
    db.save(pid, fields)


def _write_cache(pid, fields, cache, db):
    db.save(pid, fields)
    cache.set(f"product:{pid}", db.rows[pid])


def test_cache_aside_probe():
    check_cache_aside(_good_get, _good_update, question=7)
    with pytest.raises(AnswerError, match="AFTER saving"):
        check_cache_aside(_good_get, _delete_first, question=7)
    with pytest.raises(AnswerError, match="invalidate"):
        check_cache_aside(_good_get, _write_cache, question=7)
    with pytest.raises(AnswerError, match="ttl"):
        check_cache_aside(lambda pid, cache, db, ttl=60: _good_get(pid, cache, db, ttl=None), _good_update, question=7)


def _caches_missing(pid, cache, db, ttl=60):
    """The naive answer: caches whatever the database returned, None included."""
    v = cache.get(f"product:{pid}")
    if v is None:
        v = db.load(pid)
        cache.set(f"product:{pid}", v, ex=ttl)
    return v


def _as_plain_data(f):
    """What a proxy for a student function delivers: results copied out as plain data, no shared objects."""
    import copy

    return lambda *a, **kw: copy.deepcopy(f(*a, **kw))


def test_caching_a_missing_product_loses_the_point():
    """Task 7's 'not if the product does not exist' is graded: the naive cache-everything answer fails."""
    with pytest.raises(AnswerError, match="do not cache a missing product"):
        check_cache_aside(_caches_missing, _good_update, question=7)


def test_cache_aside_probe_judges_plain_results_only():
    """Under the grading boundary the student's functions are proxies: the check still passes a right
    answer and still catches the missing-product bug when results arrive as copies."""
    check_cache_aside(_as_plain_data(_good_get), _as_plain_data(_good_update), question=7)
    with pytest.raises(AnswerError, match="do not cache a missing product"):
        check_cache_aside(_as_plain_data(_caches_missing), _as_plain_data(_good_update), question=7)
