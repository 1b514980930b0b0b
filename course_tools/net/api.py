"""A small shop API that answers with the status codes and headers of RFC 9110, on purpose.

``ShopAPI`` is a plain ``app(request) -> Response`` for :class:`course_tools.net.http.HTTPServer`.
It keeps its state in memory (``api.orders``) so an experiment can count what a request
*did*, not only what it answered. Every error is an RFC 9457 problem-details object
(``application/problem+json``).

=======================================  ===============================================
request                                  answer
=======================================  ===============================================
``GET /hello``                           200, text
``GET /orders``                          200, the list
``POST /orders`` (JSON)                  201 + Location; 400 malformed JSON; 415 not JSON;
                                         422 well-formed but invalid (unknown item, qty < 1)
``DELETE /orders``                       405 + Allow
``GET /orders/N``                        200 + ETag + Vary: Accept (JSON or CSV by Accept);
                                         304 on If-None-Match; 404; 406 unacceptable Accept
``PUT /orders/N`` (JSON)                 201 created / 200 replaced; 412 If-Match stale
``PATCH /orders/N`` (JSON ``{"add": k}``) 200, adds ``k`` to the quantity (not idempotent:
                                         sent twice, it adds twice); 404; 409 shipped; 422
``DELETE /orders/N``                     204; 404 if absent; 409 if the order has shipped
``GET /account``                         401 + WWW-Authenticate without a valid token
``GET /admin/orders``                    403 for a valid token without the admin role
``GET /search?q=...``                    429 + Retry-After after 3 requests per 10 s
``POST /login``                          200 + Set-Cookie ``__Host-session``
``OPTIONS /orders/N`` with Origin        CORS preflight answer (allowed origins only)
``OPTIONS /orders[/N]`` (plain)          204 + Allow (RFC 9110 §9.3.7): the methods the resource supports
any, while ``api.maintenance``           503 + Retry-After
=======================================  ===============================================
"""

from __future__ import annotations

import json
import math
import random
import threading
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from course_tools.net.conditional import conditional_get
from course_tools.net.http import Request, Response, strong_etag

__all__ = ["ShopAPI", "problem", "ITEMS", "TOKENS"]

ITEMS = {"tea": 4, "coffee": 6, "cake": 3}          # item -> price
TOKENS = {"alice-token": ("alice", "customer"), "root-token": ("root", "admin")}
REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 412: "Precondition Failed",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, *, type: str = "about:blank", title: str | None = None,
            instance: str | None = None, **headers: str) -> Response:
    """An RFC 9457 problem-details response. With ``type`` ``about:blank`` the title is the
    status phrase (RFC 9457 §4.2.1)."""
    body = {"type": type, "title": title or REASONS.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    return Response.json(status, body, content_type="application/problem+json", **headers)


def _accept_prefers(accept: str | None, offered: list[str]) -> str | None:
    """Pick from ``offered`` by the Accept field's q-values (RFC 9110 §12.5.1); None = 406."""
    if not accept:
        return offered[0]
    ranges = []
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    best, best_q = None, 0.0
    for media in offered:
        main = media.split("/")[0]
        q = max((rq for r, rq in ranges if r in (media, f"{main}/*", "*/*")), default=0.0)
        if q > best_q:
            best, best_q = media, q
    return best


class ShopAPI:
    """An in-memory order API; ``clock`` drives the rate limit, ``rng`` the session ids."""

    ALLOWED_ORIGINS = ("https://app.shop.example",)
    RATE_LIMIT, RATE_WINDOW = 3, 10.0

    def __init__(self, *, clock: Callable[[], float] | None = None, rng: random.Random | None = None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.rng = rng or random.Random(0)
        self.orders: dict[int, dict] = {}
        self.shipped: set[int] = set()
        self.next_id = 1
        self.maintenance = False
        self._window: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    # ---- helpers ----------------------------------------------------------------
    def _user(self, req: Request):
        auth = req.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return TOKENS.get(token.strip()) if scheme.lower() == "bearer" else None

    @staticmethod
    def _json_object(req: Request):
        """``(dict, None)`` or ``(None, error response)``: 415 not JSON, 400 malformed."""
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return None, problem(415, f"send application/json, not {ctype or 'nothing'}", Accept="application/json")
        try:
            data = json.loads(req.body or b"")
        except ValueError as exc:
            return None, problem(400, f"the body is not valid JSON ({exc.msg})")
        if not isinstance(data, dict):
            return None, problem(400, "the body must be a JSON object")
        return data, None

    def _parse_order(self, req: Request):
        """``(order, None)`` or ``(None, error response)`` — 415, 400, 422 in that order."""
        data, error = self._json_object(req)
        if error:
            return None, error
        item, qty = data.get("item"), data.get("qty", 1)
        if item not in ITEMS:
            return None, problem(422, f"we do not sell {item!r}", type="https://shop.example/problems/unknown-item",
                                 title="Unknown item")
        if type(qty) is not int or qty < 1:
            return None, problem(422, f"qty must be a whole number >= 1, got {qty!r}",
                                 type="https://shop.example/problems/invalid-quantity", title="Invalid quantity")
        return {"item": item, "qty": qty}, None

    def order_count(self) -> int:
        with self._lock:
            return len(self.orders)

    def ship(self, order_id: int) -> None:
        with self._lock:
            self.shipped.add(order_id)

    # ---- routing ----------------------------------------------------------------
    def __call__(self, req: Request) -> Response:
        if self.maintenance:
            return problem(503, "down for maintenance", Retry_After="120")
        url = urlsplit(req.path)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        parts = path.strip("/").split("/")
        with self._lock:
            if path == "/hello":
                return Response.text(200, "hello from 127.0.0.1\n")
            if path == "/orders":
                return self._collection(req)
            if parts[0] == "orders" and len(parts) == 2 and parts[1].isdigit():
                return self._order(req, int(parts[1]))
            if path == "/account":
                user = self._user(req)
                if user is None:
                    return problem(401, "send Authorization: Bearer <token>",
                                   WWW_Authenticate='Bearer realm="shop"')
                return Response.json(200, {"user": user[0], "role": user[1]})
            if path == "/admin/orders":
                user = self._user(req)
                if user is None:
                    return problem(401, "send Authorization: Bearer <token>",
                                   WWW_Authenticate='Bearer realm="shop"')
                if user[1] != "admin":
                    return problem(403, f"{user[0]} is not an admin; sending the same credentials again will not help")
                return Response.json(200, sorted(self.orders))
            if path == "/search":
                return self._search(req, query.get("q", [""])[0])
            if path == "/login" and req.method == "POST":
                sid = "".join(self.rng.choice("0123456789abcdef") for _ in range(16))
                return Response(200, {
                    "Content-Type": "text/plain; charset=utf-8",
                    "Set-Cookie": f"__Host-session={sid}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600",
                }, b"logged in\n")
        return problem(404, f"nothing at {path}")

    COLLECTION_ALLOW = "GET, HEAD, POST, OPTIONS"
    ORDER_ALLOW = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"

    def _collection(self, req: Request) -> Response:
        if req.method == "OPTIONS":
            return Response(204, {"Allow": self.COLLECTION_ALLOW})
        if req.method in ("GET", "HEAD"):
            return Response.json(200, [{"id": i, **o} for i, o in sorted(self.orders.items())])
        if req.method == "POST":
            order, error = self._parse_order(req)
            if error:
                return error
            oid = self.next_id
            self.next_id += 1
            self.orders[oid] = order
            return Response.json(201, {"id": oid, **order}, Location=f"/orders/{oid}")
        return problem(405, f"{req.method} is not supported on /orders", Allow=self.COLLECTION_ALLOW)

    def _representation(self, oid: int) -> dict[str, bytes]:
        o = self.orders[oid]
        return {
            "application/json": json.dumps({"id": oid, **o}, sort_keys=True).encode(),
            "text/csv": f"id,item,qty\r\n{oid},{o['item']},{o['qty']}\r\n".encode(),
        }

    def _order(self, req: Request, oid: int) -> Response:
        origin = req.headers.get("Origin")
        if req.method == "OPTIONS" and origin and req.headers.get("Access-Control-Request-Method"):
            return self._preflight(origin)
        if req.method == "OPTIONS":
            # a plain OPTIONS asks what the resource supports (RFC 9110 §9.3.7)
            return Response(204, {"Allow": self.ORDER_ALLOW})
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin in self.ALLOWED_ORIGINS else {}
        if req.method in ("GET", "HEAD"):
            if oid not in self.orders:
                return problem(404, f"no order {oid}")
            reps = self._representation(oid)
            media = _accept_prefers(req.headers.get("Accept"), list(reps))
            if media is None:
                return problem(406, f"available as {', '.join(reps)}")
            body = reps[media]
            vary = "Accept, Origin" if cors else "Accept"
            return conditional_get(req, body, content_type=media, cache_control="private, max-age=60",
                                   extra_headers={**cors, "Vary": vary})
        if req.method == "PUT":
            order, error = self._parse_order(req)
            if error:
                return error
            if_match = req.headers.get("If-Match")
            if if_match is not None:
                current = strong_etag(self._representation(oid)["application/json"]) if oid in self.orders else None
                # strong comparison (RFC 9110 §13.1.1): weak tags never match
                tags = [t.strip() for t in if_match.split(",")]
                if current is None or not (if_match.strip() == "*" or current in tags):
                    return problem(412, "the order changed since you read it (If-Match did not match)")
            created = oid not in self.orders
            self.orders[oid] = order
            self.next_id = max(self.next_id, oid + 1)
            return Response.json(201 if created else 200, {"id": oid, **order},
                                 **({"Location": f"/orders/{oid}"} if created else {}))
        if req.method == "PATCH":
            return self._patch(req, oid)
        if req.method == "DELETE":
            if oid not in self.orders:
                return problem(404, f"no order {oid}")
            if oid in self.shipped:
                return problem(409, f"order {oid} has shipped and can no longer be deleted")
            del self.orders[oid]
            return Response(204, {})
        return problem(405, f"{req.method} is not supported on /orders/{oid}", Allow=self.ORDER_ALLOW)

    def _patch(self, req: Request, oid: int) -> Response:
        """``{"add": k}`` adds ``k`` to the quantity: a change *relative* to the current state, so
        the same PATCH sent twice adds twice (RFC 5789 §2: PATCH is neither safe nor idempotent)."""
        data, error = self._json_object(req)
        if error:
            return error
        if oid not in self.orders:
            return problem(404, f"no order {oid}")
        if oid in self.shipped:
            return problem(409, f"order {oid} has shipped and can no longer be changed")
        add = data.get("add")
        if type(add) is not int or add < 1:
            return problem(422, f"add must be a whole number >= 1, got {add!r}",
                           type="https://shop.example/problems/invalid-quantity", title="Invalid quantity")
        order = {**self.orders[oid], "qty": self.orders[oid]["qty"] + add}
        self.orders[oid] = order
        return Response.json(200, {"id": oid, **order})

    def _preflight(self, origin: str) -> Response:
        """Answer a CORS preflight (Fetch standard, "CORS protocol"): allowed origins only."""
        if origin not in self.ALLOWED_ORIGINS:
            return Response(204, {"Vary": "Origin"})
        return Response(204, {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, PUT, DELETE",
            "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })

    def _search(self, req: Request, q: str) -> Response:
        who = (self._user(req) or (req.client[0], ""))[0]
        now = self.clock()
        recent = [t for t in self._window.get(who, []) if now - t < self.RATE_WINDOW]
        if len(recent) >= self.RATE_LIMIT:
            wait = math.ceil(self.RATE_WINDOW - (now - recent[0]))
            self._window[who] = recent
            return problem(429, f"at most {self.RATE_LIMIT} searches per {self.RATE_WINDOW:g} s",
                           Retry_After=str(max(wait, 1)))
        recent.append(now)
        self._window[who] = recent
        hits = sorted(i for i in ITEMS if q.lower() in i)
        return Response.json(200, {"q": q, "hits": hits})
