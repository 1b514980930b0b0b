"""The lesson 2.1 retry experiment (course_tools.net.retries): lost responses, blind retries, PATCH."""

import json

import pytest

from course_tools.net.retries import LOST, lost_response

pytestmark = pytest.mark.network
CAKE = json.dumps({"item": "cake", "qty": 1})


def test_nothing_lost_means_one_attempt_and_one_order():
    """Regression: the demo always sent twice, so "nothing lost" still showed two POST orders."""
    r = lost_response("POST", "/orders", CAKE, drop_first=False)
    assert r.attempts == 1 and r.client_saw == ["201 Created"]
    assert sorted(r.orders) == [1, 2, 3]


def test_a_lost_post_answer_and_a_blind_retry_create_two_orders():
    """Does the retried POST create a second order, although the server answered the first one?"""
    r = lost_response("POST", "/orders", CAKE)
    assert r.client_saw == [LOST, "201 Created"] and r.server_sent == ["HTTP/1.1 201 Created"] * 2
    assert sorted(r.orders) == [1, 2, 3, 4]


def test_a_retried_patch_adds_twice():
    """Is the shop's PATCH really non-idempotent: the same "add 1" sent twice adds 2?"""
    once = lost_response("PATCH", "/orders/1", json.dumps({"add": 1}), drop_first=False)
    twice = lost_response("PATCH", "/orders/1", json.dumps({"add": 1}))
    assert once.client_saw == ["200 OK"] and once.orders[1]["qty"] == 3
    assert twice.client_saw == [LOST, "200 OK"] and twice.orders[1]["qty"] == 4


@pytest.mark.parametrize("method, path, body", [("PUT", "/orders/7", CAKE), ("DELETE", "/orders/1", "")])
def test_idempotent_retries_leave_the_state_one_request_would(method, path, body):
    """Do PUT and DELETE end in the same state whether or not the first answer was lost?"""
    lost = lost_response(method, path, body)
    clean = lost_response(method, path, body, drop_first=False)
    assert lost.attempts == 2 and clean.attempts == 1
    assert lost.orders == clean.orders


def test_messages_mark_the_lost_answer():
    r = lost_response("POST", "/orders", CAKE)
    arrows = r.messages()
    assert len(arrows) == 8 and [a[3] for a in arrows].count(True) == 1
    assert arrows[3] == ("relay", "client", "201 Created", True)
