"""Requests and responses as plain values, for middleware written as ``(request, call_next) -> response``.

Both are frozen dataclasses of plain fields (str, int, bytes, tuples of ``(name, value)``
pairs), so they can be compared, logged, and passed across a process boundary as data.
Header names are stored in lower case, as ASGI servers pass them (ASGI HTTP connection scope,
``headers``); lookups are case-insensitive (RFC 9110 §5.1).

    req = WebRequest("GET", "/api/orders", (("authorization", "Bearer t0k3n"),))
    req.header("Authorization")                  # 'Bearer t0k3n'
    resp = WebResponse.json(200, {"ok": True}).with_header("X-Request-Id", "abc")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

__all__ = ["WebRequest", "WebResponse"]

Headers = tuple  # tuple[tuple[str, str], ...]


def _norm(headers) -> tuple:
    return tuple((str(k).lower(), str(v)) for k, v in headers)


def _get(headers: tuple, name: str, default=None):
    name = name.lower()
    for k, v in headers:
        if k == name:
            return v
    return default


def _set(headers: tuple, name: str, value: str) -> tuple:
    name = name.lower()
    return tuple((k, v) for k, v in headers if k != name) + ((name, str(value)),)


class _Headers:
    """What requests and responses share: headers stored lower-case, looked up in any case."""

    headers: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _norm(self.headers))

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (any case), or ``default``."""
        return _get(self.headers, name, default)

    def with_header(self, name: str, value: str):
        """A copy with header ``name`` set to ``value`` (replacing any earlier value)."""
        return replace(self, headers=_set(self.headers, name, value))


@dataclass(frozen=True)
class WebRequest(_Headers):
    """One HTTP request: method, path (with query string), headers, body."""

    method: str = "GET"
    path: str = "/"
    headers: tuple = ()
    body: bytes = b""


@dataclass(frozen=True)
class WebResponse(_Headers):
    """One HTTP response: status, headers, body."""

    status: int = 200
    headers: tuple = ()
    body: bytes = b""

    def with_body(self, body: bytes) -> "WebResponse":
        return replace(self, body=bytes(body))

    @classmethod
    def json(cls, status: int, obj: object, headers: tuple = ()) -> "WebResponse":
        """A JSON response (``Content-Type: application/json``)."""
        return cls(status, (("content-type", "application/json"),) + tuple(headers),
                   json.dumps(obj, sort_keys=True).encode())

    @classmethod
    def text(cls, status: int, text: str, headers: tuple = ()) -> "WebResponse":
        return cls(status, (("content-type", "text/plain; charset=utf-8"),) + tuple(headers), text.encode())

    def json_body(self):
        """The body decoded as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))
