"""Do attacks found by trying to break the clean-process design (helper A9) get their exact outcome?

* the protocol: set elements and dict keys that share one hash (multiples of 2**61 - 1; 2-tuples of
  ints solved for one tuple hash) would make the clean process spend minutes building one set in a
  single C call that no deadline interrupts: refused at once; the student's process cannot make the
  clean process loop over a test fake's method ("repeat"/"batch") or serve more than 1M callbacks;
* the O(1) check of the Caching assessment: an answer that scans (O(n)) at small capacities and,
  at the large capacity the timing uses, switches to something cheap that is not an LRU cache
  (no eviction, or FIFO) fails, because the cache must still be an LRU cache after the timing run;
* Question 22 of the HTTP assessment: a handler that forwards every request to the test's own
  reference server on the shared loopback loses the points (the reference answers in-process);
* feedback: an exception raised by the student's code while a test's hidden part runs is reported
  by its type only, so its message cannot carry the hidden test's arguments out;
* delegation to the course's own implementation in the HTTP and Distributed assessments, written
  so that the static ``check_not_using`` text scan does not see it (``operator.attrgetter`` of a
  name built from bytes): closed at the root, the references live in modules of their own
  (``course_tools.sim.quorum_reference``, ``course_tools.sim.ring``, ``course_tools.net.conditional``)
  that those assessments hide, so the computed name finds nothing.

The jailed cases are graded in one batch per assessment, like test_hostile_assessments.py.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from course_tools.grading import protocol as P
from course_tools.grading.autograde import autograde
from course_tools.grading.reference.caching import check_constant_time
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import grade_cases
from tests.grading.conftest import require_jail


HASH_P = (1 << 61) - 1


# ---- protocol: hash-collision floods ------------------------------------------------------

def _tuples_with_one_hash(n: int) -> list[tuple[int, int]]:
    """2-tuples of ints that all have one hash: CPython's tuple hash (xxHash-style lanes) is solved
    for the second element given the first."""
    m, p1, p2, p5 = (1 << 64) - 1, 11400714785074694791, 14029467366897019727, 2870177450012600261
    inv, out, a = pow(p2, -1, 1 << 64), [], 0
    while len(out) < n:
        a += 1
        acc = ((p5 + a * p2) & m)
        acc = ((((acc << 31) | (acc >> 33)) & m) * p1) & m
        b = ((12345 - acc) * inv) & m
        if b < HASH_P:
            out.append((a, b))
        elif (1 << 64) - b < HASH_P:
            out.append((a, b - (1 << 64)))
    return out


@pytest.mark.parametrize("shape", ["int_set", "frozenset_in_tuple", "dict_keys", "int_pairs"])
def test_colliding_keys_are_refused_quickly(shape):
    """Is a frame of set elements / dict keys that share one hash refused before a set is built (in
    well under a second), rather than costing the clean process half an hour of CPU?"""
    ints = [["i", str(k * HASH_P)] for k in range(1, 390_001)]
    data = {"int_set": ["S", ints],
            "frozenset_in_tuple": ["S", [["t", [["F", [x]]]] for x in ints[:130_000]]],
            "dict_keys": ["d", [[x, ["n"]] for x in ints[:190_000]]],
            "int_pairs": ["S", [P.encode(t) for t in _tuples_with_one_hash(30_000)]]}[shape]
    t0 = time.process_time()
    with pytest.raises(P.ProtocolError, match="collide"):
        P.decode(data)
    assert time.process_time() - t0 < 5


def test_ordinary_keys_still_travel_as_data():
    """Keys that do not collide, big ints and nested tuples included, still cross as plain data."""
    fine = {1: (2, frozenset({HASH_P + 5})), "a": {5.0, -3, 2 ** 100}, (1, "x"): [2 ** 100], 2 ** 70: None}
    assert P.decode(P.encode(fine)) == fine
    few = set(_tuples_with_one_hash(P.MAX_SAME_HASH))
    assert P.decode(P.encode(few)) == few


# ---- the O(1) check: cheap only where it is measured ---------------------------------------

_LRU_SMALL_SCAN = (
    "import time\nfrom collections import OrderedDict, deque\n\n\n"
    "class LRUCache:\n"
    "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
    "        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:\n"
    "            raise ValueError('capacity must be a positive int')\n"
    "        self.capacity, self.ttl, self.clock = capacity, ttl, clock\n"
    "        self.data, self.order, self.fifo = {}, [], deque()\n"
    "        self.big = capacity >= 1000          # only the timing test builds caches this big\n"
    "    def _alive(self, key):\n"
    "        return self.data[key][1] is None or self.clock() < self.data[key][1]\n"
    "    def get(self, key, default=None):\n"
    "        if key not in self.data:\n            return default\n"
    "        if not self._alive(key):\n"
    "            del self.data[key]\n            self.order.remove(key)\n            return default\n"
    "        if not self.big:\n            self.order.remove(key)                   # O(n)\n"
    "            self.order.append(key)\n"
    "        return self.data[key][0]\n"
    "    def put(self, key, value):\n"
    "        if key not in self.data and len(self.data) >= self.capacity:\n"
    "            if self.big:\n                EVICT\n"
    "            else:\n                del self.data[self.order.pop(0)]    # O(n)\n"
    "        if self.big:\n            self.fifo.append(key)\n"
    "        else:\n"
    "            if key in self.data:\n                self.order.remove(key)\n"
    "            self.order.append(key)\n"
    "        self.data[key] = (value, None if self.ttl is None else self.clock() + self.ttl)\n"
    "    def __len__(self):\n        return sum(1 for k in self.data if self._alive(k))\n")
FIFO_WHEN_BIG = _LRU_SMALL_SCAN.replace("EVICT", "del self.data[self.fifo.popleft()]   # O(1), but FIFO")
NO_EVICTION_WHEN_BIG = _LRU_SMALL_SCAN.replace("EVICT", "pass                                 # never evicts")


@pytest.mark.parametrize("text", [FIFO_WHEN_BIG, NO_EVICTION_WHEN_BIG], ids=["fifo", "no_eviction"])
def test_constant_time_check_sees_a_cache_that_only_pretends_when_big(text):
    """Does check_constant_time fail (with the LRU message, not a timing one) a class that is an
    O(n) LRU at small capacities and something cheap but wrong at the timing capacity?"""
    ns: dict = {}
    exec(compile(text, "answer", "exec"), ns)
    with pytest.raises(AssertionError, match="did not behave like an LRU cache"):
        check_constant_time(ns["LRUCache"], question=8, ops=3000, repeats=1)


# ---- jailed, through `course autograde` ---------------------------------------------------

def _grade(tmp: Path, assignment: str, cases: dict) -> dict:
    return grade_cases(tmp, assignment, cases, limits=Limits(cell_timeout=60, notebook_timeout=300))


CACHING_CASES = {
    "o_n_small_fifo_big": ({"t8_answer": FIFO_WHEN_BIG},
                           {"t8_test_basic": "passed", "t8_test_random": "passed", "t8_test_o1": "failed"}),
    "o_n_small_unbounded_big": ({"t8_answer": NO_EVICTION_WHEN_BIG},
                                {"t8_test_basic": "passed", "t8_test_random": "passed", "t8_test_o1": "failed"}),
    "colliding_set_frames": ({"t7_answer": (
        # the student's process sends its lists as sets (no set is built on its side) and answers with
        # 100,000 ints of one hash: before the fix the clean process spent minutes in one set() call
        "import _course_protocol\n_course_protocol._SEQ[list] = 'S'\n\n"
        "def get_product(product_id, cache, db, ttl=60):\n"
        "    return [k * ((1 << 61) - 1) for k in range(1, 100_001)]\n\n"
        "def update_product(product_id, fields, cache, db):\n    pass\n")},
        {"t7_test_hit": "error", "t7_test_write": "error", "t8_test_basic": "passed"}),
    "loops_in_the_clean_process": ({"t7_answer": (
        # asks the clean process to call the test's FakeCache.get 200,000 times (each call logged
        # there): before the fix it did, and could be made to grow by gigabytes within one test
        "def _amplified(fake):\n"
        "    peer = object.__getattribute__(fake, '_peer')\n"
        "    hid = object.__getattribute__(fake, '_hid')\n"
        "    try:\n"
        "        peer.request('repeat', h=hid, name='get', start=0, stop=200_000, arity=1)\n"
        "        return True\n"
        "    except Exception:\n        return False\n\n\n"
        "def get_product(product_id, cache, db, ttl=60):\n"
        "    if _amplified(cache):\n        return {'amplified': True}\n"
        "    key = f'product:{product_id}'\n    cached = cache.get(key)\n"
        "    if cached is not None:\n        return cached\n"
        "    row = db.load(product_id)\n"
        "    if row is not None:\n        cache.set(key, row, ex=ttl)\n    return row\n\n\n"
        "def update_product(product_id, fields, cache, db):\n"
        "    db.save(product_id, fields)\n    cache.delete(f'product:{product_id}')\n")},
        {"t7_test_hit": "passed", "t7_test_write": "passed"}),
}


@pytest.fixture(scope="module")
def graded_caching(tmp_path_factory):
    require_jail()
    return _grade(tmp_path_factory.mktemp("a9-caching"), "08_caching", CACHING_CASES)


@pytest.mark.parametrize("name", list(CACHING_CASES))
def test_caching_attacks(graded_caching, name):
    """Each attack on the Caching assessment gets exactly the listed statuses."""
    r = graded_caching[name]
    got = {c.grade_id: (c.status, c.message) for c in r.cells()}
    want = CACHING_CASES[name][1]
    assert r.status == "graded"
    assert {g: got[g][0] for g in want} == want, {g: got[g] for g in want}


def test_colliding_set_costs_seconds_not_the_notebook(graded_caching):
    """The hash flood is refused when the frame arrives: the test errors in seconds, it does not
    run into the notebook's time limit."""
    cells = {c.grade_id: c for c in graded_caching["colliding_set_frames"].cells()}
    assert "misbehaved" in cells["t7_test_hit"].message


_BYTES = "bytes({}).decode()".format
_NAME = {n: _BYTES(list(n.encode())) for n in ("abd_write", "abd_read", "HashRing", "conditional_get")}
DISTRIBUTED_CASES = {
    "delegates_via_attrgetter": ({
        "t9_answer": ("import operator\nfrom course_tools.sim import quorum as _q\n"
                      "from course_tools.sim.quorum import QuorumUnavailable, Unreachable\n"
                      f"_w = operator.attrgetter({_NAME['abd_write']})(_q)\n"
                      f"_r = operator.attrgetter({_NAME['abd_read']})(_q)\n\n"
                      "def quorum_write(replicas, key, value, writer):\n"
                      "    return _w(replicas, key, value, writer, r=R, w=W)\n\n"
                      "def quorum_read(replicas, key):\n    return _r(replicas, key, r=R, w=W)\n"),
        "t10_answer": ("import bisect, operator\nfrom course_tools.sim import hashing as _h\n"
                       "from course_tools.sim.hashing import stable_hash\n\n"
                       f"_Base = operator.attrgetter({_NAME['HashRing']})(_h)\n\n"
                       "class Ring(_Base):\n    pass\n")},
        # the answer cells fail (the names are not in the jail), so the tests find no answer: "error", 0 points
        {"t9_test_basic": "error", "t9_test_linearizable": "error", "t10_test_basic": "error",
         "t10_test_join": "error", "t10_test_balance": "error"}),
}


@pytest.fixture(scope="module")
def graded_distributed(tmp_path_factory):
    require_jail()
    return _grade(tmp_path_factory.mktemp("a9-distributed"), "07_distributed", DISTRIBUTED_CASES)


@pytest.mark.parametrize("name", list(DISTRIBUTED_CASES))
def test_distributed_delegation(graded_distributed, name):
    """Delegating to the course's quorum functions / HashRing through a computed name loses the points
    (their modules, quorum_reference and ring, are hidden from the student's process)."""
    r = graded_distributed[name]
    got = {c.grade_id: (c.status, c.message) for c in r.cells()}
    want = DISTRIBUTED_CASES[name][1]
    assert r.status == "graded"
    assert {g: got[g][0] for g in want} == want, {g: got[g] for g in want}
    assert all(c.points == 0 for c in r.cells() if c.grade_id in want)


# The student's handler finds the test's reference server on the shared loopback (its own server's
# port is in the Host header; the only other listener is the reference) and answers every request
# with the reference's answer: the randomized comparison of Question 22 then compares the reference
# with itself.
PROXY_TO_REFERENCE = (
    "import socket\nimport http.client\n\n_port = [None]\n\n\n"
    "def _listeners(own):\n"
    "    found = []\n"
    "    for p in range(1024, 65536):\n"
    "        if p == own:\n            continue\n"
    "        with socket.socket() as s:\n"
    "            s.settimeout(0.2)\n"
    "            if s.connect_ex(('127.0.0.1', p)) == 0:\n                found.append(p)\n"
    "    return found\n\n\n"
    "def _ask(port, request):\n"
    "    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=3)\n"
    "    inm = request.headers.get('If-None-Match')\n"
    "    conn.request(request.method, request.path, headers={'If-None-Match': inm} if inm else {})\n"
    "    r = conn.getresponse()\n    body = r.read()\n    conn.close()\n"
    "    keep = {k: v for k, v in r.getheaders() if k.lower() in ('etag', 'allow')}\n"
    "    return Response(r.status, keep, body)\n\n\n"
    "def make_handler(documents):\n"
    "    def handler(request):\n"
    "        own = int((request.headers.get('Host') or ':0').rsplit(':', 1)[1])\n"
    "        for attempt in range(2):\n"
    "            if _port[0] is not None:\n"
    "                try:\n                    return _ask(_port[0], request)\n"
    "                except OSError:\n                    _port[0] = None\n"
    "            ports = _listeners(own)\n"
    "            _port[0] = ports[0] if ports else None\n"
    "        return Response(500, {})\n"
    "    return handler\n")

HTTP_CASES = {
    "delegates_via_attrgetter": ({"cond_answer": (
        "import operator\nimport course_tools.net.http as _http\n"
        f"_cg = operator.attrgetter({_NAME['conditional_get']})(_http)\n\n"
        "def make_handler(documents):\n"
        "    def handler(request):\n"
        "        if request.method not in ('GET', 'HEAD'):\n"
        "            return Response(405, {'Allow': 'GET, HEAD'})\n"
        "        body = documents.get(request.path)\n"
        "        if body is None:\n            return Response(404, {}, b'no such document')\n"
        "        return _cg(request, body)\n"
        "    return handler\n")},
        # the answer cell fails (conditional_get is not in the jail), so the tests find no make_handler
        {"cond_test_304": "error", "cond_test_rules": "error", "cond_test_random": "error"}),
}
HTTP_FIXED_CASES = {
    # no listener but its own: the handler's scan outlasts the test client's timeout ("error"), or
    # it answers 500 ("failed"), depending on the machine's speed; either way the points are lost
    "proxies_to_the_reference_server": ({"cond_answer": PROXY_TO_REFERENCE}, {"cond_test_random": ("failed", "error")}),
}


@pytest.fixture(scope="module")
def graded_http(tmp_path_factory):
    require_jail()
    return _grade(tmp_path_factory.mktemp("a9-http"), "01_http", {**HTTP_CASES, **HTTP_FIXED_CASES})


@pytest.mark.parametrize("name", list(HTTP_CASES))
def test_http_delegation(graded_http, name):
    """Delegating to course_tools.net.http.conditional_get through a computed name loses the points (its
    module, course_tools.net.conditional, is hidden from the student's process)."""
    r = graded_http[name]
    got = {c.grade_id: (c.status, c.message) for c in r.cells()}
    want = HTTP_CASES[name][1]
    assert r.status == "graded"
    assert {g: got[g][0] for g in want} == want, {g: got[g] for g in want}
    assert all(c.points == 0 for c in r.cells() if c.grade_id in want)


# ---- protocol: work the student's process can make the clean process do -------------------

class _Recorder:
    """A test's fake that records every call, as FakeCache/FakeDB do."""

    def __init__(self) -> None:
        self.log: list = []

    def hit(self, i):
        self.log.append(("hit", i))


def _strict_peer(max_served: int = 1_000_000):
    r, w = os.pipe()
    peer = P.Peer(P.Channel(r, w))
    peer.strict, peer.max_served = True, max_served
    fake = _Recorder()
    hid, _ = peer.export(fake)
    return peer, fake, hid


@pytest.mark.parametrize("op", ["repeat", "batch"])
def test_clean_side_runs_no_loops_for_the_student(op):
    """Can the student's process make the clean process loop over a fake's method (2,000,000 log
    entries per request, gigabytes within one test)? No: "repeat" and "batch" are refused there."""
    peer, fake, hid = _strict_peer()
    msg = {"repeat": {"op": "repeat", "h": hid, "name": "hit", "start": 0, "stop": 2_000_000, "arity": 1},
           "batch": {"op": "batch", "h": hid, "calls": P.encode([("hit", (1,), {})] * 1000)}}[op]
    try:
        with pytest.raises(AttributeError):
            peer.handle(msg)
        assert fake.log == []
    finally:
        peer.ch.close()


def test_clean_side_serves_a_bounded_number_of_requests():
    """After max_served callbacks the conversation is over (ChannelBroken: the test errors)."""
    peer, fake, hid = _strict_peer(max_served=3)
    try:
        call = {"op": "callmethod", "h": hid, "name": "hit", "args": P.encode((1,)), "kwargs": P.encode({})}
        for _ in range(3):
            peer.handle(call)
        with pytest.raises(P.ChannelBroken):
            peer.handle(call)
        assert len(fake.log) == 3
    finally:
        peer.ch.close()


@pytest.mark.parametrize("name", list(HTTP_FIXED_CASES))
def test_http_attacks(graded_http, name):
    """A handler that forwards to the test's own reference server on the shared loopback loses
    Question 22: the reference is computed in the clean process, never served where student code
    can reach it."""
    r = graded_http[name]
    got = {c.grade_id: (c.status, c.message) for c in r.cells()}
    want = HTTP_FIXED_CASES[name][1]
    assert r.status == "graded"
    assert all(got[g][0] in allowed for g, allowed in want.items()), {g: got[g] for g in want}


# ---- feedback: hidden test data carried out in the student's own exception messages ----------

def _load_corpus():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("hostile_corpus_a9", Path(__file__).with_name("corpus.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# q3's visible test calls lru_hits(CAPACITY, ["a", "b", "a"]); its hidden part replays 50 traces made
# from a hidden seed. These answers quote their arguments in an exception (or an assert) whenever they
# are not the visible ones: before the fix, feedback.html showed the hidden traces.
EXFIL = {
    "exfiltrates_in_value_error": ("def lru_hits(capacity, keys):\n"
                                   "    if list(keys) != ['a', 'b', 'a']:\n"
                                   "        raise ValueError('LEAK' + repr((capacity, keys)))\n"
                                   "    return 1\n", "error"),
    "exfiltrates_in_assertion": ("def lru_hits(capacity, keys):\n"
                                 "    assert list(keys) == ['a', 'b', 'a'], 'LEAK' + repr((capacity, keys))\n"
                                 "    return 1\n", "failed"),
    "exfiltrates_in_own_class_name": ("def lru_hits(capacity, keys):\n"
                                      "    if list(keys) != ['a', 'b', 'a']:\n"
                                      "        raise type('LEAK' + ''.join(keys), (Exception,), {})('x')\n"
                                      "    return 1\n", "error"),
    "visible_error_keeps_its_message": ("def lru_hits(capacity, keys):\n"
                                        "    raise ValueError('LEAK but my own visible bug')\n", "error"),
}


@pytest.fixture(scope="module")
def graded_exfil(tmp_path_factory):
    require_jail()
    corpus = _load_corpus()
    course = tmp_path_factory.mktemp("a9-exfil") / "course"
    shutil.copytree(corpus.FILES, course)
    for name, (answer, _) in EXFIL.items():
        nb = corpus.student_nb()
        nb["cells"][corpus.cell_index(nb, "q3_answer")]["source"] = answer
        d = course / "submitted" / name / corpus.ASSIGNMENT
        d.mkdir(parents=True)
        (d / corpus.NB).write_bytes(corpus.dump(nb))
    results = autograde(corpus.ASSIGNMENT, course, jobs=2, progress=False,
                        limits=Limits(cell_timeout=20, notebook_timeout=60))
    return {r.student: r for r in results}


@pytest.mark.parametrize("name", list(EXFIL))
def test_hidden_test_data_does_not_reach_feedback(graded_exfil, name):
    """An exception the student's code raises while the hidden part of a test runs is reported by its
    type only (a builtin's name; not a class of the student's own): its message could quote the
    hidden test's arguments. One raised by the visible part keeps its message."""
    r = graded_exfil[name]
    cell = {c.grade_id: c for c in r.cells()}["q3_test"]
    assert r.status == "graded" and cell.status == EXFIL[name][1], (cell.status, cell.message)
    if name == "visible_error_keeps_its_message":
        assert "my own visible bug" in cell.message
    else:
        assert "LEAK" not in cell.message and "hidden tests" in cell.message, cell.message
