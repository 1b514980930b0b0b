"""Do sessions, the jti deny-list and rotating refresh tokens behave as the lesson says, in a real Redis?"""

import base64

import pytest

from course_tools.net.redis import redis_client
from course_tools.security.sessions import (DenyList, RefreshReuse, RefreshTokens, SessionStore, cookie_header,
                                            new_id)

pytestmark = pytest.mark.redis


def test_ids_are_long_and_unique():
    """At least 64 bits (OWASP); here 256, and no collisions in 10,000 draws."""
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(base64.urlsafe_b64decode(i + "=")) * 8 >= 64 for i in list(ids)[:50])


def test_cookie_carries_the_three_flags():
    h = cookie_header("sid", "abc", max_age=60)
    assert h.startswith("sid=abc; Path=/; Max-Age=60") and {"Secure", "HttpOnly", "SameSite=Lax"} <= set(h.split("; "))


def test_session_lifecycle():
    """Create, read, destroy: after destroy the id is worthless at once; Redis holds a TTL."""
    with redis_client() as r:
        store = SessionStore(r, ttl=100)
        sid = store.create({"sub": "alice"})
        assert store.get(sid) == {"sub": "alice"} and 0 < r.ttl("session:" + sid) <= 100
        assert store.destroy(sid) and store.get(sid) is None and store.get(None) is None


def test_deny_list_entries_live_until_the_token_expires():
    with redis_client() as r:
        deny = DenyList(r)
        deny.revoke("j1", exp=1000, now=900)
        assert deny.is_revoked("j1") and not deny.is_revoked("j2")
        assert 100 <= r.ttl("deny:j1") <= 101


def test_rotation_and_reuse_detection():
    """A spent refresh token presented again revokes its whole family; other families are untouched."""
    with redis_client() as r:
        rt = RefreshTokens(r)
        a1, b1 = rt.issue("alice"), rt.issue("bob")
        sub, a2 = rt.rotate(a1)
        assert sub == "alice" and a2 != a1
        with pytest.raises(RefreshReuse):
            rt.rotate(a1)
        with pytest.raises(RefreshReuse):
            rt.rotate(a2)                      # the legitimate successor dies with the family
        assert rt.rotate(b1)[0] == "bob"
        with pytest.raises(KeyError):
            rt.rotate("never-issued")
        assert not any(a1 in k.decode() if isinstance(k, bytes) else a1 in k for k in r.keys("*"))  # only hashes
