"""HTTP/1.1 on the wire: a raw-socket client and a recording relay, both on loopback.

    with HTTPServer(app) as srv, RawClient(srv.host, srv.port) as client:
        resp = client.request("GET", "/hello")
        print(show_bytes(client.sent))       # exactly the bytes that left the socket
        print(show_bytes(resp.raw))          # exactly the bytes that came back

    with HTTPServer(app) as srv, Relay(srv.port, drop_responses=1) as relay:
        send(relay.url, "POST", "/orders")   # the server answers, the relay drops it
        # -> NoResponse; relay.flows[0] holds both directions' bytes

Nothing is hidden: :func:`build_request` writes the request line and headers by hand,
:func:`parse_response` reads the status line, headers and body by the rules of RFC 9112
(§4 status line, §5 fields, §6 body length, §7.1 chunked coding). The relay is a plain TCP
proxy that copies bytes both ways and keeps a copy, so the lesson can show what a
network observer sees, first for HTTP and then for TLS (:mod:`course_tools.net.tls`).
Every socket is on 127.0.0.1; every object is a context manager that closes what it opened.
"""

from __future__ import annotations

import select
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from course_tools.net.ports import LOOPBACK, require_loopback
from course_tools.net.server import BackgroundServer, TrackingThreadingMixIn

__all__ = [
    "RawResponse", "NoResponse", "build_request", "parse_response", "RawClient", "send",
    "show_bytes", "hexdump", "Flow", "Relay",
]

CRLF = b"\r\n"


class NoResponse(ConnectionError):
    """The connection closed before a complete response arrived (the response was lost)."""


@dataclass
class RawResponse:
    """One response as received: the exact bytes, and what they say."""

    raw: bytes
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first field called ``name`` (field names are case-insensitive, RFC 9110 §5.1)."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    @property
    def head_bytes(self) -> int:
        """Bytes of status line and header section (everything before the body)."""
        return len(self.raw) - len(self.body_raw)

    @property
    def body_raw(self) -> bytes:
        return self.raw[self.raw.index(CRLF + CRLF) + 4:]

    def json(self):
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.reason}, {len(self.raw)} bytes>"


def build_request(method: str, target: str, host: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                  body: bytes | str = b"") -> bytes:
    """The bytes of an HTTP/1.1 request: request line, ``Host``, fields, empty line, body.

    ``Content-Length`` is added when there is a body (RFC 9112 §6.2) unless given.
    """
    if isinstance(body, str):
        body = body.encode()
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    names = {k.lower() for k, _ in items}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in items]
    if (body or method in ("POST", "PUT", "PATCH", "QUERY")) and "content-length" not in names \
            and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_response(buf: bytes, method: str = "GET") -> tuple[RawResponse, int] | None:
    """Parse one response from the start of ``buf``; ``None`` if it is not complete yet.

    Returns the response and how many bytes it used. A response framed by closing the
    connection (no Content-Length, not chunked) is complete only when the caller says the
    connection ended: call :func:`parse_response_at_eof` then.
    """
    end = buf.find(CRLF + CRLF)
    if end < 0:
        return None
    head = buf[:end].decode("latin-1")
    status_line, *field_lines = head.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    status = int(code)
    headers = []
    for line in field_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    start = end + 4
    # RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the fields say
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return RawResponse(buf[:start], version, status, reason, headers, b""), start
    if "chunked" in lower.get("transfer-encoding", "").lower():
        pos, body = start, b""
        while True:
            line_end = buf.find(CRLF, pos)
            if line_end < 0:
                return None
            size = int(buf[pos:line_end].split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                trailer_end = buf.find(CRLF + CRLF, pos - 2)
                if trailer_end < 0:
                    return None
                used = trailer_end + 4
                return RawResponse(buf[:used], version, status, reason, headers, body), used
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos:pos + size]
            pos += size + 2
    if "content-length" in lower:
        n = int(lower["content-length"])
        if len(buf) < start + n:
            return None
        return RawResponse(buf[:start + n], version, status, reason, headers, buf[start:start + n]), start + n
    return None  # framed by connection close


def parse_response_at_eof(buf: bytes, method: str = "GET") -> RawResponse | None:
    """Parse a response whose connection has ended (close-delimited body, RFC 9112 §6.3)."""
    done = parse_response(buf, method)
    if done is not None:
        return done[0]
    end = buf.find(CRLF + CRLF)
    if end < 0:
        return None
    head = parse_response(buf[:end + 4] + b"", "HEAD")
    if head is None:
        return None
    r = head[0]
    lower = {k.lower() for k, _ in r.headers}
    if "content-length" in lower or "transfer-encoding" in lower:
        return None  # the body was cut short
    return RawResponse(buf, r.version, r.status, r.reason, r.headers, buf[end + 4:])


class RawClient:
    """A socket that speaks HTTP/1.1 by hand and keeps a copy of every byte.

    ``sent`` and ``received`` hold everything that crossed the socket, in order. Pass an
    ``ssl_context`` (and ``server_hostname``) to speak HTTPS; the bytes recorded are then
    the plaintext *inside* TLS, as the two endpoints see it.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 80, *, timeout: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        self.host = require_loopback(host)
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.sock: socket.socket | None = None
        self.sent = b""
        self.received = b""
        self._buf = b""

    def connect(self) -> "RawClient":
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname or self.host)
                except BaseException:
                    sock.close()
                    raise
            self.sock = sock
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> "RawClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes, method: str = "GET") -> RawResponse:
        """Send ``data`` exactly as given and read one response."""
        self.connect()
        assert self.sock is not None
        self.sock.sendall(data)
        self.sent += data
        return self.read_response(method)

    def request(self, method: str, target: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                body: bytes | str = b"") -> RawResponse:
        host = self.server_hostname or f"{self.host}:{self.port}"
        return self.send_raw(build_request(method, target, host, headers, body), method)

    def read_response(self, method: str = "GET") -> RawResponse:
        assert self.sock is not None
        while True:
            done = parse_response(self._buf, method)
            if done is not None:
                resp, used = done
                self._buf = self._buf[used:]
                return resp
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError) as exc:
                chunk = b""
                if not self._buf:
                    self.close()
                    raise NoResponse(f"connection reset before any response ({exc})") from None
            if not chunk:
                resp = parse_response_at_eof(self._buf, method)
                self.close()
                if resp is None:
                    raise NoResponse("the connection closed before a complete response arrived")
                self._buf = b""
                return resp
            self.received += chunk
            self._buf += chunk


def send(base_url: str, method: str, path: str = "/", *, headers: Mapping[str, str] | None = None,
         body: bytes | str = b"", timeout: float = 5.0) -> RawResponse:
    """One request on a fresh connection to a loopback ``http://127.0.0.1:PORT`` URL.

    Raises :class:`NoResponse` (a ``ConnectionError``) if no complete response arrives,
    e.g. when a relay drops it: the caller cannot tell whether the server acted.
    """
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        raise ValueError(f"send() speaks plain HTTP to loopback, not {base_url!r}")
    hdrs = dict(headers or {})
    hdrs.setdefault("Connection", "close")
    with RawClient(parts.hostname or LOOPBACK, parts.port or 80, timeout=timeout) as client:
        return client.request(method, path, hdrs, body)


def show_bytes(data: bytes, *, limit: int | None = 2000) -> str:
    """Bytes as text, one protocol line per output line, with ``\\r\\n`` made visible.

    Printable ASCII is shown as is; anything else as ``\\xNN``, so a TLS record looks as
    opaque here as it does on the wire.
    """
    shown = data if limit is None else data[:limit]
    out, line = [], []
    for b in shown:
        if b == 0x0D:
            line.append("\\r")
        elif b == 0x0A:
            line.append("\\n")
            out.append("".join(line))
            line = []
        elif 0x20 <= b < 0x7F:
            line.append(chr(b))
        else:
            line.append(f"\\x{b:02x}")
    if line:
        out.append("".join(line))
    text = "\n".join(out)
    if limit is not None and len(data) > limit:
        text += f"\n... ({len(data) - limit} more bytes)"
    return text


def hexdump(data: bytes, *, limit: int = 128, width: int = 16) -> str:
    """Classic offset / hex / ASCII dump of the first ``limit`` bytes."""
    rows = []
    for off in range(0, min(len(data), limit), width):
        chunk = data[off:off + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        rows.append(f"{off:04x}  {hexes:<{width * 3}} {text}")
    if len(data) > limit:
        rows.append(f"... ({len(data) - limit} more bytes)")
    return "\n".join(rows)


@dataclass
class Flow:
    """One connection through the relay: the bytes each way, and whether the answer was dropped.

    ``chunks`` keeps the order in which data arrived: ``("c2s" | "s2c", n_bytes)`` per read, so
    that which bytes were sent *before* the other side answered can be told afterwards.
    """

    number: int
    client_to_server: bytes = b""
    server_to_client: bytes = b""
    dropped: bool = False
    chunks: list[tuple[str, int]] = field(default_factory=list)

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.client_to_server), len(self.server_to_client)


class _RelayServer(TrackingThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


class Relay(BackgroundServer):
    """A TCP relay on 127.0.0.1 in front of a loopback server, recording every byte.

    ``drop_responses=n`` makes the first ``n`` connections lose their answer: the relay
    forwards the request, waits for the server's complete response (so the server *has*
    acted), keeps a copy, and closes the client's connection without passing it on. This
    is the classic lost response — from the client's side indistinguishable from a request
    that never arrived. ``drop`` may instead be a function ``(flow_number) -> bool``.
    Dropping needs to see where the response ends, so it works for plain HTTP only.

    ``tamper`` (a function ``bytes -> bytes``) rewrites each chunk the client sends before
    it is passed on — an active attacker on the path. ``client_to_server`` keeps what the
    client actually sent.
    """

    name = "relay"

    def __init__(self, target_port: int, target_host: str = LOOPBACK, *, drop_responses: int = 0,
                 drop: Callable[[int], bool] | None = None, tamper: Callable[[bytes], bytes] | None = None,
                 host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(host, port)
        self.target = (require_loopback(target_host), int(target_port))
        self._drop_left = int(drop_responses)
        self._drop_fn = drop
        self._tamper = tamper
        self.flows: list[Flow] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def drop_next(self, n: int = 1) -> None:
        """Drop the responses of the next ``n`` connections."""
        with self._lock:
            self._drop_left += n

    def _new_flow(self) -> Flow:
        with self._lock:
            flow = Flow(len(self.flows))
            if self._drop_fn is not None:
                flow.dropped = bool(self._drop_fn(flow.number))
            elif self._drop_left > 0:
                self._drop_left -= 1
                flow.dropped = True
            self.flows.append(flow)
            return flow

    def upstream_bytes(self) -> bytes:
        """Everything clients sent, all connections in order."""
        with self._lock:
            return b"".join(f.client_to_server for f in self.flows)

    def downstream_bytes(self) -> bytes:
        """Everything servers sent back (including dropped answers), all connections in order."""
        with self._lock:
            return b"".join(f.server_to_client for f in self.flows)

    def make_server(self, address):
        relay = self

        class _Pump(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                flow = relay._new_flow()
                client: socket.socket = self.request
                try:
                    upstream = socket.create_connection(relay.target, timeout=10)
                except OSError:
                    return
                with upstream:
                    relay._pump(flow, client, upstream)

        return _RelayServer(address, _Pump)

    def _pump(self, flow: Flow, client: socket.socket, upstream: socket.socket) -> None:
        request_method = "GET"
        while True:
            try:
                readable, _, _ = select.select([client, upstream], [], [], 10)
            except (OSError, ValueError):
                return
            if not readable:
                return  # idle for 10 s: give up
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return  # either side closed: the relay closes both
                with self._lock:
                    if sock is client:
                        flow.client_to_server += data
                        flow.chunks.append(("c2s", len(data)))
                        if flow.client_to_server[:5] == b"HEAD ":
                            request_method = "HEAD"
                    else:
                        flow.server_to_client += data
                        flow.chunks.append(("s2c", len(data)))
                if sock is client:
                    upstream.sendall(self._tamper(data) if self._tamper else data)
                elif not flow.dropped:
                    client.sendall(data)
                elif parse_response(flow.server_to_client, request_method) is not None:
                    # the whole answer has arrived and is thrown away: cut the client off
                    try:
                        client.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
