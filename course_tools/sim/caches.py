"""Cache eviction policies, each with O(1) ``get`` and ``put`` where the policy allows.

Every policy shares one interface (:class:`Cache`): a fixed ``capacity`` in entries, an
optional time-to-live ``ttl`` checked against ``clock`` (any zero-argument callable, e.g.
a :class:`course_tools.clock.VirtualClock`), and counters ``hits``, ``misses``,
``evictions`` and ``expirations``. Policies differ only in which entry they evict:

=============  ================================================  ===================
policy         evicts                                            cost per operation
=============  ================================================  ===================
LRU            the least recently used entry                     O(1)
LFU            the least frequently used (ties: least recent)    O(1)
FIFO           the oldest inserted entry, hits change nothing    O(1)
TTL            the entry closest to expiry (requires ``ttl``)    O(1)
SampledLRU     the oldest of ``samples`` random entries (Redis)  O(samples)
Random         a random entry                                    O(1)
=============  ================================================  ===================

An expired entry is gone for every observer: ``in``, ``keys()``, ``len()`` and ``get`` do
not see it, ``delete`` of it returns False, and ``put`` of its key is a fresh insert (LFU's
count restarts at 1, FIFO's position is the newest). Expired entries are removed lazily:
when read, and, since every entry of a cache shares one ``ttl``, the expired ones are
exactly the oldest writes, which ``put``, ``len`` and ``keys`` drop from the front of a
write-time order before doing anything else (amortised O(1); an expired entry is never
the reason a live one is evicted). Redis also expires passively, on access, plus an
active background sweep (redis.io "EXPIRE", section "How Redis expires keys").

Inspired by cachetools (``TTLCache(..., timer=)``), whose design of time as a parameter
these classes follow.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterable

__all__ = [
    "Cache", "LRUCache", "LFUCache", "FIFOCache", "TTLCache", "SampledLRUCache", "RandomCache",
    "POLICIES", "replay", "hit_rate",
]

_MISSING = object()


class Cache:
    """Base class: a bounded key-value cache with optional TTL. Subclasses choose the victim."""

    name = "cache"

    def __init__(self, capacity: int, *, ttl: float | None = None, clock: Callable[[], float] | None = None,
                 on_evict: Callable[[Hashable, Any], None] | None = None) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        if ttl is not None and clock is None:
            raise ValueError("a ttl needs a clock (pass clock=VirtualClock() or time.monotonic)")
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self.on_evict = on_evict  # called as on_evict(key, value) for evicted (not expired) entries
        self._data: dict[Hashable, Any] = {}
        self._expires: OrderedDict[Hashable, float] = OrderedDict()  # write order = expiry order
        self.hits = self.misses = self.evictions = self.expirations = 0

    # -- the interface ------------------------------------------------------------------
    def __len__(self) -> int:
        self._purge_expired()
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data and not self._expired(key)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value, or ``default`` on a miss (counted). A hit updates the policy's order."""
        value = self._data.get(key, _MISSING)
        if value is _MISSING or self._expire_if_due(key):
            self.misses += 1
            return default
        self.hits += 1
        self._on_hit(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Insert or update; evicts one entry when a new key would exceed ``capacity``.

        An expired key is not updated: it is removed (an expiration) and inserted afresh.
        """
        self._purge_expired()
        if key in self._data:
            self._data[key] = value
            self._on_update(key)
        else:
            while len(self._data) >= self.capacity:
                self._evict_one()
            self._data[key] = value
            self._on_insert(key)
        if self.ttl is not None:
            self._expires[key] = self.clock() + self.ttl
            self._expires.move_to_end(key)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key`` (invalidation); True if it was there and had not expired."""
        if key not in self._data or self._expire_if_due(key):
            return False
        self._remove(key)
        return True

    def keys(self) -> list[Hashable]:
        self._purge_expired()
        return list(self._data)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(capacity={self.capacity}, size={len(self)}, hits={self.hits}, "
                f"misses={self.misses}, evictions={self.evictions})")

    # -- TTL ------------------------------------------------------------------------------
    def _expired(self, key: Hashable) -> bool:
        exp = self._expires.get(key)
        return exp is not None and self.clock() >= exp

    def _expire_if_due(self, key: Hashable) -> bool:
        if self._expired(key):
            self._remove(key)
            self.expirations += 1
            return True
        return False

    def _purge_expired(self) -> None:
        """Drop every expired entry: they are the oldest writes, at the front of ``_expires``."""
        if self.ttl is None:
            return
        now = self.clock()
        while self._expires:
            key, exp = next(iter(self._expires.items()))
            if now < exp:
                break
            self._remove(key)
            self.expirations += 1

    def _evict_one(self) -> None:
        victim = self._victim()  # never an expired entry: put() purged those first
        self.evictions += 1
        if self.on_evict is not None:
            self.on_evict(victim, self._data[victim])
        self._remove(victim)

    def _remove(self, key: Hashable) -> None:
        del self._data[key]
        self._expires.pop(key, None)
        self._on_remove(key)

    # -- what a policy implements ------------------------------------------------------------
    def _on_hit(self, key: Hashable) -> None: ...
    def _on_update(self, key: Hashable) -> None: self._on_hit(key)
    def _on_insert(self, key: Hashable) -> None: ...
    def _on_remove(self, key: Hashable) -> None: ...
    def _victim(self) -> Hashable: raise NotImplementedError


class LRUCache(Cache):
    """Evicts the least recently used entry: an ordered dict, most recent at the end."""

    name = "LRU"

    def __init__(self, capacity: int, **kw: Any) -> None:
        super().__init__(capacity, **kw)
        self._order: OrderedDict[Hashable, None] = OrderedDict()

    def _on_hit(self, key): self._order.move_to_end(key)
    def _on_insert(self, key): self._order[key] = None
    def _on_remove(self, key): del self._order[key]
    def _victim(self): return next(iter(self._order))


class FIFOCache(LRUCache):
    """Evicts the oldest inserted entry; reads do not change the order."""

    name = "FIFO"

    def _on_hit(self, key): pass
    def _on_update(self, key): pass


class TTLCache(LRUCache):
    """Entries live ``ttl`` seconds; when full, evicts the entry closest to expiry.

    With one ttl for all entries, "closest to expiry" is "written longest ago", so an
    ordered dict by write time gives O(1) eviction (like Redis's ``volatile-ttl``, which
    evicts keys with the shortest remaining TTL, but exact instead of sampled).
    """

    name = "TTL"

    def __init__(self, capacity: int, *, ttl: float, clock: Callable[[], float], **kw: Any) -> None:
        super().__init__(capacity, ttl=ttl, clock=clock, **kw)

    def _on_hit(self, key): pass
    def _on_update(self, key): self._order.move_to_end(key)  # a rewrite renews the ttl


class _FreqNode:
    """One use count of :class:`LFUCache`: its keys, least recent first, in a list of counts."""

    __slots__ = ("count", "keys", "prev", "next")

    def __init__(self, count: int) -> None:
        self.count = count
        self.keys: OrderedDict[Hashable, None] = OrderedDict()
        self.prev: _FreqNode | None = None
        self.next: _FreqNode | None = None


class LFUCache(Cache):
    """Evicts the least frequently used entry; among equals, the least recently used.

    O(1) for every operation, as in Shah, Mitra & Matani, "An O(1) algorithm for
    implementing the LFU cache eviction scheme" (2010): the use counts that some key has
    form a doubly linked list in increasing order, each node holding its keys (least
    recent first), and every key points at its node. A hit moves the key to the next node
    (creating count + 1 right after it if missing); an emptied node is unlinked. The list's
    head is the minimum count, so the victim is the head's first key: no search over counts.
    """

    name = "LFU"

    def __init__(self, capacity: int, **kw: Any) -> None:
        super().__init__(capacity, **kw)
        self._node: dict[Hashable, _FreqNode] = {}
        self._head: _FreqNode | None = None  # the smallest use count

    def _link_after(self, node: _FreqNode | None, count: int) -> _FreqNode:
        """A new node for ``count`` right after ``node`` (``None``: at the head)."""
        new = _FreqNode(count)
        new.prev = node
        new.next = self._head if node is None else node.next
        if new.next is not None:
            new.next.prev = new
        if node is None:
            self._head = new
        else:
            node.next = new
        return new

    def _unlink_if_empty(self, node: _FreqNode) -> None:
        if node.keys:
            return
        if node.prev is None:
            self._head = node.next
        else:
            node.prev.next = node.next
        if node.next is not None:
            node.next.prev = node.prev

    def _on_hit(self, key):
        node = self._node[key]
        nxt = node.next
        if nxt is None or nxt.count != node.count + 1:
            nxt = self._link_after(node, node.count + 1)
        del node.keys[key]
        nxt.keys[key] = None
        self._node[key] = nxt
        self._unlink_if_empty(node)

    def _on_insert(self, key):
        head = self._head
        if head is None or head.count != 1:
            head = self._link_after(None, 1)
        head.keys[key] = None
        self._node[key] = head

    def _on_remove(self, key):
        node = self._node.pop(key)
        del node.keys[key]
        self._unlink_if_empty(node)

    def _victim(self):
        return next(iter(self._head.keys))

    def frequency(self, key: Hashable) -> int:
        node = self._node.get(key)
        return 0 if node is None or key not in self else node.count


class RandomCache(Cache):
    """Evicts a random entry (Redis's ``allkeys-random``). O(1) with a swap-remove list."""

    name = "Random"

    def __init__(self, capacity: int, *, rng: random.Random | None = None, **kw: Any) -> None:
        super().__init__(capacity, **kw)
        self.rng = rng or random.Random(0)
        self._keys: list[Hashable] = []
        self._pos: dict[Hashable, int] = {}

    def _on_insert(self, key):
        self._pos[key] = len(self._keys)
        self._keys.append(key)

    def _on_remove(self, key):
        i = self._pos.pop(key)
        last = self._keys.pop()
        if i < len(self._keys):
            self._keys[i] = last
            self._pos[last] = i

    def _victim(self):
        return self._keys[self.rng.randrange(len(self._keys))]


class SampledLRUCache(RandomCache):
    """Redis's approximated LRU: sample ``samples`` keys, evict the least recently used.

    Redis does not keep an LRU list; it stores a last-access time per key and, when it
    must evict, looks at ``maxmemory-samples`` random keys (default 5) and evicts the
    oldest of them, keeping a small pool of good candidates between evictions
    (redis.io "Key eviction"; ``evict.c``). ``pool`` reproduces that pool (16 in Redis);
    ``pool=0`` samples afresh each time.
    """

    name = "Sampled LRU"

    def __init__(self, capacity: int, *, samples: int = 5, pool: int = 16, rng: random.Random | None = None,
                 **kw: Any) -> None:
        super().__init__(capacity, rng=rng, **kw)
        self.samples = samples
        self.pool_size = pool
        self._last: dict[Hashable, int] = {}
        self._tick = 0
        self._pool: list[Hashable] = []

    def _touch(self, key):
        self._tick += 1
        self._last[key] = self._tick

    def _on_hit(self, key): self._touch(key)

    def _on_insert(self, key):
        super()._on_insert(key)
        self._touch(key)

    def _on_remove(self, key):
        super()._on_remove(key)
        del self._last[key]

    def _victim(self):
        sample = {self._keys[self.rng.randrange(len(self._keys))] for _ in range(self.samples)}
        candidates = [k for k in self._pool if k in self._last] + [k for k in sample if k not in self._pool]
        candidates.sort(key=self._last.__getitem__)  # oldest first
        victim, self._pool = candidates[0], candidates[1 : 1 + self.pool_size]
        return victim


POLICIES: dict[str, type[Cache]] = {
    "LRU": LRUCache, "LFU": LFUCache, "FIFO": FIFOCache, "Random": RandomCache, "Sampled LRU": SampledLRUCache,
}


def replay(cache: Cache, trace: Iterable[Hashable], *, clock=None, step: float = 0.0) -> Cache:
    """Read-through replay: each key is read, and written on a miss. Returns the cache.

    With a ``clock`` (VirtualClock) and ``step``, time advances by ``step`` per access.
    """
    for key in trace:
        if cache.get(key, _MISSING) is _MISSING:
            cache.put(key, True)
        if clock is not None and step:
            clock.advance(step)
    return cache


def hit_rate(factory: Callable[[int], Cache], trace: list[Hashable], capacity: int) -> float:
    """Hit rate of ``factory(capacity)`` on ``trace`` (cold start included)."""
    return replay(factory(capacity), trace).hit_rate
