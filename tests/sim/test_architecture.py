"""Monolith vs microservices and vertical vs horizontal: the lesson's claims, on seeded runs."""

import random

import pytest

from course_tools.sim.architecture import FEATURES, blast_radius, order_flow, serve_tier


def test_a_transaction_never_leaves_money_or_stock_behind():
    """In the monolith a failure rolls the whole checkout back: failures are clean, however many."""
    r = order_flow("monolith", orders=5000, rng=random.Random(1), failure=0.05)
    assert r.refused_cleanly > 0 and r.inconsistent == 0 and r.completed + r.refused_cleanly == 5000


def test_a_failure_between_services_leaves_inconsistency_and_a_saga_shrinks_it():
    """Without a transaction, lost responses leave charges and reservations without an order;
    compensations remove most of them but not those whose compensation also failed."""
    plain = order_flow("microservices", orders=20000, rng=random.Random(1), failure=0.02)
    saga = order_flow("microservices + saga", orders=20000, rng=random.Random(1), failure=0.02)
    assert plain.charged_without_order > 0 and plain.stock_held_without_order > 0
    assert 0 < saga.inconsistent < plain.inconsistent / 10
    assert saga.completed == pytest.approx(plain.completed, rel=0.01)  # compensation does not save the order


def test_network_hops_cost_latency_and_success_multiplies():
    """Do both architectures complete the same share (0.99 ** 3) while the services pay network round trips in p50?"""
    mono = order_flow("monolith", orders=5000, rng=random.Random(2))
    micro = order_flow("microservices", orders=5000, rng=random.Random(2))
    assert micro.summary()["p50 ms"] > 3 * mono.summary()["p50 ms"]
    assert micro.completed / 5000 == pytest.approx(0.99 ** 3, abs=0.006)  # three places to fail, as in the monolith
    assert mono.completed / 5000 == pytest.approx(0.99 ** 3, abs=0.006)


def test_one_deploy_takes_everything_down_many_deploys_only_what_depends_on_it():
    """A crashing payments release: does the monolith lose every feature and the services only those that call payments?"""
    assert not any(blast_radius("monolith", "payments").values())
    works = blast_radius("microservices", "payments")
    assert works == {f: "payments" not in deps for f, deps in FEATURES.items()}
    assert works["browse the catalogue"] and not works["place an order"]


def test_vertical_has_a_ceiling_and_a_single_point_of_failure():
    """Does one big machine serve nothing after its crash and refuse to grow past the model's ceiling,
    while eight small ones keep seven eighths of their capacity?"""
    one_big = serve_tier(1, 64, demand=6000, rng=random.Random(3))
    assert one_big.served_before == 1.0 and one_big.served_after_crash == 0.0
    with pytest.raises(ValueError, match="ceiling"):
        serve_tier(1, 400, demand=40000, rng=random.Random(3))
    many = serve_tier(8, 8, demand=6000, rng=random.Random(3))
    assert many.served_before == 1.0 and many.served_after_crash == pytest.approx(7 * 800 / 6000)


def test_a_stateless_tier_loses_no_sessions():
    """Does a crash log out about a quarter of 4 machines' users with local sessions, and nobody with shared ones?"""
    local = serve_tier(4, 16, demand=6000, rng=random.Random(4), sessions="local")
    shared = serve_tier(4, 16, demand=6000, rng=random.Random(4), sessions="shared")
    assert 150 < local.users_logged_out < 350 and shared.users_logged_out == 0
