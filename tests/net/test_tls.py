"""TLS on loopback (course_tools.net.tls): a local CA, a TLS 1.3 server, and what an observer sees."""

import ssl
import threading

import pytest

from course_tools.net import Response
from course_tools.net.tls import (FlipBit, LocalCA, TLSServer, parse_client_hello, parse_server_hello, tls_records,
                                  tls_request)
from course_tools.net.wire import Relay

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def ca():
    return LocalCA()


def _app(req):
    return Response.text(200, f"secret for {req.headers.get('Authorization')}")


def test_verification_accepts_the_local_ca_and_negotiates_tls13(ca):
    """Does a verifying client trust the local CA's certificate and get TLS 1.3?"""
    with TLSServer(_app, ca) as srv:
        r = tls_request(srv.port, ca, "GET", "/")
        assert r.response.status == 200 and r.version == "TLSv1.3"
        assert r.chain[0]["names"] == ["localhost", "127.0.0.1"] and not r.chain[0]["is_ca"]
        assert r.chain[-1]["is_ca"] and r.chain[-1]["subject"] == r.chain[0]["issuer"]
        (hs,) = srv.wait_for_handshakes(1)
        assert hs.ok and hs.sni == "localhost"


def test_wrong_hostname_and_unknown_ca_are_rejected(ca):
    """Is the certificate refused for a name it does not carry, and from a CA nobody trusts?"""
    with TLSServer(_app, ca) as srv:
        with pytest.raises(ssl.SSLCertVerificationError, match="[Hh]ostname mismatch"):
            tls_request(srv.port, ca, "GET", "/", server_hostname="shop.example")
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_request(srv.port, ca.client_context(trust=False), "GET", "/")
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_request(srv.port, LocalCA("Another CA"), "GET", "/")
        assert srv.requests_served() == 0
        assert [h.ok for h in srv.wait_for_handshakes(3)] == [False, False, False]


def test_relay_sees_sni_and_sizes_but_not_the_request(ca):
    """Through a recording relay: SNI and record lengths are visible, the request is not."""
    with TLSServer(_app, ca) as srv, Relay(srv.port) as relay:
        tls_request(relay.port, ca, "GET", "/private", headers={"Authorization": "Bearer alice-token"})
        tls_request(relay.port, ca, "GET", "/private", headers={"Authorization": "Bearer alice-token"})
        up, down = relay.flows[0].client_to_server, relay.flows[0].server_to_client
        assert b"alice-token" not in relay.upstream_bytes() and b"/private" not in relay.upstream_bytes()
        assert b"secret" not in relay.downstream_bytes()
        hello = parse_client_hello(up)
        assert hello.sni == "localhost" and "TLS 1.3" in hello.versions
        server = parse_server_hello(down)
        assert server.versions == ["TLS 1.3"] and len(server.cipher_suites) == 1
        records = tls_records(up)
        assert records[0].type == "handshake" and records[-1].type == "application_data"
        # forward secrecy: a fresh ephemeral key share on every connection
        again = parse_client_hello(relay.flows[1].client_to_server)
        assert set(hello.key_shares) == set(again.key_shares)
        assert all(hello.key_shares[g] != again.key_shares[g] for g in hello.key_shares)


def test_tls_server_stops_cleanly(ca):
    srv = TLSServer(_app, ca).start()
    port = srv.port
    tls_request(port, ca, "GET", "/")
    srv.stop()
    assert not any(t.name.startswith(f"course-https-{port}") for t in threading.enumerate())


def test_tampering_is_detected_under_tls_but_not_in_plain_http(ca):
    """Integrity: a modified byte changes a plain request silently, and breaks a TLS record loudly."""
    import json

    from course_tools.net import HTTPServer
    from course_tools.net.api import ShopAPI
    from course_tools.net.wire import send

    order = json.dumps({"item": "tea", "qty": 1})
    plain_api = ShopAPI()
    with HTTPServer(plain_api) as srv, Relay(srv.port, tamper=lambda b: b.replace(b'"qty": 1', b'"qty": 9')) as relay:
        r = send(relay.url, "POST", "/orders", headers={"Content-Type": "application/json"}, body=order)
        assert r.status == 201 and plain_api.orders[1]["qty"] == 9      # nobody noticed
        assert b'"qty": 1' in relay.flows[0].client_to_server           # the client sent 1

    tls_api = ShopAPI()
    with TLSServer(tls_api, ca) as srv, Relay(srv.port, tamper=FlipBit()) as relay:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_request(relay.port, ca, "POST", "/orders", headers={"Content-Type": "application/json"},
                        body=order.encode())
        assert srv.requests_served() == 0 and tls_api.orders == {}
        assert relay.flows[0].client_to_server.count(b"\x17\x03\x03") >= 1   # it was sent, encrypted


def test_flipbit_hits_the_same_byte_however_tcp_splits_the_stream():
    """Is the tampering deterministic, whether records arrive together or one byte at a time?"""
    stream = (b"\x16\x03\x01\x00\x02hi" + b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x03fin"
              + b"\x17\x03\x03\x00\x04abcd" + b"\x17\x03\x03\x00\x01z")
    whole = FlipBit()(stream)
    f = FlipBit()
    bytewise = b"".join(f(stream[i:i + 1]) for i in range(len(stream)))
    assert whole == bytewise == stream.replace(b"abcd", b"abce")


def test_recorded_handshake_follows_the_protocol_order_whatever_the_chunking(ca):
    """Does the recorded handshake come out as ClientHello; ServerHello, CCS, encrypted handshake;
    CCS, Finished, request; then the server's encrypted records — and are the change_cipher_spec
    records (middlebox compatibility mode) really on the wire, in both directions?"""
    from course_tools.net.tls import recorded_handshake
    from course_tools.net.wire import Flow

    with TLSServer(_app, ca) as srv, Relay(srv.port) as relay:
        tls_request(relay.port, ca, "GET", "/", headers={"Authorization": "Bearer alice-token"})
    flow = relay.flows[0]
    arrows = recorded_handshake(flow)
    senders = [a[0] for a in arrows]
    first_client_again = senders.index("client", 1)
    assert arrows[0][2].startswith("ClientHello") and arrows[1][2].startswith("ServerHello")
    assert set(senders[1:first_client_again]) == {"server"}
    assert [a[2] for a in arrows].count("change_cipher_spec (ignored)") == 2
    # RFC 9846 Appendix E.4: the server's dummy record right after its first handshake message,
    # the client's right before its second flight
    assert arrows[2][:2] == ("server", "client") and arrows[2][2].startswith("change_cipher_spec")
    assert arrows[first_client_again][2].startswith("change_cipher_spec")
    assert arrows[first_client_again + 1][2].startswith("Finished")
    assert all(a[3] == "encrypted" for a in arrows if a[2].startswith(("encrypted", "Finished", "HTTP", "ticket")))
    # the same bytes re-chunked differently (one read per byte-run boundary merged) give the same arrows
    merged = Flow(0, flow.client_to_server, flow.server_to_client)
    c_first = flow.chunks[0][1]
    server_first = next(n for d, n in flow.chunks if d == "s2c")
    merged.chunks = [("c2s", c_first), ("s2c", server_first), ("c2s", len(flow.client_to_server) - c_first),
                     ("s2c", len(flow.server_to_client) - server_first)]
    assert recorded_handshake(merged) == arrows
