import http.client
import socket
import threading

import pytest

from course_tools.net import HTTPServer, Response, conditional_get, free_port
from course_tools.net.http import strong_etag

pytestmark = pytest.mark.network


def test_serves_on_loopback_and_logs_exchanges():
    """Does a real HTTP/1.1 exchange happen on 127.0.0.1, and is it recorded?"""
    with HTTPServer(lambda req: Response.text(201, f"{req.method} {req.path} {req.body!r}", Location="/x/1")) as srv:
        assert srv.host == "127.0.0.1" and srv.port > 0
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("POST", "/x", body=b"hi")
        resp = conn.getresponse()
        assert resp.status == 201 and resp.getheader("Location") == "/x/1"
        assert resp.read() == b"POST /x b'hi'"
        conn.close()
        assert srv.requests_served() == 1 and srv.log[0].status == 201


def test_conditional_get_returns_304_without_a_body():
    body = b"x" * 1000
    with HTTPServer(lambda req: conditional_get(req, body)) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("GET", "/r")
        r1 = conn.getresponse()
        assert r1.status == 200 and r1.read() == body
        etag = r1.getheader("ETag")
        assert etag == strong_etag(body)
        conn.request("GET", "/r", headers={"If-None-Match": "W/" + etag})  # weak comparison
        r2 = conn.getresponse()
        assert r2.status == 304 and r2.read() == b""
        conn.close()
        assert [e.body_bytes for e in srv.log] == [1000, 0]


def test_handler_errors_become_500():
    def boom(req):
        raise KeyError("nope")

    with HTTPServer(boom) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 500 and b"KeyError" in r.read()
        conn.close()


def test_stop_closes_idle_keepalive_connections_and_frees_the_port():
    """An open keep-alive connection must not keep the server (or its thread) alive."""
    srv = HTTPServer(lambda req: Response.text(200, "ok")).start()
    port = srv.port
    conn = http.client.HTTPConnection(srv.host, port, timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    srv.stop()
    conn.close()
    assert not any(t.name.startswith(f"course-http-{port}") for t in threading.enumerate())
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine, a listener is not
        s.bind(("127.0.0.1", port))
        s.listen()


def test_refuses_non_loopback_addresses():
    with pytest.raises(ValueError, match="loopback"):
        HTTPServer(lambda r: Response(), host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        free_port("10.0.0.1")
