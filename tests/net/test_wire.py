"""The raw-socket client and the recording relay (course_tools.net.wire)."""

import json
import socket
import threading

import pytest

from course_tools.net import HTTPServer, Response
from course_tools.net.api import ShopAPI
from course_tools.net.wire import (NoResponse, RawClient, Relay, build_request, hexdump, parse_response,
                                   send, show_bytes)

pytestmark = pytest.mark.network

JSON = {"Content-Type": "application/json"}


def test_build_request_writes_exactly_the_bytes_of_rfc_9112():
    """Is a request line, Host, fields, empty line and body what goes out, byte for byte?"""
    raw = build_request("POST", "/orders", "127.0.0.1:8000", JSON, b'{"item":"tea"}')
    assert raw == (b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 14\r\n\r\n{\"item\":\"tea\"}")


@pytest.mark.parametrize("raw, method, body", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", b"hello"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", "GET", b"hello"),
    (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", "GET", b""),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", b""),
])
def test_parse_response_frames_bodies(raw, method, body):
    """Does the parser find the end of a response the way RFC 9112 §6.3 says?"""
    resp, used = parse_response(raw + b"NEXT", method)
    assert used == len(raw) and resp.body == body and resp.raw == raw
    assert parse_response(raw[:-1], method) is None or body == b""


def test_raw_client_records_both_directions_over_keep_alive():
    """Are the bytes sent and received exactly what crossed the socket, across two requests?"""
    with HTTPServer(lambda req: Response.text(200, req.path)) as srv, RawClient(srv.host, srv.port) as client:
        r1 = client.request("GET", "/a")
        r2 = client.request("GET", "/bb")
        assert (r1.status, r1.body, r2.body) == (200, b"/a", b"/bb")
        assert client.sent == (build_request("GET", "/a", f"127.0.0.1:{srv.port}")
                               + build_request("GET", "/bb", f"127.0.0.1:{srv.port}"))
        assert client.received == r1.raw + r2.raw
        assert srv.requests_served() == 2


def test_relay_records_bytes_in_each_direction():
    """Does a response through the relay arrive intact, with a copy of each direction kept?"""
    with HTTPServer(ShopAPI()) as srv, Relay(srv.port) as relay:
        r = send(relay.url, "GET", "/hello", headers={"Authorization": "Bearer alice-token"})
        assert r.status == 200
        (flow,) = relay.flows
        assert flow.client_to_server.startswith(b"GET /hello HTTP/1.1\r\n")
        assert b"Authorization: Bearer alice-token" in flow.client_to_server  # plain HTTP hides nothing
        assert flow.server_to_client == r.raw and not flow.dropped


def test_dropped_response_makes_a_retried_post_create_two_orders():
    """Lost response + retry: POST (not idempotent) creates a duplicate; PUT and DELETE do not."""
    api = ShopAPI()
    with HTTPServer(api) as srv, Relay(srv.port, drop_responses=1) as relay:
        body = json.dumps({"item": "tea", "qty": 1})
        with pytest.raises(NoResponse):
            send(relay.url, "POST", "/orders", headers=JSON, body=body)
        assert send(relay.url, "POST", "/orders", headers=JSON, body=body).status == 201
        assert api.order_count() == 2 and relay.flows[0].dropped
        assert b"201 Created" in relay.flows[0].server_to_client  # the server did answer

        relay.drop_next()
        with pytest.raises(NoResponse):
            send(relay.url, "PUT", "/orders/7", headers=JSON, body=body)
        assert send(relay.url, "PUT", "/orders/7", headers=JSON, body=body).status == 200  # replaced, not added
        relay.drop_next()
        with pytest.raises(NoResponse):
            send(relay.url, "DELETE", "/orders/7")
        assert send(relay.url, "DELETE", "/orders/7").status == 404   # another answer, the same state
        assert sorted(api.orders) == [1, 2]


def test_relay_stop_closes_open_connections_and_frees_everything():
    """An idle client connection must not keep the relay's threads or port alive."""
    with HTTPServer(lambda r: Response.text(200, "ok")) as srv:
        relay = Relay(srv.port).start()
        port = relay.port
        client = RawClient("127.0.0.1", port).connect()
        assert client.request("GET", "/").status == 200       # keep-alive: the connection stays open
        relay.stop()
        client.close()
        assert not any(t.name.startswith(f"course-relay-{port}") for t in threading.enumerate())
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def test_show_bytes_and_hexdump_make_crlf_and_binary_visible():
    assert show_bytes(b"GET / HTTP/1.1\r\n\r\n") == "GET / HTTP/1.1\\r\\n\n\\r\\n"
    assert show_bytes(b"\x16\x03\x01") == "\\x16\\x03\\x01"
    assert hexdump(b"AB\x00").startswith("0000  41 42 00")


def test_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Relay(80, target_host="192.0.2.1")
    with pytest.raises(ValueError, match="loopback"):
        RawClient("192.0.2.1", 80)
