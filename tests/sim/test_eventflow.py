"""Do latencies add and availabilities multiply, and do events ride out an outage?"""

from __future__ import annotations

import math
import random

from course_tools.sim import eventflow as ef


def test_sync_success_rate_is_the_product_of_availabilities():
    """The synchronous chain succeeds about as often as the product of its services' availabilities,
    and less often than the save-and-publish path."""
    r = ef.sync_chain(requests=40_000, rng=random.Random(1))
    want = math.prod(1 - s.failure for s in ef.ORDER_SERVICES)
    assert abs(r.success_rate - want) < 0.005
    a = ef.async_accept(requests=40_000, rng=random.Random(1))
    assert a.success_rate > r.success_rate


def test_sync_latency_adds_up():
    """The chain's median latency exceeds the sum of its hops' medians' largest, and the event path is faster."""
    r = ef.sync_chain(requests=20_000, rng=random.Random(2))
    a = ef.async_accept(requests=20_000, rng=random.Random(2))
    assert r.percentile(50) > max(s.median for s in ef.ORDER_SERVICES) * 1.5
    assert a.percentile(99) < r.percentile(50)


def test_outage_sync_rejects_and_events_catch_up():
    """During an outage the sync flow loses requests; with events everything is accepted and,
    after the outage, processed — the lag rises and then returns to zero."""
    sync = ef.outage_timeline("sync", rng=random.Random(3))
    ev = ef.outage_timeline("events", rng=random.Random(3))
    assert sync.accepted[-1] < sync.offered[-1]
    assert ev.accepted[-1] == ev.offered[-1] == sync.offered[-1]
    assert max(ev.lag) > 50 and ev.lag[-1] == 0


def test_bounded_queue_backpressure_and_rejection():
    """Full queue: 'block' makes the producer wait, 'reject' refuses; depth never exceeds capacity."""
    b = ef.bounded_queue(policy="block", capacity=40, rng=random.Random(4))
    r = ef.bounded_queue(policy="reject", capacity=40, rng=random.Random(4))
    assert max(b.depth) <= 40 and max(r.depth) <= 40
    assert b.blocked_s > 0 and b.rejected == 0
    assert r.rejected > 0 and r.blocked_s == 0
    u = ef.bounded_queue(policy="reject", capacity=0, rng=random.Random(4))
    assert u.rejected == 0 and max(u.lag_s) > max(r.lag_s)


def test_same_seed_same_run():
    """Same seed, same numbers."""
    assert ef.bounded_queue(rng=random.Random(7)).depth == ef.bounded_queue(rng=random.Random(7)).depth


def test_saga_compensates_completed_steps_newest_first():
    """A failed payment releases the reserved stock; a failed shipment refunds, then releases."""
    log = ef.orchestrated_saga("schedule shipping")
    assert log[-3:] == ["orchestrator -> refund payment (compensates 'charge payment')",
                        "orchestrator -> release inventory (compensates 'reserve inventory')", "order CANCELLED"]
    assert "release inventory" in " ".join(ef.orchestrated_saga("charge payment"))
    assert ef.orchestrated_saga(None)[-1] == "order CONFIRMED"
    assert ef.choreographed_saga("charge payment")[-1].endswith("CANCELLED")
    assert ef.choreographed_saga(None)[-1].endswith("CONFIRMED")
