"""Access traces that make eviction policies differ. All seeded: pass ``rng=``.

- :func:`zipf` — a few keys are very popular (web objects follow Zipf-like popularity:
  Breslau et al., "Web Caching and Zipf-like Distributions", INFOCOM 1999).
- :func:`scan_over_hot_set` — a steady hot set, interrupted by long one-off scans (a batch
  job or a crawler): scans flush an LRU cache, a frequency-based policy resists.
- :func:`shifting_hot_set` — popularity moves from one set of keys to another: recency
  adapts at once, frequency remembers the old favourites.
"""

from __future__ import annotations

import itertools
import random
from typing import Hashable


def _weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank ** s) for rank in range(1, n + 1)))


def zipf(n_keys: int, length: int, *, s: float = 1.0, rng: random.Random) -> list[Hashable]:
    """``length`` accesses to keys ``0..n_keys-1``; key of rank r has weight 1/r**s."""
    keys = list(range(n_keys))
    rng.shuffle(keys)  # popularity is not the key order
    return rng.choices(keys, cum_weights=_weights(n_keys, s), k=length)


def scan_over_hot_set(hot: int, length: int, *, scan_every: int = 2000, scan_length: int = 600,
                      rng: random.Random) -> list[Hashable]:
    """Accesses to ``hot`` keys (Zipf s=0.8), with a scan of ``scan_length`` never-reused keys
    every ``scan_every`` accesses."""
    trace: list[Hashable] = []
    cum = _weights(hot, 0.8)
    scan_id = 0
    while len(trace) < length:
        trace += rng.choices(range(hot), cum_weights=cum, k=scan_every)
        trace += [f"scan{scan_id}-{i}" for i in range(scan_length)]
        scan_id += 1
    return trace[:length]


def shifting_hot_set(n_keys: int, length: int, *, phases: int = 4, hot: int = 50, s: float = 1.0,
                     rng: random.Random) -> list[Hashable]:
    """``phases`` equal phases; in each, ``hot`` different keys get most accesses."""
    per_phase = length // phases
    trace: list[Hashable] = []
    for p in range(phases):
        hot_keys = [f"p{p}-{i}" for i in range(hot)]
        cold_keys = [f"cold-{i}" for i in range(n_keys)]
        cum = _weights(hot, s)
        for _ in range(per_phase):
            if rng.random() < 0.9:
                trace.append(rng.choices(hot_keys, cum_weights=cum)[0])
            else:
                trace.append(rng.choice(cold_keys))
    return trace
