"""One shop, four API styles, all on loopback: REST, GraphQL, gRPC and WebSockets.

    store = ShopStore.seeded(rng=seeds.spawn("shop"))
    with HTTPServer(RestShop(store)) as rest, HTTPServer(GraphQLShop(store)) as gql, \\
         GrpcShop(store) as grpc_srv, OrderFeed(store) as feed:
        ...

- :class:`ShopStore` holds customers, items and orders in memory and counts every query
  made to it (``store.queries``), so the GraphQL N+1 problem is a number, not a story.
- :class:`RestShop` is an ``app(request) -> Response`` for
  :class:`course_tools.net.http.HTTPServer`: resources with links (``_links``), ETags and
  ``Cache-Control``, and URI / media-type / date versioning with ``Deprecation``
  (RFC 9745) and ``Sunset`` (RFC 8594) on the old version.
- :class:`GraphQLShop` serves the same data with graphql-core at ``POST /graphql``;
  ``batching=True`` resolves customers through a :class:`DataLoader` (one batched query
  per level instead of one per order).
- :class:`GrpcShop` is a grpcio server for ``protos/course_shop.proto``, compiled in
  memory at import time (``grpc.protos_and_services``) so that the generated code always
  matches the installed protobuf runtime and no generated file exists anywhere.
- :class:`OrderFeed` is a websockets (sync API) server that pushes order status changes.

Every server binds 127.0.0.1 on a free port, is a context manager and, on exit, closes its
connections and joins its threads.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from course_tools.net.conditional import conditional_get
from course_tools.net.http import Request, Response
from course_tools.net.ports import LOOPBACK, require_loopback

__all__ = [
    "ShopStore", "RestShop", "GraphQLShop", "DataLoader", "GrpcShop", "OrderFeed", "load_protos",
    "order_as_dict", "SCREEN_QUERY", "DEPRECATION_DATE", "SUNSET_DATE",
]

FIRST_NAMES = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Dijkstra", "Perlman"]
PRODUCTS = ["tea", "coffee", "cake", "mug", "kettle", "spoon", "grinder", "filter", "scale", "tray"]
STATUSES = ["placed", "paid", "packed", "shipped", "delivered"]


@dataclass
class ShopStore:
    """Customers, catalogue items and orders, with a count of queries made (thread-safe)."""

    customers: dict[int, dict]
    items: dict[str, dict]
    orders: dict[int, dict]
    queries: int = 0
    query_log: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def seeded(cls, *, rng: random.Random, n_customers: int = 40, n_orders: int = 200) -> "ShopStore":
        customers = {}
        for cid in range(1, n_customers + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            customers[cid] = {
                "id": cid, "name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}{cid}@example.com",
                "phone": f"+44 20 7946 {rng.randrange(10000):04d}", "address": f"{rng.randrange(1, 200)} High Street",
                "loyalty_tier": rng.choice(["none", "silver", "gold"]), "marketing_opt_in": rng.random() < 0.5,
            }
        items = {}
        for i, name in enumerate(PRODUCTS):
            sku = f"SKU-{100 + i}"
            items[sku] = {"sku": sku, "name": name, "price_cents": rng.randrange(150, 5000),
                          "description": f"A very good {name}, as pictured.", "weight_g": rng.randrange(50, 2000)}
        orders = {}
        for oid in range(1, n_orders + 1):
            lines = [{"sku": sku, "qty": rng.randrange(1, 4)} for sku in rng.sample(sorted(items), rng.randrange(1, 5))]
            orders[oid] = {
                "id": oid, "customer_id": rng.randrange(1, n_customers + 1), "status": rng.choice(STATUSES),
                "placed_at": f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00Z",
                "shipping_address": f"{rng.randrange(1, 200)} Station Road", "notes": "", "lines": lines,
            }
        return cls(customers, items, orders)

    def _count(self, what: str) -> None:
        with self._lock:
            self.queries += 1
            self.query_log.append(what)

    def reset_counts(self) -> None:
        with self._lock:
            self.queries = 0
            self.query_log.clear()

    # one query each -------------------------------------------------------------------
    def order(self, oid: int) -> dict | None:
        self._count(f"order {oid}")
        return self.orders.get(oid)

    def list_orders(self, first: int) -> list[dict]:
        self._count(f"orders first {first}")
        return [self.orders[k] for k in sorted(self.orders)[:first]]

    def customer(self, cid: int) -> dict | None:
        self._count(f"customer {cid}")
        return self.customers.get(cid)

    def customers_by_ids(self, ids: Iterable[int]) -> dict[int, dict]:
        ids = list(ids)
        self._count(f"customers {ids}")
        return {i: self.customers[i] for i in ids if i in self.customers}

    def lines(self, oid: int) -> list[dict]:
        self._count(f"lines of order {oid}")
        order = self.orders.get(oid)
        if order is None:
            return []
        return [{**self.items[l["sku"]], "qty": l["qty"]} for l in order["lines"]]

    def total_cents(self, order: dict) -> int:
        return sum(self.items[l["sku"]]["price_cents"] * l["qty"] for l in order["lines"])

    def set_status(self, oid: int, status: str) -> None:
        with self._lock:
            self.orders[oid]["status"] = status


def order_as_dict(store: ShopStore, oid: int) -> dict:
    """The screen's data (an order, its customer, its items) as one JSON-able dict."""
    o = store.orders[oid]
    c = store.customers[o["customer_id"]]
    return {
        "id": o["id"], "status": o["status"], "placed_at": o["placed_at"],
        "customer": {"id": c["id"], "name": c["name"], "email": c["email"], "phone": c["phone"]},
        "items": [{"sku": it["sku"], "name": it["name"], "qty": l["qty"], "price_cents": it["price_cents"]}
                  for l in o["lines"] for it in [store.items[l["sku"]]]],
        "total_cents": store.total_cents(o),
    }


# --------------------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------------------

DEPRECATION_DATE = 1767225600          # 2026-01-01T00:00:00Z, as an RFC 9745 Date (@epoch seconds)
SUNSET_DATE = "Wed, 30 Jun 2027 00:00:00 GMT"   # an HTTP-date (RFC 8594)
V2_MEDIA = "application/vnd.courseshop.v2+json"
DATE_V2 = "2026-06-01"                 # date-based versions: requests pinned before it get v1


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class RestShop:
    """The shop as resources. ``GET /orders/N``, ``/customers/N``, ``/orders/N/items``,
    ``/orders?after=N&limit=K``, and the versioned ``/v1/orders/N`` and ``/v2/orders/N``.
    ``/feed/next`` is a deliberately *stateful* endpoint (the server remembers where each
    client is), to show what breaks when a second replica answers.

    Versions of the order representation (objective 2.2.3):

    - v1 (deprecated): ``customer_name`` is a flat string field.
    - v2 (breaking change): the customer is a nested object ``customer: {id, name}``.
    - ``additive=True`` adds a ``currency`` field to every version: a compatible change.

    The version is chosen by the URI (``/v1/``, ``/v2/``), by the media type
    (``Accept: application/vnd.courseshop.v2+json``) or by a date (``Shop-Version:
    2026-06-01``, like ``Stripe-Version`` or ``X-GitHub-Api-Version``). Unversioned
    ``/orders/N`` is the resource with links used in section 1.
    """

    def __init__(self, store: ShopStore, *, additive: bool = False) -> None:
        self.store = store
        self.additive = additive
        self.sessions: dict[str, int] = {}     # only for the stateful anti-example /feed/next

    def _stateful_next(self, request: Request) -> Response:
        """The anti-example: the server remembers each client's position (no cursor in the request)."""
        client = request.headers.get("Client-Id") or request.client[0]
        after = self.sessions.get(client, 0)
        ids = [k for k in sorted(self.store.orders) if k > after][:5]
        if ids:
            self.sessions[client] = ids[-1]
        return Response.json(200, {"orders": ids})

    def __call__(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0].rstrip("/")
        query = dict(p.split("=", 1) for p in request.path.partition("?")[2].split("&") if "=" in p)
        if request.method not in ("GET", "HEAD"):
            return Response.json(405, {"detail": "read-only API"}, Allow="GET, HEAD")
        if m := re.fullmatch(r"/(v1|v2)/orders/(\d+)", path):
            return self._versioned(request, int(m.group(2)), m.group(1))
        if m := re.fullmatch(r"/orders/(\d+)", path):
            if "Shop-Version" in request.headers or V2_MEDIA in (request.headers.get("Accept") or ""):
                return self._versioned(request, int(m.group(1)), self._negotiated_version(request))
            return self._order(request, int(m.group(1)))
        if m := re.fullmatch(r"/orders/(\d+)/items", path):
            oid = int(m.group(1))
            if oid not in self.store.orders:
                return Response.json(404, {"detail": f"no order {oid}"})
            items = [{k: it[k] for k in ("sku", "name", "qty", "price_cents", "description", "weight_g")}
                     for it in self.store.lines(oid)]
            return self._cacheable(request, {"items": items, "_links": {"self": {"href": f"/orders/{oid}/items"},
                                                                        "order": {"href": f"/orders/{oid}"}}})
        if m := re.fullmatch(r"/customers/(\d+)", path):
            c = self.store.customer(int(m.group(1)))
            if c is None:
                return Response.json(404, {"detail": "no such customer"})
            return self._cacheable(request, {**c, "_links": {"self": {"href": f"/customers/{c['id']}"}}})
        if path == "/orders":
            after, limit = int(query.get("after", 0)), min(50, int(query.get("limit", 10)))
            ids = [k for k in sorted(self.store.orders) if k > after][:limit]
            self.store._count(f"orders after {after}")
            body = {"orders": [{"id": i, "_links": {"self": {"href": f"/orders/{i}"}}} for i in ids],
                    "_links": {"next": {"href": f"/orders?after={ids[-1]}&limit={limit}"}} if ids else {}}
            return self._cacheable(request, body)
        if path == "/feed/next":
            return self._stateful_next(request)
        if path == "":
            return self._cacheable(request, {"_links": {"orders": {"href": "/orders"}}})
        return Response.json(404, {"detail": "no such resource"})

    def _cacheable(self, request: Request, obj: dict, **headers: str) -> Response:
        return conditional_get(request, _json(obj), content_type="application/json", cache_control="max-age=60",
                               extra_headers=headers)

    def _order(self, request: Request, oid: int) -> Response:
        o = self.store.order(oid)
        if o is None:
            return Response.json(404, {"detail": f"no order {oid}"})
        body = {k: o[k] for k in ("id", "status", "placed_at", "shipping_address", "notes", "customer_id")}
        body["total_cents"] = self.store.total_cents(o)
        body["_links"] = {"self": {"href": f"/orders/{oid}"}, "customer": {"href": f"/customers/{o['customer_id']}"},
                          "items": {"href": f"/orders/{oid}/items"}}
        return self._cacheable(request, body)

    def _negotiated_version(self, request: Request) -> str:
        if V2_MEDIA in (request.headers.get("Accept") or ""):
            return "v2"
        pinned = request.headers.get("Shop-Version")
        return "v2" if pinned and pinned >= DATE_V2 else "v1"

    def _versioned(self, request: Request, oid: int, version: str) -> Response:
        o = self.store.order(oid)
        if o is None:
            return Response.json(404, {"detail": f"no order {oid}"})
        c = self.store.customers[o["customer_id"]]
        body: dict = {"id": o["id"], "status": o["status"], "total_cents": self.store.total_cents(o)}
        if version == "v1":
            body["customer_name"] = c["name"]
        else:
            body["customer"] = {"id": c["id"], "name": c["name"]}
        if self.additive:
            body["currency"] = "GBP"
        headers = {"Vary": "Accept, Shop-Version"}
        if version == "v1":
            headers.update({
                "Deprecation": f"@{DEPRECATION_DATE}",                          # RFC 9745
                "Sunset": SUNSET_DATE,                                          # RFC 8594
                "Link": '</docs/migrate-to-v2>; rel="deprecation"; type="text/html"',  # RFC 9745
            })
        return self._cacheable(request, body, **headers)


# --------------------------------------------------------------------------------------
# GraphQL
# --------------------------------------------------------------------------------------

SCREEN_QUERY = """
query Screen($id: Int!) {
  order(id: $id) {
    id status placedAt
    customer { name }
    items { name qty }
  }
}
"""


class DataLoader:
    """Collect the keys asked for while one level of a query executes, then load them in one
    batch (the pattern of the DataLoader library that graphql.org recommends for N+1)."""

    def __init__(self, batch_load: Callable[[list], dict]) -> None:
        self.batch_load = batch_load
        self._queue: list[tuple[object, asyncio.Future]] = []
        self.batches = 0

    def load(self, key) -> "asyncio.Future":
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queue:
            loop.call_soon(self._dispatch)
        self._queue.append((key, future))
        return future

    def _dispatch(self) -> None:
        queue, self._queue = self._queue, []
        keys = list(dict.fromkeys(k for k, _ in queue))
        self.batches += 1
        try:
            values = self.batch_load(keys)
        except Exception as exc:  # every waiter sees the failure
            for _, fut in queue:
                fut.set_exception(exc)
            return
        for key, fut in queue:
            fut.set_result(values.get(key))


def build_graphql_schema():
    """The shop's GraphQL schema (graphql-core), resolvers reading ``info.context``."""
    from graphql import (GraphQLArgument, GraphQLField, GraphQLInt, GraphQLList, GraphQLNonNull,
                         GraphQLObjectType, GraphQLSchema, GraphQLString)

    def ctx(info):
        return info.context

    def resolve_customer(order, info):
        c = ctx(info)
        if c["batching"]:
            return c["customers"].load(order["customer_id"])
        return c["store"].customer(order["customer_id"])

    customer = GraphQLObjectType("Customer", lambda: {
        "id": GraphQLField(GraphQLNonNull(GraphQLInt)),
        "name": GraphQLField(GraphQLNonNull(GraphQLString)),
        "email": GraphQLField(GraphQLNonNull(GraphQLString)),
        "phone": GraphQLField(GraphQLNonNull(GraphQLString)),
    })
    line = GraphQLObjectType("LineItem", lambda: {
        "sku": GraphQLField(GraphQLNonNull(GraphQLString)),
        "name": GraphQLField(GraphQLNonNull(GraphQLString)),
        "qty": GraphQLField(GraphQLNonNull(GraphQLInt)),
        "priceCents": GraphQLField(GraphQLNonNull(GraphQLInt), resolve=lambda it, info: it["price_cents"]),
    })
    order = GraphQLObjectType("Order", lambda: {
        "id": GraphQLField(GraphQLNonNull(GraphQLInt)),
        "status": GraphQLField(GraphQLNonNull(GraphQLString)),
        "placedAt": GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda o, info: o["placed_at"]),
        "shippingAddress": GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda o, info: o["shipping_address"]),
        "totalCents": GraphQLField(GraphQLNonNull(GraphQLInt), resolve=lambda o, info: ctx(info)["store"].total_cents(o)),
        "customer": GraphQLField(GraphQLNonNull(customer), resolve=resolve_customer),
        "items": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(line))),
                              resolve=lambda o, info: ctx(info)["store"].lines(o["id"])),
    })
    query = GraphQLObjectType("Query", {
        "order": GraphQLField(order, args={"id": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                              resolve=lambda _, info, id: ctx(info)["store"].order(id)),
        "orders": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(order))),
                               args={"first": GraphQLArgument(GraphQLInt, default_value=10)},
                               resolve=lambda _, info, first: ctx(info)["store"].list_orders(first)),
    })
    return GraphQLSchema(query)


class GraphQLShop:
    """``POST /graphql`` with ``{"query": ..., "variables": ...}``, executed by graphql-core.

    ``batching=True`` loads customers through a per-request :class:`DataLoader`.
    ``execute(query, variables)`` runs a query in-process (no HTTP) and returns the result dict.
    """

    def __init__(self, store: ShopStore, *, batching: bool = False) -> None:
        self.store = store
        self.batching = batching
        self.schema = build_graphql_schema()

    def execute(self, query: str, variables: dict | None = None) -> dict:
        from graphql import graphql

        async def run():
            context = {"store": self.store, "batching": self.batching,
                       "customers": DataLoader(self.store.customers_by_ids)}
            return await graphql(self.schema, query, variable_values=variables, context_value=context)

        try:
            asyncio.get_running_loop()
        except RuntimeError:                      # no loop in this thread (a server thread, a script)
            result = asyncio.run(run())
        else:                                     # inside a running loop (a Jupyter kernel): own thread
            box: list = []
            worker = threading.Thread(target=lambda: box.append(asyncio.run(run())), name="course-graphql")
            worker.start()
            worker.join()
            if not box:
                raise RuntimeError("the GraphQL execution thread failed")
            result = box[0]
        out: dict = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return out

    def __call__(self, request: Request) -> Response:
        if request.path.split("?")[0] != "/graphql":
            return Response.json(404, {"detail": "GraphQL lives at /graphql"})
        if request.method != "POST":
            return Response.json(405, {"detail": "POST a query"}, Allow="POST")
        try:
            payload = json.loads(request.body or b"{}")
            query, variables = payload["query"], payload.get("variables")
        except (ValueError, KeyError, TypeError):
            return Response.json(400, {"errors": [{"message": "body must be JSON with a 'query'"}]})
        return Response(200, {"Content-Type": "application/json"}, _json(self.execute(query, variables)))


# --------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------

PROTO_DIR = Path(__file__).with_name("protos")
_proto_lock = threading.Lock()
_protos_cache: tuple | None = None


def load_protos():
    """``(messages, services)`` for ``course_shop.proto``, compiled in memory by grpcio-tools.

    Compiling at import time instead of committing ``*_pb2.py`` keeps the generated code in
    step with whatever protobuf runtime is installed (generated modules refuse a runtime
    older than the generator) and leaves no generated file to go stale.
    """
    global _protos_cache
    with _proto_lock:
        if _protos_cache is None:
            import grpc

            added = str(PROTO_DIR) not in sys.path
            if added:
                sys.path.append(str(PROTO_DIR))
            try:
                _protos_cache = grpc.protos_and_services("course_shop.proto")
            finally:
                if added:
                    sys.path.remove(str(PROTO_DIR))
        return _protos_cache


def order_message(store: ShopStore, oid: int):
    pb, _ = load_protos()
    d = order_as_dict(store, oid)
    return pb.Order(id=d["id"], status=d["status"], placed_at=d["placed_at"],
                    customer=pb.Customer(**d["customer"]),
                    items=[pb.LineItem(**it) for it in d["items"]], total_cents=d["total_cents"])


class GrpcShop:
    """A grpcio server for the ``Shop`` service on 127.0.0.1 (insecure channel: loopback only).

    ``WatchOrder`` streams the statuses from ``updates`` (default: the order's status
    progression). ``SlowGetOrder`` waits until the client's deadline has passed (or it
    cancels), so a call with a deadline always ends in ``DEADLINE_EXCEEDED``, whatever the
    machine's speed. On exit the server stops with a grace period and its worker threads
    are joined.
    """

    def __init__(self, store: ShopStore, *, host: str = LOOPBACK, workers: int = 4,
                 updates: list[str] | None = None) -> None:
        self.store = store
        self.host = require_loopback(host)
        self.workers = workers
        self.updates = updates or STATUSES
        self.port: int | None = None
        self.calls: list[str] = []
        self._server = None
        self._executor = None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def _servicer(self):
        import grpc

        pb, services = load_protos()
        shop = self

        class Servicer(services.ShopServicer):
            def GetOrder(self, request, context):
                shop.calls.append("GetOrder")
                if request.id not in shop.store.orders:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"no order {request.id}")
                return order_message(shop.store, request.id)

            def WatchOrder(self, request, context):
                shop.calls.append("WatchOrder")
                for seq, status in enumerate(shop.updates, 1):
                    yield pb.OrderEvent(order_id=request.order_id, seq=seq, status=status)

            def SlowGetOrder(self, request, context):
                shop.calls.append("SlowGetOrder")
                done = threading.Event()
                context.add_callback(done.set)      # runs when the RPC ends: deadline, cancel
                done.wait(30)
                return order_message(shop.store, request.id)

        return Servicer()

    def start(self) -> "GrpcShop":
        import grpc

        _, services = load_protos()
        self._executor = futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="course-grpc")
        self._server = grpc.server(self._executor)
        services.add_ShopServicer_to_server(self._servicer(), self._server)
        self.port = self._server.add_insecure_port(f"{self.host}:0")
        self._server.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> "GrpcShop":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stub(self, channel):
        _, services = load_protos()
        return services.ShopStub(channel)


# --------------------------------------------------------------------------------------
# WebSockets
# --------------------------------------------------------------------------------------

class OrderFeed:
    """A WebSocket server (websockets' sync API) on 127.0.0.1.

    A client sends ``{"get": id}`` for the screen's data (one message back) or
    ``{"watch": id}`` to be pushed ``{"order": id, "status": ...}`` whenever
    :meth:`publish` changes the order's status. ``url`` is ``ws://127.0.0.1:PORT``.
    """

    def __init__(self, store: ShopStore, *, host: str = LOOPBACK) -> None:
        self.store = store
        self.host = require_loopback(host)
        self.pushed = 0
        self._watchers: dict[int, set] = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the feed is not running")
        return self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def _handler(self, ws) -> None:
        watching: list[int] = []
        try:
            for message in ws:
                msg = json.loads(message)
                if "get" in msg:
                    ws.send(json.dumps(order_as_dict(self.store, int(msg["get"])), sort_keys=True, separators=(",", ":")))
                elif "watch" in msg:
                    oid = int(msg["watch"])
                    with self._lock:
                        self._watchers.setdefault(oid, set()).add(ws)
                    watching.append(oid)
                    ws.send(json.dumps({"watching": oid}))
        finally:
            with self._lock:
                for oid in watching:
                    self._watchers.get(oid, set()).discard(ws)

    def publish(self, oid: int, status: str) -> int:
        """Change an order's status and push it to every watcher; returns how many were told."""
        self.store.set_status(oid, status)
        with self._lock:
            targets = list(self._watchers.get(oid, ()))
        for ws in targets:
            ws.send(json.dumps({"order": oid, "status": status}))
        with self._lock:
            self.pushed += len(targets)
        return len(targets)

    def start(self) -> "OrderFeed":
        from websockets.sync.server import serve

        self._server = serve(self._handler, self.host, 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"course-ws-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()          # closes connections (1001) and waits for handlers
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> "OrderFeed":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
