"""A payment endpoint behind a relay that loses responses: charges counted, keys in real Redis."""

from __future__ import annotations

import json
import threading

import pytest

from course_tools.net.http import HTTPServer
from course_tools.net.idempotency import PaymentAPI, fingerprint, pay
from course_tools.net.redis import redis_client
from course_tools.net.wire import Relay, send

pytestmark = [pytest.mark.network, pytest.mark.redis]
PAYMENT = {"amount": 500, "currency": "GBP"}


@pytest.fixture(scope="module")
def redis():
    with redis_client() as r:
        yield r


def test_fingerprint_ignores_key_order_and_spacing():
    assert fingerprint(b'{"a": 1, "b": 2}') == fingerprint(b'{"b":2,"a":1}') != fingerprint(b'{"a": 2, "b": 2}')


def test_a_retried_post_charges_twice_without_a_key():
    api = PaymentAPI()
    with HTTPServer(api) as srv, Relay(srv.port, drop_responses=1) as relay:
        resp, attempts = pay(relay.url, PAYMENT, retries=2)
    assert resp.status == 201 and attempts == 2 and len(api.charges) == 2


def test_with_a_key_the_retry_replays_the_first_response_byte_for_byte(redis):
    api = PaymentAPI(redis)
    with HTTPServer(api) as srv, Relay(srv.port, drop_responses=1) as relay:
        resp, attempts = pay(relay.url, PAYMENT, key="k-replay", retries=2)
        lost = relay.flows[0].server_to_client
    assert attempts == 2 and len(api.charges) == 1
    assert lost.endswith(resp.body) and resp.status == 201
    assert 0 < redis.ttl("idem:k-replay") <= 86400


def test_mismatch_422_in_flight_409_missing_key_400(redis):
    api = PaymentAPI(redis)
    with HTTPServer(api) as srv:
        assert pay(srv.url, PAYMENT, key="k-mis")[0].status == 201
        assert pay(srv.url, {**PAYMENT, "amount": 501}, key="k-mis")[0].status == 422
        assert pay(srv.url, PAYMENT)[0].status == 400
        with api.hold() as entered:
            first = threading.Thread(target=pay, args=(srv.url, PAYMENT), kwargs={"key": "k-fly"})
            first.start()
            assert entered.wait(10)
            assert pay(srv.url, PAYMENT, key="k-fly")[0].status == 409
        first.join()
        assert pay(srv.url, PAYMENT, key="k-fly")[0].status == 201
        policy = send(srv.url, "GET", "/payments/idempotency-policy").json()
    assert policy["expires_after_seconds"] == 86400
    assert len(api.charges) == 2


def test_concurrent_duplicates_charge_once(redis):
    """Sixteen threads send the same key at once: SET NX lets exactly one charge (counted, not timed)."""
    api = PaymentAPI(redis)
    statuses = []
    with HTTPServer(api) as srv:
        threads = [threading.Thread(target=lambda: statuses.append(pay(srv.url, PAYMENT, key="k-herd")[0].status))
                   for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(api.charges) == 1
    assert len(statuses) == 16 and set(statuses) <= {201, 409}


def test_keys_expire(redis):
    api = PaymentAPI(redis, ttl=1)
    with HTTPServer(api) as srv:
        pay(srv.url, PAYMENT, key="k-exp")
        redis.delete("idem:k-exp")          # what expiry does after 1 s, without waiting for it
        pay(srv.url, PAYMENT, key="k-exp")
    assert len(api.charges) == 2
    assert json.loads(redis.get("idem:k-exp"))["state"] == "done"
