"""Does the loopback orders API answer 401 vs 403 correctly, leak with BOLA only when told, and revoke as the lesson says?"""

import pytest

from course_tools.clock import VirtualClock
from course_tools.net.auth import OrdersAPI, authorize
from course_tools.net.redis import redis_client
from course_tools.net.wire import send

pytestmark = [pytest.mark.redis, pytest.mark.network]
T0 = 1_800_000_000


def get(api, path, **headers):
    return send(api.url, "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})


def test_401_carries_a_challenge_and_403_does_not():
    with redis_client() as r, OrdersAPI(r, clock=VirtualClock(T0)) as api:
        anon = get(api, "/orders/1")
        assert anon.status == 401 and anon.header("WWW-Authenticate") == 'Bearer realm="orders"'
        bad = get(api, "/orders/1", Authorization="Bearer not.a.token")
        assert bad.status == 401 and 'error="invalid_token"' in bad.header("WWW-Authenticate")
        alice = api.login("alice")
        forbidden = get(api, "/admin/stats", Cookie=alice["cookie"])
        assert forbidden.status == 403 and forbidden.header("WWW-Authenticate") is None
        assert get(api, "/orders/99", Cookie=alice["cookie"]).status == 404


@pytest.mark.parametrize("check_ownership,status", [(False, 200), (True, 403)])
def test_bola_only_without_the_ownership_check(check_ownership, status):
    with redis_client() as r, OrdersAPI(r, clock=VirtualClock(T0), check_ownership=check_ownership) as api:
        alice = api.login("alice")
        assert get(api, "/orders/1", Cookie=alice["cookie"]).status == 200
        assert get(api, "/orders/2", Cookie=alice["cookie"]).status == status
        assert get(api, "/orders/2", Authorization="Bearer " + alice["token"]).status == status
        assert get(api, "/orders/1", Authorization="bearer " + alice["token"]).status == 200   # RFC 9110 §11.1


def test_wrong_password_is_401():
    with redis_client() as r, OrdersAPI(r, clock=VirtualClock(T0)) as api:
        resp = send(api.url, "POST", "/login", headers={"Content-Type": "application/json"},
                    body='{"username": "alice", "password": "nope"}')
        assert resp.status == 401 and resp.header("Set-Cookie") is None


def test_an_unknown_user_costs_a_password_verification_too(monkeypatch):
    """Does a login for a user that does not exist run the same Argon2id check as a wrong password (so its
    response time does not reveal which usernames exist), and get the same 401?"""
    import course_tools.net.auth as auth_mod

    calls = []
    real = auth_mod.verify_password
    monkeypatch.setattr(auth_mod, "verify_password", lambda stored, pw: calls.append(pw) or real(stored, pw))
    with redis_client() as r, OrdersAPI(r, clock=VirtualClock(T0)) as api:
        for user, pw in (("alice", "nope"), ("mallory", "alice-demo-password")):
            resp = send(api.url, "POST", "/login", headers={"Content-Type": "application/json"},
                        body=f'{{"username": "{user}", "password": "{pw}"}}')
            assert resp.status == 401 and resp.header("Set-Cookie") is None
    assert calls == ["nope", "alice-demo-password"]


@pytest.mark.parametrize("deny_list", [False, True])
def test_logout_kills_the_session_at_once_and_the_jwt_only_with_a_deny_list(deny_list):
    """Session: dead at once. JWT: alive until exp (exclusive) without a deny-list, dead at once with one."""
    clock = VirtualClock(T0)
    with redis_client() as r, OrdersAPI(r, clock=clock, deny_list=deny_list, access_ttl=900) as api:
        c = api.login("alice")
        assert send(api.url, "POST", "/logout", headers={"Cookie": c["cookie"], "Authorization": "Bearer " + c["token"]}).status == 204
        assert get(api, "/orders/1", Cookie=c["cookie"]).status == 401
        clock.advance(899)
        assert get(api, "/orders/1", Authorization="Bearer " + c["token"]).status == (401 if deny_list else 200)
        clock.advance(1)
        assert get(api, "/orders/1", Authorization="Bearer " + c["token"]).status == 401


def test_authorize_policy():
    order = {"owner": "alice"}
    assert authorize({"sub": "alice", "roles": ["customer"]}, "read", order)
    assert not authorize({"sub": "bob", "roles": ["customer"]}, "read", order)
    assert authorize({"sub": "carol", "roles": ["support"]}, "read", order)
    assert not authorize({"sub": "carol", "roles": ["support"]}, "delete", order)
    assert authorize({"sub": "dave", "roles": ["admin"]}, "delete", order)
    assert not authorize({"sub": "eve", "roles": []}, "read", order)
