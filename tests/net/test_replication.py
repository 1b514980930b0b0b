"""A real Redis primary and replica on loopback: lag by design, WAIT, min-replicas-to-write, failover loss."""

import pytest
import redis

from course_tools.net.redis import live_servers
from course_tools.net.replication import ReplicatedRedis

pytestmark = pytest.mark.redis


def test_replica_follows_and_wait_confirms():
    """After WAIT 1 returns 1, every earlier write is readable on the replica."""
    with ReplicatedRedis() as rr:
        for i in range(50):
            rr.primary.set(f"k{i}", i)
        assert rr.primary.wait(1, 5000) == 1
        assert all(rr.replica.get(f"k{i}") == str(i) for i in range(50))
        with pytest.raises(redis.ReadOnlyError):
            rr.replica.set("k", 1)


def test_paused_replica_serves_stale_reads_and_catches_up():
    """With the replication stream paused, every replica read is stale and WAIT returns 0; after it, none is."""
    with ReplicatedRedis() as rr:
        with rr.replica_paused():
            for i in range(20):
                rr.primary.set(f"p{i}", i)
            assert sum(rr.replica.get(f"p{i}") is None for i in range(20)) == 20
            assert rr.primary.wait(1, 100) == 0
            assert rr.state().lag_bytes > 0
        rr.wait_in_sync()
        assert all(rr.replica.get(f"p{i}") == str(i) for i in range(20))


def test_min_replicas_to_write_refuses_when_cut_off():
    """With min-replicas-to-write 1, the primary refuses writes while its replica is cut off."""
    with ReplicatedRedis(primary_config={"min-replicas-to-write": 1, "min-replicas-max-lag": 10}) as rr:
        rr.primary.set("before", 1)
        assert rr.primary.wait(1, 5000) == 1  # replication is asynchronous: without this the cut can win the race
        rr.cut()
        with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
            rr.primary.set("during", 1)
        assert rr.replica.get("before") == "1"
        rr.heal()
        rr.primary.set("after", 1)
        assert rr.primary.wait(1, 5000) == 1


def test_silent_partition_accepts_writes_until_the_lag_limit_then_refuses():
    """Through a relay that stops forwarding (no connection closed), the primary accepts writes at first,
    then refuses them with NOREPLICAS while still counting the replica as connected; after the
    partition the replica catches up and writes are accepted again."""
    from course_tools.net.replication import writes_during_silent_partition

    with ReplicatedRedis(relay=True, primary_config={"min-replicas-to-write": 1, "min-replicas-max-lag": 2}) as rr:
        rr.primary.set("balance", 0)
        attempts = writes_during_silent_partition(rr, every=0.2, limit=15)
        assert attempts[0].accepted and not attempts[-1].accepted
        assert "NOREPLICAS" in attempts[-1].error
        assert attempts[-1].connected_replicas == 1  # the primary was never told: the link still looks up
        assert all(a.accepted for a in attempts[:-1])
        assert attempts[-1].after >= 1.0  # refused only once the last acknowledgement was old enough
        rr.primary.set("balance", 99)
        assert rr.primary.wait(1, 5000) == 1 and rr.replica.get("balance") == "99"


def test_silent_partition_needs_the_relay():
    """Without a relay there is nothing to silence: the helper says so instead of cutting the link."""
    with ReplicatedRedis() as rr:
        with pytest.raises(RuntimeError, match="relay=True"):
            with rr.silent_partition():
                pass


def test_async_failover_loses_acknowledged_writes():
    """Writes the primary acknowledged but the replica never applied are gone after promotion."""
    with ReplicatedRedis() as rr:
        rr.primary.set("old", 1)
        rr.primary.wait(1, 5000)
        with rr.replica_paused():
            acked = [rr.primary.set(f"w{i}", i) for i in range(10)]
            rr.promote()
        assert all(acked)
        assert sum(rr.replica.get(f"w{i}") is None for i in range(10)) == 10
        assert rr.replica.get("old") == "1"
        rr.replica.set("new-primary-accepts", 1)


def test_nothing_left_running():
    with ReplicatedRedis() as rr:
        servers = [rr.primary_server, rr.replica_server]
    assert not any(s.running for s in servers)
    assert not [s for s in live_servers() if s in servers]
