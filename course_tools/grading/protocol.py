"""The plain-data channel between the clean grading process (C) and the student process (S).

Both ends run this module (S gets a copy of its text in its scratch directory, because
``course_tools/grading/`` is hidden from it; so it imports nothing from ``course_tools.grading``).

Frames
------
Every frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. A frame
longer than ``MAX_FRAME``, nested deeper than ``MAX_DEPTH`` or holding more than
``MAX_ITEMS`` values is refused, and so is any JSON that is not exactly the shapes below
(``NaN``/``Infinity`` literals included). Reads and writes are non-blocking with a deadline
(:class:`Deadline`); a peer that is too slow, closes, or sends a malformed frame breaks the
channel (:class:`ChannelBroken`, :class:`ChannelTimeout`), never the reader.

Values
------
A value is a JSON list whose first element is a tag::

    ["n"] None   ["b", true]   ["i", "123"]   ["f", "1.5"]   ["s", "text"]   ["y", "hex bytes"]
    ["l", [...]] list   ["t", [...]] tuple   ["S", [...]] set   ["F", [...]] frozenset   ["d", [[k, v], ...]] dict
    ["v", "Acquire", {"var": value}]   a registered course value type (frozen dataclass of plain fields)
    ["h", id, kind]   an object that lives on the SENDER's side (a handle: function, class, object, generator)
    ["r", id]         the receiver's own object, coming back by reference

Encoding looks at exact types only (``type(x) is int``): a subclass of ``int``, ``str`` or
``dict`` is not plain data and travels as a handle. Decoding builds exact builtin types only;
a value type is rebuilt by calling the registered class with decoded *plain* fields (a handle
inside a value type is refused).

Requests and replies
--------------------
``{"id": n, "op": ..., ...}`` is answered by ``{"re": n, "ok": value}``,
``{"re": n, "stop": value}`` (the generator finished, with its return value) or
``{"re": n, "exc": [module, name, message]}``. While waiting for its reply, a side serves the
other side's requests (callbacks), so conversations nest. An exception crosses by name only:
the receiver maps builtin names and registered ``course_tools`` exception classes to the real
class and everything else to :class:`RemoteError`. Nothing received is ever executed.
"""

from __future__ import annotations

import builtins
import inspect
import json
import os
import re
import select
import struct
import sys
import threading
import time
from dataclasses import fields, is_dataclass

__all__ = ["MAX_FRAME", "MAX_DEPTH", "MAX_ITEMS", "ProtocolError", "ChannelBroken", "ChannelTimeout", "RemoteError",
           "Deadline", "Channel", "Peer", "Remote", "RemoteFunction", "RemoteClass", "RemoteObject",
           "RemoteGenerator", "encode", "decode", "value_types", "exception_classes", "kind_of", "from_peer"]

MAX_FRAME = 16 << 20
MAX_DEPTH = 48
MAX_ITEMS = 400_000
MAX_TEXT = 2000          # exception messages and reprs are cut to this many characters

_HEAD = struct.Struct(">I")

# modules whose frozen dataclasses may cross as values, and whose exceptions cross by name
VALUE_MODULES = ("course_tools.sim.interleave", "course_tools.net.http", "course_tools.sim.quorum",
                 "course_tools.net.webtypes")
# (never course_tools.grading.*: a student must not be able to raise the tests' own AnswerError by name)
EXCEPTION_MODULES = ("course_tools.sim.interleave", "course_tools.sim.quorum", "course_tools.net.wire",
                     "course_tools.net.http", "course_tools.sim.broker_errors")


class ProtocolError(Exception):
    """A frame or value that is not what the protocol allows."""


class ChannelBroken(BaseException):
    """The peer closed, died or sent garbage: this conversation is over.
    A BaseException so that ``except Exception`` in a checker cannot swallow it."""


class ChannelTimeout(ChannelBroken):
    """The peer did not answer before the deadline."""


class RemoteError(Exception):
    """An exception raised on the other side whose class is not a known builtin or course exception."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name, self.message = name, message


# ---------------------------------------------------------------------------------------------
# registries (explicit, built once from trusted modules)

_value_types: dict[str, type] | None = None
_exc_classes: dict[tuple[str, str], type] | None = None


def _import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:      # a module hidden from this side (S cannot import grading.*)
        return None


def value_types() -> dict[str, type]:
    """name -> class for every frozen dataclass defined in VALUE_MODULES."""
    global _value_types
    if _value_types is None:
        out = {}
        for m in VALUE_MODULES:
            mod = _import(m)
            for name, obj in sorted(vars(mod).items()) if mod else ():
                if (isinstance(obj, type) and getattr(obj, "__module__", None) == m and is_dataclass(obj)
                        and obj.__dataclass_params__.frozen):
                    out[name] = obj
        _value_types = out
    return _value_types


def _is_value_type(t: type) -> bool:
    """Is ``t`` a frozen dataclass of VALUE_MODULES? Looked up in the modules already imported (an
    instance of it exists, so its module is imported): encoding never imports anything."""
    mod = sys.modules.get(getattr(t, "__module__", None) or "") if getattr(t, "__module__", None) in VALUE_MODULES \
        else None
    return (mod is not None and getattr(mod, getattr(t, "__name__", ""), None) is t and is_dataclass(t)
            and t.__dataclass_params__.frozen)


def exception_classes() -> dict[tuple[str, str], type]:
    """(module, name) -> class for the exceptions defined in EXCEPTION_MODULES."""
    global _exc_classes
    if _exc_classes is None:
        out = {}
        for m in EXCEPTION_MODULES:
            mod = _import(m)
            for name, obj in sorted(vars(mod).items()) if mod else ():
                if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == m:
                    out[(m, name)] = obj
        _exc_classes = out
    return _exc_classes


_SAFE_BUILTIN_EXC = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, Exception)} - {
    "StopIteration", "StopAsyncIteration", "GeneratorExit"}


def exception_to_wire(exc: BaseException) -> list:
    t = type(exc)
    try:
        msg = str(exc)
    except Exception:
        msg = ""
    if not isinstance(msg, str) or type(msg) is not str:
        msg = ""
    return [str(getattr(t, "__module__", "") or ""), str(getattr(t, "__name__", "") or ""), msg[:MAX_TEXT]]


def exception_from_wire(data) -> BaseException:
    if type(data) is not list or len(data) != 3 or not all(type(x) is str for x in data):
        raise ProtocolError("malformed exception")
    module, name, msg = (x[:MAX_TEXT] for x in data)
    if module == "builtins" and name in _SAFE_BUILTIN_EXC:
        cls = getattr(builtins, name)
    else:
        cls = exception_classes().get((module, name))
    exc = None
    if cls is not None:
        try:
            exc = cls(msg)
        except Exception:
            exc = None
        if type(exc) is not cls:
            exc = None
    if exc is None:
        exc = RemoteError(name, msg)
    exc._course_from_peer = True      # raised by the other side's code: its message is that side's text
    return exc


def from_peer(exc: BaseException) -> bool:
    """Was ``exc`` raised by the other side's code (it crossed the channel by name)?"""
    return getattr(exc, "_course_from_peer", False) is True


# ---------------------------------------------------------------------------------------------
# values

_SCALAR_TAGS = {"n", "b", "i", "f", "s", "y"}
_SEQ = {list: "l", tuple: "t", set: "S", frozenset: "F"}
_SEQ_BACK = {"l": list, "t": tuple, "S": set, "F": frozenset}

MAX_SAME_HASH = 16     # set elements / dict keys of one frame that may share one hash value


def _check_hashes(keys: list) -> None:
    """Refuse keys many of which share one hash (crafted: every multiple of 2**61 - 1 hashes to 0, and
    2-tuples of ints can be solved for any tuple hash): building a set of n such keys compares each
    with all before it, minutes of CPU in one C call that no deadline can interrupt. Hashing them
    first is linear."""
    counts: dict[int, int] = {}
    for k in keys:
        try:
            h = hash(k)
        except TypeError:
            raise ProtocolError("unhashable set element or dict key") from None
        n = counts.get(h, 0) + 1
        if n > MAX_SAME_HASH:
            raise ProtocolError("set elements or dict keys whose hashes collide")
        counts[h] = n


def kind_of(obj) -> str:
    if inspect.isgeneratorfunction(obj):
        return "genfunction"
    if inspect.isgenerator(obj):
        return "generator"
    if isinstance(obj, type):
        return "class"
    if inspect.ismethod(obj):
        return "method"
    if callable(obj):
        return "function"
    return "object"


def encode(value, export=None, own=None, *, budget: list | None = None, depth: int = 0):
    """Encode ``value``. Exact plain types become data; a registered value type becomes its fields;
    ``own(value)`` gives the id of a peer's object coming back (or None); anything else goes to
    ``export(value) -> [id, kind]`` (a handle), or raises ProtocolError if ``export`` is None."""
    if budget is None:
        budget = [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH - 4:
        raise ProtocolError("value too large or too deep")
    t = type(value)
    if value is None:
        return ["n"]
    if t is bool:
        return ["b", value]
    if t is int:
        return ["i", int.__repr__(value)]
    if t is float:
        return ["f", float.__repr__(value)]
    if t is str:
        budget[0] -= len(value) >> 6
        if budget[0] < 0:
            raise ProtocolError("value too large")
        return ["s", value]
    if t is bytes:
        budget[0] -= len(value) >> 5
        if budget[0] < 0:
            raise ProtocolError("value too large")
        return ["y", bytes.hex(value)]
    if t in _SEQ:
        items = [encode(x, export, own, budget=budget, depth=depth + 1) for x in t.__iter__(value)]
        return [_SEQ[t], items]
    if t is dict:
        return ["d", [[encode(k, export, own, budget=budget, depth=depth + 1),
                       encode(v, export, own, budget=budget, depth=depth + 1)] for k, v in dict.items(value)]]
    if own is not None:
        rid = own(value)
        if rid is not None:
            return ["r", rid]
    if _is_value_type(t):
        try:
            return ["v", t.__name__, {f.name: encode(object.__getattribute__(value, f.name), None, None,
                                                     budget=budget, depth=depth + 1) for f in fields(t)}]
        except ProtocolError:
            if export is None:
                raise          # (a value type whose fields are not plain data travels as a handle)
    if export is None:
        raise ProtocolError(f"{getattr(t, '__name__', '?')} is not plain data")
    hid, kind = export(value)
    return ["h", hid, kind]


def decode(data, handle=None, mine=None, *, budget: list | None = None, depth: int = 0):
    """Decode a value; ``handle(id, kind)`` makes a proxy for the sender's object, ``mine(id)`` returns
    our own object. Without them, handles and references are refused (plain data only)."""
    if budget is None:
        budget = [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise ProtocolError("value too large or too deep")
    if type(data) is not list or not data or type(data[0]) is not str:
        raise ProtocolError("malformed value")
    tag, n = data[0], len(data)
    if tag == "n" and n == 1:
        return None
    if n < 2:
        raise ProtocolError("malformed value")
    v = data[1]
    if tag == "b" and n == 2 and type(v) is bool:
        return v
    if tag == "i" and n == 2 and type(v) is str and 0 < len(v) <= 5000:
        try:
            return int(v, 10)
        except ValueError:
            raise ProtocolError("malformed int") from None
    if tag == "f" and n == 2 and type(v) is str and len(v) <= 40:
        try:
            return float(v)
        except ValueError:
            raise ProtocolError("malformed float") from None
    if tag == "s" and n == 2 and type(v) is str:
        return str(v)
    if tag == "y" and n == 2 and type(v) is str:
        try:
            return bytes.fromhex(v)
        except ValueError:
            raise ProtocolError("malformed bytes") from None
    if tag in _SEQ_BACK and n == 2 and type(v) is list:
        items = [decode(x, handle, mine, budget=budget, depth=depth + 1) for x in v]
        if tag in ("S", "F"):
            _check_hashes(items)
        try:
            return _SEQ_BACK[tag](items)
        except TypeError:
            raise ProtocolError("unhashable set element") from None
    if tag == "d" and n == 2 and type(v) is list:
        pairs = []
        for pair in v:
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("malformed dict")
            pairs.append((decode(pair[0], handle, mine, budget=budget, depth=depth + 1),
                          decode(pair[1], handle, mine, budget=budget, depth=depth + 1)))
        _check_hashes([k for k, _ in pairs])
        return dict(pairs)
    if tag == "v" and n == 3 and type(v) is str and type(data[2]) is dict:
        cls = value_types().get(v)
        if cls is None:
            raise ProtocolError(f"unknown value type {v[:40]!r}")
        names = [f.name for f in fields(cls)]
        given = data[2]
        if sorted(given) != sorted(names):
            raise ProtocolError(f"wrong fields for {v}")
        kwargs = {k: decode(given[k], None, None, budget=budget, depth=depth + 1) for k in names}
        try:
            obj = cls(**kwargs)
        except Exception as exc:
            raise ProtocolError(f"invalid {v}: {type(exc).__name__}") from None
        return obj
    if tag == "h" and n == 3 and type(v) is int and type(data[2]) is str and handle is not None:
        if data[2] not in ("function", "genfunction", "method", "class", "object", "generator"):
            raise ProtocolError("unknown handle kind")
        return handle(v, data[2])
    if tag == "r" and n == 2 and type(v) is int and mine is not None:
        return mine(v)
    raise ProtocolError(f"malformed value (tag {tag[:10]!r})")


# ---------------------------------------------------------------------------------------------
# the byte channel


class Deadline:
    """An absolute monotonic deadline (None = none)."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()


def _check_json(obj, depth: int = 0, budget: list | None = None) -> None:
    """Depth and element count of a parsed frame (json.loads already made exact types only)."""
    if budget is None:
        budget = [MAX_FRAME_VALUES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH + 6:
        raise ProtocolError("frame too large or too deep")
    t = type(obj)
    if t is list:
        for x in obj:
            _check_json(x, depth + 1, budget)
    elif t is dict:
        for x in obj.values():
            _check_json(x, depth + 1, budget)


MAX_FRAME_VALUES = MAX_ITEMS * 3      # JSON values one frame may hold (what _check_json counts: dict keys not)
_JSON_SPACE = b" \t\n\r"
_STRING = re.compile(rb'"[^"]*"')
_CHUNK = 1 << 16


def _frame_values(data: bytes) -> int:
    """How many values ``json.loads(data)`` would build, counted as _check_json counts them (the root,
    every list item, every dict value), from the bytes alone: nothing is parsed, nothing per value is
    allocated. Exact for valid JSON; for invalid JSON some number (json.loads refuses that frame anyway).

    A frame's values are its root plus, per non-empty container, one more than its commas:
    ``1 + commas + brackets - empty containers``, all counted outside strings. The first count is
    taken over the raw bytes (strings included, so it can only be higher); only a frame that is over
    the budget by that count has its strings cut out (escapes first, then each string becomes one
    ``0``; in chunks, so that a frame of millions of short strings never becomes millions of objects)."""
    quick = 1 + data.count(b",") + data.count(b"[") + data.count(b"{")
    if quick <= MAX_FRAME_VALUES:
        return quick
    s = data.replace(b"\\\\", b"").replace(b'\\"', b"")     # escaped backslashes, then escaped quotes
    s = s.translate(None, _JSON_SPACE)
    out, inside = [], False
    for off in range(0, len(s), _CHUNK):
        chunk = s[off:off + _CHUNK]
        if inside:                          # a string that began in an earlier chunk (its 0 is out already)
            end = chunk.find(b'"')
            if end < 0:
                continue
            chunk, inside = chunk[end + 1:], False
        chunk = _STRING.sub(b"0", chunk)
        start = chunk.find(b'"')            # (at most one left: a string that ends in a later chunk)
        if start >= 0:
            chunk, inside = chunk[:start] + b"0", True
        out.append(chunk)
    r = b"".join(out)
    return 1 + r.count(b",") + r.count(b"[") + r.count(b"{") - r.count(b"[]") - r.count(b"{}")


def _reject_constant(name):
    raise ProtocolError(f"JSON constant {name} not allowed")


class Channel:
    """Length-prefixed JSON frames over two pipe fds, non-blocking, every operation with a deadline."""

    def __init__(self, rfd: int, wfd: int, max_frame: int = MAX_FRAME, max_total: int | None = None) -> None:
        self.rfd, self.wfd, self.max_frame = rfd, wfd, max_frame
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        self.buf = bytearray()
        self.broken: str | None = None
        self.max_total, self.received = max_total, 0   # all bytes ever read (bounds what a peer can pile up here)

    def _fail(self, why: str, timeout: bool = False) -> None:
        self.broken = why
        raise (ChannelTimeout if timeout else ChannelBroken)(why)

    def send(self, obj, deadline: Deadline) -> None:
        if self.broken:
            raise ChannelBroken(self.broken)
        data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
        if len(data) > self.max_frame:
            raise ProtocolError(f"frame of {len(data)} bytes is over the limit")
        view = memoryview(_HEAD.pack(len(data)) + data)
        while view:
            left = deadline.left()
            if left is not None and left <= 0:
                self._fail("the peer did not read within the deadline", timeout=True)
            try:
                _, w, _ = select.select([], [self.wfd], [], left if left is None else max(0.0, min(left, 5.0)))
            except InterruptedError:
                continue
            if not w:
                continue
            try:
                n = os.write(self.wfd, view[:1 << 16])
            except BlockingIOError:
                continue
            except OSError as exc:
                self._fail(f"the peer is gone ({type(exc).__name__})")
            view = view[n:]

    def _fill(self, need: int, deadline: Deadline) -> None:
        while len(self.buf) < need:
            left = deadline.left()
            if left is not None and left <= 0:
                self._fail("the peer did not answer within the deadline", timeout=True)
            try:
                r, _, _ = select.select([self.rfd], [], [], left if left is None else max(0.0, min(left, 5.0)))
            except InterruptedError:
                continue
            if not r:
                continue
            try:
                chunk = os.read(self.rfd, max(1 << 16, min(need - len(self.buf), 1 << 22)))
            except BlockingIOError:
                continue
            except OSError as exc:
                self._fail(f"the peer is gone ({type(exc).__name__})")
            if not chunk:
                self._fail("the peer closed the channel")
            self.received += len(chunk)
            if self.max_total is not None and self.received > self.max_total:
                self._fail(f"the peer sent more than {self.max_total >> 20} MB in all")
            self.buf += chunk

    def recv(self, deadline: Deadline):
        if self.broken:
            raise ChannelBroken(self.broken)
        self._fill(4, deadline)
        (size,) = _HEAD.unpack(self.buf[:4])
        if size > self.max_frame:
            self._fail(f"the peer sent a frame of {size} bytes (limit {self.max_frame})")
        self._fill(4 + size, deadline)
        data = bytes(self.buf[4:4 + size])
        del self.buf[:4 + size]
        try:
            values = _frame_values(data)       # before parsing: an over-budget frame never becomes objects
            if values > MAX_FRAME_VALUES:
                raise ProtocolError(f"{values} values, limit {MAX_FRAME_VALUES}; refused unparsed")
            obj = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
            _check_json(obj)
        except ProtocolError as exc:
            self._fail(f"the peer sent a malformed frame ({exc})")
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            self._fail(f"the peer sent a malformed frame ({type(exc).__name__})")
        if type(obj) is not dict:
            self._fail("the peer sent a frame that is not a message")
        return obj

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# the conversation: requests, replies, callbacks, handles


class _Stop(Exception):
    def __init__(self, value) -> None:
        self.value = value


class Peer:
    """One side of a conversation. ``serve_ops`` handles the other side's requests on our objects.

    ``deadline`` (a :class:`Deadline`) bounds every wait; C sets it per cell or test. One
    conversation at a time: a lock is held from a request until its reply, and callbacks are
    answered on the waiting thread (re-entrant).
    """

    def __init__(self, channel: Channel, *, exports_allowed: bool = True) -> None:
        self.ch = channel
        self.deadline = Deadline(None)
        self.objects: dict[int, object] = {}      # our objects the peer holds handles to
        self.ids: dict[int, int] = {}             # id(obj) -> handle id
        self.kinds: dict[int, str] = {}           # handle id -> kind
        self.next_id = 1
        self.next_req = 1
        self.proxies: dict[int, "Remote"] = {}   # the peer's objects we hold (by its id), kept alive
        self.lock = threading.RLock()
        self.extra_ops: dict = {}
        self.exports_allowed = exports_allowed
        self.passthrough: tuple = (ChannelBroken,)   # never sent to the peer (C adds its test timeout)
        # strict (C's side): the peer may only read public attributes (no leading underscore) of the
        # objects we exported, never set one, never ask for a repr: a handle to a test's fake must not
        # lead to its class, its module's globals, builtins or anything that runs code here
        self.strict = False
        self.max_proxies = 2_000_000
        # strict also bounds the work the peer can make us do: at most this many of its requests are
        # served (each a frame it must send; no "batch" or "repeat" loops run here for it), so that
        # callbacks into a test's fakes (whose methods may record every call) cannot grow this process
        # by gigabytes within one test's time
        self.max_served = 1_000_000
        self.served = 0

    # -- our objects
    def export(self, obj) -> list:
        key = id(obj)
        hid = self.ids.get(key)
        if hid is None:
            hid = self.next_id
            self.next_id += 1
            self.objects[hid] = obj
            self.ids[key] = hid
            self.kinds[hid] = kind_of(obj)
        return [hid, self.kinds[hid]]

    def own(self, obj):
        if isinstance(obj, Remote) and object.__getattribute__(obj, "_peer") is self:
            return object.__getattribute__(obj, "_hid")
        return None

    def mine(self, hid: int):
        if hid not in self.objects:
            raise ProtocolError("reference to an unknown object")
        return self.objects[hid]

    def proxy(self, hid: int, kind: str) -> "Remote":
        p = self.proxies.get(hid)
        if p is None:
            if len(self.proxies) >= self.max_proxies:
                raise ProtocolError(f"more than {self.max_proxies} objects of the peer")
            cls = {"function": RemoteFunction, "genfunction": RemoteFunction, "method": RemoteFunction,
                   "class": RemoteClass,
                   "generator": RemoteGenerator}.get(kind, RemoteObject)
            p = cls(self, hid, kind)
            self.proxies[hid] = p
        return p

    def enc(self, value):
        try:
            return encode(value, self.export if self.exports_allowed else None, self.own)
        except ProtocolError:
            if not self.exports_allowed:
                raise
            hid, kind = self.export(value)      # too big or too deep to be data: it stays here, as a handle
            return ["h", hid, kind]

    def _name(self, msg: dict, key: str = "name") -> str:
        name = msg.get(key)
        if type(name) is not str or not name.isidentifier():
            raise ProtocolError("bad attribute name")
        if self.strict and name.startswith("_"):
            raise AttributeError(f"attribute {name[:40]!r} is not available")
        return name

    def dec(self, data):
        return decode(data, self.proxy, self.mine)

    # -- requests
    def request(self, op: str, **args):
        left = self.deadline.left()
        if not self.lock.acquire(timeout=-1 if left is None else max(0.0, left)):
            raise ChannelTimeout("the channel stayed busy past the deadline")
        try:
            rid = self.next_req
            self.next_req += 1
            self.ch.send({"id": rid, "op": op, **args}, self.deadline)
            while True:
                msg = self.ch.recv(self.deadline)
                if "re" in msg:
                    if msg["re"] != rid:
                        self.ch._fail("the peer answered a request that was not asked")
                    return self._result(msg)
                self.serve_one(msg)
        finally:
            self.lock.release()

    def _result(self, msg):
        try:
            if "ok" in msg:
                return self.dec(msg["ok"])
            if "stop" in msg:
                raise _Stop(self.dec(msg["stop"]))
            if "exc" in msg:
                raise exception_from_wire(msg["exc"])
        except ProtocolError as exc:
            self.ch._fail(f"the peer sent a malformed reply ({exc})")
        self.ch._fail("the peer sent a malformed reply")

    def serve_one(self, msg: dict) -> None:
        rid = msg.get("id")
        if type(rid) is not int:
            self.ch._fail("the peer sent a malformed request")
        result = None
        try:
            result = self.handle(msg)
            reply = {"re": rid, "ok": self.enc(result)}
        except self.passthrough:
            raise
        except _Stop as stop:
            try:
                reply = {"re": rid, "stop": self.enc(stop.value)}
            except ProtocolError as exc:
                reply = {"re": rid, "exc": exception_to_wire(exc)}
        except BaseException as exc:     # an exception of the served code crosses by name only
            reply = {"re": rid, "exc": exception_to_wire(exc)}
        try:
            self.ch.send(reply, self.deadline)
        except ProtocolError:        # too big for one frame (nothing was written): send a handle instead
            if "ok" in reply and self.exports_allowed:
                hid, kind = self.export(result)
                self.ch.send({"re": rid, "ok": ["h", hid, kind]}, self.deadline)
            else:
                self.ch.send({"re": rid, "exc": ["builtins", "ValueError", "reply too large"]}, self.deadline)

    def serve_forever(self) -> None:
        while True:
            self.serve_one(self.ch.recv(self.deadline))

    def handle(self, msg: dict):
        op = msg.get("op")
        if self.strict:
            self.served += 1
            if self.served > self.max_served:
                self.ch._fail(f"the peer made more than {self.max_served} requests")
            if op in ("batch", "repeat"):
                raise AttributeError(f"{op} is not available on test objects")
        if op in self.extra_ops:
            return self.extra_ops[op](msg)
        if op == "release":
            for hid in msg.get("ids") or []:
                obj = self.objects.pop(hid, None)
                if obj is not None:
                    self.ids.pop(id(obj), None)
                    self.kinds.pop(hid, None)
            return None
        obj = self.mine(msg.get("h"))
        if op == "getattr":
            return getattr(obj, self._name(msg))
        if op == "setattr":
            if self.strict:
                raise AttributeError("attributes of test objects cannot be set")
            setattr(obj, self._name(msg), self.dec(msg.get("value")))
            return None
        if op in ("call", "callmethod"):
            args = self.dec(msg.get("args"))
            kwargs = self.dec(msg.get("kwargs"))
            if type(args) is not tuple or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise ProtocolError("bad arguments")
            if op == "callmethod":
                obj = getattr(obj, self._name(msg))
            return obj(*args, **kwargs)
        if op == "batch":
            calls = self.dec(msg.get("calls"))
            if type(calls) is not list:
                raise ProtocolError("bad batch")
            out = []
            for c in calls:
                if type(c) is not tuple or len(c) != 3 or type(c[1]) is not tuple or type(c[2]) is not dict:
                    raise ProtocolError("bad batch entry")
                out.append(getattr(obj, self._name({"name": c[0]}))(*c[1], **c[2]))
            return out
        if op == "repeat":      # scaling measurements: obj.<name>(i) or (i, i) for i in range(start, stop)
            name, start, stop, arity = self._name(msg), msg.get("start"), msg.get("stop"), msg.get("arity")
            if (type(start) is not int or type(stop) is not int or arity not in (1, 2)
                    or not 0 <= stop - start <= 2_000_000):
                raise ProtocolError("bad repeat")
            method = getattr(obj, name)
            if arity == 1:
                for i in range(start, stop):
                    method(i)
            else:
                for i in range(start, stop):
                    method(i, i)
            return None
        if op in ("next", "send"):
            try:
                if op == "next":
                    return next(obj)
                return obj.send(self.dec(msg.get("value")))
            except StopIteration as stop:
                raise _Stop(stop.value) from None
        if op == "throw":
            exc = exception_from_wire(msg.get("exc"))
            try:
                return obj.throw(exc)
            except StopIteration as stop:
                raise _Stop(stop.value) from None
        if op == "close":
            return obj.close()
        if op == "iter":
            return iter(obj)
        if op == "len":
            n = len(obj)
            return int(n)
        if op == "bool":
            return bool(obj)
        if op == "getitem":
            return obj[self.dec(msg.get("key"))]
        if op == "contains":
            return self.dec(msg.get("key")) in obj
        if op == "repr":
            if self.strict:
                return "<test object>"
            text = repr(obj)
            return str(text)[:MAX_TEXT] if type(text) is str else "<object>"
        raise ProtocolError(f"unknown operation {str(op)[:30]!r}")


# ---------------------------------------------------------------------------------------------
# proxies: the other side's objects. Comparisons and hashing are by identity; nothing is ever
# asked of the other side implicitly except what the operation needs.


class Remote:
    __slots__ = ("_peer", "_hid", "_kind", "_methods", "__weakref__")

    def __init__(self, peer: Peer, hid: int, kind: str) -> None:
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_methods", {})

    def _req(self, op: str, **args):
        return object.__getattribute__(self, "_peer").request(op, h=object.__getattribute__(self, "_hid"), **args)

    def _enc(self, value):
        return object.__getattribute__(self, "_peer").enc(value)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        methods = object.__getattribute__(self, "_methods")
        m = methods.get(name)
        if m is not None:     # a bound method the other side gave before: one round trip per call
            return m
        value = self._req("getattr", name=name)
        if isinstance(value, Remote) and object.__getattribute__(value, "_kind") == "method":
            methods[name] = value
        return value

    def __setattr__(self, name: str, value) -> None:
        object.__getattribute__(self, "_methods").pop(name, None)
        self._req("setattr", name=name, value=self._enc(value))

    def __call__(self, *args, **kwargs):
        return self._req("call", args=self._enc(args), kwargs=self._enc(kwargs))

    def _callmethod(self, name: str, *args, **kwargs):
        return self._req("callmethod", name=name, args=self._enc(args), kwargs=self._enc(kwargs))

    def _batch(self, calls: list):
        """[(method, args, kwargs), ...] run on the other side in one round trip; their results."""
        return self._req("batch", calls=self._enc([(m, tuple(a), dict(k)) for m, a, k in calls]))

    def _repeat(self, name: str, start: int, stop: int, arity: int) -> None:
        """``self.<name>(i)`` (arity 1) or ``(i, i)`` (arity 2) for i in range(start, stop), looped on the
        other side (no per-call protocol cost: for measuring how the cost grows)."""
        self._req("repeat", name=name, start=int(start), stop=int(stop), arity=int(arity))

    def _release(self) -> None:
        """Let the other side drop this object (it is gone for us too)."""
        peer = object.__getattribute__(self, "_peer")
        hid = object.__getattribute__(self, "_hid")
        peer.proxies.pop(hid, None)
        peer.request("release", ids=[hid])

    def __len__(self) -> int:
        n = self._req("len")
        if type(n) is not int or n < 0:
            raise TypeError("len() of a remote object was not a non-negative int")
        return n

    def __bool__(self) -> bool:
        b = self._req("bool")
        if type(b) is not bool:
            raise TypeError("bool() of a remote object was not a bool")
        return b

    def __iter__(self):
        it = self._req("iter")
        if it is self:
            return self
        return iter(it)

    def __next__(self):
        try:
            return self._req("next")
        except _Stop:
            raise StopIteration from None

    def __getitem__(self, key):
        return self._req("getitem", key=self._enc(key))

    def __contains__(self, key) -> bool:
        return bool(self._req("contains", key=self._enc(key)) is True)

    def __repr__(self) -> str:
        try:
            text = self._req("repr")
        except Exception:
            text = None
        return text if type(text) is str else f"<remote {object.__getattribute__(self, '_kind')}>"

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return object.__hash__(self)


class RemoteFunction(Remote):
    __slots__ = ()

    @property
    def is_generator_function(self) -> bool:
        return object.__getattribute__(self, "_kind") == "genfunction"


class RemoteClass(Remote):
    __slots__ = ()


class RemoteObject(Remote):
    __slots__ = ()


class RemoteGenerator(Remote):
    __slots__ = ()

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self._req("next")
        except _Stop as stop:
            raise StopIteration(stop.value) from None

    def send(self, value):
        try:
            return self._req("send", value=self._enc(value))
        except _Stop as stop:
            raise StopIteration(stop.value) from None

    def throw(self, typ, val=None, tb=None):
        exc = typ if isinstance(typ, BaseException) else (typ(val) if val is not None else typ())
        try:
            return self._req("throw", exc=exception_to_wire(exc))
        except _Stop as stop:
            raise StopIteration(stop.value) from None

    def close(self):
        try:
            self._req("close")
        except ChannelBroken:
            pass
        return None
