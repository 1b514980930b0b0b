"""A small shop, built in layers, that the architecture lesson changes and measures.

    controller (HTTP handler)  ->  OrderService (rules)  ->  OrderRepository (storage)

Everything a layer needs is passed to its constructor (constructor injection, Fowler 2004):
the service gets a repository, a clock, a payment registry and an event bus, and never builds
or looks them up itself. Two repositories keep the same contract
(:func:`repository_contract`): :class:`SqliteOrderRepository` (real SQL, counts the
statements it executes) and :class:`InMemoryOrderRepository` (a dict, for fast tests).

The patterns of the lesson live here too, each in a few lines: payment *strategies* in a
registry, an *observer* event bus, a *factory* for repositories, an *adapter* for a legacy
gateway, a GoF *decorator* (retries) next to a Python ``@decorator``, and a service locator
for contrast.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import Callable, Protocol

__all__ = ["Order", "OrderRepository", "InMemoryOrderRepository", "SqliteOrderRepository", "ReadReplicaRepository",
           "repository_contract", "make_repository", "PaymentMethod", "CardPayment", "InvoicePayment",
           "PaymentRegistry", "EventBus", "OrderService", "ServiceLocator", "LocatorOrderService",
           "LegacyGateway", "LegacyGatewayAdapter", "RetryingPayment", "FlakyPayment", "logged", "orders_handler",
           "PaymentDeclined"]


@dataclass(frozen=True)
class Order:
    id: int
    customer: str
    amount_cents: int
    currency: str
    status: str          # "new" | "paid" | "cancelled"
    created_at: float


class OrderRepository(Protocol):
    """The port the service depends on: what it needs from storage, nothing more."""

    def add(self, customer: str, amount_cents: int, currency: str, created_at: float) -> Order: ...
    def get(self, order_id: int) -> Order | None: ...
    def save(self, order: Order) -> None: ...
    def by_customer(self, customer: str) -> list[Order]: ...


class InMemoryOrderRepository:
    """A dict behind the repository interface (a *fake*: real behaviour, no I/O)."""

    def __init__(self) -> None:
        self._rows: dict[int, Order] = {}

    def add(self, customer, amount_cents, currency, created_at):
        order = Order(len(self._rows) + 1, customer, amount_cents, currency, "new", created_at)
        self._rows[order.id] = order
        return order

    def get(self, order_id):
        return self._rows.get(order_id)

    def save(self, order):
        if order.id not in self._rows:
            raise KeyError(order.id)
        self._rows[order.id] = order

    def by_customer(self, customer):
        return [o for _, o in sorted(self._rows.items()) if o.customer == customer]


class SqliteOrderRepository:
    """Orders in SQLite (``:memory:`` by default); ``statements`` counts the SQL it executed."""

    def __init__(self, path: str = ":memory:") -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.statements = 0
        self.conn.set_trace_callback(self._count)
        self.conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
                          "amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, "
                          "created_at REAL NOT NULL)")
        self.conn.commit()
        self.statements = 0

    def _count(self, sql: str) -> None:
        self.statements += 1

    def close(self) -> None:
        self.conn.close()

    def add(self, customer, amount_cents, currency, created_at):
        with self.conn:
            cur = self.conn.execute("INSERT INTO orders (customer, amount_cents, currency, status, created_at) "
                                    "VALUES (?, ?, ?, 'new', ?)", (customer, amount_cents, currency, created_at))
        return Order(cur.lastrowid, customer, amount_cents, currency, "new", created_at)

    def get(self, order_id):
        row = self.conn.execute("SELECT id, customer, amount_cents, currency, status, created_at FROM orders "
                                "WHERE id = ?", (order_id,)).fetchone()
        return Order(*row) if row else None

    def save(self, order):
        with self.conn:
            cur = self.conn.execute("UPDATE orders SET customer = ?, amount_cents = ?, currency = ?, status = ?, "
                                    "created_at = ? WHERE id = ?", (order.customer, order.amount_cents,
                                                                    order.currency, order.status,
                                                                    order.created_at, order.id))
        if cur.rowcount != 1:
            raise KeyError(order.id)

    def by_customer(self, customer):
        rows = self.conn.execute("SELECT id, customer, amount_cents, currency, status, created_at FROM orders "
                                 "WHERE customer = ? ORDER BY id", (customer,)).fetchall()
        return [Order(*r) for r in rows]


class ReadReplicaRepository(InMemoryOrderRepository):
    """A subclass that breaks its parent's contract (LSP): a read replica refuses every write
    (``add`` and ``save``; writes go to the primary), yet it inherits the writable interface."""

    def add(self, customer, amount_cents, currency, created_at):
        raise PermissionError("read replica: writes go to the primary")

    def save(self, order):
        raise PermissionError("read replica: writes go to the primary")


def repository_contract(make: Callable[[], object]) -> list[str]:
    """Run the repository contract on fresh instances from ``make``; the list of broken clauses.

    Every implementation the service may be given must pass all of them (Liskov & Wing 1994:
    a subtype keeps the supertype's observable behaviour).
    """
    clauses: list[tuple[str, Callable[[object], bool]]] = [
        ("add returns a new order with status 'new'",
         lambda r: (lambda o: o.status == "new" and o.amount_cents == 500)(r.add("ann", 500, "EUR", 1.0))),
        ("get returns what add stored",
         lambda r: (lambda o: r.get(o.id) == o)(r.add("ann", 500, "EUR", 1.0))),
        ("get of an unknown id returns None", lambda r: r.get(999_999) is None),
        ("save then get round-trips a change",
         lambda r: (lambda o: (r.save(_with(o, status="paid")), r.get(o.id).status == "paid")[1])(
             r.add("ann", 500, "EUR", 1.0))),
        ("by_customer lists only that customer's orders, oldest first",
         lambda r: [o.id for o in (r.add("bob", 1, "EUR", 1.0), r.add("cy", 2, "EUR", 1.0),
                                   r.add("bob", 3, "EUR", 2.0)) if o.customer == "bob"]
         == [o.id for o in r.by_customer("bob")]),
    ]
    broken = []
    for text, clause in clauses:
        repo = make()
        try:
            ok = clause(repo)
        except Exception as exc:
            ok, text = False, f"{text} (raised {type(exc).__name__})"
        finally:
            getattr(repo, "close", lambda: None)()
        if not ok:
            broken.append(text)
    return broken


def _with(order: Order, **changes) -> Order:
    from dataclasses import replace
    return replace(order, **changes)


def make_repository(url: str):
    """Factory: the configuration string picks the class; callers never name one."""
    if url == "memory://":
        return InMemoryOrderRepository()
    if url.startswith("sqlite://"):
        return SqliteOrderRepository(url[len("sqlite://"):] or ":memory:")
    raise ValueError(f"no repository for {url!r}")


# ---------------------------------------------------------------------------------------------
# payments: the Strategy pattern, with a registry so that a new method needs no edit elsewhere


class PaymentDeclined(Exception):
    pass


class PaymentMethod(Protocol):
    def pay(self, amount_cents: int, currency: str) -> dict: ...


class CardPayment:
    """Card: the processor keeps a fee of 30 cents + 2.9 % (rounded down)."""

    def pay(self, amount_cents, currency):
        return {"method": "card", "charged_cents": amount_cents, "fee_cents": 30 + amount_cents * 29 // 1000,
                "currency": currency}


class InvoicePayment:
    """Invoice: nothing charged now, due in 30 days."""

    def pay(self, amount_cents, currency):
        return {"method": "invoice", "charged_cents": 0, "due_cents": amount_cents, "due_days": 30,
                "currency": currency}


class PaymentRegistry:
    """name -> strategy. Adding a method is ``register(name, strategy)``; nothing else changes."""

    def __init__(self, methods: dict | None = None) -> None:
        self._methods = dict(methods or {})

    def register(self, name: str, method) -> None:
        self._methods[name] = method

    def names(self) -> list[str]:
        return sorted(self._methods)

    def pay(self, name: str, amount_cents: int, currency: str) -> dict:
        if name not in self._methods:
            raise ValueError(f"unknown payment method {name!r}; known: {self.names()}")
        return self._methods[name].pay(amount_cents, currency)


# ---------------------------------------------------------------------------------------------
# observer


class EventBus:
    """Observer: subscribers are called, in subscription order, with every event published."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[[dict], None]]] = {}

    def subscribe(self, event: str, callback: Callable[[dict], None]) -> None:
        self._subscribers.setdefault(event, []).append(callback)

    def publish(self, event: str, payload: dict) -> int:
        for callback in self._subscribers.get(event, []):
            callback(payload)
        return len(self._subscribers.get(event, []))


# ---------------------------------------------------------------------------------------------
# the service layer


class OrderService:
    """The business rules. It constructs nothing: every collaborator is injected."""

    def __init__(self, repo, clock: Callable[[], float], payments: PaymentRegistry, events: EventBus | None = None,
                 max_unpaid_seconds: float = 900.0) -> None:
        self.repo, self.clock, self.payments = repo, clock, payments
        self.events = events or EventBus()
        self.max_unpaid_seconds = max_unpaid_seconds

    def place(self, customer: str, amount_cents: int, currency: str = "EUR") -> Order:
        if type(amount_cents) is not int or amount_cents <= 0:
            raise ValueError("amount_cents must be a positive int")
        order = self.repo.add(customer, amount_cents, currency, self.clock())
        self.events.publish("order.placed", {"id": order.id, "customer": customer, "amount_cents": amount_cents})
        return order

    def pay(self, order_id: int, method: str) -> dict:
        order = self.repo.get(order_id)
        if order is None or order.status != "new":
            raise ValueError(f"order {order_id} cannot be paid")
        if self.clock() - order.created_at > self.max_unpaid_seconds:
            self.repo.save(_with(order, status="cancelled"))
            raise ValueError(f"order {order_id} expired")
        receipt = self.payments.pay(method, order.amount_cents, order.currency)
        self.repo.save(_with(order, status="paid"))
        self.events.publish("order.paid", {"id": order.id, **receipt})
        return receipt

    def history(self, customer: str) -> list[Order]:
        return self.repo.by_customer(customer)


class ServiceLocator:
    """A global registry of services, looked up by name (the alternative Fowler contrasts with DI)."""

    services: dict[str, object] = {}

    @classmethod
    def register(cls, name: str, service: object) -> None:
        cls.services[name] = service

    @classmethod
    def get(cls, name: str):
        return cls.services[name]


class LocatorOrderService(OrderService):
    """The same rules, but the collaborators are fetched from the locator: hidden dependencies."""

    def __init__(self) -> None:  # nothing in the signature says what this class needs
        super().__init__(ServiceLocator.get("repo"), ServiceLocator.get("clock"), ServiceLocator.get("payments"))


# ---------------------------------------------------------------------------------------------
# adapter and decorators


class LegacyGateway:
    """A vendor SDK with its own interface: amounts in decimal strings, a status code back."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def submit_charge(self, amount: str, iso_currency: str, capture: bool = True) -> tuple[int, str]:
        self.calls.append((amount, iso_currency, capture))
        return (0, f"TX{len(self.calls):04d}")


class LegacyGatewayAdapter:
    """Adapter: makes the vendor SDK look like a PaymentMethod (``pay(amount_cents, currency) -> dict``)."""

    def __init__(self, gateway: LegacyGateway) -> None:
        self.gateway = gateway

    def pay(self, amount_cents, currency):
        code, tx = self.gateway.submit_charge(f"{amount_cents // 100}.{amount_cents % 100:02d}", currency.upper())
        if code != 0:
            raise PaymentDeclined(f"gateway code {code}")
        return {"method": "legacy", "charged_cents": amount_cents, "currency": currency, "transaction": tx}


class FlakyPayment:
    """A payment method that fails the first ``failures`` calls (for the retry decorator)."""

    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures, self.calls = inner, failures, 0

    def pay(self, amount_cents, currency):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("gateway timeout")
        return self.inner.pay(amount_cents, currency)


class RetryingPayment:
    """GoF Decorator: an object with the same interface that wraps another and adds retries.

    Chosen at run time, per object (this card gateway retried, that invoice not), and stackable.
    """

    def __init__(self, inner, attempts: int = 3) -> None:
        self.inner, self.attempts = inner, attempts

    def pay(self, amount_cents, currency):
        for attempt in range(1, self.attempts + 1):
            try:
                return {**self.inner.pay(amount_cents, currency), "attempts": attempt}
            except ConnectionError:
                if attempt == self.attempts:
                    raise
        raise AssertionError("unreachable")


def logged(log: list):
    """A Python ``@decorator`` (PEP 318): replaces a FUNCTION at definition time, for every caller."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            log.append((fn.__name__, args))
            return fn(*args, **kwargs)
        return inner
    return wrap


# ---------------------------------------------------------------------------------------------
# the controller: HTTP in, service call, HTTP out


def orders_handler(service: OrderService):
    """The controller layer: translate HTTP to a service call and back (no rules, no SQL here)."""
    from course_tools.net.webtypes import WebResponse

    def handle(req):
        user = req.header("x-user") or "anonymous"
        if req.method == "GET" and req.path == "/health":
            return WebResponse.json(200, {"ok": True})
        if req.method == "GET" and req.path == "/api/orders":
            return WebResponse.json(200, {"orders": [o.__dict__ for o in service.history(user)]})
        if req.method == "POST" and req.path.startswith("/api/orders?amount="):
            order = service.place(user, int(req.path.split("=", 1)[1]))
            return WebResponse.json(201, {"id": order.id})
        if req.path == "/api/crash":
            raise RuntimeError("a bug in the handler")
        return WebResponse.json(404, {"error": "not found"})
    return handle
