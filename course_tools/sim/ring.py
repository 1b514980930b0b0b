"""The two routers of :mod:`course_tools.sim.hashing`: :class:`ModuloRouter` and the consistent-hash
:class:`HashRing` (Karger et al., "Consistent hashing and random trees", STOC 1997).

They live apart from the hash and the measures so that the Distributed assessment, whose task is
to write a ring, can hide them from the student's process (``metadata.course.hidden_modules``)
while the student still imports :func:`~course_tools.sim.hashing.stable_hash`. Lessons may
import them from here or, as before, from :mod:`course_tools.sim.hashing`.
"""

from __future__ import annotations

import bisect
from typing import Iterable

from course_tools.sim.hashing import stable_hash

__all__ = ["ModuloRouter", "HashRing"]


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
