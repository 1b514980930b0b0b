"""Checks for the Architecture assessment (04_architecture).

Every probe calls the learner's code with plain data, course value types
(:mod:`course_tools.net.webtypes`) or test-owned fakes, and judges only plain-data results
with exact type checks; it never inspects the learner's objects. Failure messages describe
the behaviour that went wrong, never the test's data.

- payments (Strategy): a payment method the learner has never seen is registered at grading
  time and must work without editing the learner's code;
- middleware: the learner's pipeline is served as a real ASGI app by uvicorn on loopback and
  observed through HTTP requests;
- a trial-subscription service graded with a clock and a repository it has never seen.
"""

from __future__ import annotations

import json
import random
import re

from course_tools.grading.checks import fail as _fail
from course_tools.net.asgi import serve_pipeline
from course_tools.net.webtypes import WebRequest, WebResponse

__all__ = ["RecordingMethod", "check_builtin_methods", "check_new_method", "check_isolation", "check_validation",
           "MiddlewareRig", "check_auth", "check_request_id", "check_errors", "check_timing",
           "FakeClock", "DictRepo", "LoggingRepo", "check_trial_basics", "check_trial_injected", "check_trial_boundary"]

DAY = 86400


def _plain_dict(value, question, what):
    if type(value) is not dict:
        _fail(question, f"{what} should return a dict, got {type(value).__name__}.")
    return value


# ---------------------------------------------------------------------------------------------
# Task: payments with Strategy


class RecordingMethod:
    """A test-owned payment method: ``pay(amount_cents, currency) -> dict``; records every call."""

    def __init__(self, name: str, token: str) -> None:
        self.name, self.token, self.calls = name, token, []

    def pay(self, amount_cents, currency):
        self.calls.append((amount_cents, currency))
        return {"method": self.name, "charged_cents": amount_cents, "currency": currency, "ref": self.token}


def _checkout(processor, name, amount, currency, question):
    try:
        receipt = processor.checkout(name, amount, currency)
    except Exception as exc:
        _fail(question, f"checkout raised {type(exc).__name__} for a registered method and a valid payment.",
              "Look the method up in the registry filled by register(); do not branch on known names.")
    return _plain_dict(receipt, question, "checkout")


def check_builtin_methods(make_processor, question="?") -> None:
    """Card and invoice, as the task states them."""
    p = make_processor()
    rng = random.Random(41)
    for amount in [1, 99, 1000, 12345] + [rng.randrange(1, 10**6) for _ in range(20)]:
        card = _checkout(p, "card", amount, "EUR", question)
        if card != {"method": "card", "charged_cents": amount, "fee_cents": 30 + amount * 29 // 1000, "currency": "EUR"}:
            _fail(question, "a card payment returned the wrong receipt.",
                  "fee_cents is 30 + 2.9 % of the amount, rounded down (integer arithmetic).")
        inv = _checkout(p, "invoice", amount, "USD", question)
        if inv != {"method": "invoice", "charged_cents": 0, "due_cents": amount, "due_days": 30, "currency": "USD"}:
            _fail(question, "an invoice payment returned the wrong receipt.", "Re-read the invoice receipt's fields.")


def check_new_method(make_processor, question="?", seed: int = 7) -> None:
    """Methods the learner has never seen, registered at run time, are used exactly as given."""
    rng = random.Random(seed)
    p = make_processor()
    names = ["voucher", f"wallet_{rng.randrange(10**6)}"]
    methods = [RecordingMethod(n, f"t{rng.randrange(10**9)}") for n in names]
    for n, m in zip(names, methods):
        p.register(n, m)
    for n, m in zip(names, methods):
        for _ in range(3):
            amount, currency = rng.randrange(1, 10**6), rng.choice(["EUR", "USD", "JPY"])
            before = len(m.calls)
            receipt = _checkout(p, n, amount, currency, question)
            if len(m.calls) != before + 1:
                _fail(question, f"checkout with a newly registered method called its pay() {len(m.calls) - before} "
                                "times instead of once.",
                      "The processor must delegate to the registered strategy: no if/elif on the name, one call.")
            if m.calls[-1] != (amount, currency) or type(m.calls[-1][0]) is not int:
                _fail(question, "the new method's pay() was not called with (amount_cents, currency).")
            if receipt != {"method": n, "charged_cents": amount, "currency": currency, "ref": m.token}:
                _fail(question, "checkout must return the receipt the strategy returned, unchanged.")
    names_now = p.methods()
    if type(names_now) is not list or names_now != sorted(["card", "invoice"] + names):
        _fail(question, "methods() should list every registered name, sorted.")
    if _checkout(p, "card", 1000, "EUR", question).get("fee_cents") != 59:
        _fail(question, "registering a new method broke the card method.")


def check_isolation(make_processor, question="?") -> None:
    """Two processors do not share registrations (no module- or class-level registry)."""
    a, b = make_processor(), make_processor()
    a.register("gift_card", RecordingMethod("gift_card", "x"))
    try:
        b.checkout("gift_card", 100, "EUR")
    except ValueError:
        pass
    else:
        _fail(question, "a method registered on one processor was usable on another.",
              "Keep the registry on the instance (created in __init__), not on the class or module.")
    if b.methods() != ["card", "invoice"]:
        _fail(question, "a new processor should know only card and invoice.")


def check_validation(make_processor, question="?") -> None:
    """Bad amounts, currencies and names are refused with ValueError before any strategy runs."""
    p = make_processor()
    spy = RecordingMethod("spy", "s")
    p.register("spy", spy)
    for amount, currency in [(0, "EUR"), (-5, "EUR"), (10.5, "EUR"), (True, "EUR"), ("100", "EUR"),
                             (100, "eur"), (100, "EURO"), (100, "")]:
        try:
            p.checkout("spy", amount, currency)
        except ValueError:
            continue
        _fail(question, "an invalid amount or currency was accepted.",
              "amount_cents: a positive int (not bool); currency: three upper-case letters.")
    if spy.calls:
        _fail(question, "a strategy was called for an invalid payment.")
    try:
        p.checkout("no_such_method", 100, "EUR")
    except ValueError:
        return
    _fail(question, "an unknown payment method should raise ValueError.")


# ---------------------------------------------------------------------------------------------
# Task: middleware order on a real ASGI app


class FakeClock:
    """A test-owned clock (seconds); only the test moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MiddlewareRig:
    """The learner's pipeline around a test-owned handler, served by uvicorn on loopback.

    The token check costs ``verify_cost`` seconds of the fake clock, the handler
    ``handler_cost``; the token ``crash_token`` makes the identity service raise; the path
    ``/api/crash`` makes the handler raise.
    """

    def __init__(self, build_pipeline, seed: int = 3, verify_cost: float = 0.004, handler_cost: float = 0.010):
        rng = random.Random(seed)
        self.clock = FakeClock(1000.0 + rng.randrange(1000))
        self.tokens = {f"tok{rng.randrange(10**9)}": f"user{rng.randrange(1000)}" for _ in range(2)}
        self.crash_token = f"crash{rng.randrange(10**9)}"
        self.verify_cost, self.handler_cost = verify_cost, handler_cost
        self.handled: list[tuple] = []
        self.build_pipeline = build_pipeline

    def verify(self, token):
        self.clock.advance(self.verify_cost)
        if token == self.crash_token:
            raise RuntimeError("identity service unavailable")
        return self.tokens.get(token)

    def handler(self, req: WebRequest) -> WebResponse:
        self.handled.append((req.method, req.path, req.header("x-user")))
        self.clock.advance(self.handler_cost)
        if req.path == "/api/crash":
            raise RuntimeError("bug in the handler")
        return WebResponse.json(200, {"path": req.path, "user": req.header("x-user")})

    def __enter__(self):
        pipeline = self.build_pipeline(self.clock, self.verify)
        if type(pipeline) not in (list, tuple) or not pipeline:
            raise AssertionError("build_pipeline(clock, verify) should return a non-empty list of middleware")
        layers = [(f"layer{i}", mw) for i, mw in enumerate(pipeline)]
        self.server = serve_pipeline(layers, self.handler).__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)

    def get(self, path, token=None, scheme="Bearer", request_id=None) -> WebResponse:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"{scheme} {token}"
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        return self.server.request("GET", path, headers)

    def good_token(self):
        return next(iter(self.tokens))


def _rig(build_pipeline, question):
    try:
        return MiddlewareRig(build_pipeline).__enter__()
    except AssertionError as exc:
        _fail(question, str(exc))


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_AUTH_PARAM = re.compile(rf'^{_TOKEN}\s*=\s*("([^"\\]|\\.)*"|{_TOKEN})$')


def _bearer_challenge(value) -> bool:
    """``Bearer`` then one or more comma-separated auth-params (RFC 6750 §3; RFC 9110 §11.2 syntax)."""
    scheme, _, params = (value or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not params.strip():
        return False
    return all(_AUTH_PARAM.match(p.strip()) for p in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', params))


def check_auth(build_pipeline, question="?") -> None:
    """/api/ needs a valid bearer token; without one the handler never runs and the client gets 401."""
    rig = _rig(build_pipeline, question)
    try:
        token = rig.good_token()
        r = rig.get("/api/orders", token)
        if r.status != 200 or rig.handled[-1:] != [("GET", "/api/orders", rig.tokens[token])]:
            _fail(question, "a request with a valid token should reach the handler with X-User set to the user.")
        for bad in [dict(token=None), dict(token="nope"), dict(token=token, scheme="Basic"), dict(token="")]:
            n = len(rig.handled)
            r = rig.get("/api/orders", **bad)
            if r.status != 401 or len(rig.handled) != n:
                _fail(question, "a request without a valid bearer token must get 401 and never reach the handler.")
            if not _bearer_challenge(r.header("www-authenticate")):
                _fail(question, "a 401 must carry a Bearer challenge: `WWW-Authenticate: Bearer realm=\"...\"`.",
                      "RFC 6750 §3: the scheme Bearer, followed by at least one auth-param such as realm.")
        n = len(rig.handled)
        if rig.get("/health").status != 200 or len(rig.handled) != n + 1:
            _fail(question, "paths outside /api/ need no token.")
    finally:
        rig.__exit__(None, None, None)


def check_request_id(build_pipeline, question="?") -> None:
    """Every response, 200, 401 and 500 alike, carries X-Request-Id; a client's id is echoed."""
    rig = _rig(build_pipeline, question)
    try:
        token = rig.good_token()
        cases = {"a 200": rig.get("/api/orders", token), "a 401": rig.get("/api/orders", "nope"),
                 "a 500": rig.get("/api/crash", token)}
        ids = []
        for what, r in cases.items():
            rid = r.header("x-request-id")
            if not rid:
                _fail(question, f"{what} response has no X-Request-Id.",
                      "Which layer must be outside every layer that can answer or fail?")
            ids.append(rid)
        if len(set(ids)) != len(ids):
            _fail(question, "different requests got the same generated request id.")
        mine = f"client-{random.Random(5).randrange(10**9)}"
        for path, tok in [("/api/orders", token), ("/api/orders", None), ("/api/crash", token)]:
            if rig.get(path, tok, request_id=mine).header("x-request-id") != mine:
                _fail(question, "a client's own X-Request-Id must be echoed back unchanged.")
    finally:
        rig.__exit__(None, None, None)


def _is_internal_error(r: WebResponse) -> bool:
    if r.status != 500 or not (r.header("content-type") or "").startswith("application/json"):
        return False
    try:
        return json.loads(r.body.decode()) == {"error": "internal"}
    except ValueError:
        return False


def check_errors(build_pipeline, question="?") -> None:
    """An exception in the handler or in a middleware inside the error layer becomes 500 {"error": "internal"}."""
    rig = _rig(build_pipeline, question)
    try:
        token = rig.good_token()
        if not _is_internal_error(rig.get("/api/crash", token)):
            _fail(question, "a handler that raises must give the client 500 with the JSON body {\"error\": \"internal\"}.")
        if not _is_internal_error(rig.get("/api/orders", rig.crash_token)):
            _fail(question, "when the token check itself raises, the client still gets the JSON 500.",
                  "Error handling has to wrap the auth layer too.")
        if rig.get("/api/orders", token).status != 200:
            _fail(question, "after an error, the next request must be served normally.")
    finally:
        rig.__exit__(None, None, None)


_TIMING = re.compile(r"^app;dur=(\d+(?:\.\d+)?)$")


def _dur(r: WebResponse, question, what):
    m = _TIMING.match(r.header("server-timing") or "")
    if not m:
        _fail(question, f"{what} response has no `Server-Timing: app;dur=<ms>` header.",
              "Which responses does a layer see if it sits inside auth?")
    return float(m.group(1))


def check_timing(build_pipeline, question="?") -> None:
    """Server-Timing on 200 and 401 responses, covering the token check and the handler."""
    rig = _rig(build_pipeline, question)
    try:
        ok = _dur(rig.get("/api/orders", rig.good_token()), question, "a 200")
        denied = _dur(rig.get("/api/orders", "nope"), question, "a 401")
        # within 1.5 ms: whole milliseconds, truncated (13.999... -> 13) or rounded up, are still right;
        # every wrong layering is off by at least the 4 ms of the token check
        want_ok = (rig.verify_cost + rig.handler_cost) * 1000
        if abs(ok - want_ok) > 1.5:
            _fail(question, "the timing of a successful request does not cover both the token check and the handler.",
                  "Time from the clock you were given, around everything inside the timing layer, in milliseconds.")
        if abs(denied - rig.verify_cost * 1000) > 1.5:
            _fail(question, "the timing of a refused request does not cover the token check.")
    finally:
        rig.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# Task: a trial service made testable


class DictRepo:
    """A test-owned repository: ``get(user) -> dict | None``, ``put(user, record)``; logs every call."""

    def __init__(self, rows: dict | None = None) -> None:
        self.rows = {k: dict(v) for k, v in (rows or {}).items()}
        self.log: list[tuple] = []

    def get(self, user):
        self.log.append(("get", user))
        row = self.rows.get(user)
        return dict(row) if row is not None else None

    def put(self, user, record):
        self.log.append(("put", user))
        if type(record) is not dict:
            raise TypeError("record must be a dict")
        self.rows[user] = dict(record)


LoggingRepo = DictRepo


def _record(user, start, days):
    return {"user": user, "plan": "trial", "started_at": start, "ends_at": start + days * DAY}


def check_trial_basics(TrialService, question="?") -> None:
    """start_trial stores the record through the repository and returns it."""
    clock, repo = FakeClock(5_000.0), DictRepo()
    svc = TrialService(repo, clock)
    rec = _plain_dict(svc.start_trial("ann"), question, "start_trial")
    if rec != _record("ann", 5_000.0, 14) or repo.rows.get("ann") != rec:
        _fail(question, "start_trial should save and return the trial record, timed by the clock you were given.")


def check_trial_injected(TrialService, question="?", seed: int = 9) -> None:
    """With a clock and a repository it has never seen, the service answers from them alone."""
    rng = random.Random(seed)
    for trial in range(6):
        now = float(rng.randrange(10**6, 10**9))
        days = rng.choice([7, 14, 30])
        existing = {f"u{i}": _record(f"u{i}", now - rng.randrange(0, 40) * DAY - rng.randrange(DAY), days)
                    for i in range(5)}
        repo, clock = DictRepo(existing), FakeClock(now)
        svc = TrialService(repo, clock, trial_days=days)
        for user, row in existing.items():
            active, left = svc.is_active(user), svc.days_left(user)
            want_left = max(0, -(-(row["ends_at"] - now) // DAY))
            if type(active) is not bool or active != (now < row["ends_at"]):
                _fail(question, "is_active disagrees with the clock and repository it was given.",
                      "Read the time only from the injected clock, and records only from the injected repository.")
            if type(left) is not int or left != int(want_left):
                _fail(question, "days_left disagrees with the clock and repository it was given.")
        try:
            svc.start_trial("u0")
        except ValueError:
            pass
        else:
            _fail(question, "starting a second trial for a user who already had one should raise ValueError.")
        if svc.is_active("nobody") is not False or svc.days_left("nobody") != 0:
            _fail(question, "a user without a record is not active and has 0 days left.")
        clock.advance(rng.randrange(1, 60) * DAY)
        for user, row in existing.items():
            if svc.is_active(user) != (clock.now < row["ends_at"]):
                _fail(question, "is_active did not follow the clock when time moved.")
    a, b = DictRepo(), DictRepo()
    TrialService(a, FakeClock(1.0)).start_trial("zed")
    if "zed" in b.rows or b.log or "zed" not in a.rows:
        _fail(question, "a service must store through the repository it was given, and only that one.")


def check_trial_boundary(TrialService, question="?") -> None:
    """At the exact end the trial is over; a second before, one day is left (rounded up)."""
    clock, repo = FakeClock(0.0), DictRepo()
    svc = TrialService(repo, clock, trial_days=3)
    svc.start_trial("ann")
    expect = [(0.0, True, 3), (1.0, True, 3), (DAY, True, 2), (DAY + 1, True, 2), (3 * DAY - 1, True, 1),
              (3 * DAY, False, 0), (3 * DAY + 1, False, 0)]
    for t, active, left in expect:
        clock.now = t
        if svc.is_active("ann") is not active or svc.days_left("ann") != left:
            _fail(question, "is_active or days_left is off at a boundary.",
                  "A trial is active while now < ends_at; days_left rounds a partial day up.")
