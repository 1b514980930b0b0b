"""A small HTTP/1.1 server on loopback, driven by a plain function.

    def app(request: Request) -> Response:
        return Response(200, {"Content-Type": "text/plain"}, b"hello")

    with HTTPServer(app) as server:
        urllib.request.urlopen(server.url + "/")

The handler sees a :class:`Request` and returns a :class:`Response`; the standard library's
``http.server`` does the parsing, so what crosses the wire is real HTTP/1.1. Every
exchange is recorded in ``server.log`` (method, path, status, body bytes sent), so an
experiment can count requests that reached the origin and bytes saved by a 304.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping

from course_tools.moved import moved_to
from course_tools.net.server import BackgroundServer, TrackingThreadingMixIn

__all__ = ["Request", "Response", "Exchange", "HTTPServer", "strong_etag"]


class Headers(dict):
    """Case-insensitive header mapping (keys stored as given, looked up in lower case)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._lower: dict[str, str] = {}
        for k, v in (items.items() if isinstance(items, Mapping) else (items or [])):
            self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        old = self._lower.get(key.lower())
        if old is not None and old != key:
            super().__delitem__(old)
        self._lower[key.lower()] = key
        super().__setitem__(key, value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(self._lower[key.lower()])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def get(self, key: str, default=None):  # type: ignore[override]
        return self[key] if key in self else default


@dataclass
class Request:
    method: str
    path: str
    headers: Headers
    body: bytes = b""
    client: tuple[str, int] = ("127.0.0.1", 0)


@dataclass
class Response:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> "Response":
        hdrs = {"Content-Type": "text/plain; charset=utf-8", **{k.replace("_", "-"): v for k, v in headers.items()}}
        return cls(status, hdrs, text.encode())

    @classmethod
    def json(cls, status: int, obj: object, content_type: str = "application/json", **headers: str) -> "Response":
        import json

        hdrs = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
        return cls(status, hdrs, json.dumps(obj, sort_keys=True).encode())


@dataclass(frozen=True)
class Exchange:
    """One request/response pair as the server saw it."""

    method: str
    path: str
    status: int
    body_bytes: int
    request_headers: tuple[tuple[str, str], ...]
    response_headers: tuple[tuple[str, str], ...]


Handler = Callable[[Request], Response]

# Responses that must not carry a body (RFC 9110 §15.3.5, §15.4.5) and HEAD.
_NO_BODY = {204, 304}


def _make_handler_class(app: Handler, log: list[Exchange], lock: threading.Lock):
    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real clients and servers
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms Nagle/delayed-ACK stall
        server_version = "course-http/1.0"
        sys_version = ""
        timeout = 10

        def log_message(self, format: str, *args: object) -> None:  # quiet: experiments print what matters
            pass

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, self.path, Headers(list(self.headers.items())), body, self.client_address)
            try:
                resp = app(req)
            except Exception as exc:  # a bug in a lesson's handler is a 500, visible in the log
                resp = Response.text(500, f"handler raised {type(exc).__name__}: {exc}")
            payload = b"" if (resp.status in _NO_BODY or 100 <= resp.status < 200) else resp.body
            headers = Headers(dict(resp.headers))
            sent = len(payload) if self.command != "HEAD" else 0
            # Log before the first byte goes out: a client that has read the response must
            # find the exchange in the log (otherwise a fast client races the logging).
            with lock:
                log.append(
                    Exchange(
                        self.command, self.path, resp.status, sent,
                        tuple(self.headers.items()), tuple(headers.items()),
                    )
                )
            self.send_response(resp.status)
            for k, v in headers.items():
                self.send_header(k, v)
            if resp.status not in _NO_BODY and "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if sent:
                self.wfile.write(payload)

        def __getattr__(self, name: str):
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    return _Handler


class _ThreadingHTTPServer(TrackingThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    request_queue_size = 64   # socketserver's default backlog of 5 drops the SYNs of a burst of clients
                              # (20 at once in chapter 2.2): each dropped one waits a 1 s TCP retransmit


class HTTPServer(BackgroundServer):
    """A real HTTP/1.1 server on 127.0.0.1 that calls ``app(request) -> Response``."""

    name = "http"

    def __init__(self, app: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.app = app
        self.log: list[Exchange] = []
        self._log_lock = threading.Lock()

    def make_server(self, address):
        return _ThreadingHTTPServer(address, _make_handler_class(self.app, self.log, self._log_lock))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def requests_served(self, path: str | None = None) -> int:
        with self._log_lock:
            return sum(1 for e in self.log if path is None or e.path == path)

    def body_bytes_sent(self) -> int:
        with self._log_lock:
            return sum(e.body_bytes for e in self.log)


def strong_etag(body: bytes) -> str:
    """A strong validator derived from the representation's bytes (RFC 9110 §8.8.3)."""
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


# conditional_get lives in course_tools.net.conditional, so that the HTTP assessment can hide it
__getattr__ = moved_to("course_tools.net.conditional", {"conditional_get"}, __name__)
