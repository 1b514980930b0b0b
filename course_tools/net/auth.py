"""An orders API on loopback that authenticates with a session cookie or a bearer JWT.

    with redis_client() as r, OrdersAPI(r, clock=VirtualClock(1.8e9)) as api:
        send(api.url, "GET", "/orders/1")                      # 401 + WWW-Authenticate
        login = api.login("alice")                             # session cookie + access token

- **401** when the caller is not authenticated, with ``WWW-Authenticate: Bearer`` (RFC 9110
  §15.5.2, RFC 6750 §3); **403** when an authenticated caller may not do this (RFC 9110 §15.5.4).
- Sessions live in Redis under an opaque id (:class:`~course_tools.security.sessions.SessionStore`);
  access tokens are RS256 JWTs validated by :func:`course_tools.security.tokens.validate` on the
  server's (virtual) clock, and, with ``deny_list=True``, checked against a Redis deny-list by ``jti``.
- ``check_ownership=False`` reproduces *broken object level authorization* (OWASP API Security
  Top 10 2023, API1): any customer reads any order by changing the id in the URL.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Callable

from course_tools.net.http import HTTPServer, Request, Response
from course_tools.security import tokens
from course_tools.security.passwords import hash_password, verify_password
from course_tools.security.sessions import DenyList, SessionStore, cookie_header, new_id

__all__ = ["OrdersAPI", "USERS", "ORDERS", "authorize"]

# Demo accounts (the passwords are part of the exercise, not secrets) and orders.
USERS = {
    "alice": {"password": "alice-demo-password", "roles": ["customer"]},
    "bob": {"password": "bob-demo-password", "roles": ["customer"]},
    "carol": {"password": "carol-demo-password", "roles": ["support"]},
    "dave": {"password": "dave-demo-password", "roles": ["admin"]},
}
ORDERS = {1: {"owner": "alice", "item": "mug", "total": 8},
          2: {"owner": "bob", "item": "kettle", "total": 35},
          3: {"owner": "alice", "item": "teapot", "total": 21}}


@lru_cache(maxsize=1)
def _user_hashes() -> dict[str, str]:
    """Argon2id hashes of the demo passwords, computed once per process (each costs tens of ms)."""
    return {u: hash_password(v["password"]) for u, v in USERS.items()}


def authorize(user: dict, action: str, order: dict, *, check_ownership: bool = True) -> bool:
    """Role and object-level check: admins anything, support reads any order, customers read
    their own. Default deny: anything not granted here is refused."""
    roles = set(user.get("roles", ()))
    if "admin" in roles:
        return True
    if action == "read" and "support" in roles:
        return True
    if action == "read" and "customer" in roles:
        return order["owner"] == user["sub"] or not check_ownership
    return False


class OrdersAPI(HTTPServer):
    name = "orders-api"
    realm = "orders"

    def __init__(self, redis, *, clock: Callable[[], float], signer: tokens.Signer | None = None,
                 check_ownership: bool = True, deny_list: bool = False, access_ttl: int = 900,
                 audience: str = "orders-api") -> None:
        super().__init__(self._route)
        self.clock, self.check_ownership, self.access_ttl, self.audience = clock, check_ownership, access_ttl, audience
        self.signer = signer or tokens.make_signer("https://login.orders.example")
        self.sessions = SessionStore(redis)
        self.deny = DenyList(redis) if deny_list else None
        self._hashes = _user_hashes()
        self.work = {"session_lookups": 0, "signature_checks": 0, "deny_list_lookups": 0}

    # -- authentication --------------------------------------------------------------
    def _unauthenticated(self, error: str | None = None) -> Response:
        challenge = f'Bearer realm="{self.realm}"' + (f', error="{error}"' if error else "")
        return Response.json(401, {"error": "authentication required"}, WWW_Authenticate=challenge)

    def _caller(self, req: Request) -> tuple[dict | None, str | None]:
        """(user, error): the user from the session cookie or the bearer token."""
        auth = req.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":      # the scheme name is case-insensitive (RFC 9110 §11.1)
            self.work["signature_checks"] += 1
            try:
                claims = tokens.validate(auth[7:], self.signer.verification_keys, audience=self.audience,
                                         issuer=self.signer.issuer, now=self.clock())
            except tokens.InvalidToken:
                return None, "invalid_token"
            if self.deny is not None:
                self.work["deny_list_lookups"] += 1
                if self.deny.is_revoked(claims["jti"]):
                    return None, "invalid_token"
            return {"sub": claims["sub"], "roles": claims["roles"], "jti": claims["jti"], "exp": claims["exp"]}, None
        cookie = SimpleCookie(req.headers.get("Cookie", ""))
        if "sid" in cookie:
            self.work["session_lookups"] += 1
            user = self.sessions.get(cookie["sid"].value)
            return (user, None) if user else (None, None)
        return None, None

    def _route(self, req: Request) -> Response:
        path = req.path.split("?")[0]
        if req.method == "POST" and path == "/login":
            return self._login(req)
        user, error = self._caller(req)
        if user is None:
            return self._unauthenticated(error)
        if req.method == "POST" and path == "/logout":
            return self._logout(req, user)
        m = re.fullmatch(r"/orders/(\d+)", path)
        if req.method == "GET" and m:
            order = ORDERS.get(int(m.group(1)))
            if order is None:
                return Response.json(404, {"error": "no such order"})
            if not authorize(user, "read", order, check_ownership=self.check_ownership):
                return Response.json(403, {"error": "forbidden"})
            return Response.json(200, {"id": int(m.group(1)), **order})
        if req.method == "GET" and path == "/admin/stats":
            if "admin" not in user["roles"]:
                return Response.json(403, {"error": "admins only"})
            return Response.json(200, {"orders": len(ORDERS)})
        return Response.json(404, {"error": "not found"})

    def _login(self, req: Request) -> Response:
        try:
            form = json.loads(req.body or b"{}")
            name, password = form["username"], form["password"]
        except (ValueError, KeyError, TypeError):
            return Response.json(400, {"error": "send JSON with username and password"})
        # an unknown user costs the same Argon2id verification as a wrong password, so that the response
        # time does not tell an attacker which usernames exist (OWASP Authentication Cheat Sheet)
        known = name in self._hashes
        if not verify_password(self._hashes[name] if known else self._hashes["alice"], password) or not known:
            return self._unauthenticated()
        user = {"sub": name, "roles": USERS[name]["roles"]}
        sid = self.sessions.create(user)
        now = int(self.clock())
        access = self.signer.sign({"iss": self.signer.issuer, "sub": name, "aud": self.audience, "iat": now,
                                   "exp": now + self.access_ttl, "jti": new_id(16), "roles": user["roles"]})
        return Response.json(200, {"access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl},
                             Set_Cookie=cookie_header("sid", sid, max_age=self.sessions.ttl),
                             Cache_Control="no-store")

    def _logout(self, req: Request, user: dict) -> Response:
        cookie = SimpleCookie(req.headers.get("Cookie", ""))
        if "sid" in cookie:
            self.sessions.destroy(cookie["sid"].value)
        if "jti" in user and self.deny is not None:
            self.deny.revoke(user["jti"], user["exp"], self.clock())
        return Response(204, {"Set-Cookie": cookie_header("sid", "", max_age=0)})

    # -- a client for the lesson -----------------------------------------------------
    def login(self, username: str) -> dict:
        """Log in over HTTP; returns ``{"cookie": "sid=...", "token": ..., "set_cookie": ...}``."""
        from course_tools.net.wire import send

        resp = send(self.url, "POST", "/login", headers={"Content-Type": "application/json"},
                    body=json.dumps({"username": username, "password": USERS[username]["password"]}))
        if resp.status != 200:
            raise RuntimeError(f"login failed: {resp.status}")
        set_cookie = resp.header("Set-Cookie")
        return {"cookie": set_cookie.split(";")[0], "token": json.loads(resp.body)["access_token"],
                "set_cookie": set_cookie}
