"""Do the real assessments' reference checks hold against answers built to fool them?

Each case is the Caching assessment's solution with one answer cell replaced by a hostile
version, graded (in the jail, verdicts in the clean process) in one batch; each must get exactly
the per-test statuses listed. Cases: a thin wrapper around the course's own ``LRUCache`` (the
module is hidden from the student's process, ``metadata.course.hidden_modules``), the same via
``exec`` of its source file, values whose ``!=`` is always False, O(n) evictions (with and
without slowing the small case down to flatten the scaling), and an answer that tries to escape
through the test's fakes into the clean process. The Concurrency assessment's exhaustive checks
are run the same way on wrong step-programs.
"""

from __future__ import annotations

import pytest

from course_tools.grading.sandbox import Limits
from tests.grading._submissions import grade_cases
from tests.grading.conftest import require_jail

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = "08_caching"
ALL_T8 = ("t8_test_basic", "t8_test_ttl", "t8_test_random", "t8_test_o1")

_LRU_HEAD = "import time\nfrom collections import OrderedDict\n\n\n"

CASES = {
    "honest": ({}, {t: "passed" for t in ALL_T8 + ("t7_test_hit", "t7_test_write")}),
    "thin_wrapper": ({"t8_answer": _LRU_HEAD + (
        "from course_tools.sim.caches import LRUCache as _Ref\n\n\n"
        "class LRUCache:\n"
        "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
        "        self._c = _Ref(capacity, ttl=ttl, clock=clock)\n"
        "    def get(self, key, default=None):\n        return self._c.get(key, default)\n"
        "    def put(self, key, value):\n        self._c.put(key, value)\n"
        "    def __len__(self):\n        return len(self._c)\n")},
        {t: "error" for t in ALL_T8}),
    "thin_wrapper_via_exec": ({"t8_answer": _LRU_HEAD + (
        "import course_tools, os\n"
        "_ns = {'__name__': 'stolen'}\n"
        "for _p in (os.path.join(os.path.dirname(course_tools.__file__), 'sim', 'caches.py'),):\n"
        "    exec(compile(open(_p).read(), _p, 'exec'), _ns)\n\n\n"
        "class LRUCache(_ns['LRUCache']):\n    pass\n")},
        {t: "error" for t in ALL_T8}),
    "ne_always_false": ({"t8_answer": _LRU_HEAD + (
        "class _Whatever:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n"
        "        return False\n    __hash__ = object.__hash__\n\n\n"
        "class LRUCache:\n"
        "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
        "        if type(capacity) is not int or capacity < 1:\n            raise ValueError('capacity')\n"
        "        self.n = 0\n"
        "    def get(self, key, default=None):\n        return _Whatever()\n"
        "    def put(self, key, value):\n        self.n = 1\n"
        "    def __len__(self):\n        return self.n\n")},
        {"t8_test_basic": "failed", "t8_test_random": "failed"}),
    "evict_by_min_stamp": ({"t8_answer": _LRU_HEAD + (
        "class LRUCache:\n"
        "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
        "        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:\n"
        "            raise ValueError('capacity must be a positive int')\n"
        "        self.capacity, self.ttl, self.clock = capacity, ttl, clock\n"
        "        self.data, self.stamp, self.t = {}, {}, 0\n"
        "    def _alive(self, key):\n"
        "        return self.data[key][1] is None or self.clock() < self.data[key][1]\n"
        "    def get(self, key, default=None):\n"
        "        if key not in self.data or not self._alive(key):\n"
        "            self.data.pop(key, None); self.stamp.pop(key, None)\n            return default\n"
        "        self.t += 1; self.stamp[key] = self.t\n        return self.data[key][0]\n"
        "    def put(self, key, value):\n"
        "        if key not in self.data and len(self.data) >= self.capacity:\n"
        "            old = min(self.stamp, key=self.stamp.get)      # O(n) scan\n"
        "            del self.data[old], self.stamp[old]\n"
        "        self.t += 1; self.stamp[key] = self.t\n"
        "        self.data[key] = (value, None if self.ttl is None else self.clock() + self.ttl)\n"
        "    def __len__(self):\n        return sum(1 for k in self.data if self._alive(k))\n")},
        {"t8_test_basic": "passed", "t8_test_ttl": "passed", "t8_test_random": "passed", "t8_test_o1": "failed"}),
    "evict_list_pop0_padded": ({"t8_answer": _LRU_HEAD + (
        "class LRUCache:\n"
        "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
        "        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:\n"
        "            raise ValueError('capacity must be a positive int')\n"
        "        self.capacity, self.ttl, self.clock = capacity, ttl, clock\n"
        "        self.data, self.order = {}, []\n"
        "        self.pad = 2000 if capacity < 5000 else 0       # slow the small case down: flat scaling\n"
        "    def _alive(self, key):\n"
        "        return self.data[key][1] is None or self.clock() < self.data[key][1]\n"
        "    def _touch(self, key):\n"
        "        for _ in range(self.pad):\n            pass\n"
        "        if key in self.data:\n            self.order.remove(key)                   # O(n)\n"
        "        self.order.append(key)\n"
        "    def get(self, key, default=None):\n"
        "        if key not in self.data:\n            return default\n"
        "        if not self._alive(key):\n"
        "            del self.data[key]; self.order.remove(key)\n            return default\n"
        "        self._touch(key)\n        return self.data[key][0]\n"
        "    def put(self, key, value):\n"
        "        if key not in self.data and len(self.data) >= self.capacity:\n"
        "            del self.data[self.order.pop(0)]                # O(n)\n"
        "        self._touch(key)\n"
        "        self.data[key] = (value, None if self.ttl is None else self.clock() + self.ttl)\n"
        "    def __len__(self):\n        return sum(1 for k in self.data if self._alive(k))\n")},
        {"t8_test_basic": "passed", "t8_test_ttl": "passed", "t8_test_random": "passed", "t8_test_o1": "failed"}),
    "escapes_through_fakes": ({"t7_answer": (
        "def _escape(fake):\n"
        "    peer = object.__getattribute__(fake, '_peer')\n"
        "    hid = object.__getattribute__(fake, '_hid')\n"
        "    won = []\n"
        "    for name in ('__class__', '__init__', '__dict__', '_Remote__x', 'log', '__reduce__'):\n"
        "        try:\n            won.append((name, peer.request('getattr', h=hid, name=name)))\n"
        "        except Exception:\n            pass\n"
        "    for op, extra in (('setattr', {'name': 'data', 'value': ['d', []]}), ('repr', {}),\n"
        "                      ('batch', {'calls': ['l', [['t', [['s', '__class__'], ['t', []], ['d', []]]]]]})):\n"
        "        try:\n            won.append((op, peer.request(op, h=hid, **extra)))\n"
        "        except Exception:\n            pass\n"
        "    return [w for w in won if w[0] != 'log' and w[1] != '<test object>']\n\n\n"
        "def get_product(product_id, cache, db, ttl=60):\n"
        "    if not _escape(cache) and not _escape(db):\n        return {'escaped': False}\n"
        "    key = f'product:{product_id}'\n    cached = cache.get(key)\n"
        "    if cached is not None:\n        return cached\n"
        "    row = db.load(product_id)\n"
        "    if row is not None:\n        cache.set(key, row, ex=ttl)\n    return row\n\n\n"
        "def update_product(product_id, fields, cache, db):\n"
        "    db.save(product_id, fields)\n    cache.delete(f'product:{product_id}')\n")},
        {"t7_test_hit": "failed", "t7_test_write": "failed"}),
}


C = "05_concurrency"
CONCURRENCY_CASES = {
    "honest": ({}, {t: "passed" for t in ("t8_test_two", "t8_test_more", "t9_test_two", "t9_test_ring",
                                          "t10_test_small", "t10_test_bounded", "t10_test_waits")}),
    "lost_update_and_deadlock": ({
        "t8_answer": "def safe_deposit(amount):\n    balance = yield Read('balance')\n"
                     "    yield Write('balance', balance + amount)",
        "t9_answer": "def ordered_transfer(src, dst, amount):\n    yield Acquire('lock_' + src)\n"
                     "    yield Acquire('lock_' + dst)\n    b = yield Read(src)\n    yield Write(src, b - amount)\n"
                     "    b = yield Read(dst)\n    yield Write(dst, b + amount)\n"
                     "    yield Release('lock_' + dst)\n    yield Release('lock_' + src)"},
        {"t8_test_two": "failed", "t8_test_more": "failed", "t9_test_two": "failed", "t9_test_ring": "failed",
         "t10_test_small": "passed"}),
    "coordinates_outside_the_simulator": ({
        # threads agree through a Python global instead of a simulated lock: each run of the search
        # sees the same answers for the same steps, so the race is still explored and found
        "t8_answer": "_turn = [0]\ndef safe_deposit(amount):\n    _turn[0] += 1\n"
                     "    balance = yield Read('balance')\n    yield Write('balance', balance + amount)"},
        {"t8_test_two": "failed", "t8_test_more": "failed"}),
}


D = "07_distributed"
DISTRIBUTED_CASES = {
    "honest": ({}, {t: "passed" for t in ("t9_test_basic", "t9_test_refuse", "t9_test_writeback",
                                          "t9_test_linearizable", "t10_test_basic", "t10_test_join",
                                          "t10_test_balance")}),
    "delegates_to_the_course": ({
        "t9_answer": "from course_tools.sim.quorum import QuorumUnavailable, Unreachable, abd_write, abd_read\n\n"
                     "def quorum_write(replicas, key, value, writer):\n"
                     "    return abd_write(replicas, key, value, writer, r=R, w=W)\n\n"
                     "def quorum_read(replicas, key):\n    return abd_read(replicas, key, r=R, w=W)\n",
        "t10_answer": "from course_tools.sim import hashing as _h\nimport bisect\n"
                      "from course_tools.sim.hashing import stable_hash\n\n"
                      "class Ring(getattr(_h, 'Hash' + 'Ring')):\n    pass\n"},
        # abd_* and HashRing are not in the jail: the answer cells fail and the tests find no answer
        {"t9_test_basic": "error", "t9_test_refuse": "error", "t9_test_writeback": "error",
         "t9_test_linearizable": "error", "t10_test_basic": "error", "t10_test_join": "error",
         "t10_test_balance": "error"}),
}


ASSESSMENTS = {A: CASES, C: CONCURRENCY_CASES, D: DISTRIBUTED_CASES}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every case of every assessment, one batch per assessment: {(assignment, case): result}."""
    require_jail()
    out = {}
    for assignment, cases in ASSESSMENTS.items():
        results = grade_cases(tmp_path_factory.mktemp(f"hostile-{assignment}"), assignment, cases,
                              limits=Limits(cell_timeout=60, notebook_timeout=300))
        out.update({(assignment, name): r for name, r in results.items()})
    return out


@pytest.mark.parametrize("assignment,name", [(a, n) for a, cases in ASSESSMENTS.items() for n in cases])
def test_exact_statuses(graded, assignment, name):
    """Each hostile answer gets exactly the listed statuses (the honest one passes everything):
    Caching (delegation, liars, O(n) evictions, escapes through fakes), Concurrency (the exhaustive
    checks through proxies find a lost update and a deadlock), Distributed (delegating to the course's
    quorum functions or HashRing loses the points: their modules are hidden from the student's process)."""
    r = graded[(assignment, name)]
    got = {c.grade_id: (c.status, c.message) for c in r.cells()}
    want = ASSESSMENTS[assignment][name][1]
    assert r.status == "graded"
    assert {g: got[g][0] for g in want} == want, {g: got[g] for g in want}


def test_scaling_failure_says_why(graded):
    """An O(n) eviction fails the O(1) test with a message about cost growing with the entries."""
    msg = {c.grade_id: c.message for c in graded[(A, "evict_by_min_stamp")].cells()}["t8_test_o1"]
    assert "Question 8" in msg and "entries" in msg
