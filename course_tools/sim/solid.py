"""SOLID, measured: the cost of one change request in a smelly design and in a clean one.

Each :class:`Case` holds two designs of the same feature ("smelly" and "clean"), each as a
small set of source files with its unit tests, and the same change request applied to both.
:func:`change_cost` computes what the change cost from the code itself:

- files touched, existing functions edited, functions added (compared with ``ast``);
- old tests that now FAIL (run against the changed code);
- old tests whose run passes through an edited function (traced with ``sys.setprofile``):
  the tests the change puts at risk.

Nothing here is typed in by hand: change the sources below and the numbers change.
"""

from __future__ import annotations

import ast
import sys
import textwrap
import types
from dataclasses import dataclass

__all__ = ["Design", "Case", "Cost", "CASES", "run_tests", "change_cost", "functions"]


@dataclass(frozen=True)
class Design:
    files: dict          # module name -> source
    tests: str           # source of test_* functions importing the modules by name


@dataclass(frozen=True)
class Case:
    principle: str
    smell: str
    change_request: str
    smelly: Design
    smelly_changed: Design
    clean: Design
    clean_changed: Design


@dataclass(frozen=True)
class Cost:
    files_touched: tuple
    functions_edited: tuple
    functions_added: tuple
    tests_failing: tuple
    tests_at_risk: tuple

    def row(self) -> str:
        return (f"files touched {len(self.files_touched)} {list(self.files_touched)}, "
                f"existing functions edited {len(self.functions_edited)} {list(self.functions_edited)}, "
                f"added {len(self.functions_added)}, old tests failing {len(self.tests_failing)}, "
                f"old tests running edited code {len(self.tests_at_risk)}")


def functions(files: dict) -> dict:
    """``"module.Class.method"`` -> a dump of its AST, for every function in ``files``."""
    out = {}
    for mod, src in files.items():
        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"{prefix}{child.name}"] = ast.dump(child)
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
        visit(ast.parse(textwrap.dedent(src)), f"{mod}.")
    return out


def _load(files: dict) -> tuple[dict, dict]:
    """Execute the modules (in dependency order: retry until all import); name -> module."""
    saved = {name: sys.modules.get(name) for name in files}
    mods: dict = {}
    pending = dict(files)
    try:
        while pending:
            progress = False
            for name, src in list(pending.items()):
                mod = types.ModuleType(name)
                mod.__file__ = f"<solid:{name}>"
                sys.modules[name] = mod
                try:
                    exec(compile(textwrap.dedent(src), mod.__file__, "exec"), mod.__dict__)
                except ImportError:
                    del sys.modules[name]
                    continue
                mods[name] = mod
                del pending[name]
                progress = True
            if not progress:
                raise ImportError(f"cannot import {sorted(pending)}")
    except BaseException:
        _restore(saved)
        raise
    return mods, saved


def _restore(saved: dict) -> None:
    for name, old in saved.items():
        if old is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = old


def run_tests(files: dict, tests: str, watch: set | None = None) -> dict:
    """Run every ``test_*`` in ``tests`` against ``files``.

    Returns ``{test name: (passed, set of watched functions that ran)}``; ``watch`` holds
    ``"module.qualname"`` strings to look out for.
    """
    mods, saved = _load(files)
    results = {}
    try:
        ns: dict = {}
        exec(compile(textwrap.dedent(tests), "<solid:tests>", "exec"), ns)
        for name in sorted(n for n in ns if n.startswith("test_")):
            ran: set = set()

            def profile(frame, event, arg, ran=ran):
                if event == "call" and frame.f_code.co_filename.startswith("<solid:"):
                    key = f"{frame.f_code.co_filename[7:-1]}.{frame.f_code.co_qualname}"
                    if watch is None or key in watch:
                        ran.add(key)
            sys.setprofile(profile)
            try:
                ns[name]()
                ok = True
            except Exception:
                ok = False
            finally:
                sys.setprofile(None)
            results[name] = (ok, ran)
    finally:
        _restore(saved)
    return results


def change_cost(before: Design, after: Design) -> Cost:
    """What turning ``before`` into ``after`` cost, counted from the two versions' code and tests."""
    touched = tuple(sorted(m for m in set(before.files) | set(after.files)
                           if textwrap.dedent(before.files.get(m, "")) != textwrap.dedent(after.files.get(m, ""))))
    old, new = functions(before.files), functions(after.files)
    edited = tuple(sorted(f for f in old if f in new and old[f] != new[f] or f not in new))
    added = tuple(sorted(f for f in new if f not in old))
    failing = tuple(sorted(n for n, (ok, _) in run_tests(after.files, before.tests).items() if not ok))
    at_risk = tuple(sorted(n for n, (_, ran) in run_tests(before.files, before.tests, set(edited)).items() if ran))
    return Cost(touched, edited, added, failing, at_risk)


# ---------------------------------------------------------------------------------------------
# the cases: small on purpose, so that a learner can read both designs in a minute

_SRP_TESTS_SMELLY = """
    from orders import checkout
    def test_total_includes_tax():
        assert checkout([(2, 500)], 20) == "TOTAL 12.00"
    def test_empty_cart_costs_nothing():
        assert checkout([], 20) == "TOTAL 0.00"
    def test_receipt_format():
        assert checkout([(1, 100)], 0) == "TOTAL 1.00"
"""
_SRP_TESTS_CLEAN = """
    from pricing import total
    from receipts import render
    def test_total_includes_tax():
        assert total([(2, 500)], 20) == 1200
    def test_empty_cart_costs_nothing():
        assert total([], 20) == 0
    def test_receipt_format():
        assert render(100) == "TOTAL 1.00"
"""
_SRP_SMELLY = """
    def checkout(items, tax_rate):
        total = sum(qty * price for qty, price in items)
        total += total * tax_rate // 100
        return f"TOTAL {total / 100:.2f}"
"""
_SRP_CLEAN = {
    "pricing": """
        def total(items, tax_rate):
            net = sum(qty * price for qty, price in items)
            return net + net * tax_rate // 100
    """,
    "receipts": """
        def render(total_cents):
            return f"TOTAL {total_cents / 100:.2f}"
    """,
    "orders": """
        from pricing import total
        from receipts import render
        def checkout(items, tax_rate):
            return render(total(items, tax_rate))
    """,
}

_OCP_SMELLY = """
    def checkout(method, amount_cents):
        if method == "card":
            return {"method": "card", "charged_cents": amount_cents, "fee_cents": 30 + amount_cents * 29 // 1000}
        elif method == "invoice":
            return {"method": "invoice", "charged_cents": 0, "due_cents": amount_cents}
        else:
            raise ValueError(method)
"""
_OCP_VOUCHER_BRANCH = """
        elif method == "voucher":
            return {"method": "voucher", "charged_cents": 0, "voucher_cents": amount_cents}
"""
_OCP_CLEAN = """
    METHODS = {}
    def register(name):
        def add(cls):
            METHODS[name] = cls()
            return cls
        return add
    def checkout(method, amount_cents):
        if method not in METHODS:
            raise ValueError(method)
        return METHODS[method].pay(amount_cents)
    @register("card")
    class Card:
        def pay(self, amount_cents):
            return {"method": "card", "charged_cents": amount_cents, "fee_cents": 30 + amount_cents * 29 // 1000}
    @register("invoice")
    class Invoice:
        def pay(self, amount_cents):
            return {"method": "invoice", "charged_cents": 0, "due_cents": amount_cents}
"""
_OCP_VOUCHER_CLASS = """
    @register("voucher")
    class Voucher:
        def pay(self, amount_cents):
            return {"method": "voucher", "charged_cents": 0, "voucher_cents": amount_cents}
"""
_OCP_TESTS = """
    import payments
    def test_card_fee():
        assert payments.checkout("card", 1000)["fee_cents"] == 59
    def test_invoice_charges_nothing_now():
        assert payments.checkout("invoice", 1000)["charged_cents"] == 0
    def test_unknown_method_is_refused():
        try:
            payments.checkout("bitcoin", 1000)
        except ValueError:
            return
        raise AssertionError("no error")
"""

_ISP_STORE_SMELLY = """
    from abc import ABC, abstractmethod
    class OrderStore(ABC):
        @abstractmethod
        def save(self, order): ...
        @abstractmethod
        def get(self, order_id): ...
        @abstractmethod
        def delete(self, order_id): ...
        @abstractmethod
        def export_csv(self): ...
        @abstractmethod
        def all_orders(self): ...{extra_abstract}
    class MemoryStore(OrderStore):
        def __init__(self):
            self.rows = {{}}
        def save(self, order):
            self.rows[order["id"]] = order
        def get(self, order_id):
            return self.rows.get(order_id)
        def delete(self, order_id):
            self.rows.pop(order_id, None)
        def export_csv(self):
            return "\\n".join(f"{{o['id']}},{{o['amount']}}" for o in self.rows.values())
        def all_orders(self):
            return list(self.rows.values()){extra_impl}
"""
_ISP_STORE_CLEAN = """
    from abc import ABC, abstractmethod
    class OrderReader(ABC):
        @abstractmethod
        def all_orders(self): ...
    class OrderWriter(ABC):
        @abstractmethod
        def save(self, order): ...
        @abstractmethod
        def get(self, order_id): ...
        @abstractmethod
        def delete(self, order_id): ...
        @abstractmethod
        def export_csv(self): ...{extra_abstract}
    class MemoryStore(OrderReader, OrderWriter):
        def __init__(self):
            self.rows = {{}}
        def save(self, order):
            self.rows[order["id"]] = order
        def get(self, order_id):
            return self.rows.get(order_id)
        def delete(self, order_id):
            self.rows.pop(order_id, None)
        def export_csv(self):
            return "\\n".join(f"{{o['id']}},{{o['amount']}}" for o in self.rows.values())
        def all_orders(self):
            return list(self.rows.values()){extra_impl}
"""
_ISP_ABSTRACT = """
        @abstractmethod
        def purge_older_than(self, days): ..."""
_ISP_IMPL = """
        def purge_older_than(self, days):
            self.rows = {k: o for k, o in self.rows.items() if o.get("age_days", 0) <= days}"""
_ISP_REPORT = """
    def revenue(reader):
        return sum(o["amount"] for o in reader.all_orders())
"""
_ISP_TESTS = """
    from store import {iface}, MemoryStore
    from report import revenue
    class FakeOrders({iface}):       # the report's test double must implement the whole interface
{fake_methods}
    def test_revenue_sums_amounts():
        assert revenue(FakeOrders()) == 30
    def test_memory_store_round_trip():
        s = MemoryStore(); s.save({{"id": 1, "amount": 5}})
        assert s.get(1) == {{"id": 1, "amount": 5}}
"""
_FAKE_ALL = """        def all_orders(self):
            return [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]"""
_FAKE_FAT = _FAKE_ALL + "".join(f"""
        def {m}(self, *args):
            raise NotImplementedError""" for m in ("save", "get", "delete", "export_csv"))

_DIP_SERVICE_SMELLY = """
    import time
    from sqlite_repo import SqliteRepo
    class CartService:
        def __init__(self):
            self.repo = SqliteRepo()
        def expired(self, cart_id):
            return time.time() - self.repo.created_at(cart_id) > 900
"""
_DIP_SERVICE_CLEAN = """
    class CartService:
        def __init__(self, repo, clock):
            self.repo, self.clock = repo, clock
        def expired(self, cart_id):
            return self.clock() - self.repo.created_at(cart_id) > 900
"""
_DIP_SQLITE = """
    import sqlite3
    class SqliteRepo:
        def __init__(self):
            self.db = sqlite3.connect(":memory:")
            self.db.execute("CREATE TABLE carts (id INTEGER PRIMARY KEY, created REAL)")
        def add(self, created):
            return self.db.execute("INSERT INTO carts (created) VALUES (?)", (created,)).lastrowid
        def created_at(self, cart_id):
            return self.db.execute("SELECT created FROM carts WHERE id = ?", (cart_id,)).fetchone()[0]
"""
_DIP_REDIS = """
    class RedisRepo:                       # stands in for a Redis-backed store
        def __init__(self):
            self.data = {}
        def add(self, created):
            self.data[len(self.data) + 1] = created
            return len(self.data)
        def created_at(self, cart_id):
            return self.data[cart_id]
"""
_DIP_MAIN = """
    import time
    from service import CartService
    from {mod} import {cls}
    def build():
        return CartService({cls}(), time.time)
"""
_DIP_TESTS_SMELLY = """
    import time
    from service import CartService
    def test_fresh_cart_is_not_expired():
        s = CartService()
        assert not s.expired(s.repo.add(time.time()))
    def test_old_cart_expires():
        s = CartService()
        assert s.expired(s.repo.add(time.time() - 1000))
"""
_DIP_TESTS_CLEAN = """
    from service import CartService
    class FakeRepo:
        def __init__(self, created):
            self.created = created
        def created_at(self, cart_id):
            return self.created
    def test_fresh_cart_is_not_expired():
        assert not CartService(FakeRepo(100.0), lambda: 1000.0).expired(1)
    def test_old_cart_expires():
        assert CartService(FakeRepo(100.0), lambda: 1001.0).expired(1)
"""


_LSP_SMELLY = """
    class OrderStore:
        def __init__(self):
            self.rows = {}
        def save(self, order_id, total):
            self.rows[order_id] = total
        def get(self, order_id):
            return self.rows.get(order_id)
        def totals(self):
            return sorted(self.rows.values())
    def monthly_revenue(store):
        return sum(store.totals())
"""
_LSP_CLEAN = """
    class OrderReader:
        def __init__(self, rows=None):
            self.rows = dict(rows or {})
        def get(self, order_id):
            return self.rows.get(order_id)
        def totals(self):
            return sorted(self.rows.values())
    class OrderStore(OrderReader):
        def save(self, order_id, total):
            self.rows[order_id] = total
    def monthly_revenue(reader):
        return sum(reader.totals())
"""
_LSP_REPLICA_SMELLY = """
    class ReplicaStore(OrderStore):          # "a replica is a store", so it inherits save()...
        def save(self, order_id, total):
            raise PermissionError("read-only replica")
"""
_LSP_REPLICA_CLEAN = """
    class ReplicaStore(OrderReader):         # it can honestly promise everything a reader promises
        pass
"""
_LSP_TESTS = """
    import stores
    def implementations(base):
        return [base] + base.__subclasses__()
    def test_every_store_round_trips_a_save():       # the writable contract, run on every implementation
        for cls in implementations(stores.OrderStore):
            s = cls()
            s.save(1, 500)
            assert s.get(1) == 500, cls.__name__
    def test_revenue_sums_totals():
        s = stores.OrderStore()
        s.save(1, 500); s.save(2, 700)
        assert stores.monthly_revenue(s) == 1200
"""


def _isp(store: str, iface: str, fake: str, changed: bool) -> Design:
    src = store.format(extra_abstract=_ISP_ABSTRACT if changed else "", extra_impl=_ISP_IMPL if changed else "")
    return Design({"store": src, "report": _ISP_REPORT}, _ISP_TESTS.format(iface=iface, fake_methods=fake))


CASES: dict[str, Case] = {
    "SRP": Case(
        "SRP", "one function prices the cart AND formats the receipt: two reasons to change",
        "marketing wants the receipt line to read 'Total: 12.00 EUR'",
        Design({"orders": _SRP_SMELLY}, _SRP_TESTS_SMELLY),
        Design({"orders": _SRP_SMELLY.replace('f"TOTAL {total / 100:.2f}"', 'f"Total: {total / 100:.2f} EUR"')},
               _SRP_TESTS_SMELLY),
        Design(_SRP_CLEAN, _SRP_TESTS_CLEAN),
        Design({**_SRP_CLEAN, "receipts": _SRP_CLEAN["receipts"].replace(
            'f"TOTAL {total_cents / 100:.2f}"', 'f"Total: {total_cents / 100:.2f} EUR"')}, _SRP_TESTS_CLEAN),
    ),
    "OCP": Case(
        "OCP", "a payment if/elif chain that every new method must edit",
        "accept gift vouchers as a payment method",
        Design({"payments": _OCP_SMELLY}, _OCP_TESTS),
        Design({"payments": _OCP_SMELLY.replace("        else:\n", _OCP_VOUCHER_BRANCH.lstrip("\n") + "        else:\n")},
               _OCP_TESTS),
        Design({"payments": _OCP_CLEAN}, _OCP_TESTS),
        Design({"payments": _OCP_CLEAN + _OCP_VOUCHER_CLASS}, _OCP_TESTS),
    ),
    "LSP": Case(
        "LSP", "a read-only replica inherits from the writable store and refuses save()",
        "serve the monthly report from a read replica",
        Design({"stores": _LSP_SMELLY}, _LSP_TESTS),
        Design({"stores": _LSP_SMELLY + _LSP_REPLICA_SMELLY}, _LSP_TESTS),
        Design({"stores": _LSP_CLEAN}, _LSP_TESTS),
        Design({"stores": _LSP_CLEAN + _LSP_REPLICA_CLEAN}, _LSP_TESTS),
    ),
    "ISP": Case(
        "ISP", "one fat storage interface: the revenue report's fake must implement five methods to use one",
        "storage must be able to purge old orders (a new abstract method)",
        _isp(_ISP_STORE_SMELLY, "OrderStore", _FAKE_FAT, False),
        _isp(_ISP_STORE_SMELLY, "OrderStore", _FAKE_FAT, True),
        _isp(_ISP_STORE_CLEAN, "OrderReader", _FAKE_ALL, False),
        _isp(_ISP_STORE_CLEAN, "OrderReader", _FAKE_ALL, True),
    ),
    "DIP": Case(
        "DIP", "the service builds its own SQLite repository and reads time.time()",
        "move carts from SQLite to Redis",
        Design({"service": _DIP_SERVICE_SMELLY, "sqlite_repo": _DIP_SQLITE}, _DIP_TESTS_SMELLY),
        Design({"service": _DIP_SERVICE_SMELLY.replace("sqlite_repo import SqliteRepo", "redis_repo import RedisRepo")
                .replace("SqliteRepo()", "RedisRepo()"), "sqlite_repo": _DIP_SQLITE, "redis_repo": _DIP_REDIS},
               _DIP_TESTS_SMELLY),
        Design({"service": _DIP_SERVICE_CLEAN, "sqlite_repo": _DIP_SQLITE,
                "main": _DIP_MAIN.format(mod="sqlite_repo", cls="SqliteRepo")}, _DIP_TESTS_CLEAN),
        Design({"service": _DIP_SERVICE_CLEAN, "sqlite_repo": _DIP_SQLITE, "redis_repo": _DIP_REDIS,
                "main": _DIP_MAIN.format(mod="redis_repo", cls="RedisRepo")}, _DIP_TESTS_CLEAN),
    ),
}
