"""The shop served four ways on loopback: what each style costs, and that each server cleans up."""

from __future__ import annotations

import json
import random

import grpc
import pytest
from websockets.sync.client import connect

from course_tools.net.apistyles import (
    SCREEN_QUERY, GraphQLShop, GrpcShop, OrderFeed, RestShop, ShopStore, load_protos, order_as_dict, order_message,
)
from course_tools.net.http import HTTPServer
from course_tools.net.wire import Relay, send

pytestmark = pytest.mark.network


@pytest.fixture
def store():
    return ShopStore.seeded(rng=random.Random(7))


def test_store_is_seeded(store):
    again = ShopStore.seeded(rng=random.Random(7))
    assert store.orders == again.orders and store.customers == again.customers


def test_rest_screen_needs_three_round_trips_following_links(store):
    """Does the REST client find the customer and items by links alone (uniform interface)?"""
    with HTTPServer(RestShop(store)) as srv, Relay(srv.port) as relay:
        order = send(relay.url, "GET", "/orders/3").json()
        customer = send(relay.url, "GET", order["_links"]["customer"]["href"]).json()
        items = send(relay.url, "GET", order["_links"]["items"]["href"]).json()["items"]
        assert len(relay.flows) == 3
    want = order_as_dict(store, 3)
    assert customer["name"] == want["customer"]["name"]
    assert [i["name"] for i in items] == [i["name"] for i in want["items"]]
    assert "loyalty_tier" in customer and "weight_g" in items[0]       # over-fetching: fields the screen ignores


def test_rest_responses_are_cacheable_with_etags(store):
    with HTTPServer(RestShop(store)) as srv:
        first = send(srv.url, "GET", "/customers/2")
        again = send(srv.url, "GET", "/customers/2", headers={"If-None-Match": first.header("ETag")})
    assert first.header("Cache-Control") == "max-age=60" and again.status == 304 and again.body == b""


def test_versions_by_uri_media_type_and_date_with_deprecation_headers(store):
    with HTTPServer(RestShop(store)) as srv:
        v1 = send(srv.url, "GET", "/v1/orders/5")
        v2 = send(srv.url, "GET", "/v2/orders/5")
        media = send(srv.url, "GET", "/orders/5", headers={"Accept": "application/vnd.courseshop.v2+json"})
        dated_old = send(srv.url, "GET", "/orders/5", headers={"Shop-Version": "2025-01-01"})
        dated_new = send(srv.url, "GET", "/orders/5", headers={"Shop-Version": "2026-06-01"})
    assert "customer_name" in v1.json() and "customer" in v2.json()
    assert media.json() == v2.json() and dated_new.json() == v2.json() and dated_old.json() == v1.json()
    assert v1.header("Deprecation") == "@1767225600" and v1.header("Sunset").endswith("GMT")
    assert 'rel="deprecation"' in v1.header("Link")
    assert v2.header("Deprecation") is None and v2.header("Sunset") is None


def test_additive_change_keeps_old_clients_working(store):
    with HTTPServer(RestShop(store, additive=True)) as srv:
        body = send(srv.url, "GET", "/v1/orders/5").json()
    assert body["currency"] == "GBP" and "customer_name" in body


def test_graphql_returns_exactly_the_selection_in_one_request(store):
    with HTTPServer(GraphQLShop(store)) as srv, Relay(srv.port) as relay:
        r = send(relay.url, "POST", "/graphql", headers={"Content-Type": "application/json"},
                 body=json.dumps({"query": SCREEN_QUERY, "variables": {"id": 3}}))
        assert len(relay.flows) == 1
    order = r.json()["data"]["order"]
    assert set(order) == {"id", "status", "placedAt", "customer", "items"}
    assert set(order["customer"]) == {"name"} and all(set(i) == {"name", "qty"} for i in order["items"])


def test_graphql_n_plus_one_and_the_batched_fix(store):
    q = "{ orders(first: 25) { id customer { name } } }"
    store.reset_counts()
    naive = GraphQLShop(store).execute(q)
    assert store.queries == 1 + 25
    store.reset_counts()
    batched = GraphQLShop(store, batching=True).execute(q)
    assert store.queries == 2
    assert naive == batched


def test_graphql_reports_errors_in_the_body(store):
    out = GraphQLShop(store).execute("{ order(id: 1) { nosuchfield } }")
    assert out["data"] is None and "nosuchfield" in out["errors"][0]["message"]


def test_grpc_unary_streaming_and_deadline(store):
    pb, _ = load_protos()
    with GrpcShop(store, updates=["packed", "shipped"]) as srv, grpc.insecure_channel(srv.target) as ch:
        stub = srv.stub(ch)
        order = stub.GetOrder(pb.OrderRequest(id=4), timeout=5)
        assert order.customer.name == order_as_dict(store, 4)["customer"]["name"]
        assert [(e.seq, e.status) for e in stub.WatchOrder(pb.WatchRequest(order_id=4), timeout=5)] == \
            [(1, "packed"), (2, "shipped")]
        with pytest.raises(grpc.RpcError) as err:
            stub.SlowGetOrder(pb.OrderRequest(id=4), timeout=0.2)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(grpc.RpcError) as err:
            stub.GetOrder(pb.OrderRequest(id=9999), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_protobuf_is_smaller_than_json_for_the_same_order(store):
    for oid in (1, 2, 3):
        assert len(order_message(store, oid).SerializeToString()) < len(json.dumps(order_as_dict(store, oid)))


def test_websocket_get_and_push(store):
    with OrderFeed(store) as feed, connect(feed.url) as ws:
        ws.send(json.dumps({"get": 6}))
        assert json.loads(ws.recv()) == order_as_dict(store, 6)
        ws.send(json.dumps({"watch": 6}))
        assert json.loads(ws.recv()) == {"watching": 6}
        assert feed.publish(6, "shipped") == 1
        assert json.loads(ws.recv(timeout=5)) == {"order": 6, "status": "shipped"}


def test_websocket_server_closes_open_connections_on_exit(store):
    """Leaving the block with a client still connected must not leave threads (conftest checks)."""
    feed = OrderFeed(store).start()
    with connect(feed.url) as ws:
        feed.stop()
        with pytest.raises(Exception):
            ws.recv(timeout=5)


def test_stateful_endpoint_breaks_across_replicas_stateless_cursor_does_not(store):
    """Two replicas, requests alternating: server-side position restarts; the ?after= cursor does not."""
    with HTTPServer(RestShop(store)) as a, HTTPServer(RestShop(store)) as b:
        hdr = {"Client-Id": "c1"}
        stateful = [send(srv.url, "GET", "/feed/next", headers=hdr).json()["orders"] for srv in (a, b, a, b)]
        link, stateless = "/orders?limit=5", []
        for srv in (a, b, a, b):
            page = send(srv.url, "GET", link).json()
            stateless.append([o["id"] for o in page["orders"]])
            link = page["_links"]["next"]["href"]
    assert stateful == [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [6, 7, 8, 9, 10]]
    assert stateless == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15], [16, 17, 18, 19, 20]]


def test_proto_is_compiled_in_memory_and_nothing_generated_is_committed():
    """The .proto is compiled at import time (grpcio-tools), so no *_pb2*.py can go stale."""
    from course_tools.net.apistyles import PROTO_DIR

    pb, services = load_protos()
    assert pb.Order.DESCRIPTOR.full_name == "courseshop.Order"
    assert [m.name for m in pb.DESCRIPTOR.services_by_name["Shop"].methods] == ["GetOrder", "WatchOrder", "SlowGetOrder"]
    assert not list(PROTO_DIR.glob("*_pb2*.py")) and not list(PROTO_DIR.parent.glob("*_pb2*.py"))
    assert load_protos() is load_protos()
