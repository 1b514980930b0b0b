"""TLS on loopback: a local CA, an HTTPS server, a client that shows what was negotiated,
and a reader for the handshake bytes a network observer can still see.

    ca = LocalCA()                                   # a throwaway CA (trustme), in memory
    with TLSServer(app, ca) as srv:                  # HTTPS on 127.0.0.1, TLS 1.3 only
        r = tls_request(srv.port, ca, "GET", "/hello")
        r.version, r.cipher, r.chain                 # 'TLSv1.3', 'TLS_AES_256_GCM_SHA384', [...]

    with TLSServer(app, ca) as srv, Relay(srv.port) as relay:
        tls_request(relay.port, ca, "GET", "/hello")
        parse_client_hello(relay.flows[0].client_to_server).sni    # 'localhost' — in clear

The facts behind it are from RFC 9846 (TLS 1.3, July 2026; RFC 8446 was its
predecessor): §1 what TLS protects (and that it does not hide lengths), §4.2.2 the
ClientHello, §4.2.3 the ServerHello, §4.3 their extensions (key share §4.3.8; SNI itself is
RFC 6066 §3), §5.1 the record layer.
Certificates are made with ``trustme`` and never leave this process; the names in them
(``localhost``, ``127.0.0.1``) are the only names any client here asks for.
"""

from __future__ import annotations

import ssl
import struct
import threading
from dataclasses import dataclass, field
from typing import Iterable

from course_tools.net.http import Handler, HTTPServer, _ThreadingHTTPServer, _make_handler_class
from course_tools.net.ports import LOOPBACK
from course_tools.net.wire import RawClient, RawResponse

__all__ = [
    "LocalCA", "TLSServer", "Handshake", "TLSResult", "tls_request", "describe_cert",
    "TLSRecord", "tls_records", "Hello", "parse_client_hello", "parse_server_hello",
    "CIPHER_SUITES", "GROUPS", "FlipBit",
]

CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
CIPHER_SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
                 0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
                 0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV (a signal, not a cipher)"}
GROUPS = {0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001D: "x25519", 0x001E: "x448",
          0x0100: "ffdhe2048", 0x11EC: "X25519MLKEM768"}
VERSIONS = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0"}


# ---- certificates ------------------------------------------------------------------
class LocalCA:
    """A certificate authority that exists only in this process (``trustme``).

    ``issue()`` makes a server certificate for loopback names; ``client_context()`` is a
    client that trusts this CA and nothing else, with hostname checking on.
    """

    def __init__(self, name: str = "Course Local CA") -> None:
        import trustme

        self._ca = trustme.CA(organization_name=name)
        self.name = name

    def issue(self, *hostnames: str) -> "object":
        return self._ca.issue_cert(*(hostnames or ("localhost", "127.0.0.1")), organization_name="Course Shop")

    @property
    def cert_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def server_context(self, *hostnames: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.set_alpn_protocols(["http/1.1"])
        self.issue(*hostnames).configure_cert(ctx)
        return ctx

    def client_context(self, *, trust: bool = True) -> ssl.SSLContext:
        """A verifying client (like a browser): trusts this CA (or, ``trust=False``, nothing)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED are on
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.set_alpn_protocols(["http/1.1"])   # ALPN (RFC 7301): which protocol runs inside TLS
        if trust:
            self._ca.configure_trust(ctx)
        return ctx


def describe_cert(der: bytes) -> dict[str, object]:
    """The fields of a certificate a person checks: subject, issuer, names, validity, key."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        names = []
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bc.ca
    except x509.ExtensionNotFound:
        is_ca = False
    key = cert.public_key()
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "names": names,
        "is_ca": is_ca,
        "not_after": cert.not_valid_after_utc.date().isoformat(),
        "key": type(key).__name__.lstrip("_").replace("PublicKey", ""),
        "bytes": len(der),
    }


# ---- server ------------------------------------------------------------------------
@dataclass(frozen=True)
class Handshake:
    """One TLS handshake as the server saw it."""

    ok: bool
    version: str | None
    cipher: str | None
    sni: str | None
    error: str | None = None


class _TLSHTTPServer(_ThreadingHTTPServer):
    """The course HTTP server, with each accepted socket wrapped in TLS on its own thread."""

    def __init__(self, address, handler_class, context: ssl.SSLContext, handshakes: list, lock: threading.Lock,
                 errors: list):
        self.context = context
        self.handshakes = handshakes
        self.errors = errors
        self._hs_lock = lock
        self._sni = threading.local()
        context.sni_callback = self._on_sni
        super().__init__(address, handler_class)

    def _on_sni(self, sslobj, server_name, context):  # called during the handshake, on its thread
        self._sni.name = server_name
        return None

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        self._sni.name = None
        request.settimeout(10)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            with self._hs_lock:
                self.handshakes.append(Handshake(False, None, None, self._sni.name,
                                                 getattr(exc, "reason", None) or type(exc).__name__))
            return
        with self._hs_lock:
            self.handshakes.append(Handshake(True, request.version(), request.cipher()[0], self._sni.name))
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        """A connection that fails after the handshake (e.g. a record that does not decrypt)
        is recorded in ``errors`` instead of printing a traceback."""
        import sys

        exc = sys.exc_info()[1]
        with self._hs_lock:
            self.errors.append(getattr(exc, "reason", None) or type(exc).__name__)


class TLSServer(HTTPServer):
    """:class:`HTTPServer` behind TLS 1.3, with a certificate from ``ca`` for loopback names.

    ``server.handshakes`` records every handshake (and every failed one, with the alert);
    ``server.errors`` the connections that failed after it (e.g. a tampered record).
    """

    name = "https"

    def __init__(self, app: Handler, ca: LocalCA | None = None, *, hostnames: Iterable[str] = ("localhost", "127.0.0.1"),
                 host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(app, host, port)
        self.ca = ca or LocalCA()
        self.hostnames = tuple(hostnames)
        self.handshakes: list[Handshake] = []
        self.errors: list[str] = []

    def make_server(self, address):
        ctx = self.ca.server_context(*self.hostnames)
        return _TLSHTTPServer(address, _make_handler_class(self.app, self.log, self._log_lock), ctx,
                              self.handshakes, self._log_lock, self.errors)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def wait_for_handshakes(self, n: int, timeout: float = 5.0) -> list[Handshake]:
        """The first ``n`` handshakes, waiting for the server's threads to record them.

        A client learns that a handshake failed before the server has written it down.
        """
        import time

        deadline = time.monotonic() + timeout
        while len(self.handshakes) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._log_lock:
            return list(self.handshakes[:n])


# ---- client ------------------------------------------------------------------------
@dataclass
class TLSResult:
    """What a TLS client learned: protocol, cipher, the server's certificate and the answer."""

    version: str
    cipher: str
    cipher_bits: int
    chain: list[dict[str, object]]
    response: RawResponse
    sent_plaintext: bytes = field(repr=False, default=b"")


def tls_request(port: int, ca_or_context: LocalCA | ssl.SSLContext, method: str = "GET", target: str = "/",
                *, server_hostname: str = "localhost", headers: dict[str, str] | None = None,
                body: bytes = b"", host: str = LOOPBACK) -> TLSResult:
    """One HTTPS request to ``host:port`` (loopback), verifying the certificate for ``server_hostname``.

    ``server_hostname`` is only a name to check and to send as SNI; the connection always
    goes to 127.0.0.1. A mismatch raises ``ssl.SSLCertVerificationError``.
    """
    ctx = ca_or_context.client_context() if isinstance(ca_or_context, LocalCA) else ca_or_context
    hdrs = {"Connection": "close", **(headers or {})}
    with RawClient(host, port, ssl_context=ctx, server_hostname=server_hostname) as client:
        resp = client.request(method, target, hdrs, body)
        sock = client.sock
        chain = _chain(sock, ctx) if sock is not None else []
        version = sock.version() if sock is not None else "?"
        name, _, bits = sock.cipher() if sock is not None else ("?", "", 0)
        return TLSResult(version or "?", name, bits, chain, resp, client.sent)


def _chain(sock: ssl.SSLSocket, ctx: ssl.SSLContext) -> list[dict[str, object]]:
    """The verified chain, leaf first: from the socket on Python 3.13+, else leaf + trusted issuer."""
    getter = getattr(sock, "get_verified_chain", None)
    if getter is not None:
        return [describe_cert(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER))
                for c in getter()]
    leaf = describe_cert(sock.getpeercert(binary_form=True))
    chain = [leaf]
    for der in ctx.get_ca_certs(binary_form=True):
        ca = describe_cert(der)
        if ca["subject"] == leaf["issuer"]:
            chain.append(ca)
    return chain


# ---- what an observer sees: records and hellos ---------------------------------------
@dataclass(frozen=True)
class TLSRecord:
    type: str
    version: str
    length: int
    payload: bytes = field(repr=False)


def tls_records(data: bytes) -> list[TLSRecord]:
    """Split captured bytes into TLS records (RFC 9846 §5.1): 5-byte header, then payload.

    Everything an observer learns without keys is here: the record types (after the hellos
    they all claim ``application_data``), and every record's length.
    """
    out, pos = [], 0
    while pos + 5 <= len(data):
        ctype, ver, length = struct.unpack("!BHH", data[pos:pos + 5])
        payload = data[pos + 5:pos + 5 + length]
        out.append(TLSRecord(CONTENT_TYPES.get(ctype, f"type {ctype}"), VERSIONS.get(ver, hex(ver)), length, payload))
        pos += 5 + length
    return out


def _record_starts(data: bytes) -> list[tuple[int, TLSRecord]]:
    out, pos = [], 0
    for r in tls_records(data):
        out.append((pos, r))
        pos += 5 + r.length
    return out


def recorded_handshake(flow) -> list[tuple[str, str, str, str]]:
    """A relay's :class:`~course_tools.net.wire.Flow` of one TLS 1.3 connection as sequence-diagram
    arrows ``(sender, receiver, label, style)``, in the order the protocol forces.

    The client's first flight is its ClientHello. The server's first flight is every record it
    sent before the client's second flight began (the client cannot finish before it has the
    server's Finished, and the server sends nothing more before the client's Finished), so the
    split does not depend on how the bytes were chunked. ``change_cipher_spec`` records are
    middlebox-compatibility records (RFC 9846 Appendix E.4, D.4 in RFC 8446) that TLS 1.3 ignores.
    """
    c2s, s2c = _record_starts(flow.client_to_server), _record_starts(flow.server_to_client)
    # bytes the server had sent when the client started its second flight
    seen_s2c, server_first, saw_server = 0, None, False
    for direction, n in flow.chunks:
        if direction == "s2c":
            seen_s2c += n
            saw_server = True
        elif saw_server and server_first is None:
            server_first = seen_s2c
    if server_first is None:
        server_first = seen_s2c

    def label(r: TLSRecord, encrypted_as: str) -> tuple[str, str]:
        if r.type == "handshake":
            name = {1: "ClientHello", 2: "ServerHello"}.get(r.payload[0] if r.payload else -1, "handshake")
            return f"{name} ({r.length} B, in clear)", "normal"
        if r.type == "change_cipher_spec":
            return "change_cipher_spec (ignored)", "normal"
        return f"{encrypted_as} ({r.length} B)", "encrypted"

    arrows = []
    client_first = [r for pos, r in c2s if r.type == "handshake"][:1]
    client_rest = [r for r in (r for _, r in c2s) if r not in client_first]
    for r in client_first:
        arrows.append(("client", "server", *label(r, "")))
    for pos, r in s2c:
        if pos < server_first:
            arrows.append(("server", "client", *label(r, "encrypted handshake")))
    encrypted_seen = 0
    for r in client_rest:
        if r.type == "application_data":
            encrypted_seen += 1
        what = "Finished" if encrypted_seen == 1 else "HTTP request"
        arrows.append(("client", "server", *label(r, what)))
    for pos, r in s2c:
        if pos >= server_first:
            arrows.append(("server", "client", *label(r, "ticket or HTTP response")))
    return arrows


@dataclass
class Hello:
    """The readable parts of a ClientHello or ServerHello."""

    kind: str
    cipher_suites: list[str]
    versions: list[str]
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    key_shares: dict[str, bytes] = field(default_factory=dict)   # group -> public key bytes
    extensions: list[int] = field(default_factory=list)


def _handshake_bytes(data: bytes) -> bytes:
    return b"".join(r.payload for r in tls_records(data) if r.type == "handshake")


def _parse_hello(data: bytes, want: int) -> Hello:
    hs = _handshake_bytes(data)
    if len(hs) < 4 or hs[0] != want:
        raise ValueError("these bytes do not start with a " + ("ClientHello" if want == 1 else "ServerHello"))
    p = 4 + 2 + 32                                # type+length, legacy_version, random
    sid_len = hs[p]
    p += 1 + sid_len
    if want == 1:
        (n,) = struct.unpack("!H", hs[p:p + 2])
        suites = [struct.unpack("!H", hs[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
        p += 2 + n
        p += 1 + hs[p]                            # compression methods
    else:
        suites = [struct.unpack("!H", hs[p:p + 2])[0]]
        p += 3                                    # cipher suite, compression method
    hello = Hello("ClientHello" if want == 1 else "ServerHello",
                  [CIPHER_SUITES.get(s, f"0x{s:04x}") for s in suites], [])
    (ext_total,) = struct.unpack("!H", hs[p:p + 2])
    p += 2
    end = p + ext_total
    while p + 4 <= end:
        etype, elen = struct.unpack("!HH", hs[p:p + 4])
        body = hs[p + 4:p + 4 + elen]
        p += 4 + elen
        hello.extensions.append(etype)
        if etype == 0 and want == 1 and len(body) > 5:                     # server_name (RFC 6066 §3)
            (nlen,) = struct.unpack("!H", body[3:5])
            hello.sni = body[5:5 + nlen].decode("ascii", "replace")
        elif etype == 16 and want == 1:                                     # ALPN (RFC 7301)
            q = 2
            while q < len(body):
                ln = body[q]
                hello.alpn.append(body[q + 1:q + 1 + ln].decode("ascii", "replace"))
                q += 1 + ln
        elif etype == 43:                                                   # supported_versions
            vals = body[1:] if want == 1 else body
            hello.versions = [VERSIONS.get(struct.unpack("!H", vals[i:i + 2])[0], "?") for i in range(0, len(vals), 2)]
        elif etype == 51:                                                   # key_share
            q = 2 if want == 1 else 0
            while q + 4 <= len(body):
                group, klen = struct.unpack("!HH", body[q:q + 4])
                hello.key_shares[GROUPS.get(group, f"0x{group:04x}")] = body[q + 4:q + 4 + klen]
                q += 4 + klen
    return hello


def parse_client_hello(data: bytes) -> Hello:
    """The ClientHello at the start of a client's bytes: SNI, ALPN, versions, key shares."""
    return _parse_hello(data, 1)


def parse_server_hello(data: bytes) -> Hello:
    """The ServerHello at the start of a server's bytes: chosen suite, version, key share."""
    return _parse_hello(data, 2)


class FlipBit:
    """A ``Relay(tamper=...)`` function: flips the last bit of the ``nth`` application_data
    record the client sends, wherever TCP happens to split or join the records.

    In TLS 1.3 the client's first encrypted record is its Finished message, so ``nth=2``
    (the default) hits the first record that carries the HTTP request.
    """

    def __init__(self, nth: int = 2) -> None:
        self.nth = nth
        self._header = b""        # bytes of the current record header seen so far
        self._left = 0            # payload bytes of the current record still to come
        self._seen = 0            # application_data records started so far
        self._target = False      # is the current record the one to flip?
        self.flipped = False

    def __call__(self, chunk: bytes) -> bytes:
        out = bytearray(chunk)
        i = 0
        while i < len(out):
            if self._left == 0:                      # reading a 5-byte record header
                need = 5 - len(self._header)
                self._header += bytes(out[i:i + need])
                i += min(need, len(out) - i)
                if len(self._header) == 5:
                    ctype, _, length = struct.unpack("!BHH", self._header)
                    self._header, self._left = b"", length
                    self._seen += ctype == 23
                    self._target = ctype == 23 and self._seen == self.nth
                continue
            take = min(self._left, len(out) - i)
            i += take
            self._left -= take
            if self._left == 0 and self._target and not self.flipped:
                out[i - 1] ^= 1                       # the record's last byte: part of its AEAD tag
                self.flipped = True
        return bytes(out)
