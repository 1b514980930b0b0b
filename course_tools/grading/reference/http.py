"""Checks for the HTTP assessment (01_http): reference solutions and the loopback servers hidden tests use.

- :func:`request_with_retries` — the exercise's retry policy: an attempt fails on a lost
  response, 429 or 503; every method is retried after a 429 or 503 (answers the exercise's
  policy reads as refusals: too many requests, RFC 6585 §4; unable to handle it now, RFC 9110
  §15.6.4), but only idempotent methods after a lost response (RFC 9110 §9.2.2); exponential
  backoff, ``Retry-After`` honoured (§10.2.3).
- :func:`make_conditional_handler` — answers conditional GETs with ``304`` (RFC 9110 §13.1.2).
- :class:`ScriptedService` — a real loopback server whose answers follow a script, one entry
  per attempt (``503``, ``429``, ``"drop"`` = the server acts but the response is lost).
- :func:`compare_retry_client`, :func:`compare_conditional_handler` — randomized (seeded)
  comparisons against the references. Failure messages describe the behaviour that went
  wrong, never the hidden scenario's data. The references' halves run in this process, on no
  socket: a test shares its loopback with the student's process, where a thread the student's
  code left running could connect to a reference's server and change what it answers.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping
from typing import Callable, Iterable, Sequence

from course_tools.grading.checks import AnswerError
from course_tools.net.http import Headers, HTTPServer, Request, Response
from course_tools.net.wire import NoResponse, Relay, send

__all__ = ["IDEMPOTENT", "RETRY_STATUSES", "request_with_retries", "make_conditional_handler", "ScriptedService",
           "SleepRecorder", "compare_retry_client", "compare_conditional_handler", "conditional_exchange",
           "run_retry_client", "reference_retry_outcome", "check_non_idempotent_policy", "check_etag_tracks_bytes",
           "Documents", "LiveDocuments"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "QUERY"})
RETRY_STATUSES = frozenset({429, 503})


def _fail(question: object, message: str) -> None:
    raise AnswerError(f"Question {question}: {message}")


# ---- reference: the retrying client ----------------------------------------------------
def _retry_after(resp) -> float | None:
    value = (resp.header("Retry-After") or "").strip()
    return float(int(value)) if value.isdigit() else None


def request_with_retries(base_url: str, method: str, path: str, *, body: bytes | str = b"", max_attempts: int = 4,
                         base_delay: float = 0.5, sleep: Callable[[float], None] = time.sleep, send=send):
    """Send ``method path``; retry any method after a 429 or 503, idempotent ones also after a
    lost response (the only failure after which the server may have acted). ``send`` is the
    transport (the grader's comparison gives one that answers in-process)."""
    attempt = 1
    while True:
        try:
            resp = send(base_url, method, path, body=body)
        except ConnectionError:
            if method not in IDEMPOTENT or attempt >= max_attempts:
                raise
            delay = base_delay * 2 ** (attempt - 1)
        else:
            if resp.status not in RETRY_STATUSES or attempt >= max_attempts:
                return resp
            after = _retry_after(resp)
            delay = after if after is not None else base_delay * 2 ** (attempt - 1)
        sleep(delay)
        attempt += 1


# ---- reference: the conditional-GET handler --------------------------------------------
def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))


def make_conditional_handler(documents: dict[str, bytes]) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, {"Allow": "GET, HEAD"})
        body = documents.get(request.path)
        if body is None:
            return Response(404, {"Content-Type": "text/plain"}, b"not found")
        tag = _etag(body)
        inm = request.headers.get("If-None-Match")
        if inm is not None and _matches(inm, tag):
            return Response(304, {"ETag": tag})
        return Response(200, {"ETag": tag, "Content-Type": "text/plain"}, body)

    return handler


# ---- the scripted loopback service ---------------------------------------------------
class SleepRecorder:
    """An injected ``sleep``: records the delays, never waits, and stops runaway loops."""

    def __init__(self, limit: int = 50, question: object = "?") -> None:
        self.delays: list[float] = []
        self.limit = limit
        self.question = question

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) > self.limit:
            _fail(self.question, f"more than {self.limit} sleeps: does the loop ever stop?")


class ScriptedService:
    """A loopback order service behind a relay; attempt *i* gets ``script[i]`` (then 200/201).

    Script entries: an ``int`` status (``503``/``429``, optionally ``(status, retry_after)``)
    or ``"drop"``: the service processes the request normally, and the relay loses the answer.
    ``created`` counts POSTs that the service actually processed.
    """

    def __init__(self, script: Sequence[object] = ()) -> None:
        self.script = list(script)
        self.attempts = 0
        self.created = 0
        self.methods: list[str] = []
        self._server = HTTPServer(self._app)
        self._relay: Relay | None = None

    def _app(self, req: Request) -> Response:
        i = self.attempts
        self.attempts += 1
        self.methods.append(req.method)
        step = self.script[i] if i < len(self.script) else None
        if isinstance(step, tuple) or isinstance(step, int):
            status, after = step if isinstance(step, tuple) else (step, None)
            headers = {"Content-Type": "text/plain"}
            if after is not None:
                headers["Retry-After"] = str(after)
            return Response(status, headers, b"try again later")
        if req.method in ("POST", "PATCH"):
            self.created += 1
            return Response(201, {"Location": f"/orders/{self.created}"}, b"created")
        return Response(200, {"Content-Type": "text/plain"}, b"ok")

    def _dropped(self, attempt: int) -> bool:
        return attempt < len(self.script) and self.script[attempt] == "drop"

    def __enter__(self) -> "ScriptedService":
        self._server.start()
        self._relay = Relay(self._server.port, drop=self._dropped).start()
        return self

    def send_here(self, base_url: str, method: str, path: str, *, body: bytes | str = b"") -> "_Answer":
        """One attempt answered in this process, as ``send`` through the relay would see it (one
        connection per attempt: the relay drops the answers of the script's "drop" attempts)."""
        attempt = self.attempts
        answer = _Answer(self._app, method, path, {})
        if self._dropped(attempt):
            raise NoResponse("the relay dropped the response")
        return answer

    def __exit__(self, *exc: object) -> None:
        if self._relay is not None:
            self._relay.stop()
        self._server.stop()

    @property
    def url(self) -> str:
        assert self._relay is not None
        return self._relay.url


def run_retry_client(fn, method: str, script, *, max_attempts: int = 4, base_delay: float = 0.5,
                     question: object = "?"):
    """Run ``fn`` against a scripted service: ``(outcome, delays, attempts, created)``.

    ``outcome`` is the final status, or ``"ConnectionError"`` if it raised one.
    """
    sleep = SleepRecorder(question=question)
    with ScriptedService(script) as svc:
        outcome = _outcome(fn, svc.url, method, sleep, max_attempts=max_attempts, base_delay=base_delay)
        return outcome, sleep.delays, svc.attempts, svc.created


def reference_retry_outcome(method: str, script, *, max_attempts: int = 4, base_delay: float = 0.5):
    """What :func:`run_retry_client` gives for the reference client, computed in this process: the
    script's service answers each attempt directly (:meth:`ScriptedService.send_here`), no socket is
    opened, so nothing on the loopback (a student's thread included) can reach it."""
    sleep = SleepRecorder()
    svc = ScriptedService(script)          # never started
    outcome = _outcome(request_with_retries, "http://127.0.0.1:0", method, sleep, max_attempts=max_attempts,
                       base_delay=base_delay, send=svc.send_here)
    return outcome, sleep.delays, svc.attempts, svc.created


def _outcome(fn, url: str, method: str, sleep, **kw):
    """The final status of ``fn``'s request to ``url``, or ``"ConnectionError"`` if it raised one."""
    try:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
        resp = fn(url, method, "/orders", body=body, sleep=sleep, **kw)
        return getattr(resp, "status", resp)
    except ConnectionError:
        return "ConnectionError"


def check_non_idempotent_policy(fn, *, question: object = "?") -> None:
    """POST and PATCH: never sent again after a lost response, retried after 429 and 503."""
    got = run_retry_client(fn, "POST", ["drop"], question=question)
    if got[2] != 1 or got[3] != 1:
        _fail(question, "after a lost response a POST was sent again — the server had already created the "
                        "order, so the retry created a duplicate.")
    if got[0] != "ConnectionError":
        _fail(question, "when a POST gets no response, let the ConnectionError reach the caller (only the "
                        "caller can decide, e.g. by checking the order list).")
    got = run_retry_client(fn, "PATCH", [(429, 1), "drop"], question=question)
    if got[2] == 1:
        _fail(question, "a PATCH answered 429 was not retried: the exercise's policy reads a 429 as a refusal "
                        "and retries every method after one.")
    if got[2] != 2 or got[3] != 1 or got[0] != "ConnectionError":
        _fail(question, "a PATCH whose second attempt lost its response was sent a third time: after a lost "
                        "response a non-idempotent request is never sent again.")
    got = run_retry_client(fn, "POST", [503, (503, 4)], base_delay=0.5, question=question)
    if (got[0], got[2], got[3], [float(d) for d in got[1]]) != (201, 3, 1, [0.5, 4.0]):
        _fail(question, "a POST answered 503 twice should be retried (the policy reads a 503 as a refusal) "
                        "with the usual delays, and succeed once on attempt 3.")


def _random_script(rng: random.Random) -> list[object]:
    steps = []
    for _ in range(rng.randrange(0, 6)):
        kind = rng.choice(["503", "429", "after", "drop"])
        if kind == "after":
            steps.append((rng.choice([503, 429]), rng.randrange(0, 9)))
        elif kind == "drop":
            steps.append("drop")
        else:
            steps.append(int(kind))
    return steps


def compare_retry_client(fn, *, seed: int = 2026, n: int = 14, question: object = "?") -> None:
    """Random methods and failure scripts: status, delays and attempts must match the reference."""
    rng = random.Random(seed)
    for _ in range(n):
        method = rng.choice(["GET", "PUT", "DELETE", "HEAD", "POST", "PATCH"])
        script = _random_script(rng)
        max_attempts = rng.choice([1, 2, 3, 4, 6])
        base = rng.choice([0.1, 0.25, 0.5, 1.0])
        got = run_retry_client(fn, method, script, max_attempts=max_attempts, base_delay=base, question=question)
        want = reference_retry_outcome(method, script, max_attempts=max_attempts, base_delay=base)
        if got[3] > want[3]:
            _fail(question, f"in a randomized scenario a {method} was sent again after its response was lost: "
                            "the server had already acted, so the retry acted twice.")
        if method not in IDEMPOTENT and got[2] < want[2]:
            _fail(question, f"in a randomized scenario a {method} was not retried after a 429 or 503: the "
                            "policy reads those answers as refusals and retries every method after them.")
        if got[2] != want[2]:
            _fail(question, f"in a randomized {method} scenario your client made a different number of attempts "
                            "than the rules give (count the attempts against max_attempts, and which failures retry).")
        if [float(d) for d in got[1]] != [float(d) for d in want[1]]:
            _fail(question, f"in a randomized {method} scenario the delays between attempts were wrong "
                            "(Retry-After when present, else base_delay * 2**(attempt-1)).")
        if got[0] != want[0]:
            _fail(question, f"in a randomized {method} scenario the final result was wrong (return the last "
                            "response; re-raise the ConnectionError when the last attempt got none).")


# ---- conditional GET probes ------------------------------------------------------------
class LiveDocuments(dict):
    """The documents a handler serves, owned by the test: when grading, the student's code gets it
    by reference (reads go back to the test), so a document the test changes is seen at once.
    (A plain dict would be copied into the student's process as data.)"""


def conditional_exchange(handler, requests: Iterable[tuple[str, str, dict]], documents_updates=None):
    """Serve ``handler`` on loopback and send ``(method, path, headers)`` in order.

    Returns ``[(status, etag, body)]``. ``documents_updates`` maps a request index to a
    callable run before that request (to change a document between requests).
    """
    out = []
    with HTTPServer(handler) as srv:
        for i, (method, path, headers) in enumerate(requests):
            if documents_updates and i in documents_updates:
                documents_updates[i]()
            r = send(srv.url, method, path, headers=headers)
            out.append((r.status, r.header("ETag"), r.body, r.header("Allow")))
    return out


class Documents(Mapping):
    """The ``documents`` a hidden check hands to ``make_handler``: a test-owned, read-only
    mapping (``get``, ``[]``, ``in``, iteration) whose contents only the test changes, with
    :meth:`put`. The learner's handler reads the *current* bytes through it on every request,
    so a change between requests is seen without the test reaching into the learner's objects."""

    def __init__(self, initial: dict[str, bytes]) -> None:
        self._docs = dict(initial)

    def put(self, path: str, body: bytes) -> None:
        self._docs[path] = body

    def __getitem__(self, path: str) -> bytes:
        return self._docs[path]

    def __iter__(self):
        return iter(list(self._docs))

    def __len__(self) -> int:
        return len(self._docs)


def _same_length_change(body: bytes) -> bytes:
    """Different bytes of the same length (the last byte changed): an ETag made from the
    length, or from anything but the content, cannot tell them apart."""
    if not body:
        return b"x"
    return body[:-1] + bytes([(body[-1] + 1) % 256])


def check_etag_tracks_bytes(make_handler, *, question: object = "?") -> None:
    """The ETag must change with the bytes — including a change that keeps the length — and
    come back when the bytes do; a stale tag must then get a 200 with the new bytes."""
    original = b"alpha " * 100
    docs = Documents({"/docs/a": original})
    handler = make_handler(docs)
    [(_, etag, _, _)] = conditional_exchange(handler, [("GET", "/docs/a", {})])
    for new, what in ((b"alpha, revised", "a different length"),
                      (_same_length_change(original), "the same length")):
        docs.put("/docs/a", new)
        [(status, tag, body, _)] = conditional_exchange(handler, [("GET", "/docs/a", {"If-None-Match": etag})])
        if status != 200 or body != new:
            _fail(question, f"after the document changed (to {what}), the old ETag must no longer match: "
                            "answer 200 with the new bytes.")
        if tag == etag:
            _fail(question, f"the ETag must change when the document's bytes change, even when the new bytes "
                            f"have {what}: derive it from the content (a hash), not from its size.")
    docs.put("/docs/a", original)
    [(status, tag, _, _)] = conditional_exchange(handler, [("GET", "/docs/a", {"If-None-Match": etag})])
    if status != 304 or tag != etag:
        _fail(question, "the same bytes must give the same ETag again.")


class _Answer:
    """What a client of ``HTTPServer`` would read for one GET to ``app``, computed in this process:
    status, body (none for 1xx/204/304, as the server sends it) and case-insensitive headers."""

    def __init__(self, app, method: str, path: str, headers: dict) -> None:
        resp = app(Request(method, path, Headers(dict(headers)), b""))
        self.status = resp.status
        self.body = b"" if (resp.status in (204, 304) or 100 <= resp.status < 200) else resp.body
        self._headers = Headers(dict(resp.headers))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name, default)


def compare_conditional_handler(make_handler, *, seed: int = 2026, n: int = 6, question: object = "?") -> None:
    """Random documents and request sequences: statuses and bodies must match the reference.
    The reference answers in this process, never on a server: the student's handler shares the
    test's loopback and could otherwise forward every request to it."""
    rng = random.Random(seed)
    for _ in range(n):
        names = [f"/docs/{c}" for c in rng.sample("abcdefgh", 3)]
        docs_a = Documents({p: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for p in names})
        docs_b = Documents(dict(docs_a))
        mine, ref = make_handler(docs_a), make_conditional_handler(docs_b)
        plan = []
        for _ in range(10):
            path = rng.choice(names + ["/docs/zzz"])
            kind = rng.choice(["plain", "current", "current-weak", "list", "star", "stale", "change", "same-length"])
            plan.append((path, kind))
        plan.append((names[0], "same-length"))      # every sequence has at least one same-length change
        with HTTPServer(mine) as s1:
            for path, kind in plan:
                if kind == "same-length" and path in docs_a:
                    # the client holds the current tag; then the bytes change but not their length
                    old_tag = send(s1.url, "GET", path).header("ETag")
                    new = _same_length_change(docs_a[path])
                    docs_a.put(path, new)
                    docs_b.put(path, new)
                    if old_tag:
                        got = send(s1.url, "GET", path, headers={"If-None-Match": old_tag})
                        if got.status != 200 or got.body != new:
                            _fail(question, "after a document changed to different bytes of the same length, "
                                            "the old ETag still matched: derive the ETag from the content.")
                    kind = "current"
                if kind == "change" and path in docs_a:
                    new = docs_a[path] + b"!"
                    docs_a.put(path, new)
                    docs_b.put(path, new)
                    kind = "current"
                got_first = send(s1.url, "GET", path)
                want_first = _Answer(ref, "GET", path, {})
                if got_first.status != want_first.status:
                    _fail(question, "a plain GET got the wrong status in a randomized sequence "
                                    "(200 for a known document, 404 otherwise).")
                if got_first.status == 200 and got_first.body != want_first.body:
                    _fail(question, "a 200 response did not carry the document's current bytes.")
                tag = got_first.header("ETag")
                if got_first.status == 200 and not tag:
                    _fail(question, "a 200 response had no ETag.")
                hdr = {}
                if kind == "current" and tag:
                    hdr = {"If-None-Match": tag}
                elif kind == "current-weak" and tag:
                    hdr = {"If-None-Match": "W/" + tag}
                elif kind == "list" and tag:
                    hdr = {"If-None-Match": f'"nope", {tag}'}
                elif kind == "star":
                    hdr = {"If-None-Match": "*"}
                elif kind == "stale":
                    hdr = {"If-None-Match": '"certainly-not-current"'}
                got = send(s1.url, "GET", path, headers=hdr)
                # the reference gets the equivalent header with its own tag
                ref_tag = want_first.header("ETag")
                ref_hdr = {k: (v.replace(tag, ref_tag) if tag and ref_tag else v) for k, v in hdr.items()}
                want = _Answer(ref, "GET", path, ref_hdr)
                if got.status != want.status:
                    _fail(question, "a conditional GET got the wrong status in a randomized sequence "
                                    "(304 only when If-None-Match matches the current ETag, weakly).")
                if got.status == 304 and got.body:
                    _fail(question, "a 304 response carried a body.")
                if got.status == 200 and got.body != want.body:
                    _fail(question, "a 200 response did not carry the document's current bytes.")
