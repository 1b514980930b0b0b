"""One seed, every generator: lessons call :func:`seed` once at the top.

Nothing here touches global random state: ``random.seed`` and ``numpy.random.seed`` are
never called, so importing a library or running a cell twice cannot change a result that a
learner reads. Each simulator takes its own ``rng=`` (a :class:`random.Random`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Seeds", "seed", "make_rng", "spawn"]

DEFAULT_SEED = 2026


def make_rng(seed_or_rng: int | random.Random | None = None) -> random.Random:
    """A :class:`random.Random` from a seed, or the generator itself if one is given."""
    if isinstance(seed_or_rng, random.Random):
        return seed_or_rng
    return random.Random(DEFAULT_SEED if seed_or_rng is None else seed_or_rng)


@dataclass
class Seeds:
    """The seed of a lesson and generators derived from it.

    ``seeds.random`` is a :class:`random.Random`, ``seeds.numpy`` a NumPy ``Generator``;
    ``seeds.spawn("name")`` gives an independent, reproducible ``random.Random`` for one
    experiment, so adding an experiment never shifts the random numbers of another.
    """

    value: int
    random: random.Random = field(init=False, repr=False)
    numpy: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.random = random.Random(self.value)
        self.numpy = np.random.default_rng(self.value)

    def spawn(self, name: str) -> random.Random:
        return spawn(self.value, name)


def seed(value: int = DEFAULT_SEED) -> Seeds:
    """Seed a lesson once: ``seeds = seed(2026)``."""
    return Seeds(int(value))


def spawn(value: int, name: str) -> random.Random:
    """A generator that depends only on ``(value, name)`` (stable across Python runs)."""
    import hashlib

    digest = hashlib.sha256(f"{value}:{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
