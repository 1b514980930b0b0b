"""Do the shop's layers, repositories and patterns behave as the architecture lesson says?"""

from __future__ import annotations

import pytest

from course_tools.clock import VirtualClock
from course_tools.sim import shop

REPOS = [shop.InMemoryOrderRepository, shop.SqliteOrderRepository, lambda: shop.make_repository("memory://"),
         lambda: shop.make_repository("sqlite://")]


@pytest.mark.parametrize("make", REPOS)
def test_every_real_repository_passes_the_contract(make):
    """Each implementation the service may be given keeps the repository contract."""
    assert shop.repository_contract(make) == []


def test_the_contract_catches_the_liskov_violation():
    """A read replica that refuses add() and save() breaks every clause that writes, and only those."""
    broken = shop.repository_contract(shop.ReadReplicaRepository)
    assert len(broken) == 4 and all("PermissionError" in b for b in broken)
    assert not any(b.startswith("get of an unknown id") for b in broken)


def test_sqlite_repository_counts_its_statements():
    """One add = BEGIN, INSERT, COMMIT; one get = one SELECT."""
    repo = shop.SqliteOrderRepository()
    order = repo.add("ann", 100, "EUR", 0.0)
    assert repo.statements == 3
    repo.get(order.id)
    assert repo.statements == 4
    repo.close()


def _service(clock=None, repo=None):
    payments = shop.PaymentRegistry({"card": shop.CardPayment(), "invoice": shop.InvoicePayment()})
    return shop.OrderService(repo or shop.InMemoryOrderRepository(), clock or VirtualClock(), payments)


def test_service_uses_the_injected_clock_for_expiry():
    """An order unpaid for longer than max_unpaid_seconds is cancelled, by the injected clock."""
    clock = VirtualClock()
    svc = _service(clock)
    first, second = svc.place("ann", 500), svc.place("ann", 700)
    assert svc.pay(first.id, "card")["fee_cents"] == 30 + 500 * 29 // 1000
    clock.advance(901)
    with pytest.raises(ValueError, match="expired"):
        svc.pay(second.id, "card")
    assert [o.status for o in svc.history("ann")] == ["paid", "cancelled"]


def test_strategy_registry_takes_new_methods_without_edits():
    """A method registered at run time is used; an unknown name is a ValueError."""
    reg = shop.PaymentRegistry()
    reg.register("free", type("Free", (), {"pay": lambda self, a, c: {"method": "free", "charged_cents": 0}})())
    assert reg.pay("free", 10, "EUR")["method"] == "free" and reg.names() == ["free"]
    with pytest.raises(ValueError):
        reg.pay("nope", 10, "EUR")


def test_observer_notifies_every_subscriber_in_order():
    """publish returns the number of subscribers and calls them in subscription order."""
    bus, seen = shop.EventBus(), []
    bus.subscribe("e", lambda p: seen.append(("a", p["n"])))
    bus.subscribe("e", lambda p: seen.append(("b", p["n"])))
    assert bus.publish("e", {"n": 1}) == 2 and seen == [("a", 1), ("b", 1)]
    assert bus.publish("other", {}) == 0


def test_adapter_translates_to_the_vendor_interface():
    """Cents become a decimal string and the currency is upper-cased for the SDK."""
    gw = shop.LegacyGateway()
    receipt = shop.LegacyGatewayAdapter(gw).pay(1205, "eur")
    assert gw.calls == [("12.05", "EUR", True)] and receipt["transaction"] == "TX0001"


def test_retrying_decorator_retries_only_up_to_its_limit():
    """Two failures then success: 3 attempts; three failures with 3 attempts re-raise."""
    ok = shop.RetryingPayment(shop.FlakyPayment(shop.CardPayment(), failures=2), attempts=3)
    assert ok.pay(100, "EUR")["attempts"] == 3
    with pytest.raises(ConnectionError):
        shop.RetryingPayment(shop.FlakyPayment(shop.CardPayment(), failures=3), attempts=3).pay(100, "EUR")


def test_python_decorator_wraps_the_function_for_every_caller():
    """@logged replaces the function; the original is kept as __wrapped__."""
    log = []

    @shop.logged(log)
    def f(x):
        return x * 2

    assert f(3) == 6 and log == [("f", (3,))] and f.__wrapped__(4) == 8


def test_service_locator_hides_dependencies_in_global_state():
    """Without global set-up the locator-based service cannot even be built."""
    shop.ServiceLocator.services.clear()
    with pytest.raises(KeyError):
        shop.LocatorOrderService()
    shop.ServiceLocator.register("repo", shop.InMemoryOrderRepository())
    shop.ServiceLocator.register("clock", VirtualClock())
    shop.ServiceLocator.register("payments", shop.PaymentRegistry())
    try:
        assert shop.LocatorOrderService().place("x", 1).id == 1
    finally:
        shop.ServiceLocator.services.clear()


def test_controller_maps_http_to_service_calls():
    """The handler creates, lists and 404s without knowing about storage."""
    from course_tools.net.webtypes import WebRequest

    handle = shop.orders_handler(_service())
    created = handle(WebRequest("POST", "/api/orders?amount=250", (("x-user", "ann"),)))
    assert created.status == 201 and created.json_body() == {"id": 1}
    listed = handle(WebRequest("GET", "/api/orders", (("x-user", "ann"),))).json_body()
    assert [o["amount_cents"] for o in listed["orders"]] == [250]
    assert handle(WebRequest("GET", "/nope")).status == 404
