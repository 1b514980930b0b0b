"""Server-side state for authentication, kept in Redis: sessions, a JWT deny-list, refresh tokens.

    with redis_client() as r:
        sessions = SessionStore(r)
        sid = sessions.create({"sub": "alice", "roles": ["customer"]})
        sessions.get(sid)          # {'sub': 'alice', ...}
        sessions.destroy(sid)      # logout: the next request is unauthenticated at once

Identifiers are opaque and come from the operating system's CSPRNG (``secrets``): 256 bits,
well above the 64 bits OWASP's Session Management Cheat Sheet asks for. They are never seeded —
predictable session ids are the bug — so lessons print only their length.

Time: Redis expires keys on its own (real) clock; the token logic that the lesson runs on a
virtual clock takes ``now`` explicitly.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Callable

__all__ = ["SessionStore", "DenyList", "RefreshTokens", "RefreshReuse", "new_id", "cookie_header"]


def new_id(nbytes: int = 32) -> str:
    """An opaque identifier with ``8 * nbytes`` bits from the CSPRNG, base64url text."""
    return secrets.token_urlsafe(nbytes)


def cookie_header(name: str, value: str, *, max_age: int | None = None, path: str = "/",
                  same_site: str = "Lax") -> str:
    """A ``Set-Cookie`` value with the flags OWASP asks for (RFC 6265 §4.1; SameSite from RFC 6265bis)."""
    parts = [f"{name}={value}", f"Path={path}", "Secure", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.insert(2, f"Max-Age={max_age}")
    return "; ".join(parts)


class SessionStore:
    """Sessions as Redis keys ``session:<id>`` holding JSON, expiring after ``ttl`` seconds."""

    def __init__(self, redis, ttl: int = 1800, prefix: str = "session:") -> None:
        self.redis, self.ttl, self.prefix = redis, ttl, prefix

    def create(self, user: dict) -> str:
        sid = new_id()
        self.redis.set(self.prefix + sid, json.dumps(user), ex=self.ttl)
        return sid

    def get(self, sid: str | None) -> dict | None:
        if not sid:
            return None
        raw = self.redis.get(self.prefix + sid)
        return None if raw is None else json.loads(raw)

    def destroy(self, sid: str) -> bool:
        return bool(self.redis.delete(self.prefix + sid))


class DenyList:
    """Revoked JWT ids (``jti``). An entry only has to outlive the token: it expires at ``exp``."""

    def __init__(self, redis, prefix: str = "deny:") -> None:
        self.redis, self.prefix = redis, prefix

    def revoke(self, jti: str, exp: float, now: float) -> None:
        self.redis.set(self.prefix + jti, "1", ex=max(1, int(exp - now) + 1))

    def is_revoked(self, jti: str) -> bool:
        return bool(self.redis.exists(self.prefix + jti))


class RefreshReuse(Exception):
    """A refresh token was presented a second time: the whole family has been revoked."""


class RefreshTokens:
    """Rotating refresh tokens with reuse detection (RFC 9700 §2.2.2).

    Each use returns a new refresh token and invalidates the old one. All tokens descended from
    one login form a *family*; presenting an already-used token means two parties hold it (one
    of them a thief), so the family is revoked and both must log in again. Only a SHA-256 of
    each token is stored, so a leak of Redis does not leak usable tokens.
    """

    def __init__(self, redis, *, ttl: int = 14 * 86400, prefix: str = "rt:") -> None:
        self.redis, self.ttl, self.prefix = redis, ttl, prefix

    def _key(self, token: str) -> str:
        return self.prefix + hashlib.sha256(token.encode()).hexdigest()

    def _mint(self, family: str, sub: str) -> str:
        token = new_id()
        self.redis.hset(self._key(token), mapping={"family": family, "sub": sub, "used": 0})
        self.redis.expire(self._key(token), self.ttl)
        return token

    def issue(self, sub: str) -> str:
        """A login: a new family and its first refresh token."""
        return self._mint(new_id(12), sub)

    def rotate(self, token: str) -> tuple[str, str]:
        """Spend ``token``: return ``(sub, new_token)``; raise on an unknown, revoked or reused token."""
        key = self._key(token)
        record = self.redis.hgetall(key)
        if not record:
            raise KeyError("unknown or expired refresh token")
        record = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in record.items()}
        family, sub = record["family"], record["sub"]
        if self.redis.exists(self.prefix + "revoked:" + family):
            raise RefreshReuse(f"family {family[:6]}… was revoked")
        if self.redis.hincrby(key, "used", 1) > 1:     # atomic: of two racing uses, one sees 2
            self.redis.set(self.prefix + "revoked:" + family, "1", ex=self.ttl)
            raise RefreshReuse(f"refresh token reused: family {family[:6]}… revoked")
        return sub, self._mint(family, sub)
