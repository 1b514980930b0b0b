"""The chapter 2.1 shop API (course_tools.net.api) and the browser rules (course_tools.net.browser)."""

import json

import pytest

from course_tools.clock import VirtualClock
from course_tools.net import HTTPServer
from course_tools.net.api import ShopAPI
from course_tools.net.browser import cookie_report, cors_decision
from course_tools.net.wire import send

pytestmark = pytest.mark.network
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def shop():
    clock = VirtualClock()
    api = ShopAPI(clock=clock)
    api.orders[1] = {"item": "tea", "qty": 2}
    api.next_id = 2
    with HTTPServer(api) as srv:
        yield api, srv.url, clock


def test_every_status_code_of_the_lesson(shop):
    """Does each scenario get the code, and the header field, RFC 9110 asks for?"""
    api, url, _ = shop
    r = send(url, "POST", "/orders", headers=JSON, body=json.dumps({"item": "cake"}))
    assert r.status == 201 and r.header("Location") == "/orders/2"
    assert send(url, "POST", "/orders", headers=JSON, body="{oops").status == 400
    r = send(url, "POST", "/orders", headers=JSON, body=json.dumps({"item": "tea", "qty": 0}))
    assert r.status == 422 and r.header("Content-Type") == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["type"].startswith("https://shop.example/problems/")
    assert send(url, "POST", "/orders", headers={"Content-Type": "text/xml"}, body="<x/>").status == 415
    r = send(url, "GET", "/account")
    assert r.status == 401 and r.header("WWW-Authenticate").startswith("Bearer")
    assert send(url, "GET", "/account", headers={"Authorization": "Bearer alice-token"}).status == 200
    assert send(url, "GET", "/admin/orders", headers={"Authorization": "Bearer alice-token"}).status == 403
    assert send(url, "GET", "/orders/99").status == 404
    r = send(url, "DELETE", "/orders")
    assert r.status == 405 and "POST" in r.header("Allow")
    api.ship(1)
    assert send(url, "DELETE", "/orders/1").status == 409
    r = send(url, "PUT", "/orders/1", headers={**JSON, "If-Match": '"old"'}, body=json.dumps({"item": "tea"}))
    assert r.status == 412
    etag = send(url, "GET", "/orders/1").header("ETag")
    assert send(url, "GET", "/orders/1", headers={"If-None-Match": etag}).status == 304
    r = send(url, "PUT", "/orders/1", headers={**JSON, "If-Match": etag}, body=json.dumps({"item": "tea", "qty": 5}))
    assert r.status == 200 and api.orders[1]["qty"] == 5
    assert send(url, "DELETE", "/orders/2").status == 204
    api.maintenance = True
    r = send(url, "GET", "/orders")
    assert r.status == 503 and r.header("Retry-After") == "120"


def test_rate_limit_follows_the_virtual_clock(shop):
    """Is the 4th search in 10 s refused with an exact Retry-After, and allowed again later?"""
    _, url, clock = shop
    assert [send(url, "GET", "/search?q=t").status for _ in range(3)] == [200, 200, 200]
    clock.advance(4)
    r = send(url, "GET", "/search?q=t")
    assert r.status == 429 and r.header("Retry-After") == "6"
    clock.advance(6)
    assert send(url, "GET", "/search?q=t").status == 200


def test_content_negotiation_and_vary(shop):
    _, url, _ = shop
    j = send(url, "GET", "/orders/1", headers={"Accept": "application/json"})
    c = send(url, "GET", "/orders/1", headers={"Accept": "text/csv"})
    assert j.header("Content-Type") == "application/json" and c.header("Content-Type") == "text/csv"
    assert j.header("Vary") == c.header("Vary") == "Accept" and j.header("ETag") != c.header("ETag")
    assert send(url, "GET", "/orders/1", headers={"Accept": "image/png"}).status == 406


def test_cors_preflight_and_the_browsers_decision(shop):
    """Does the preflight answer allow exactly the listed origin, method and headers?"""
    _, url, _ = shop
    ask = {"Origin": "https://app.shop.example", "Access-Control-Request-Method": "PUT"}
    ok = send(url, "OPTIONS", "/orders/1", headers=ask)
    assert ok.status == 204 and ok.header("Access-Control-Allow-Origin") == "https://app.shop.example"
    h = dict(ok.headers)
    assert cors_decision(h, origin="https://app.shop.example", method="PUT", request_headers=("If-Match",),
                         credentials=True).allowed
    assert not cors_decision(h, origin="https://app.shop.example", method="PATCH").allowed
    evil = send(url, "OPTIONS", "/orders/1", headers={**ask, "Origin": "https://evil.example"})
    assert not cors_decision(dict(evil.headers), origin="https://evil.example", method="PUT").allowed
    star = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "PUT"}
    assert cors_decision(star, origin="https://a.example", method="PUT").allowed
    assert not cors_decision(star, origin="https://a.example", method="PUT", credentials=True).allowed


@pytest.mark.parametrize("cookie, accepted", [
    ("__Host-s=1; Secure; Path=/; HttpOnly; SameSite=Lax", True),
    ("__Host-s=1; Secure; Path=/; Domain=shop.example", False),
    ("__Host-s=1; Path=/", False),
    ("__Secure-s=1; Secure", True),
    ("s=1; SameSite=None", False),
    ("s=1", True),
])
def test_cookie_prefix_and_samesite_rules(cookie, accepted):
    assert cookie_report(cookie).accepted is accepted


def test_secure_cookie_from_plain_http_is_ignored():
    assert not cookie_report("s=1; Secure", secure_origin=False).accepted


def test_plain_options_is_answered_with_allow_and_every_listed_method_is_served(shop):
    """Regression: a plain OPTIONS got 405 while Allow listed OPTIONS. Is every method in Allow
    answered with something other than 405 (RFC 9110 §9.3.7, §15.5.6)?"""
    _, url, _ = shop
    for path in ("/orders", "/orders/1"):
        r = send(url, "OPTIONS", path)
        assert r.status == 204, path
        allowed = [m.strip() for m in r.header("Allow").split(",")]
        assert "OPTIONS" in allowed and "GET" in allowed
        for method in allowed:
            body = json.dumps({"item": "tea", "qty": 1}) if method in ("POST", "PUT") else json.dumps({"add": 1})
            assert send(url, method, path, headers=JSON, body=body).status != 405, (method, path)


def test_patch_adds_to_the_quantity_each_time(shop):
    """Is PATCH {"add": k} relative to the current state, so that two identical PATCHes add twice?"""
    api, url, _ = shop
    for want in (3, 4):
        r = send(url, "PATCH", "/orders/1", headers=JSON, body=json.dumps({"add": 1}))
        assert r.status == 200 and r.json()["qty"] == want == api.orders[1]["qty"]
    assert send(url, "PATCH", "/orders/1", headers=JSON, body=json.dumps({"add": 0})).status == 422
    assert send(url, "PATCH", "/orders/1", headers=JSON, body="{").status == 400
    assert send(url, "PATCH", "/orders/9", headers=JSON, body=json.dumps({"add": 1})).status == 404
    api.ship(1)
    assert send(url, "PATCH", "/orders/1", headers=JSON, body=json.dumps({"add": 1})).status == 409


def test_403_says_the_same_credentials_will_not_help(shop):
    """RFC 9110 §15.5.4: re-sending the *same* credentials will not help; other credentials might."""
    _, url, _ = shop
    r = send(url, "GET", "/admin/orders", headers={"Authorization": "Bearer alice-token"})
    assert r.status == 403 and "same credentials" in r.json()["detail"]
    assert send(url, "GET", "/admin/orders", headers={"Authorization": "Bearer root-token"}).status == 200
