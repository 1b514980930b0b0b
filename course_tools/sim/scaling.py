"""Scaling laws and a service to measure them on.

- Amdahl (1967): with a fraction ``p`` of the work parallelisable, N workers give a
  speed-up ``S(N) = 1 / ((1 - p) + p / N)``, never more than ``1 / (1 - p)``.
- Universal Scalability Law (N. J. Gunther): relative capacity
  ``C(N) = N / (1 + alpha (N - 1) + beta N (N - 1))``. ``alpha`` is contention (queueing
  for a shared resource, Amdahl's serial part), ``beta`` coherency (every worker keeping
  in step with every other). With ``beta > 0`` throughput peaks at
  ``N* = sqrt((1 - alpha) / beta)`` and then *falls*: the retrograde region.

:func:`simulate_service` measures throughput of N closed-loop workers on a virtual clock:
each request does parallel work, then holds one shared lock (contention) for a serial
part plus a coherency cost per other worker (e.g. invalidating N - 1 peers' copies).
:func:`fit_usl` and :func:`fit_amdahl` recover the coefficients by linear least squares.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["amdahl", "usl", "usl_peak", "fit_usl", "fit_amdahl", "USLFit", "simulate_service", "measure",
           "mva_throughput", "lock_bound", "knee"]


def amdahl(n, p: float):
    """Amdahl speed-up with parallel fraction ``p`` on ``n`` workers."""
    n = np.asarray(n, dtype=float)
    return 1.0 / ((1.0 - p) + p / n)


def usl(n, alpha: float, beta: float, lam: float = 1.0):
    """USL throughput ``lam * C(n)`` (``lam`` = throughput of one worker)."""
    n = np.asarray(n, dtype=float)
    return lam * n / (1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0))


def usl_peak(alpha: float, beta: float) -> float:
    """Where USL throughput peaks: ``sqrt((1 - alpha) / beta)`` (infinite when beta = 0)."""
    return math.inf if beta <= 0 else math.sqrt(max(1.0 - alpha, 0.0) / beta)


@dataclass(frozen=True)
class USLFit:
    lam: float
    alpha: float
    beta: float

    @property
    def peak(self) -> float:
        return usl_peak(self.alpha, self.beta)

    def __call__(self, n):
        return usl(n, self.alpha, self.beta, self.lam)


def fit_usl(n: Sequence[float], throughput: Sequence[float]) -> USLFit:
    """Least-squares USL fit. With ``lam = X(1)`` the model is linear in alpha and beta:
    ``n * lam / X(n) - 1 = alpha (n - 1) + beta n (n - 1)``. Rows are weighted by
    ``X(n)^2 / (n lam)`` so that the residuals approximate errors in throughput itself
    (otherwise the largest n dominate). Coefficients are kept non-negative.
    Needs a measurement at n = 1."""
    n = np.asarray(n, dtype=float)
    x = np.asarray(throughput, dtype=float)
    if 1.0 not in n:
        raise ValueError("fit_usl needs the throughput of a single worker (n = 1)")
    lam = float(x[n == 1.0][0])
    y = n * lam / x - 1.0
    w = x ** 2 / (n * lam)
    a = np.column_stack([n - 1.0, n * (n - 1.0)]) * w[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(a, y * w, rcond=None)
    if alpha < 0 or beta < 0:
        # constrained to alpha, beta >= 0: a grid search on the throughput error around the fit
        alphas = np.linspace(0.0, max(0.3, 2 * abs(alpha)), 151)[:, None, None]
        betas = np.linspace(0.0, max(0.01, 3 * abs(beta)), 401)[None, :, None]
        err = ((usl(n[None, None, :], alphas, betas, lam) - x) ** 2).sum(axis=2)
        i, j = np.unravel_index(np.argmin(err), err.shape)
        alpha, beta = alphas[i, 0, 0], betas[0, j, 0]
    return USLFit(lam, float(alpha), float(beta))


def fit_amdahl(n: Sequence[float], speedup: Sequence[float]) -> float:
    """Least-squares parallel fraction p: ``1/S - 1 = p (1/n - 1)``."""
    n = np.asarray(n, dtype=float)
    s = np.asarray(speedup, dtype=float)
    u = 1.0 / n - 1.0
    y = 1.0 / s - 1.0
    return float(np.dot(u, y) / np.dot(u, u))


def simulate_service(workers: int, *, rng: random.Random, duration: float = 20.0, parallel: float = 0.010,
                     serial: float = 0.0005, coherency: float = 0.00002) -> float:
    """Requests per second completed by ``workers`` closed-loop workers in ``duration`` virtual seconds.

    Each request: ``parallel`` seconds of independent work (exponential), then the shared
    lock for ``serial + coherency * (workers - 1)`` seconds (FIFO queue for the lock).
    """
    if workers < 1:
        raise ValueError("at least one worker")
    hold = serial + coherency * (workers - 1)
    events: list[tuple[float, int, int]] = []  # (time, seq, worker) = worker wants the lock
    seq = 0
    for w in range(workers):
        events.append((rng.expovariate(1.0 / parallel), seq, w))
        seq += 1
    heapq.heapify(events)
    lock_free_at = 0.0
    done = 0
    while events:
        t, _, w = heapq.heappop(events)
        if t >= duration:
            break
        start = max(t, lock_free_at)
        finish = start + rng.expovariate(1.0 / hold) if hold > 0 else start
        lock_free_at = finish
        if finish <= duration:
            done += 1
        heapq.heappush(events, (finish + rng.expovariate(1.0 / parallel), seq, w))
        seq += 1
    return done / duration


def measure(worker_counts: Sequence[int], *, rng: random.Random, **kw) -> np.ndarray:
    """Throughput of :func:`simulate_service` at each worker count (one seeded run each)."""
    return np.array([simulate_service(int(n), rng=rng, **kw) for n in worker_counts])


# -- the same service, analytically -------------------------------------------------------------
def _hold(workers: int, serial: float, coherency: float) -> float:
    return serial + coherency * (workers - 1)


def mva_throughput(workers: int, *, parallel: float = 0.010, serial: float = 0.0005,
                   coherency: float = 0.00002) -> float:
    """Exact mean throughput of :func:`simulate_service`'s model by mean value analysis.

    The model is a closed queueing network (Reiser & Lavenberg, "Mean-Value Analysis of
    Closed Multichain Queuing Networks", JACM 27(2), 1980): ``workers`` customers alternate
    between a delay (``parallel``, no queue) and one FIFO server (the lock, exponential with
    mean ``serial + coherency * (workers - 1)``). For n = 1..N: R(n) = S (1 + Q(n - 1)),
    X(n) = n / (Z + R(n)), Q(n) = X(n) R(n).
    """
    hold = _hold(workers, serial, coherency)
    queue, x = 0.0, 0.0
    for n in range(1, workers + 1):
        r = hold * (1.0 + queue)
        x = n / (parallel + r)
        queue = x * r
    return x


def lock_bound(workers: int, *, serial: float = 0.0005, coherency: float = 0.00002) -> float:
    """No more requests per second than the lock can serve: ``1 / (serial + coherency (N - 1))``."""
    return 1.0 / _hold(workers, serial, coherency)


def knee(*, parallel: float = 0.010, serial: float = 0.0005, coherency: float = 0.00002) -> float:
    """Where the no-queueing line ``N / (Z + S(N))`` meets the lock bound ``1 / S(N)``:
    ``(N - 1) S(N) = Z``, a quadratic in ``N - 1``. Throughput peaks near here."""
    if coherency == 0:
        return 1.0 + parallel / serial
    m = (-serial + math.sqrt(serial ** 2 + 4 * coherency * parallel)) / (2 * coherency)
    return 1.0 + m
