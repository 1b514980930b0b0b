"""A payment endpoint that charges once per ``Idempotency-Key``, with the keys in Redis.

    with redis_client() as r, HTTPServer(PaymentAPI(r)) as srv, Relay(srv.port, drop_responses=1) as relay:
        pay(relay.url, {"amount": 500, "currency": "GBP"}, key="k-1", retries=2)

``PaymentAPI(redis=None)`` is the naive endpoint: every POST charges. With a Redis client it
follows the IETF Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header) and
Stripe's documented behaviour:

1. No ``Idempotency-Key`` on ``POST /payments`` -> **400**.
2. The key is *claimed before any work* with one atomic ``SET key value NX EX ttl``
   (Redis docs, *SET*): only one request can win it, however many arrive together.
3. The winner charges, then overwrites the record with the response (status and exact
   body), keeping the expiry. A retry with the same key and the same payload gets that
   response back byte for byte and charges nothing.
4. Same key, different payload (compared by a SHA-256 fingerprint of the canonical JSON)
   -> **422**. Same key while the first request is still running -> **409**.
5. Keys expire after ``ttl`` seconds (24 h by default, Stripe's documented minimum before
   pruning); the policy is published at ``GET /payments/idempotency-policy``.

One deliberate difference from Stripe, which saves the result once execution begins (500s
included): if the charge itself raises, this endpoint deletes the claim, so a retry may run
the work again. ``charges`` counts the payments actually made, so experiments count double charges.
:meth:`PaymentAPI.hold` pauses the next charge until released, so an experiment can send a
retry *while* the first request is in flight, by design rather than by timing luck.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from typing import Iterator

from course_tools.net.http import Request, Response
from course_tools.net.wire import NoResponse, RawResponse, send

__all__ = ["PaymentAPI", "pay", "fingerprint", "DEFAULT_TTL"]

DEFAULT_TTL = 24 * 3600


def fingerprint(body: bytes) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces): same payload, same fingerprint."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _problem(status: int, title: str, detail: str, **headers: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response.json(status, body, content_type="application/problem+json", **headers)


class PaymentAPI:
    """``POST /payments`` (JSON ``{"amount": int, "currency": str}``) -> 201 and the payment."""

    def __init__(self, redis=None, *, ttl: int = DEFAULT_TTL, prefix: str = "idem:") -> None:
        self.redis = redis
        self.ttl = int(ttl)
        self.prefix = prefix
        self.charges: list[dict] = []
        self._lock = threading.Lock()
        self._hold: tuple[threading.Event, threading.Event] | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[threading.Event]:
        """Pause the next charge: yields an event set once a request is inside the charge;
        the charge completes when the ``with`` block exits."""
        entered, release = threading.Event(), threading.Event()
        self._hold = (entered, release)
        try:
            yield entered
        finally:
            release.set()
            self._hold = None

    def _charge(self, payment: dict) -> dict:
        hold = self._hold
        if hold is not None:
            entered, release = hold
            entered.set()
            release.wait(30)
        with self._lock:
            record = {"id": f"pay_{len(self.charges) + 1:04d}", "amount": payment["amount"],
                      "currency": payment["currency"], "status": "succeeded"}
            self.charges.append(record)
        return record

    def __call__(self, request: Request) -> Response:
        path = request.path.split("?")[0]
        if path == "/payments/idempotency-policy" and request.method == "GET":
            return Response.json(200, {"header": "Idempotency-Key", "expires_after_seconds": self.ttl,
                                       "fingerprint": "sha256 of the canonical JSON body"})
        if path != "/payments":
            return _problem(404, "Not Found", "no such resource")
        if request.method != "POST":
            return _problem(405, "Method Not Allowed", "POST a payment", Allow="POST")
        try:
            payment = json.loads(request.body)
            if type(payment.get("amount")) is not int or payment["amount"] < 1 or type(payment.get("currency")) is not str:
                raise ValueError
        except (ValueError, AttributeError):
            return _problem(400, "Bad Request", 'body must be JSON {"amount": positive int, "currency": str}')
        if self.redis is None:                          # the naive endpoint
            return Response.json(201, self._charge(payment))
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _problem(400, "Bad Request", "this endpoint requires an Idempotency-Key header")
        return self._idempotent(self.prefix + key, fingerprint(request.body), payment)

    def _idempotent(self, rkey: str, fp: str, payment: dict) -> Response:
        claim = json.dumps({"state": "in-flight", "fingerprint": fp})
        if self.redis.set(rkey, claim, nx=True, ex=self.ttl):       # we own the key: do the work once
            try:
                result = self._charge(payment)
            except Exception:
                self.redis.delete(rkey)                            # nothing done: a retry is safe
                raise
            resp = Response.json(201, result)
            done = {"state": "done", "fingerprint": fp, "status": resp.status,
                    "content_type": resp.headers["Content-Type"], "body": resp.body.decode()}
            self.redis.set(rkey, json.dumps(done), xx=True, keepttl=True)
            return resp
        raw = self.redis.get(rkey)
        if raw is None:      # expired between the SET and the GET: treat as a fresh request
            return self._idempotent(rkey, fp, payment)
        record = json.loads(raw)
        if record["fingerprint"] != fp:
            return _problem(422, "Unprocessable Content",
                            "this Idempotency-Key was used with a different request payload")
        if record["state"] == "in-flight":
            return _problem(409, "Conflict", "a request with this Idempotency-Key is still being processed",
                            **{"Retry-After": "1"})
        return Response(record["status"], {"Content-Type": record["content_type"]}, record["body"].encode())


def pay(url: str, payment: dict, *, key: str | None = None, retries: int = 0, timeout: float = 5.0
        ) -> tuple[RawResponse | None, int]:
    """POST a payment, retrying up to ``retries`` times when the response is lost.

    Returns ``(last response or None, attempts made)``.
    """
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    body = json.dumps(payment)
    attempts = 0
    for _ in range(retries + 1):
        attempts += 1
        try:
            return send(url, "POST", "/payments", headers=headers, body=body, timeout=timeout), attempts
        except NoResponse:
            continue
    return None, attempts
