"""Modulo vs consistent hashing: keys moved when a node joins, and load balance."""

import pytest

from course_tools.sim.hashing import imbalance, load, moved_keys, stable_hash
from course_tools.sim.ring import HashRing, ModuloRouter

KEYS = [f"user:{i}" for i in range(20_000)]
NODES = [f"node{i}" for i in range(1, 9)]


def test_stable_hash_is_stable():
    """The same text hashes the same in every process (unlike hash())."""
    assert stable_hash("user:1") == int.from_bytes(__import__("hashlib").sha1(b"user:1").digest()[:8], "big")
    assert stable_hash("user:1") == stable_hash("user:1") != stable_hash("user:2")


class RouterContract:
    """Every router: deterministic, total, and only known nodes own keys."""

    def make(self, nodes):
        raise NotImplementedError

    def test_every_key_has_a_known_owner(self):
        router = self.make(NODES)
        owners = {router.node_for(k) for k in KEYS[:2000]}
        assert owners <= set(NODES) and len(owners) == len(NODES)

    def test_deterministic(self):
        assert [self.make(NODES).node_for(k) for k in KEYS[:500]] == [self.make(NODES).node_for(k) for k in KEYS[:500]]

    def test_empty_router_refuses(self):
        with pytest.raises(LookupError):
            self.make([]).node_for("k")

    def test_duplicate_node_refused(self):
        router = self.make(NODES)
        with pytest.raises(ValueError):
            router.add(NODES[0])


class TestModulo(RouterContract):
    def make(self, nodes):
        return ModuloRouter(nodes)

    def test_join_moves_most_keys(self):
        """Going from n to n+1 nodes under modulo hashing remaps about n/(n+1) of the keys."""
        before = self.make(NODES)
        after = before.copy()
        after.add("node9")
        assert moved_keys(before, after, KEYS) / len(KEYS) > 0.8


class TestRing(RouterContract):
    def make(self, nodes):
        return HashRing(nodes, vnodes=100)

    def test_join_moves_about_k_over_n_plus_one(self):
        """Adding one node to n moves about K/(n+1) keys, all of them to the new node."""
        before = self.make(NODES)
        after = before.copy()
        after.add("node9")
        moved = moved_keys(before, after, KEYS)
        expected = len(KEYS) / 9
        assert 0.7 * expected < moved < 1.3 * expected
        assert all(after.node_for(k) == "node9" for k in KEYS if before.node_for(k) != after.node_for(k))

    def test_leave_moves_only_the_leavers_keys(self):
        before = self.make(NODES)
        after = before.copy()
        after.remove("node3")
        changed = [k for k in KEYS if before.node_for(k) != after.node_for(k)]
        assert changed and all(before.node_for(k) == "node3" for k in changed)

    def test_virtual_nodes_even_out_load(self):
        """More virtual nodes, less imbalance."""
        assert imbalance(HashRing(NODES, vnodes=1), KEYS) > imbalance(HashRing(NODES, vnodes=200), KEYS)
        assert imbalance(HashRing(NODES, vnodes=200), KEYS) < 1.2
        assert sum(load(HashRing(NODES), KEYS).values()) == len(KEYS)


def test_virtual_nodes_even_out_the_load_over_many_draws():
    """Not one lucky or unlucky ring: over 9 random placements, more virtual nodes lower both the
    median and the worst busiest-node share."""
    import random as _random

    from course_tools.sim.hashing import imbalance_over_draws

    keys = [f"user:{i}" for i in range(6000)]
    draws = {v: imbalance_over_draws(v, keys, rng=_random.Random(4)) for v in (1, 10, 200)}
    medians = [d[len(d) // 2] for d in draws.values()]
    worst = [d[-1] for d in draws.values()]
    assert medians[0] > medians[1] > medians[2] and worst[0] > worst[1] > worst[2]
    assert worst[2] < 1.3


def test_a_join_moves_k_over_n_plus_one_not_k_over_n():
    """When a ninth node joins eight, is the expected share of keys that move 1/9 (K/(n + 1), Karger et
    al. 1997) rather than 1/8? One ring varies by a few points either way, so the mean over twelve
    placements (different node names, no randomness) is compared with both."""
    shares = []
    for s in range(12):
        ring = HashRing([f"n{s}-{i}" for i in range(8)], vnodes=100)
        grown = ring.copy()
        grown.add(f"new{s}")
        shares.append(moved_keys(ring, grown, KEYS) / len(KEYS))
    mean = sum(shares) / len(shares)
    assert abs(mean - 1 / 9) < 0.008
    assert abs(mean - 1 / 8) > 0.01
