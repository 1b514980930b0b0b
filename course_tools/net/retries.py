"""The lesson 2.1 retry experiment: a response lost on the way back, and one blind retry.

    result = lost_response("POST", "/orders", '{"item": "cake", "qty": 1}', rng=seeds.spawn("shop"))
    result.client_saw      # ['no response (lost on the way back)', '201 Created']
    result.server_sent     # ['HTTP/1.1 201 Created', 'HTTP/1.1 201 Created']
    result.orders          # {1: ..., 2: ..., 3: ..., 4: ...}: the retry made a second order

A client that got no answer does not know whether the server acted (RFC 9110 §9.2.2), so the
client here retries *only* when an attempt got no response, and stops after the first answer
that arrives: with ``drop_first=False`` there is exactly one attempt. :meth:`LostResponse.messages`
turns a run into the arrows of :func:`course_tools.viz.sequence.sequence_diagram`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from course_tools.clock import VirtualClock
from course_tools.net.api import ShopAPI
from course_tools.net.http import HTTPServer
from course_tools.net.wire import NoResponse, Relay, send

__all__ = ["fresh_shop", "lost_response", "LostResponse", "describe_orders", "LOST", "JSON"]

JSON = {"Content-Type": "application/json"}
LOST = "no response (lost on the way back)"


def fresh_shop(rng: random.Random | None = None) -> ShopAPI:
    """A shop with order 1 (tea x2, not shipped) and order 2 (cake x1, shipped); the next id is 3."""
    api = ShopAPI(clock=VirtualClock(), rng=rng)
    api.orders.update({1: {"item": "tea", "qty": 2}, 2: {"item": "cake", "qty": 1}})
    api.ship(2)
    api.next_id = 3
    return api


def describe_orders(orders: dict[int, dict]) -> str:
    """``{1: {"item": "tea", "qty": 2}}`` -> ``"1: tea x2"``, one entry per order in id order."""
    return ", ".join(f"{k}: {v['item']} x{v['qty']}" for k, v in sorted(orders.items())) or "none"


@dataclass
class LostResponse:
    """What one experiment did: per attempt what the client saw and what the server sent."""

    method: str
    path: str
    client_saw: list[str] = field(default_factory=list)
    server_sent: list[str] = field(default_factory=list)
    orders: dict[int, dict] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.client_saw)

    def messages(self) -> list[tuple[str, str, str, bool]]:
        """``(sender, receiver, label, lost)`` arrows between client, relay and server."""
        out = []
        for n, (saw, sent) in enumerate(zip(self.client_saw, self.server_sent), 1):
            request = f"{self.method} {self.path} (attempt {n})"
            answer = sent.split(" ", 1)[1] if " " in sent else sent
            out += [("client", "relay", request, False), ("relay", "server", request, False),
                    ("server", "relay", answer, False), ("relay", "client", answer, saw == LOST)]
        return out


def lost_response(method: str, path: str, body: str = "", *, drop_first: bool = True, max_attempts: int = 2,
                  rng: random.Random | None = None) -> LostResponse:
    """Send ``method path`` through a relay that loses the first answer (if ``drop_first``);
    retry only after an attempt that got no response, at most ``max_attempts`` in all."""
    api = fresh_shop(rng)
    result = LostResponse(method, path)
    with HTTPServer(api) as server, Relay(server.port, drop_responses=int(drop_first)) as relay:
        for _ in range(max_attempts):
            try:
                r = send(relay.url, method, path, headers=JSON, body=body)
            except NoResponse:
                result.client_saw.append(LOST)
                continue
            result.client_saw.append(f"{r.status} {r.reason}")
            break                                    # an answer arrived: nothing to retry
    # the relay has stopped, so its record of what the server sent is complete
    result.server_sent = [f.server_to_client.split(b"\r\n", 1)[0].decode() for f in relay.flows]
    result.orders = {k: dict(v) for k, v in sorted(api.orders.items())}
    return result
