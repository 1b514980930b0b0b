"""A middleware pipeline as a real ASGI 3.0 application, served by uvicorn on loopback.

Middleware here is a plain function ``(request, call_next) -> response`` over the value
types of :mod:`course_tools.net.webtypes`; :func:`compose` nests a list of them around a
handler (the first in the list is the OUTERMOST layer, the one the request meets first and
the response leaves last), and :func:`asgi_app` turns the result into an ASGI 3.0
application ``async def app(scope, receive, send)`` (ASGI spec 3.0, HTTP connection scope).
:class:`ASGIServer` runs any ASGI app under uvicorn on a background thread:

    app = asgi_app(compose([request_id(), errors()], handler, trace=trace))
    with ASGIServer(app) as server:
        resp = server.request("GET", "/api/orders", headers={"Authorization": "Bearer t"})

The course's own middleware (request id, timing, auth, errors, gzip) are factories whose
collaborators (clock, id source, token verifier) are passed in, never looked up.
"""

from __future__ import annotations

import gzip as _gzip
import http.client
import itertools
import logging.config
import socket
import threading
import time
from typing import Callable, Iterable, Sequence

import encodings.idna  # noqa: F401  (http.client loads it on first use)
import uvicorn
# uvicorn.Config.load() imports these by name when a server starts. Importing them here means a
# server started later imports nothing (a grading worker that preloads this module pays for them once).
import uvicorn.lifespan.off  # noqa: F401
import uvicorn.loops.asyncio  # noqa: F401
import uvicorn.protocols.http.h11_impl  # noqa: F401

from course_tools.net.ports import LOOPBACK, require_loopback
from course_tools.net.webtypes import WebRequest, WebResponse

__all__ = ["Middleware", "Handler", "compose", "asgi_app", "ASGIServer", "serve_pipeline",
           "request_id", "timing", "auth", "errors", "gzip", "accepts_gzip", "INTERNAL_ERROR"]

Handler = Callable[[WebRequest], WebResponse]
Middleware = Callable[[WebRequest, Handler], WebResponse]

INTERNAL_ERROR = {"error": "internal"}


def _name(mw) -> str:
    return getattr(mw, "layer_name", None) or getattr(mw, "__name__", None) or type(mw).__name__


def _status(resp) -> object:
    return resp.status if type(resp) is WebResponse else "?"


def compose(middlewares: Sequence, handler: Handler, trace: list | None = None) -> Handler:
    """Nest ``middlewares`` (outermost first) around ``handler``; one plain callable results.

    Items are middleware callables or ``(name, middleware)`` pairs. If ``trace`` is a list,
    every layer crossing is appended to it as ``(direction, layer, detail)``: ``"->"`` on the
    way in (detail: the path), ``"<-"`` on the way out (detail: the status), ``"!!"`` when an
    exception passes through the layer (detail: the exception's class name).
    """
    layers = [(m if isinstance(m, tuple) else (_name(m), m)) for m in middlewares]

    def record(*event) -> None:
        if trace is not None:
            trace.append(event)

    def wrap_handler(req: WebRequest) -> WebResponse:
        record("->", "handler", req.path)
        try:
            resp = handler(req)
        except BaseException as exc:
            record("!!", "handler", type(exc).__name__)
            raise
        record("<-", "handler", _status(resp))
        return resp

    def link(name: str, mw, inner: Handler) -> Handler:
        def layer(req: WebRequest) -> WebResponse:
            record("->", name, req.path)
            try:
                resp = mw(req, inner)
            except BaseException as exc:
                record("!!", name, type(exc).__name__)
                raise
            record("<-", name, _status(resp))
            return resp
        return layer

    app = wrap_handler
    for name, mw in reversed(layers):
        app = link(name, mw, app)
    return app


def asgi_app(handler: Handler, trace: list | None = None):
    """An ASGI 3.0 HTTP application around a plain ``handler(WebRequest) -> WebResponse``.

    The request body is read in full (``http.request`` messages until ``more_body`` is
    false); the response is sent as one ``http.response.start`` and one
    ``http.response.body``, with ``content-length`` set from the body. A handler that
    raises is NOT caught here: the exception reaches the server, which answers with its own
    500 (that is what "no error-handling middleware" looks like to a client).
    """

    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError(f"this app speaks HTTP only, not {scope['type']!r}")
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        resp = handler(WebRequest(scope["method"], path, headers, body))
        if type(resp) is not WebResponse:
            if trace is not None:
                trace.append(("!!", "server", f"not a WebResponse: {type(resp).__name__}"))
            resp = WebResponse.text(500, f"the pipeline returned {type(resp).__name__}, not a WebResponse")
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers if k != "content-length"]
        out.append((b"content-length", str(len(resp.body)).encode()))
        await send({"type": "http.response.start", "status": int(resp.status), "headers": out})
        await send({"type": "http.response.body", "body": bytes(resp.body)})

    return app


# uvicorn logs to its own loggers; keep them quiet (no handler) and leave every other logger alone
_QUIET = {"version": 1, "disable_existing_loggers": False,
          "handlers": {"null": {"class": "logging.NullHandler"}},
          "loggers": {n: {"handlers": ["null"], "propagate": False, "level": "CRITICAL"}
                      for n in ("uvicorn", "uvicorn.error", "uvicorn.access")}}


class ASGIServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a background thread.

    A context manager: on exit uvicorn is told to exit, its thread is joined and the
    listening socket is closed, so nothing is left behind.
    """

    def __init__(self, app, host: str = LOOPBACK, port: int = 0, start_timeout: float = 10.0) -> None:
        self.app, self.host, self._requested_port = app, require_loopback(host), port
        self.start_timeout = start_timeout
        self._server = self._thread = self._sock = None

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("the server is not running (use it in a `with` block)")
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ASGIServer":
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        config = uvicorn.Config(self.app, lifespan="off", log_config=_QUIET, access_log=False, loop="asyncio",
                                http="h11", ws="none", timeout_graceful_shutdown=2)
        self._sock, self._server = sock, uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"course-asgi-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> "ASGIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str = "GET", path: str = "/", headers: dict | Iterable = (), body: bytes = b"",
                timeout: float = 10.0) -> WebResponse:
        """Send one request on a fresh connection; the answer as a :class:`WebResponse`."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            items = headers.items() if isinstance(headers, dict) else headers
            conn.request(method, path, body=body or None, headers=dict(items))
            r = conn.getresponse()
            data = r.read()
            return WebResponse(r.status, tuple(r.getheaders()), data)
        finally:
            conn.close()


def serve_pipeline(middlewares: Sequence, handler: Handler, trace: list | None = None) -> ASGIServer:
    """``with serve_pipeline([...], handler) as server:`` — compose, adapt to ASGI, serve."""
    return ASGIServer(asgi_app(compose(middlewares, handler, trace), trace))


# --------------------------------------------------------------------------------------------
# the course's middleware: factories; what each one needs is passed in


def _named(name: str, fn):
    fn.layer_name = name
    return fn


def request_id(new_id: Callable[[], str] | None = None, header: str = "x-request-id") -> Middleware:
    """Give every response an id: the client's ``X-Request-Id`` if it sent one, else ``new_id()``."""
    counter = itertools.count(1)
    new_id = new_id or (lambda: f"req-{next(counter)}")

    def mw(req: WebRequest, call_next: Handler) -> WebResponse:
        rid = req.header(header) or new_id()
        return call_next(req.with_header(header, rid)).with_header(header, rid)
    return _named("request_id", mw)


def timing(clock: Callable[[], float] = time.perf_counter) -> Middleware:
    """``Server-Timing: app;dur=<ms>`` measured around every layer inside this one (W3C Server Timing)."""

    def mw(req: WebRequest, call_next: Handler) -> WebResponse:
        start = clock()
        resp = call_next(req)
        return resp.with_header("server-timing", f"app;dur={(clock() - start) * 1000:.1f}")
    return _named("timing", mw)


def auth(verify: Callable[[str], str | None], prefix: str = "/api/", realm: str = "api") -> Middleware:
    """Paths under ``prefix`` need ``Authorization: Bearer <token>`` with ``verify(token)`` naming a user.

    Otherwise: 401 and the handler never runs. The challenge follows RFC 6750 §3: scheme
    ``Bearer`` followed by at least one auth-param (``realm``); when a token was sent and refused,
    also ``error="invalid_token"`` (§3.1), and no error code when none was sent.
    The user is passed on to the handler in the ``X-User`` request header.
    """

    def mw(req: WebRequest, call_next: Handler) -> WebResponse:
        if not req.path.startswith(prefix):
            return call_next(req)
        scheme, _, token = (req.header("authorization") or "").partition(" ")
        presented = scheme.lower() == "bearer" and bool(token)
        user = verify(token) if presented else None
        if not user:
            challenge = f'Bearer realm="{realm}"' + (', error="invalid_token"' if presented else "")
            return WebResponse.json(401, {"error": "unauthorized"}, (("www-authenticate", challenge),))
        return call_next(req.with_header("x-user", user))
    return _named("auth", mw)


def errors() -> Middleware:
    """Turn any exception from the layers inside into ``500 {"error": "internal"}`` (no traceback leaks)."""

    def mw(req: WebRequest, call_next: Handler) -> WebResponse:
        try:
            return call_next(req)
        except Exception:
            return WebResponse.json(500, INTERNAL_ERROR)
    return _named("errors", mw)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Does an ``Accept-Encoding`` value ask for gzip? RFC 9110 §12.5.3: ``q=0`` means "not
    acceptable", ``*`` stands for any coding not listed, ``x-gzip`` is gzip (§8.4.1.3). Without the
    header we do not compress: the RFC allows it, but a client that did not ask may not decode it."""
    weights = {}
    for item in (accept_encoding or "").split(","):
        coding, *params = [part.strip() for part in item.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            weights[coding.lower()] = q
    q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return q > 0


def gzip(min_size: int = 500) -> Middleware:
    """Compress bodies of at least ``min_size`` bytes when the client accepts gzip (RFC 9110 §8.4, §12.5.3).

    Every response it passes gets ``Vary: accept-encoding`` (§12.5.5), added to any Vary already there.
    """

    def mw(req: WebRequest, call_next: Handler) -> WebResponse:
        resp = call_next(req)
        vary = [v.strip() for v in (resp.header("vary") or "").split(",") if v.strip()]
        if "accept-encoding" not in [v.lower() for v in vary] and "*" not in vary:
            resp = resp.with_header("vary", ", ".join(vary + ["accept-encoding"]))
        if not accepts_gzip(req.header("accept-encoding")) or len(resp.body) < min_size \
                or resp.header("content-encoding"):
            return resp
        return resp.with_body(_gzip.compress(resp.body, mtime=0)).with_header("content-encoding", "gzip")
    return _named("gzip", mw)
