"""Does the middleware pipeline behave as an onion on a real ASGI server, and leave nothing behind?"""

from __future__ import annotations

import gzip as gz
import json

import pytest

from course_tools.clock import VirtualClock
from course_tools.net import asgi
from course_tools.net.webtypes import WebRequest, WebResponse

pytestmark = pytest.mark.network


def _handler(req: WebRequest) -> WebResponse:
    if req.path == "/api/crash":
        raise RuntimeError("bug")
    return WebResponse.json(200, {"user": req.header("x-user"), "items": list(range(400))})


def _verify(clock):
    def verify(token):
        clock.advance(0.003)
        if token == "down":
            raise ConnectionError("identity service down")
        return {"good": "ann"}.get(token)
    return verify


def test_value_types_are_frozen_and_case_insensitive():
    """Headers are looked up in any case, and with_header returns a new value (the old one unchanged)."""
    req = WebRequest("GET", "/", (("Authorization", "Bearer x"),))
    assert req.header("AUTHORIZATION") == "Bearer x" and req.headers == (("authorization", "Bearer x"),)
    req2 = req.with_header("X-Id", "1").with_header("x-id", "2")
    assert req.header("x-id") is None and req2.header("X-ID") == "2" and len(req2.headers) == 2
    with pytest.raises(Exception):
        req.path = "/other"  # type: ignore[misc]
    assert WebResponse.json(201, {"a": 1}).json_body() == {"a": 1}


def test_compose_runs_layers_outermost_first_and_records_the_trace():
    """The first middleware sees the request first and the response last."""
    trace: list = []
    app = asgi.compose([asgi.request_id(), asgi.errors()], _handler, trace)
    resp = app(WebRequest("GET", "/x"))
    assert resp.status == 200 and resp.header("x-request-id") == "req-1"
    assert [(d, layer) for d, layer, _ in trace] == [("->", "request_id"), ("->", "errors"), ("->", "handler"),
                                                     ("<-", "handler"), ("<-", "errors"), ("<-", "request_id")]


def test_the_server_serves_real_http_and_stops_cleanly():
    """uvicorn answers on loopback; after the with block the port is closed (conftest checks threads)."""
    with asgi.ASGIServer(asgi.asgi_app(lambda req: WebResponse.text(200, req.method + " " + req.path))) as server:
        assert server.host == "127.0.0.1"
        r = server.request("POST", "/a?b=1", body=b"xyz")
        assert (r.status, r.body, r.header("content-length")) == (200, b"POST /a?b=1", "11")
        port = server.port
    import socket
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_good_order_gives_ids_timing_and_json_errors_everywhere():
    """request_id outermost, errors outside auth, timing around auth: what the lesson promises."""
    clock = VirtualClock()
    layers = [asgi.request_id(), asgi.errors(), asgi.timing(clock), asgi.auth(_verify(clock)), asgi.gzip()]
    with asgi.serve_pipeline(layers, _handler) as server:
        ok = server.request("GET", "/api/o", {"Authorization": "Bearer good", "Accept-Encoding": "gzip"})
        assert ok.status == 200 and ok.header("content-encoding") == "gzip"
        assert json.loads(gz.decompress(ok.body))["user"] == "ann"
        assert ok.header("server-timing") == "app;dur=3.0"
        denied = server.request("GET", "/api/o", {"Authorization": "Bearer nope"})
        assert denied.status == 401 and denied.header("x-request-id")
        assert denied.header("www-authenticate") == 'Bearer realm="api", error="invalid_token"'
        missing = server.request("GET", "/api/o")
        assert missing.status == 401 and missing.header("www-authenticate") == 'Bearer realm="api"'
        for path, token in (("/api/crash", "good"), ("/api/o", "down")):
            r = server.request("GET", path, {"Authorization": f"Bearer {token}"})
            assert r.status == 500 and r.json_body() == asgi.INTERNAL_ERROR and r.header("x-request-id")


def test_naive_order_lets_the_server_default_500_through():
    """With auth outermost, an exception in the token check never meets the error layer."""
    clock = VirtualClock()
    trace: list = []
    with asgi.serve_pipeline([asgi.auth(_verify(clock)), asgi.request_id(), asgi.errors()], _handler, trace) as server:
        r = server.request("GET", "/api/o", {"Authorization": "Bearer down"})
        assert r.status == 500 and r.body == b"Internal Server Error" and r.header("x-request-id") is None
        assert trace == [("->", "auth", "/api/o"), ("!!", "auth", "ConnectionError")]
        r = server.request("GET", "/api/o")
        assert r.status == 401 and r.header("x-request-id") is None


def test_gzip_only_when_accepted_and_large():
    """Small bodies and clients without Accept-Encoding: gzip get identity encoding, always with Vary."""
    app = asgi.compose([asgi.gzip(min_size=100)], lambda req: WebResponse.text(200, "x" * int(req.path[1:])))
    assert app(WebRequest("GET", "/50", (("accept-encoding", "gzip"),))).header("content-encoding") is None
    assert app(WebRequest("GET", "/500")).header("content-encoding") is None
    big = app(WebRequest("GET", "/500", (("accept-encoding", "gzip, br"),)))
    assert big.header("content-encoding") == "gzip" and gz.decompress(big.body) == b"x" * 500
    assert big.header("vary") == "accept-encoding"


def test_gzip_honours_q_values_and_keeps_an_existing_vary():
    """RFC 9110 §12.5.3: gzip;q=0 refuses gzip, * stands for unlisted codings; §12.5.5: Vary is added to, not replaced."""
    body = "x" * 600
    app = asgi.compose([asgi.gzip()], lambda req: WebResponse.text(200, body, (("vary", "Origin"),)))
    for accept, compressed in [("gzip;q=0", False), ("br, gzip;q=0, *", False), ("*;q=0.1", True),
                               ("x-gzip", True), ("identity", False), ("gzip; q=0.5", True)]:
        r = app(WebRequest("GET", "/", (("accept-encoding", accept),)))
        assert (r.header("content-encoding") == "gzip") is compressed, accept
        assert r.header("vary") == "Origin, accept-encoding"


def test_a_pipeline_that_returns_something_else_is_a_500_not_a_crash():
    """A middleware returning a non-WebResponse is reported, and the server keeps serving."""
    with asgi.serve_pipeline([lambda req, nxt: {"status": 200}], _handler) as server:
        assert server.request("GET", "/").status == 500
        assert server.request("GET", "/").status == 500
