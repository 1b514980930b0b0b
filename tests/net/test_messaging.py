"""Do the three Redis messaging models behave as the lesson says, on a real server?"""

from __future__ import annotations

import random

import pytest

from course_tools.net import messaging as m
from course_tools.net.redis import redis_client

pytestmark = pytest.mark.redis


@pytest.fixture
def r():
    with redis_client() as client:
        yield client


def test_work_queue_shares_jobs_and_recovers_a_dead_workers_job(r):
    """Competing workers each take some jobs; the job a worker died holding is recovered; none lost or doubled."""
    run = m.work_queue(r, jobs=12, rng=random.Random(1))
    done = [j for jobs in run.done_by.values() for j in jobs]
    assert sorted(done) == [f"job-{i:02d}" for i in range(1, 13)]
    assert all(run.done_by.values())
    assert len(run.stranded) == 1 and run.recovered == run.stranded
    assert r.llen("jobs") == 0 and not r.keys("processing:*")


def test_pubsub_subscriber_that_is_down_misses_messages(r):
    """Pub/Sub delivers only to connected subscribers: the one down for 4 messages gets 4 fewer."""
    run = m.pubsub_missed(r, messages=10, down=(3, 7))
    assert run.received == {"audit": 10, "billing": 6}
    assert run.delivered_counts == [2, 2, 2, 1, 1, 1, 1, 2, 2, 2]


def test_streams_fan_out_across_groups_and_share_within_a_group(r):
    """Every group sees every entry once; inside a group the entries are split among consumers."""
    out = m.stream_fanout(r, entries=6, rng=random.Random(2))
    for group, by_consumer in out.items():
        got = [o for orders in by_consumer.values() for o in orders]
        assert sorted(got) == sorted(f"o{i}" for i in range(1, 7)), group
        assert sum(1 for orders in by_consumer.values() if orders) > 1
    assert r.xpending("orders", "billing")["pending"] == 0


@pytest.mark.slow
def test_killed_consumer_process_leaves_pending_entries_that_are_claimed(r):
    """A SIGKILLed consumer's unacked entries stay pending; XAUTOCLAIM hands them over; the entry whose
    effect was applied before the kill is applied twice, unless the consumer is idempotent."""
    plain = m.killed_consumer(r, entries=8, batch=5, kill_before_ack=3)
    assert plain.exit_signal == 9
    assert plain.read_by_victim == 5
    assert [p["consumer"] for p in plain.pending_before] == ["victim"] * 3
    assert plain.claimed == [p["id"] for p in plain.pending_before]
    assert plain.pending_before[0]["id"] == plain.killed_at
    assert plain.duplicates == 1 and plain.lost == 0
    assert plain.effects[plain.killed_at] == 2
    safe = m.killed_consumer(r, entries=8, batch=5, kill_before_ack=3, idempotent=True)
    assert safe.duplicates == 0 and safe.lost == 0 and len(safe.claimed) == 3
    assert r.xpending("payments", "ledger")["pending"] == 0
