"""Does the partitioned log keep order per partition only, rebalance from committed offsets, and repeat itself?"""

from __future__ import annotations

import random

from course_tools.sim import partlog as pl


def test_same_key_same_partition_and_offsets_count_up():
    """Records of one key land in one partition with consecutive offsets."""
    log = pl.PartitionedLog(4)
    recs = [log.append("order-7", f"order-7#{i}") for i in range(5)]
    assert len({r.partition for r in recs}) == 1
    assert [r.offset for r in recs] == list(range(5))


def test_range_assignment_covers_every_partition_once():
    """Every partition has exactly one owner in a group; with more members than partitions some idle."""
    for members in (["a"], ["a", "b"], ["c", "a", "b"], list("abcdefg")):
        a = pl.assign_range(5, members)
        owned = sorted(p for ps in a.values() for p in ps)
        assert owned == list(range(5))


def test_order_per_key_but_not_globally():
    """Each key's records arrive in production order; across partitions they do not."""
    run = pl.simulate(rng=random.Random(3), members=("c1", "c2", "c3"))
    assert run.in_order_per_key()
    assert not run.in_global_order()
    assert run.duplicates() == 0


def test_a_member_dying_before_commit_causes_redelivery():
    """A member that leaves with uncommitted records makes the new owner re-read them."""
    run = pl.simulate(rng=random.Random(2026), members=("c1", "c2", "c3"), commit_every=4, leave=("c1", 0.5))
    assert run.group.rebalances == 2
    assert run.duplicates() > 0
    assert run.in_order_per_key()
    assert run.group.lag() == [0] * len(run.log.partitions)


def test_commit_every_record_means_no_redelivery():
    """Committing after each record leaves nothing to redeliver on a rebalance."""
    run = pl.simulate(rng=random.Random(2026), members=("c1", "c2", "c3"), commit_every=1, leave=("c1", 0.5))
    assert run.duplicates() == 0


def test_same_seed_same_trace():
    """One seed, one trace; another seed, another trace."""
    a = pl.simulate(rng=random.Random(9), leave=("c1", 0.4))
    b = pl.simulate(rng=random.Random(9), leave=("c1", 0.4))
    c = pl.simulate(rng=random.Random(10), leave=("c1", 0.4))
    assert a.deliveries == b.deliveries and a.events == b.events
    assert a.deliveries != c.deliveries


def test_groups_fan_out_independently():
    """Two groups on one log each see every record, with their own offsets."""
    log = pl.PartitionedLog(2)
    for i in range(6):
        log.append(f"k{i}", f"k{i}#1")
    g1, g2 = pl.ConsumerGroup(log, ["a"]), pl.ConsumerGroup(log, ["x", "y"])
    got1 = g1.poll("a", 100)
    got2 = g2.poll("x", 100) + g2.poll("y", 100)
    assert len(got1) == len(got2) == 6
    g1.commit("a")
    assert g1.lag() == [0, 0] and sum(g2.lag()) == 6
