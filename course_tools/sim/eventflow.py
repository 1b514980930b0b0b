"""One order flow two ways, a bounded queue under load, and a saga (virtual clock, seeded).

- :func:`sync_chain` — request/response: the order API calls payment, inventory and email
  in turn and answers when all have answered. Latencies add; the request succeeds only if
  every service is up, so availabilities multiply.
- :func:`outage_timeline` — the same flow during an outage of one downstream service:
  synchronous calls fail while it is down; with events the API accepts every order (it
  only needs its database and the broker) and the consumer catches up afterwards — the
  *lag* between "accepted" and "processed" is eventual consistency made visible.
- :func:`bounded_queue` — a producer faster than its consumer, with a queue of bounded
  capacity: once full, the producer is *blocked* (backpressure) or its messages are
  *rejected*; the consumer's lag (age of the oldest waiting message) is recorded.
- :func:`orchestrated_saga` / :func:`choreographed_saga` — a multi-step order with a
  compensating action for every completed step when a later step fails.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

from course_tools.clock import VirtualClock
from course_tools.sim.callchain import ChainResult, Service, simulate_chain

__all__ = ["ORDER_API", "ORDER_SERVICES", "EVENT_PATH", "sync_chain", "async_accept", "Timeline", "outage_timeline",
           "QueueRun", "bounded_queue", "SAGA_STEPS", "orchestrated_saga", "choreographed_saga"]


# Medians in seconds, failure = 1 - availability. The call chain itself is the Distributed
# systems chapter's simulator (course_tools.sim.callchain): one implementation, two lessons.
ORDER_API = Service("order API", median=0.010, failure=0.001)
ORDER_SERVICES = (ORDER_API, Service("payment", median=0.120, failure=0.01),
                  Service("inventory", median=0.040, failure=0.005), Service("email", median=0.080, failure=0.01))
EVENT_PATH = (ORDER_API, Service("broker publish", median=0.005, failure=0.001))


def sync_chain(services: Sequence[Service] = ORDER_SERVICES, *, requests: int = 20_000,
               rng: random.Random) -> ChainResult:
    """Request/response: the order API calls every service in turn and answers when all have."""
    return simulate_chain(services, requests=requests, rng=rng)


def async_accept(path: Sequence[Service] = EVENT_PATH, *, requests: int = 20_000, rng: random.Random) -> ChainResult:
    """Events: the API saves the order and publishes OrderPlaced; the other services consume later."""
    return simulate_chain(path, requests=requests, rng=rng)


@dataclass
class Timeline:
    t: list[float] = field(default_factory=list)
    offered: list[int] = field(default_factory=list)       # cumulative orders sent by clients
    accepted: list[int] = field(default_factory=list)      # cumulative orders the API accepted
    processed: list[int] = field(default_factory=list)     # cumulative orders the slow service has handled
    lag: list[int] = field(default_factory=list)           # accepted but not yet processed


def outage_timeline(mode: str, *, rate: float = 5.0, capacity: float = 8.0, duration: float = 120.0,
                    down: tuple[float, float] = (30.0, 60.0), dt: float = 0.5, rng: random.Random,
                    clock: VirtualClock | None = None) -> Timeline:
    """Orders arrive (Poisson, ``rate``/s); the inventory service handles up to ``capacity``/s
    and is down during ``down``. ``mode`` is ``"sync"`` (a request needs inventory to answer)
    or ``"events"`` (the API accepts; inventory consumes its queue when it is up)."""
    if mode not in ("sync", "events"):
        raise ValueError("mode is 'sync' or 'events'")
    clock = clock or VirtualClock()
    tl = Timeline()
    offered = accepted = processed = 0
    backlog = 0
    budget = 0.0
    while clock() < duration:
        clock.advance(dt)
        arrivals = _poisson(rate * dt, rng)
        is_down = down[0] <= clock() < down[1]
        offered += arrivals
        if mode == "sync":
            if not is_down:
                accepted += arrivals
                processed += arrivals
        else:
            accepted += arrivals
            backlog += arrivals
            if not is_down:
                budget += capacity * dt
                done = min(backlog, int(budget))
                budget -= done
                budget = min(budget, capacity * dt)
                backlog -= done
                processed += done
            else:
                budget = 0.0
        tl.t.append(clock())
        tl.offered.append(offered)
        tl.accepted.append(accepted)
        tl.processed.append(processed)
        tl.lag.append(accepted - processed)
    return tl


def _poisson(lam: float, rng: random.Random) -> int:
    """Knuth's method (fine for the small means used here)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class QueueRun:
    policy: str
    t: list[float] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    lag_s: list[float] = field(default_factory=list)     # age of the oldest waiting message
    produced: int = 0
    rejected: int = 0
    blocked_s: float = 0.0                               # time the producer spent waiting for room
    consumed: int = 0


def bounded_queue(*, capacity: int = 50, produce_rate: float = 12.0, consume_rate: float = 10.0,
                  duration: float = 90.0, slow: tuple[float, float] | None = (20.0, 35.0), policy: str = "block",
                  dt: float = 0.1, rng: random.Random, clock: VirtualClock | None = None) -> QueueRun:
    """A producer (Poisson, ``produce_rate``/s) and a consumer (``consume_rate``/s, stopped
    during ``slow``) around a queue of ``capacity`` messages. When the queue is full the
    producer waits (``policy="block"``: backpressure) or its message is refused
    (``"reject"``); ``capacity=0`` means unbounded."""
    if policy not in ("block", "reject"):
        raise ValueError("policy is 'block' or 'reject'")
    clock = clock or VirtualClock()
    run = QueueRun(policy)
    queue: list[float] = []          # enqueue times
    waiting = 0                      # producer messages waiting for room (block policy)
    budget = 0.0
    while clock() < duration:
        clock.advance(dt)
        now = clock()
        new = _poisson(produce_rate * dt, rng)
        room = (capacity - len(queue)) if capacity else new + waiting
        if policy == "block":
            waiting += new
            take = min(waiting, max(0, room))
            queue.extend([now] * take)
            waiting -= take
            run.produced += take
            if waiting:
                run.blocked_s += dt
        else:
            take = min(new, max(0, room))
            queue.extend([now] * take)
            run.produced += take
            run.rejected += new - take
        stopped = slow is not None and slow[0] <= now < slow[1]
        if not stopped:
            budget = min(budget + consume_rate * dt, consume_rate * dt + 1)
            n = min(len(queue), int(budget))
            del queue[:n]
            budget -= n
            run.consumed += n
        run.t.append(now)
        run.depth.append(len(queue))
        run.lag_s.append(now - queue[0] if queue else 0.0)
    return run


SAGA_STEPS: tuple[tuple[str, str | None], ...] = (
    ("reserve inventory", "release inventory"),
    ("charge payment", "refund payment"),
    ("schedule shipping", None),
)


def orchestrated_saga(fail_at: str | None = None, steps: Sequence[tuple[str, str | None]] = SAGA_STEPS) -> list[str]:
    """An orchestrator runs each step in turn; if one fails, it runs the compensations of
    the steps already done, newest first. Returns the log of what happened."""
    log, done = [], []
    for action, compensation in steps:
        if action == fail_at:
            log.append(f"orchestrator -> {action}: FAILED")
            for act, comp in reversed(done):
                if comp:
                    log.append(f"orchestrator -> {comp} (compensates '{act}')")
            log.append("order CANCELLED")
            return log
        log.append(f"orchestrator -> {action}: ok")
        done.append((action, compensation))
    log.append("order CONFIRMED")
    return log


def choreographed_saga(fail_at: str | None = None) -> list[str]:
    """The same saga without a coordinator: each service reacts to the events of the others."""
    events = ["order service publishes OrderPlaced"]
    events.append("inventory hears OrderPlaced, reserves stock, publishes StockReserved")
    if fail_at == "reserve inventory":
        return events[:1] + ["inventory hears OrderPlaced, has no stock, publishes StockUnavailable",
                             "order service hears StockUnavailable: order CANCELLED"]
    if fail_at == "charge payment":
        return events + ["payment hears StockReserved, card declined, publishes PaymentFailed",
                         "inventory hears PaymentFailed, releases stock (compensation)",
                         "order service hears PaymentFailed: order CANCELLED"]
    events.append("payment hears StockReserved, charges card, publishes PaymentCaptured")
    if fail_at == "schedule shipping":
        return events + ["shipping hears PaymentCaptured, cannot ship, publishes ShippingFailed",
                         "payment hears ShippingFailed, refunds card (compensation), publishes PaymentRefunded",
                         "inventory hears ShippingFailed, releases stock (compensation)",
                         "order service hears ShippingFailed: order CANCELLED"]
    return events + ["shipping hears PaymentCaptured, schedules delivery, publishes ShipmentScheduled",
                     "order service hears ShipmentScheduled: order CONFIRMED"]
