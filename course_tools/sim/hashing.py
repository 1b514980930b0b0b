"""Which node owns a key: modulo hashing vs consistent hashing with virtual nodes.

The two routers live in :mod:`course_tools.sim.ring` (a module the Distributed assessment hides
from the student's process, whose task is to write the ring); they are still importable from here
outside the jail (loaded lazily from there). This module keeps the stable hash and the measures.

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

import hashlib
import random
from collections import Counter
from typing import Protocol, Sequence

from course_tools.moved import moved_to

__all__ = ["stable_hash", "Router", "moved_keys", "load", "imbalance", "imbalance_over_draws"]


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


class Router(Protocol):
    def node_for(self, key: str) -> str: ...


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
    from course_tools.sim.ring import HashRing

    out = []
    for _ in range(draws):
        names = [f"node-{rng.getrandbits(48):012x}" for _ in range(nodes)]
        out.append(imbalance(HashRing(names, vnodes=vnodes), keys))
    return sorted(out)


# the routers (ModuloRouter, HashRing), kept out of this module so that they can be hidden
__getattr__ = moved_to("course_tools.sim.ring", {"ModuloRouter", "HashRing"}, __name__)
