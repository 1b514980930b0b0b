"""The simulated cluster: determinism, partitions, CP safety, AP divergence and reconciliation."""

import random

import pytest

from course_tools.clock import VirtualClock
from course_tools.sim.cluster import (Cluster, LoadBalancer, convergence_times, latency_percentiles, lost_updates,
                                      run_partition_scenario, ryw_violations, stale_reads)
from course_tools.sim.linearizability import check

SEEDS = range(6)


def _trace(result):
    return [(op.id, op.client, op.kind, op.value, round(op.start, 9), op.end and round(op.end, 9), op.ok)
            for op in result.history]


@pytest.mark.parametrize("mode", ["cp", "ap"])
def test_same_seed_same_history(mode):
    """Does the same seed give exactly the same history and messages?"""
    a = run_partition_scenario(mode, rng=random.Random(7))
    b = run_partition_scenario(mode, rng=random.Random(7))
    assert _trace(a) == _trace(b)
    assert [(m.src, m.dst, m.sent, m.fate) for m in a.cluster.network.messages] == \
           [(m.src, m.dst, m.sent, m.fate) for m in b.cluster.network.messages]
    assert _trace(a) != _trace(run_partition_scenario(mode, rng=random.Random(8)))


@pytest.mark.parametrize("mode", ["cp", "ap"])
@pytest.mark.parametrize("seed", SEEDS)
def test_no_message_crosses_a_partition(mode, seed):
    """Is every delivered message free of any open partition between its two ends during its flight?"""
    res = run_partition_scenario(mode, rng=random.Random(seed), loss=0.05)
    net = res.cluster.network
    delivered = [m for m in net.messages if m.fate == "delivered"]
    assert delivered
    assert not any(net.separated(m.src, m.dst, m.sent, m.arrive) for m in delivered)
    assert any(m.fate == "partitioned" for m in net.messages)
    assert any(m.fate == "lost" for m in net.messages)


@pytest.mark.parametrize("seed", SEEDS)
def test_cp_mode_is_linearizable_under_partitions_and_loss(seed):
    """Does CP mode never return a stale read, whatever the seed (checked by the linearizability checker)?"""
    res = run_partition_scenario("cp", rng=random.Random(seed), loss=0.05, clients_per_node=2)
    verdict = check(res.history)
    assert verdict, verdict.explain()
    assert not stale_reads(res.history)
    assert not lost_updates(res.cluster)


def test_cp_minority_times_out_majority_serves():
    """During the partition the minority side's operations fail; the majority side's succeed."""
    res = run_partition_scenario("cp", rng=random.Random(3), open_at=1.0, heal_at=3.0, until=4.0)
    inside = [op for op in res.history if 1.05 < op.start < 2.9]
    minority = [op for op in inside if op.node in ("n1", "n2")]
    majority = [op for op in inside if op.node not in ("n1", "n2")]
    assert minority and majority
    assert not any(op.ok for op in minority)
    assert all("no majority" in op.info for op in minority)
    assert all(op.ok for op in majority)


def test_ap_mode_stays_available_but_is_not_linearizable():
    """AP mode answers every request during the partition, and pays with stale reads."""
    res = run_partition_scenario("ap", rng=random.Random(1))
    assert all(op.ok for op in res.history)
    assert not check(res.history)
    assert stale_reads(res.history)


def test_pacelc_cp_pays_latency_without_partition():
    """With no partition at all, CP operations take network round trips; AP answers locally."""
    cp = run_partition_scenario("cp", rng=random.Random(2), open_at=0, heal_at=0)
    ap = run_partition_scenario("ap", rng=random.Random(2), open_at=0, heal_at=0)
    assert not cp.cluster.partitions
    lat_cp, lat_ap = latency_percentiles(cp.history), latency_percentiles(ap.history)
    assert lat_cp["write"][50] > 5 * lat_ap["write"][50]
    assert all(op.ok for op in cp.history)


def _two_sided_writes(reconcile):
    c = Cluster(3, "ap", rng=random.Random(5), reconcile=reconcile, gossip_interval=0.2)
    c.partition(["n1"], at=0.5, heal=2.0)
    c.submit("alice", "n1", "write", "cart", "alice-book", at=1.0)
    c.submit("bob", "n3", "write", "cart", "bob-pen", at=1.2)
    c.submit("carol", "n2", "read", "cart", at=4.0)
    c.run(5.0)
    return c


def test_lww_loses_one_of_two_concurrent_writes():
    """Last-writer-wins keeps one write of two made on opposite sides of a partition, silently."""
    c = _two_sided_writes("lww")
    final = {r.ap_value("cart") for r in c.replicas.values()}
    assert len(final) == 1  # converged
    lost = lost_updates(c)
    assert len(lost) == 1 and lost[0].value not in final


def test_version_vectors_keep_siblings():
    """Version vectors keep both concurrent writes as siblings; nothing acknowledged is lost."""
    c = _two_sided_writes("vv")
    read = [op for op in c.history if op.client == "carol"][0]
    assert read.value == ("alice-book", "bob-pen")
    assert not lost_updates(c)
    # a later write that has seen both siblings replaces them
    c.submit("carol", "n2", "write", "cart", "merged", at=5.1)
    c.run(7.0)
    assert {r.ap_value("cart") for r in c.replicas.values()} == {"merged"}


def test_anti_entropy_converges_without_direct_replication():
    """With pushes off, gossip alone brings every replica to the same state."""
    c = Cluster(5, "ap", rng=random.Random(11), replicate=False, gossip_interval=0.1)
    for i, node in enumerate(c.nodes):
        c.submit(f"c{i}", node, "write", f"k{i}", f"v{i}", at=0.05)
    c.run(5.0)
    states = [dict((k, r.ap_value(k)) for k in r.store) for r in c.replicas.values()]
    assert all(s == states[0] for s in states) and len(states[0]) == 5
    assert len(convergence_times(c)) == 5


def test_read_your_writes_broken_by_load_balancer_fixed_by_sticky_and_tokens():
    """A random load balancer sends a read to a replica that has not seen the client's write;
    sticky sessions and version tokens restore read-your-writes."""
    def run(policy, session):
        rng = random.Random(4)
        c = Cluster(5, "ap", rng=rng, latency=(0.02, 0.08), gossip_interval=None, replicate=True)
        lb = LoadBalancer(c.nodes, policy=policy, rng=random.Random(9))
        for name in "abc":
            c.client(name, lb, until=5.0, rng=random.Random(name), write_ratio=0.5, think=(0.0, 0.02),
                     keys=(f"cart:{name}",), session=session)
        c.run(6.0)
        return ryw_violations(c.history)

    assert run("random", False)
    assert not run("sticky", False)
    assert not run("random", True)


def test_clock_parameter_is_used():
    """The cluster runs on the clock it is given."""
    clock = VirtualClock(10.0)
    c = Cluster(3, "cp", rng=random.Random(0), clock=clock)
    c.submit("a", "n1", "write", "x", 1, at=10.5)
    c.run(12.0)
    assert clock() == 12.0 and c.history.ops[0].start == 10.5


def test_bad_arguments():
    with pytest.raises(ValueError):
        Cluster(3, "ca", rng=random.Random(0))
    c = Cluster(3, "cp", rng=random.Random(0))
    with pytest.raises(ValueError):
        c.partition(["n9"], at=0, heal=1)
    with pytest.raises(ValueError):
        c.partition(["n1"], at=2, heal=1)


def test_gossip_continues_across_several_runs():
    """Calling run() again goes on gossiping, so replicas still converge."""
    c = Cluster(4, "ap", rng=random.Random(12), replicate=False, gossip_interval=0.1)
    c.submit("a", "n1", "write", "k", "v", at=0.05)
    c.run(0.12)
    assert sum(r.ap_value("k") == "v" for r in c.replicas.values()) < 4
    c.run(3.0)
    assert all(r.ap_value("k") == "v" for r in c.replicas.values())
