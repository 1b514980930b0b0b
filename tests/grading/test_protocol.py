"""Does the channel between the clean process and the student process carry plain data only,
exactly, within limits, with deadlines, whatever the student side sends?"""

from __future__ import annotations

import json
import math
import os
import struct
import threading

import pytest

from course_tools.grading import protocol as P
from course_tools.net.http import Request, Response
from course_tools.sim.interleave import Acquire, Read, Write

pytestmark = [pytest.mark.grading]


def roundtrip(value):
    return P.decode(json.loads(json.dumps(P.encode(value))))


def test_plain_values_cross_exactly():
    """Every plain value comes back equal and of the exact same type, containers included."""
    values = [None, True, False, 0, -3, 2 ** 100, 1.5, math.inf, -0.0, "b", "", "é\u2603", b"\x00\xff",
              [1, (2, 3)], (), {"a": {1, 2}}, frozenset({4, "x"}), {(1, 2): [None]}, set()]
    for v in values:
        back = roundtrip(v)
        assert back == v and type(back) is type(v)
    assert math.isnan(roundtrip(math.nan))


def test_course_value_types_are_rebuilt_from_their_fields():
    """Registered frozen dataclasses (the simulator's instructions, quorum cuts) cross as values and come
    back as the real class; mutable course objects (HTTP Request/Response) are not values: they cross
    by reference."""
    for v in (Acquire("lock"), Write("balance", 130), Read("x")):
        back = roundtrip(v)
        assert type(back) is type(v) and back == v
    for v in (Response(304, {"ETag": '"a"'}, b""), Request("GET", "/docs/a", {"If-None-Match": "*"}, b"")):
        with pytest.raises(P.ProtocolError):
            P.encode(v)


class LiarStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class LiarInt(int):
    def __ne__(self, other):
        return False


class LiarDict(dict):
    pass


class Anything:
    def __eq__(self, other):
        return True


class LyingClass:
    """Claims to be an int through __class__."""

    @property
    def __class__(self):
        return int


@pytest.mark.parametrize("value", [LiarStr("z"), LiarInt(3), LiarDict(a=1), Anything(), LyingClass(), [LiarStr("z")],
                                   {"k": Anything()}, (1, LiarInt(2)), {LiarStr("k"): 1}, Write("x", Anything())])
def test_subclasses_and_liars_are_not_data(value):
    """An int/str/dict subclass, an object lying about its class, or a container/value type holding one is
    refused as data; with an exporter it becomes a handle (so the other side gets a proxy, never the object)."""
    with pytest.raises(P.ProtocolError):
        P.encode(value)
    exported = []
    data = P.encode(value, export=lambda o: (exported.append(o), [len(exported), "object"])[1])
    assert exported and "h" in json.dumps(data)


@pytest.mark.parametrize("frame", [
    ["i", 3],                               # an int must be a decimal string
    ["s", 3], ["b", 1], ["y", "zz"], ["f", "1e999999999999999999999999999999999999999999999"],
    ["l", "abc"], ["d", [[["s", "k"]]]], ["S", [["l", []]]],    # unhashable set element
    ["v", "Acquire", {"lock": ["s", "a"], "extra": ["n"]}],  # wrong fields
    ["v", "Acquire", {"lock": ["h", 1, "object"]}],          # a handle inside a value type
    ["v", "NotAType", {}], ["v", "Acquire", {"lock": ["i", "1"]}] if False else ["v", "Os", {}],
    ["h", 1, "module"], ["h", "1", "object"], ["r", 1],       # handles refused without a handle maker
    ["x"], [], "s", None, {"t": "str"}, [1, 2],
])
def test_malformed_values_are_refused(frame):
    """Wrong tags, lying types, bad fields and handles where none is allowed raise ProtocolError."""
    with pytest.raises(P.ProtocolError):
        P.decode(frame)


def test_decoded_values_are_exact_builtins():
    """Decoding never builds a subclass: everything that comes out has an exact builtin type."""
    data = ["d", [[["s", "k"], ["l", [["i", "1"], ["t", [["b", True], ["y", "00"]]], ["F", [["f", "2.5"]]]]]]]]
    out = P.decode(data)

    def walk(x):
        assert type(x) in (dict, list, tuple, frozenset, set, str, int, float, bool, bytes, type(None))
        if type(x) is dict:
            for k, v in x.items():
                walk(k), walk(v)
        elif type(x) in (list, tuple, set, frozenset):
            for v in x:
                walk(v)
    walk(out)


def test_depth_and_size_limits():
    """Too deep or too many elements is refused both ways (no RecursionError, no memory blow-up)."""
    deep = []
    for _ in range(P.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(P.ProtocolError):
        P.encode(deep)
    frame = ["n"]
    for _ in range(P.MAX_DEPTH + 5):
        frame = ["l", [frame]]
    with pytest.raises(P.ProtocolError):
        P.decode(frame)
    with pytest.raises(P.ProtocolError):
        P.encode(list(range(P.MAX_ITEMS + 1)))
    with pytest.raises(P.ProtocolError):
        P.encode("x" * (P.MAX_ITEMS << 6))


def _pair():
    a_r, b_w = os.pipe()
    b_r, a_w = os.pipe()
    return P.Channel(a_r, a_w), P.Channel(b_r, b_w)


@pytest.mark.parametrize("raw", [
    struct.pack(">I", P.MAX_FRAME + 1) + b"x",                 # announces a huge frame
    struct.pack(">I", 5) + b"\xff\xfe\xfd\xfc\xfb",            # not UTF-8
    struct.pack(">I", 3) + b"NaN",                            # JSON constant
    struct.pack(">I", 4) + b"[1,]",                           # not JSON
    struct.pack(">I", 2) + b"[]",                             # not a message
])
def test_hostile_frames_break_the_channel_not_the_reader(raw):
    """A huge, undecodable or non-message frame ends the conversation with ChannelBroken."""
    a, b = _pair()
    os.write(b.wfd, raw)
    with pytest.raises(P.ChannelBroken):
        a.recv(P.Deadline(2))
    a.close(), b.close()


def test_deeply_nested_frame_breaks_the_channel():
    a, b = _pair()
    body = b"[" * 100_000 + b"]" * 100_000
    t = threading.Thread(target=lambda: os.write(b.wfd, struct.pack(">I", len(body)) + body))
    t.start()
    with pytest.raises(P.ChannelBroken):
        a.recv(P.Deadline(5))
    t.join()
    a.close(), b.close()


def test_a_peer_that_never_reads_costs_a_deadline_not_a_hang():
    """Writing a frame bigger than the pipe to a peer that does not read times out at the deadline."""
    a, b = _pair()
    with pytest.raises(P.ChannelTimeout):
        a.send({"id": 1, "op": "run_cell", "source": "x" * (4 << 20)}, P.Deadline(0.5))
    a.close(), b.close()
    a, b = _pair()
    with pytest.raises(P.ChannelTimeout):
        a.recv(P.Deadline(0.2))                          # and a peer that never answers
    a.close(), b.close()


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_peers():
    """Every conversation ends with the test: closing the clean side ends the serving thread."""
    yield
    while _OPEN:
        clean, thread = _OPEN.pop()
        clean.ch.close()
        if thread is not None:
            thread.join(5)


def _peers():
    a, b = _pair()
    clean, student = P.Peer(a), P.Peer(b)
    clean.strict = True
    clean.deadline = P.Deadline(10)
    _OPEN.append((clean, None))
    return clean, student


def _serve(peer):
    t = threading.Thread(target=lambda: _quiet(peer.serve_forever), daemon=True)
    t.start()
    clean, _ = _OPEN.pop()
    _OPEN.append((clean, t))
    return t


def _quiet(fn):
    try:
        fn()
    except P.ChannelBroken:
        pass
    finally:
        for fd in (fn.__self__.ch.rfd, fn.__self__.ch.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def test_proxies_call_iterate_and_drive_generators_with_callbacks():
    """A student's function, object and generator are driven through proxies; a test-owned object
    passed by reference is called back with plain data; results are exact plain values."""
    clean, student = _peers()

    class Counter:
        def __init__(self):
            self.total = 0

        def add(self, n):
            self.total += n
            return self.total

    def student_fn(fake, n):
        return [fake.add(i) for i in range(n)]

    def gen():
        got = yield Acquire("a")
        yield Write("x", got + 1)
        return "done"

    student.extra_ops["value"] = lambda msg: {"fn": student_fn, "gen": gen, "obj": {1: 2}}[msg["name"]]
    _serve(student)
    fn = clean.request("value", name="fn")
    assert isinstance(fn, P.RemoteFunction)
    fake = Counter()
    assert fn(fake, 4) == [0, 1, 3, 6] and fake.total == 6
    g = clean.request("value", name="gen")()
    assert isinstance(g, P.RemoteGenerator)
    assert next(g) == Acquire("a") and type(next(g) if False else g.send(41)) is Write
    with pytest.raises(StopIteration) as stop:
        g.send(None)
    assert stop.value.value == "done"
    assert clean.request("value", name="obj") == {1: 2}


def test_student_exceptions_cross_by_name_only():
    """A builtin or course exception comes back as that class; any other class as RemoteError."""
    clean, student = _peers()

    class Sneaky(Exception):
        pass

    def raiser(kind):
        raise {"value": ValueError("bad"), "conn": ConnectionError("lost"), "sneaky": Sneaky("hi"),
               "exit": SystemExit(3)}[kind]

    student.extra_ops["value"] = lambda msg: raiser
    _serve(student)
    f = clean.request("value", name="f")
    with pytest.raises(ValueError):
        f("value")
    with pytest.raises(ConnectionError):
        f("conn")
    with pytest.raises(P.RemoteError) as e:
        f("sneaky")
    assert e.value.name == "Sneaky"
    with pytest.raises(P.RemoteError):
        f("exit")


def test_the_student_side_cannot_reach_private_attributes_of_test_objects():
    """Through a handle to a test's fake, the student side gets public attributes and calls only:
    no __class__, __init__.__globals__, private names, setattr or repr (nothing that leads to code)."""
    clean, student = _peers()
    seen = {}

    class Fake:
        secret_value = "public"

        def __init__(self):
            self._hidden = "private"

        def get(self):
            return 1

    def probe(fake):
        peer, hid = object.__getattribute__(fake, "_peer"), object.__getattribute__(fake, "_hid")
        for name in ("__class__", "__init__", "_hidden", "__dict__", "secret_value"):
            try:
                seen[name] = peer.request("getattr", h=hid, name=name)
            except Exception as exc:
                seen[name] = type(exc).__name__
        for op, extra in (("setattr", {"name": "x", "value": ["n"]}), ("repr", {}),
                          ("batch", {"calls": ["l", [["t", [["s", "__init__"], ["t", []], ["d", []]]]]]})):
            try:
                seen[op] = peer.request(op, h=hid, **extra)
            except Exception as exc:
                seen[op] = type(exc).__name__
        return fake.get()

    student.extra_ops["value"] = lambda msg: probe
    _serve(student)
    assert clean.request("value", name="probe")(Fake()) == 1
    assert seen == {"__class__": "AttributeError", "__init__": "AttributeError", "_hidden": "AttributeError",
                    "__dict__": "AttributeError", "secret_value": "public", "setattr": "AttributeError",
                    "repr": "<test object>", "batch": "AttributeError"}


def test_a_reply_too_big_for_a_frame_becomes_a_handle():
    """A 50 MB string answer is not sent as data: the clean side gets a proxy, not a str."""
    clean, student = _peers()
    student.extra_ops["value"] = lambda msg: "b" * (50 << 20)
    _serve(student)
    got = clean.request("value", name="answer")
    assert isinstance(got, P.Remote) and type(got) is not str


def test_an_exception_named_like_the_tests_own_is_not_the_tests_own():
    """A student exception claiming to be course_tools.grading.checks.AnswerError arrives as RemoteError."""
    from course_tools.grading.checks import AnswerError

    exc = P.exception_from_wire(["course_tools.grading.checks", "AnswerError", "Question 1: forged"])
    assert type(exc) is P.RemoteError and not isinstance(exc, AnswerError)
    assert type(P.exception_from_wire(["course_tools.sim.quorum", "QuorumUnavailable", "x"])).__name__ == \
        "QuorumUnavailable"
    for name in ("SystemExit", "KeyboardInterrupt", "StopIteration", "GeneratorExit", "BaseException"):
        assert type(P.exception_from_wire(["builtins", name, ""])) is P.RemoteError


def test_a_peer_cannot_pile_up_unbounded_data_or_objects():
    """The clean side stops reading after max_total bytes in all, and after max_proxies handles."""
    a_r, b_w = os.pipe()
    b_r, a_w = os.pipe()
    a = P.Channel(a_r, a_w, max_total=1 << 20)
    writer = P.Channel(b_r, b_w)
    t = threading.Thread(target=lambda: _quiet_send(writer, 40))
    t.start()
    with pytest.raises(P.ChannelBroken, match="more than 1 MB in all"):
        for _ in range(40):
            a.recv(P.Deadline(5))
    a.close()
    t.join(10)
    writer.close()
    peer = P.Peer(P.Channel(*os.pipe()))
    peer.max_proxies = 3
    with pytest.raises(P.ProtocolError):
        peer.dec(["l", [["h", i, "object"] for i in range(1, 6)]])
    peer.ch.close()


def _quiet_send(ch, n):
    try:
        for i in range(n):
            ch.send({"re": i, "ok": ["s", "x" * 100_000]}, P.Deadline(5))
    except P.ChannelBroken:
        pass


# ---- a frame's size in values is checked before it is parsed -------------------------------------

def _frame_of(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _receive(body: bytes, raw: bytes | None = None):
    """What the receiving end makes of one frame (written by a thread: it is bigger than a pipe)."""
    raw = _frame_of(body) if raw is None else raw
    a, b = _pair()
    t = threading.Thread(target=lambda: os.write(b.wfd, raw) and None)
    os.set_blocking(b.wfd, True)
    t.start()
    try:
        return a.recv(P.Deadline(30))
    finally:
        t.join()
        a.close(), b.close()


def _values(obj) -> int:
    """What _check_json counts: the root, every list item and every dict value."""
    return 1 + sum(_values(x) for x in (obj if type(obj) is list else obj.values() if type(obj) is dict else ()))


# frames of exactly MAX_FRAME_VALUES values, in the shapes where the count of , [ { is furthest from
# the number of values: empty containers, and strings full of the counted bytes (and of escapes)
_TRICKY = '\\"[,{:}]\\\\", ' * 3


def _boundary_frames(extra: int = 0):
    n = P.MAX_FRAME_VALUES + extra
    yield "ints", {"x": [0] * (n - 2)}
    yield "empty containers", {"x": [[], {}] * ((n - 2) // 2) + [[]] * ((n - 2) % 2)}
    strings = [_TRICKY * 1000] * 150            # 150 values holding 1.8 M commas and brackets
    yield "strings full of , [ { :", {"s": strings, "x": [{}] * (n - 3 - len(strings))}
    yield "keys full of , [ { :", {"d": {f"{_TRICKY}{i}": [] for i in range(1000)}, "x": [0] * (n - 1003)}


@pytest.mark.parametrize("shape", ["ints", "empty containers", "strings full of , [ { :", "keys full of , [ { :"])
def test_every_frame_within_the_value_budget_is_still_received(shape):
    """Does the pre-parse count refuse nothing that _check_json accepts? A frame of exactly
    MAX_FRAME_VALUES values is received, in the shapes where counting bytes is least exact (strings
    and keys full of , [ { : and escapes); one value more is refused."""
    frames = dict(_boundary_frames())
    obj = frames[shape]
    assert _values(obj) == P.MAX_FRAME_VALUES
    body = json.dumps(obj, separators=(",", ":")).encode()
    assert len(body) <= P.MAX_FRAME
    assert _receive(body) == obj
    over = dict(_boundary_frames(1))[shape]
    assert _values(over) == P.MAX_FRAME_VALUES + 1
    with pytest.raises(P.ChannelBroken, match="malformed frame"):
        _receive(json.dumps(over, separators=(",", ":")).encode())


def test_pre_parse_count_equals_what_check_json_counts():
    """For random JSON (strings with escapes and the counted bytes, whitespace, tiny chunks so that
    strings cross chunk borders), the count from the bytes equals _check_json's count."""
    import random

    rng = random.Random(7)
    atoms = [0, -1.5e3, None, True, "", "x", '"', "\\", "a,[{:}]\\\"\\\\", ",,[[{{", "\u00e9\U0001f600"]

    def gen(depth=0):
        k = rng.random()
        if depth > 5 or k < 0.3:
            return rng.choice(atoms)
        if k < 0.65:
            return [gen(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(atoms[4:]) + str(i): gen(depth + 1) for i in range(rng.randrange(4))}

    with pytest.MonkeyPatch.context() as m:
        m.setattr(P, "MAX_FRAME_VALUES", 0)     # always take the exact path
        m.setattr(P, "_CHUNK", 7)
        for i in range(2000):
            obj = gen()
            text = json.dumps(obj, indent=None if i % 3 else 1, ensure_ascii=bool(i % 2))
            assert P._frame_values(text.encode()) == _values(obj), text


@pytest.mark.parametrize("body", [
    b"[" + b"0," * ((P.MAX_FRAME >> 1) - 2) + b"0]",        # 8 M ints
    b"[" + b"[]," * ((P.MAX_FRAME // 3) - 1) + b"[]]",      # 5.6 M empty lists
    b"[" + b'"",' * ((P.MAX_FRAME // 3) - 1) + b'""]',      # 5.6 M empty strings (the exact path)
], ids=["ints", "lists", "strings"])
def test_an_over_budget_frame_is_refused_without_being_parsed(body, monkeypatch):
    """A 16 MiB frame of millions of values is refused before json.loads sees it, with the malformed-frame
    error, and refusing it allocates a few copies of the frame, not an object per value."""
    import tracemalloc

    assert len(body) <= P.MAX_FRAME
    raw = _frame_of(body)

    def no_parse(*a, **k):
        raise AssertionError("json.loads was called on an over-budget frame")

    monkeypatch.setattr(json, "loads", no_parse)
    tracemalloc.start()
    try:
        with pytest.raises(P.ChannelBroken, match=r"malformed frame \(\d+ values, limit 1200000; refused unparsed"):
            _receive(body, raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * len(body), peak
