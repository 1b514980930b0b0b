"""One order flow, two architectures: what a monolith gives for free and microservices must rebuild.

The flow: reserve stock, charge the payment, record the order. Seeded; no real time.

- **monolith**: one process, one database. The three steps run in one ACID transaction:
  a failure anywhere (here: the process crashing mid-flow) rolls all of them back.
- **microservices**: an orders service calls a stock service and a payments service over
  the network; each owns its database ("database per service": Richardson, microservices.io;
  Lewis & Fowler 2014). No transaction spans them. A call can fail *before* the callee acts
  (request lost) or *after* (response lost: the effect happened, the caller got an error and
  cannot tell which). Without more work, the caller just gives up: stock stays reserved or a
  customer is charged for an order that does not exist.
- **microservices + saga**: on failure the orders service runs compensations (release the
  stock, refund the payment) for every step that may have happened; refunds and releases are
  idempotent, so a compensation of something that did not happen is harmless. A compensation
  is itself a network call and can fail too: what remains is what a saga leaves to retries,
  alerts and humans.

:func:`blast_radius` answers "one deploy vs many": which features still work when one
component ships a crashing bug, in one deployable unit or in one per service.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["OrderFlowResult", "order_flow", "ARCHITECTURES", "FEATURES", "blast_radius", "TierResult", "serve_tier"]

ARCHITECTURES = ("monolith", "microservices", "microservices + saga")
STEPS = ("stock", "payments")


@dataclass
class OrderFlowResult:
    architecture: str
    orders: int = 0
    completed: int = 0
    refused_cleanly: int = 0            # failed, and nothing was left behind
    charged_without_order: int = 0      # money taken, no order recorded
    stock_held_without_order: int = 0   # stock reserved, no order recorded
    inconsistent: int = 0               # orders that left money or stock behind (counted once)
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies)
        return {"architecture": self.architecture, "orders": self.orders, "completed": self.completed,
                "failed cleanly": self.refused_cleanly, "left inconsistent": self.inconsistent,
                "charged, no order": self.charged_without_order, "stock held, no order": self.stock_held_without_order,
                "p50 ms": round(1000 * lat[len(lat) // 2], 2) if lat else 0.0}


def _network_call(rng: random.Random, failure: float, median: float) -> tuple[bool, bool, float]:
    """(effect happened, caller saw success, latency). A failed call loses the request or the response."""
    latency = median * math.exp(rng.gauss(0.0, 0.5))
    if rng.random() >= failure:
        return True, True, latency
    return rng.random() < 0.5, False, latency  # half the failures lose the response: done, but unknown


def order_flow(architecture: str, *, orders: int = 10_000, rng: random.Random, failure: float = 0.01,
               call_median: float = 0.005, in_process: float = 0.00005, commit: float = 0.002) -> OrderFlowResult:
    """Run ``orders`` checkouts. Both architectures have the same three places to fail, each with
    probability ``failure``: reserving stock, charging, recording the order. In the monolith they
    are steps of one transaction; in microservices the first two are network calls and the third
    is the orders service's own database write."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}")
    res = OrderFlowResult(architecture)
    for _ in range(orders):
        res.orders += 1
        if architecture == "monolith":
            crashed = any(rng.random() < failure for _ in range(len(STEPS) + 1))
            res.latencies.append(len(STEPS) * in_process + commit)
            if crashed:
                res.refused_cleanly += 1   # the transaction rolls back: nothing reserved, nothing charged
            else:
                res.completed += 1
            continue
        happened: dict[str, bool] = {}
        latency, ok = 0.0, True
        for step in STEPS:
            effect, seen_ok, lat = _network_call(rng, failure, call_median)
            happened[step] = effect
            latency += lat
            if not seen_ok:
                ok = False
                break
        if ok:  # the orders service records the order in its own database; that can fail too
            latency += commit
            if rng.random() >= failure:
                res.completed += 1
                res.latencies.append(latency)
                continue
        if architecture == "microservices + saga":
            for step in happened:  # compensate everything that may have happened (idempotent)
                effect, seen_ok, lat = _network_call(rng, failure, call_median)
                latency += lat
                if effect:
                    happened[step] = False
        res.latencies.append(latency)
        charged, held = happened.get("payments", False), happened.get("stock", False)
        res.charged_without_order += charged
        res.stock_held_without_order += held
        if charged or held:
            res.inconsistent += 1
        else:
            res.refused_cleanly += 1
    return res


# -- one deploy vs many ------------------------------------------------------------------------
FEATURES: dict[str, tuple[str, ...]] = {
    "browse the catalogue": ("catalogue",),
    "place an order": ("orders", "stock", "payments"),
    "track an order": ("orders",),
    "update stock levels": ("stock",),
}


def blast_radius(architecture: str, broken: str) -> dict[str, bool]:
    """Which features work when ``broken``'s code ships a bug that crashes its process?

    In a monolith every component runs in the one process, so its crash stops every feature;
    with one service per component, only the features that call the broken service fail.
    """
    components = {c for deps in FEATURES.values() for c in deps}
    if broken not in components:
        raise ValueError(f"unknown component {broken!r}; one of {sorted(components)}")
    if architecture == "monolith":
        return {feature: False for feature in FEATURES}
    return {feature: broken not in deps for feature, deps in FEATURES.items()}


# -- vertical vs horizontal ----------------------------------------------------------------------
@dataclass(frozen=True)
class TierResult:
    machines: int
    capacity: float           # requests/s the tier can serve
    served_before: float      # fraction of demand served with every machine up
    served_after_crash: float # ... after one machine crashes
    users_logged_out: int     # of ``users``, by the crash


def serve_tier(machines: int, cores_each: int, *, demand: float, per_core: float = 100.0, max_cores: int = 192,
               users: int = 1000, sessions: str = "local", rng: random.Random) -> TierResult:
    """A web tier of ``machines`` identical machines behind a load balancer, one of which crashes.

    Vertical scaling grows ``cores_each`` (up to ``max_cores``, the biggest machine on sale
    in this model, an assumed figure: the ceiling); horizontal scaling grows ``machines``. Users are pinned to a machine at
    random; with ``sessions="local"`` their session lives in that machine's memory and dies
    with it, with ``"shared"`` it lives in a shared store (the tier is stateless).
    """
    if cores_each > max_cores:
        raise ValueError(f"no machine has {cores_each} cores: the largest in this model has {max_cores} "
                         "(an assumed figure for vertical scaling's ceiling)")
    if sessions not in ("local", "shared"):
        raise ValueError("sessions is 'local' or 'shared'")
    each = cores_each * per_core
    pinned = [rng.randrange(machines) for _ in range(users)]
    crashed = rng.randrange(machines)
    lost = sum(m == crashed for m in pinned) if sessions == "local" else 0
    return TierResult(machines, machines * each, min(1.0, machines * each / demand),
                      min(1.0, (machines - 1) * each / demand), lost)
