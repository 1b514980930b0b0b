"""The loopback relay: forwards bytes, and when paused holds them back without closing anything."""

import socket
import time

import pytest

from course_tools.net.ports import LOOPBACK
from course_tools.net.redis import RedisServer
from course_tools.net.relay import Relay

pytestmark = [pytest.mark.network, pytest.mark.redis]


def test_a_paused_relay_holds_bytes_and_keeps_the_connection_open():
    """Through the relay a PING is answered; paused, no answer comes and the connection is not closed;
    resumed, the held-back answer arrives on the same connection."""
    with RedisServer(tcp=True) as server, Relay(LOOPBACK, server.port) as relay:
        with socket.create_connection((LOOPBACK, relay.port), timeout=5) as conn:
            conn.sendall(b"PING\r\n")
            assert conn.recv(100) == b"+PONG\r\n"
            relay.pause()
            conn.sendall(b"PING\r\n")
            conn.settimeout(0.5)
            with pytest.raises(socket.timeout):  # silence, not a reset and not an end of stream
                conn.recv(100)
            assert relay.connections == 1 and relay.is_paused
            relay.resume()
            conn.settimeout(5)
            assert conn.recv(100) == b"+PONG\r\n"


def test_closing_one_side_closes_the_relayed_pair():
    """When the client hangs up, the relay closes its upstream connection too (no leaked sockets)."""
    with RedisServer(tcp=True) as server, Relay(LOOPBACK, server.port) as relay:
        conn = socket.create_connection((LOOPBACK, relay.port), timeout=5)
        conn.sendall(b"PING\r\n")
        assert conn.recv(100) == b"+PONG\r\n"
        conn.close()
        for _ in range(200):
            if relay.connections == 0:
                break
            time.sleep(0.01)
        assert relay.connections == 0
