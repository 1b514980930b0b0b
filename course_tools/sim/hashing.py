"""Which node owns a key: modulo hashing vs consistent hashing with virtual nodes.

- :class:`ModuloRouter`: ``node = nodes[hash(key) % n]``. Simple and even, but changing n
  remaps almost every key (a key stays only if ``hash % n == hash % (n+1)``).
- :class:`HashRing`: consistent hashing (Karger et al., "Consistent hashing and random
  trees", STOC 1997). Nodes and keys are hashed onto the same circle; a key belongs to the
  first node clockwise from it. When one of n nodes joins or leaves, only the keys in the
  arcs it takes or gives up move: about K/n of K keys. Each physical node is placed at
  ``vnodes`` points (virtual nodes), which evens out the arc lengths and so the load.

Hashes are stable across runs and machines (SHA-1 of the text, not Python's ``hash``).
"""

from __future__ import annotations

import random

import bisect
import hashlib
from collections import Counter
from typing import Iterable, Protocol, Sequence

__all__ = ["stable_hash", "Router", "ModuloRouter", "HashRing", "moved_keys", "load", "imbalance",
           "imbalance_over_draws"]


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


class Router(Protocol):
    def node_for(self, key: str) -> str: ...


class ModuloRouter:
    """``nodes[stable_hash(key) % len(nodes)]``."""

    def __init__(self, nodes: Iterable[str] = ()) -> None:
        self.nodes = list(nodes)

    def add(self, node: str) -> None:
        if node in self.nodes:
            raise ValueError(f"{node!r} is already a node")
        self.nodes.append(node)

    def remove(self, node: str) -> None:
        self.nodes.remove(node)

    def node_for(self, key: str) -> str:
        if not self.nodes:
            raise LookupError("no nodes")
        return self.nodes[stable_hash(key) % len(self.nodes)]

    def copy(self) -> "ModuloRouter":
        return ModuloRouter(self.nodes)


class HashRing:
    """A consistent-hash ring; each node sits at ``vnodes`` points ``hash(f"{node}#{i}")``."""

    def __init__(self, nodes: Iterable[str] = (), *, vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self.vnodes = vnodes
        self._points: list[int] = []
        self._owner: dict[int, str] = {}
        self.nodes: list[str] = []
        for node in nodes:
            self.add(node)

    def add(self, node: str) -> None:
        if node in self.nodes:
            raise ValueError(f"{node!r} is already on the ring")
        self.nodes.append(node)
        for i in range(self.vnodes):
            point = stable_hash(f"{node}#{i}")
            if point in self._owner:  # a 64-bit collision: practically never
                continue
            self._owner[point] = node
            bisect.insort(self._points, point)

    def remove(self, node: str) -> None:
        self.nodes.remove(node)
        for point in [p for p, n in self._owner.items() if n == node]:
            del self._owner[point]
            self._points.pop(bisect.bisect_left(self._points, point))

    def node_for(self, key: str) -> str:
        if not self._points:
            raise LookupError("the ring is empty")
        i = bisect.bisect_right(self._points, stable_hash(key)) % len(self._points)
        return self._owner[self._points[i]]

    def points(self) -> list[tuple[int, str]]:
        """(position, node) of every virtual node, clockwise."""
        return [(p, self._owner[p]) for p in self._points]

    def copy(self) -> "HashRing":
        ring = HashRing(vnodes=self.vnodes)
        ring.nodes = list(self.nodes)
        ring._points = list(self._points)
        ring._owner = dict(self._owner)
        return ring


def moved_keys(before: Router, after: Router, keys: Sequence[str]) -> int:
    """How many of ``keys`` are owned by a different node in ``after`` than in ``before``."""
    return sum(before.node_for(k) != after.node_for(k) for k in keys)


def load(router: Router, keys: Sequence[str]) -> Counter:
    """Keys per node."""
    counts = Counter({n: 0 for n in getattr(router, "nodes", [])})
    counts.update(router.node_for(k) for k in keys)
    return counts


def imbalance(router: Router, keys: Sequence[str]) -> float:
    """Busiest node's keys divided by the mean (1.0 = perfectly even)."""
    counts = load(router, keys)
    return max(counts.values()) / (len(keys) / len(counts))


def imbalance_over_draws(vnodes: int, keys: Sequence[str], *, nodes: int = 5, draws: int = 9,
                         rng: random.Random) -> list[float]:
    """:func:`imbalance` of ``draws`` rings of ``nodes`` nodes with random names (so random
    points on the circle), sorted: one ring is one draw, which can be lucky or unlucky."""
    out = []
    for _ in range(draws):
        names = [f"node-{rng.getrandbits(48):012x}" for _ in range(nodes)]
        out.append(imbalance(HashRing(names, vnodes=vnodes), keys))
    return sorted(out)
