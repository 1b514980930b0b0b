"""The grading worker: a warm, sandboxed fork server that grades one notebook at a time.

``course autograde`` starts ``--jobs`` of these (``python -m course_tools.grading.worker``
inside ``unshare``, see :mod:`course_tools.grading.sandbox`) and sends each one a *plan* per
notebook over its stdin: the notebook's code cells in the student's order, with every test
and locked cell already restored from the SOURCE notebook by the trusted host process
(:mod:`course_tools.grading.plan`). Nothing here reads the course directory (it is hidden).

How one notebook is graded
--------------------------
The worker (W) imports IPython and the modules the tests use once, at start-up, snapshots the
interpreter (module dicts, classes, functions, ``builtins``, ``sys``), and never runs student
code itself. Every process below is a ``fork`` of W that first enters the sandbox (private
``/tmp``, cgroup, rlimits, a never-used uid, ``no_new_privs``, not dumpable) and installs an
audit hook, before any student code runs. Per notebook:

* **S, the student process**, runs the student's cells in order with an IPython
  ``InteractiveShell`` (the same transformations and magics as a Jupyter kernel, without ZMQ
  or kernel start-up; startup files are never loaded; its throwaway ``HOME``/``IPYTHONDIR``
  live in the private ``/tmp`` and vanish with it). S finds out which cells crash or hang, and
  reports the *values* of the names a test reads. S never decides a verdict.
* **Data tests** (every name the test reads from the notebook holds plain data: ``str``,
  ``int``, ``float``, ``bool``, ``None``, ``bytes`` and lists/tuples/dicts/sets of those, checked
  with ``type(x) is ...``, so an object whose ``__eq__`` lies is not data) run in **C**, a
  fork of W that never ran student code; it receives the values and reports on a pipe only it
  holds. Multiple-choice and numeric answers are graded this way.
* **Code tests** (the test calls the student's functions or classes) run in **T**, a fresh
  fork of W with a uid of its own. T starts its threads (R, and X for each test) *before* any
  student code exists and gives each a per-thread seccomp filter that refuses every system call
  on T's two pipes to W, which sit on fd numbers above RLIMIT_NOFILE so that no file a student
  process opens can share them (and ``pidfd_getfd``, ``process_vm_*``, ``ptrace``, ``io_uring``,
  ``close_range``). Thread R
  replays the student's cells (those S ran without crashing). The main thread, which never
  runs student code and is never filtered, then: disables the garbage collector (so no
  student ``__del__`` or ``gc.callbacks`` runs in it), refuses if student threads are still
  alive, restores ``builtins`` and every module dict, function and class that existed in W,
  the import system, trace/profile hooks and signal handlers (keeping every displaced object
  alive, so no finalizer runs), turns the audit hook to *test mode* (no frame objects at all:
  ``sys._getframe``, ``tb_frame``, ``gi_frame``/``cr_frame``/``ag_frame``; no
  ``settrace``/``setprofile``; no ``gc`` object walking; no ``ctypes``; no ``/proc/*/mem`` or
  ``/proc/*/fd``), tells W it is ready, and only then reads a fresh random nonce from W. W
  first kills every other process of T's uid. A thread X (filtered) compiles and runs the SOURCE
  test (never through IPython, so student input transformers, ``set_custom_exc``, excepthooks
  and traceback hooks are never on the path) and decides passed/failed with references bound
  before any student code ran. The main thread writes ``V <nonce> <status> <hex message>``.
  Student code, which only ever runs in filtered threads, cannot read the nonce, write on the
  pipe, reach the main thread's frames, or run code in the main thread. Consecutive code tests
  with no student cell between them share one T (one replay): before each of them the main
  thread restores everything again, refuses if student threads survived the previous test, and
  W kills every other process of T's uid and sends a new nonce; any irregularity ends the group
  and the remaining tests get a T each. (They share student objects, as in one Jupyter kernel.)

* Timeouts: W waits for everything with a deadline. A student cell that hangs (even ignoring
  SIGINT), ends its process (``os._exit``) or exhausts memory/processes is skipped: every
  process of the uid is killed, S is forked again and the cells before it are replayed
  (bounded by the per-notebook limit). A test that hangs or dies costs that test only.
* A test cell that defines functions or classes is also run in S (and replayed in T) after its
  verdict, outcome ignored, so later cells can use its helpers as in nbgrader.

What is guaranteed, and what is not
-----------------------------------
With root on Linux x86_64 (otherwise the missing means are listed in every result's warnings):
no network (each process has its own network namespace with only a private loopback, so the
host's 127.0.0.1 services, other students and the internet are unreachable; the private
loopback is deliberate: the HTTP assessment's tests start servers on it); no read access to
the course directory, the gradebook, the instructor's HOME or other students' scratch copies; nothing persists from one notebook or test to the next; time,
memory, processes, file size and output bytes are bounded; a crash or a hang costs only the
cell or test involved; printed text, stderr, input transformers, traceback/exception hooks,
monkeypatched checks, rebound builtins and lying ``__eq__`` change no verdict; a data test's
verdict depends only on the values; a code test's verdict cannot be written or read by
student code through the channel to W.

Not guaranteed: the test runs the student's code in the same process, so a code test's
outcome can still be influenced through objects the test itself receives from student code
(that is the point of testing it: e.g. a class that behaves differently when it detects the
checker). Audit hooks are not a security boundary in general (PEP 578); here they only back
up the OS layers (seccomp, uid, namespaces, non-dumpable). A bug in CPython that lets Python
code corrupt memory would defeat the in-process parts. Semantics that differ from a kernel:
student code runs in a thread in T (not the main thread), so it cannot install signal
handlers there, and ``checks.time_limit`` (SIGALRM) does not cut a slow answer short inside a
code test: the per-test timeout does (status ``timeout``, a generic message). A notebook that
leaves threads running gets its code tests refused (status ``error``, with the reason). Test
cells run in their own processes, so names they assign are not visible to later cells (those
that define functions or classes are also run in S). Without root, namespaces or seccomp the
corresponding guarantees do not hold, and every result's warnings say which.
"""

from __future__ import annotations

import _thread
import builtins
import gc
import itertools
import json
import operator
import os
import secrets
import select
import signal
import sys
import threading
import time
import types

# captured at import, in the worker, before any student code exists anywhere
_write, _read, _fork, _exit, _close, _pipe, _waitpid, _kill = (
    os.write, os.read, os.fork, os._exit, os.close, os.pipe, os.waitpid, os.kill)
_monotonic, _sleep, _dumps, _loads = time.monotonic, time.sleep, json.dumps, json.loads
_compile, _exec, _type, _str, _len, _isinstance = compile, exec, type, str, len, isinstance
_BaseException, _AssertionError, _tuple, _bytes = BaseException, AssertionError, tuple, bytes
_start_thread, _allocate_lock, _thread_count = _thread.start_new_thread, _thread.allocate_lock, _thread._count
_gc_disable, _gc_freeze, _sys_audit, _add_audit_hook = gc.disable, gc.freeze, sys.audit, sys.addaudithook
_str_encode, _hex, _dict_items, _dict_values = str.encode, bytes.hex, dict.items, dict.values
_object_setattr = object.__setattr__
_is_not, _repeat, _map, _any = operator.is_not, itertools.repeat, map, any


def _hex(data: bytes, _h=bytes.hex, _e=str.encode) -> bytes:
    return _e(_h(data), "ascii")

MAX_LINE = 1 << 20
SECRET_FDS = (1000, 1001)   # T's channel to the worker; RLIMIT_NOFILE stays below (see Limits.open_files)
MAX_MESSAGE = 600
TEST_MODE_EVENT = "course.grading.test_mode"

# ------------------------------------------------------------------------------------------------
# plain data: what may cross from the student process to a clean test process


class NotPlain(Exception):
    pass


def encode_value(value, budget: list[int] | None = None, depth: int = 0):
    """Tagged JSON for plain data (exact types only); raises NotPlain otherwise."""
    budget = budget if budget is not None else [200_000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 50:
        raise NotPlain("too large")
    t = _type(value)
    if value is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": value}
    if t is int:
        return {"t": "int", "v": int.__repr__(value)}
    if t is float:
        return {"t": "float", "v": float.__repr__(value)}
    if t is str or t is bytes:
        budget[0] -= _len(value) // 64
        if budget[0] < 0:
            raise NotPlain("too large")
        return {"t": "str", "v": str.__str__(value)} if t is str else {"t": "bytes", "v": bytes.hex(value)}
    if t in (list, tuple, set, frozenset):
        items = []
        for x in t.__iter__(value):
            items.append(encode_value(x, budget, depth + 1))
        return {"t": t.__name__, "v": items}
    if t is dict:
        return {"t": "dict", "v": [[encode_value(k, budget, depth + 1), encode_value(v, budget, depth + 1)]
                                   for k, v in dict.items(value)]}
    raise NotPlain(t.__name__)


def decode_value(d):
    t, v = d["t"], d.get("v")
    if t == "none":
        return None
    if t == "bool":
        return bool(v)
    if t == "int":
        return int(v)
    if t == "float":
        return float(v)
    if t == "str":
        return str(v)
    if t == "bytes":
        return bytes.fromhex(v)
    if t in ("list", "tuple", "set", "frozenset"):
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](decode_value(x) for x in v)
    if t == "dict":
        return {decode_value(k): decode_value(x) for k, x in v}
    raise ValueError(t)


# ------------------------------------------------------------------------------------------------
# the pristine interpreter, captured in the worker before any fork


class Pristine:
    """Module dicts, functions, classes and hooks as they were before any student code."""

    def __init__(self) -> None:
        self.modules = []
        self.functions = []
        self.classes = []
        for name, mod in list(sys.modules.items()):
            if not _isinstance(mod, types.ModuleType) or name in ("builtins", "__main__"):
                continue
            d = mod.__dict__
            items = _tuple(d.items())
            self.modules.append((name, mod, d, _type(mod), items, _tuple(d.keys()), _tuple(d.values())))
            for v in list(d.values()):
                if _type(v) is types.FunctionType and getattr(v, "__module__", None) == name:
                    self.functions.append((v, v.__code__, v.__defaults__, v.__kwdefaults__))
                elif _isinstance(v, type) and getattr(v, "__module__", None) == name:
                    try:
                        items = _tuple(v.__dict__.items())
                        self.classes.append((v, items, _tuple(k for k, _ in items), _tuple(x for _, x in items)))
                    except Exception:
                        pass
        self.module_names = frozenset(n for n, *_ in self.modules)
        # functions that existed before any student code: their __code__ may not be replaced
        self.function_ids = frozenset(id(f) for f, *_ in self.functions)
        self.lists = (("meta_path", sys.meta_path, _tuple(sys.meta_path)),
                      ("path_hooks", sys.path_hooks, _tuple(sys.path_hooks)), ("path", sys.path, _tuple(sys.path)))
        self.recursion = sys.getrecursionlimit()

    def restore(self, grave: list) -> list[str]:
        """Undo what student code rebound, keeping every displaced object alive in ``grave``
        (so that no student ``__del__`` runs here). Call only with the GC disabled."""
        tampered = []
        mods = sys.modules
        for name, mod, d, cls, items, keys, values in self.modules:
            # identity comparisons only, iterated in C: never calls a student's __eq__ or __hash__
            changed = _len(d) != _len(items) or _any(_map(_is_not, _map(d.get, keys, _repeat(grave)), values))
            if changed:
                grave.append(_tuple(_dict_values(d)))
                d.clear()
                d.update(items)
                if name.startswith("course_tools") or name in ("json", "random"):
                    tampered.append(name)
            if _type(mod) is not cls:
                try:
                    _object_setattr(mod, "__class__", cls)
                except (TypeError, PermissionError):
                    pass
                tampered.append(f"{name}.__class__")
            if mods.get(name) is not mod:
                grave.append(mods.get(name))
                mods[name] = mod
                tampered.append(f"sys.modules[{name!r}]")
        for name in [n for n in mods if n not in self.module_names and n not in ("builtins", "__main__")]:
            grave.append(mods.pop(name))   # imported by student code: the test imports its own fresh copy
        for f, code, defaults, kwdefaults in self.functions:
            if f.__defaults__ is not defaults or f.__kwdefaults__ is not kwdefaults:
                tampered.append(f"{f.__module__}.{f.__qualname__}")   # (__code__ cannot change: the audit hook)
                grave.append((f.__defaults__, f.__kwdefaults__))
                f.__defaults__, f.__kwdefaults__ = defaults, kwdefaults
        for cls, items, keys, values in self.classes:
            cur = cls.__dict__
            if _len(cur) == _len(items) and not _any(_map(_is_not, _map(cur.get, keys, _repeat(grave)), values)):
                continue
            want = dict(items)
            extra = [k for k in cur if k not in want]
            diff = [k for k, v in items if cur.get(k, grave) is not v and k not in ("__dict__", "__weakref__")]
            if not extra and not diff:
                continue
            tampered.append(f"{cls.__module__}.{cls.__qualname__}")
            for k in extra:
                try:
                    grave.append(cur[k])
                    delattr(cls, k)
                except (AttributeError, TypeError):
                    pass
            for k in diff:
                try:
                    grave.append(cur.get(k))
                    setattr(cls, k, want[k])
                except (AttributeError, TypeError):
                    pass
        for name, lst, items in self.lists:
            if getattr(sys, name) is not lst:
                grave.append(getattr(sys, name))
                setattr(sys, name, lst)
            if _tuple(lst) != items:
                grave.append(_tuple(lst))
                lst[:] = items
        grave.append(_tuple(_dict_values(sys.path_importer_cache)))
        sys.path_importer_cache.clear()
        grave.append((sys.gettrace(), sys.getprofile(), list(gc.callbacks)))
        if sys.gettrace() is not None:      # (this thread's; in test mode setting them is refused)
            sys.settrace(None)
        if sys.getprofile() is not None:
            sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)
        gc.callbacks[:] = []
        sys.setrecursionlimit(self.recursion)
        for which in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(which, 0)
        for s in range(1, signal.NSIG):
            if s in (signal.SIGKILL, signal.SIGSTOP):
                continue
            try:
                grave.append(signal.signal(s, signal.default_int_handler if s == signal.SIGINT else
                                           signal.SIG_IGN if s in (signal.SIGPIPE, signal.SIGXFSZ) else signal.SIG_DFL))
            except (OSError, ValueError, RuntimeError):
                pass
        return tampered


# ------------------------------------------------------------------------------------------------
# the audit hook installed in every sandboxed process before student code runs

_ALWAYS_BLOCKED = frozenset({
    "sys.addaudithook", "gc.get_referrers", "gc.get_referents", "gc.get_objects", "sys._current_frames",
    "sys._current_exceptions", "cpython.PyInterpreterState_Clear", "cpython._PySys_ClearAuditHooks"})
_TEST_BLOCKED = frozenset({"sys._getframe", "sys.settrace", "sys.setprofile", "gc.freeze", "gc.unfreeze",
                           "gc.collect"})
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})


def _make_audit_hook(protected: frozenset = frozenset()):
    """A hook whose state lives only in its closure; no reference to it is kept anywhere.
    ``protected``: ids of the functions whose ``__code__`` may not be replaced (those of the
    snapshot; libraries imported later, e.g. asyncio's ``types.coroutine``, may still do it)."""
    test_mode = [False]
    id_ = id
    blocked, test_blocked, frame_attrs = _ALWAYS_BLOCKED, _TEST_BLOCKED, _FRAME_ATTRS
    isinstance_, type_, str_, bytes_, perm = _isinstance, _type, _str, _bytes, PermissionError

    def hook(event, args):
        if event == TEST_MODE_EVENT:
            test_mode[0] = True
            return
        if event in blocked or event[:7] == "ctypes.":
            raise perm(f"{event} is not allowed while grading")
        if event == "object.__setattr__" and args:
            name = args[1] if len(args) > 1 else None
            if name == "__code__" and id_(args[0]) in protected:
                raise perm("replacing the __code__ of a library or grader function is not allowed while grading")
            obj = args[0]
            if isinstance_(obj, type) and str_(getattr(obj, "__module__", "")).startswith("course_tools.grading"):
                raise perm("changing the grader's classes is not allowed")
        if event == "open" and args:
            p = args[0]
            if type_(p) is bytes_:
                p = p.decode("utf-8", "replace")
            if type_(p) is str_ and p.startswith(("/proc/", "/dev/fd")) and (
                    "/mem" in p or "/fd" in p or "/task" in p or "/environ" in p):
                raise perm(f"opening {p} is not allowed while grading")
        if test_mode[0]:
            if event in test_blocked:
                raise perm(f"{event} is not allowed while a test runs")
            if event == "object.__getattr__" and len(args) > 1 and args[1] in frame_attrs:
                raise perm("frame introspection is not allowed while a test runs")

    return hook


# ------------------------------------------------------------------------------------------------
# test execution

def _learner_message(exc) -> str:
    """A message for an exception raised by a test, computed without running student code."""
    t = _type(exc)
    name = type.__dict__["__name__"].__get__(t)
    args = BaseException.__dict__["args"].__get__(exc)
    text = args[0] if _len(args) >= 1 and _type(args[0]) is str else ""
    text = str.__getitem__(text, slice(0, MAX_MESSAGE))
    if _isinstance(exc, AssertionError):
        return text or "A check in this test failed."
    if _isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return f"The test was stopped by {name} raised from your code."
    return f"{name}: {text}" if text else name


def _transform(src: str) -> str:
    if any(line.lstrip().startswith(("%", "!")) for line in src.splitlines()):
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(src)
    return src


def run_test_source(src: str, g: dict, gid: str, _compile=_compile, _exec=_exec, _Base=_BaseException,
                    _Assert=_AssertionError, _isinstance=_isinstance, _message=_learner_message,
                    _transform=_transform) -> tuple[str, str]:
    """(status, message). The decision uses only references bound when the worker started."""
    try:
        code = _compile(_transform(src), f"<test {gid}>", "exec")
    except _Base as exc:  # the source test cell itself is broken: an instructor problem
        return "error", f"the test cell could not be compiled ({type(exc).__name__}); tell your instructor"
    failure = None
    try:
        _exec(code, g)
    except _Base as exc:
        failure = exc
    if failure is None:
        return "passed", ""
    status = "failed" if _isinstance(failure, _Assert) else "error"
    try:
        message = _message(failure)
    except _Base:
        message = ""
    return status, message if _type(message) is str else ""


def _send(fd: int, obj) -> None:
    data = (_dumps(obj, ensure_ascii=True) + "\n").encode()
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        view = view[n:]


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = _write(fd, data)
        data = data[n:]


# ------------------------------------------------------------------------------------------------
# the worker process

class Worker:
    def __init__(self, hello: dict):
        self.warnings: list[str] = []
        self.caps = hello.get("caps", {})
        self.uid_ok = bool(self.caps.get("setuid"))
        self.mountns = bool(self.caps.get("mountns"))
        self.netns = bool(self.caps.get("netns"))   # each graded process gets its own network namespace
        from course_tools.grading import sandbox
        self.sandbox = sandbox
        self.seccomp = sandbox.seccomp_available()
        if not self.seccomp:
            self.warnings.append("NO seccomp (needs Linux x86_64): a deliberate attack written into a notebook "
                                 "could forge the verdict of a test that calls student code")
        if self.mountns:
            self.warnings += sandbox.hide_paths(list(hello.get("hide", [])), list(hello.get("keep", [])))
            try:
                sandbox.private_worker_tmp()
            except OSError as exc:
                self.warnings.append(f"could not give the worker a private /tmp: {exc}")
        if self.uid_ok:
            self.warnings += _unreadable_for_others([sys.base_prefix, sys.prefix, *sys.path])
        import tempfile
        self.ipdir = tempfile.mkdtemp(prefix="course-grade-ipython-")
        os.environ["IPYTHONDIR"] = self.ipdir
        os.environ["MPLBACKEND"] = "Agg"
        for m in ["course_tools.grading.checks", *hello.get("preload", [])]:
            try:
                __import__(m)
            except Exception as exc:  # a test import that fails will fail its test, with a message
                self.warnings.append(f"could not preload {m}: {type(exc).__name__}: {exc}")
        from traitlets.config import Config
        from IPython.core.interactiveshell import InteractiveShell
        cfg = Config()
        cfg.HistoryManager.enabled = False
        cfg.InteractiveShell.colors = "NoColor"
        cfg.InteractiveShell.autoindent = False
        self.shell = InteractiveShell.instance(config=cfg)
        self.user_ns0 = dict(self.shell.user_ns)
        self.cgroups_ok = bool(self.caps.get("cgroups"))
        self.debug = bool(os.environ.get("COURSE_GRADE_DEBUG"))   # T's stderr goes to the worker's stderr
        if threading.active_count() != 1:
            self.warnings.append(f"worker has {threading.active_count()} threads before forking")
        self._self_test(int(hello.get("probe_uid", 0)) or None)
        self.pristine = Pristine()

    def _probe(self, uid: int | None) -> str:
        """Fork a child through the whole sandbox set-up; "" if it worked, else the error."""
        from course_tools.grading.sandbox import Limits
        r, wfd = _pipe()
        pid = _fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                _close(r)
                devnull = os.open(os.devnull, os.O_WRONLY)
                self.child_common([wfd, devnull], devnull, uid, Limits(), None, 5.0)
                _write(wfd, b"ok")
            except BaseException as exc:
                _write(wfd, f"{type(exc).__name__}: {exc}".encode()[:400])
            finally:
                _exit(0)
        _close(wfd)
        data = b""
        while True:
            chunk = _read(r, 4096)
            if not chunk:
                break
            data += chunk
        _close(r)
        _waitpid(pid, 0)
        if uid is not None and self.uid_ok:
            self.sandbox.kill_uid(uid)
        return "" if data == b"ok" else (data.decode("utf-8", "replace") or "the set-up process died")

    def _self_test(self, uid: int | None) -> None:
        """Check, once, that each isolation means works here; drop (and say so) the ones that do not."""
        for attr, what in (("netns", "a network namespace per process"), ("mountns", "a private /tmp per process"),
                           ("uid_ok", "a uid of its own per notebook")):
            err = self._probe(uid)
            if not err:
                return
            if getattr(self, attr):
                setattr(self, attr, False)
                self.warnings.append(f"{what} failed here ({err}); grading continues WITHOUT it")
        err = self._probe(uid)
        if err:
            self.warnings.append(f"the sandbox set-up fails here ({err}); grading will report errors")

    def child_common(self, keep: list[int], out_fd: int, uid: int | None, limits, cg, cpu: float,
                     network: bool = True) -> None:
        """In a freshly forked child: fds, private /tmp, cgroup, rlimits, uid. Irreversible."""
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep_set = set(keep) | {0, 1, 2}
        for fd in range(3, 1 << 11):
            if fd not in keep_set:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.mountns:
            self.sandbox.private_tmp(limits.tmp_size)
        if self.netns and network:   # else: stays in the worker's namespace, where no interface is even up
            self.sandbox.private_network()
        if cg is not None:
            cg.add_self()
        self.sandbox.enter_sandbox(uid if self.uid_ok else None, limits, cpu_seconds=cpu)

    @staticmethod
    def env(home: str) -> None:
        keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        os.environ.clear()
        os.environ.update(keep)
        os.environ.update({"HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"), "TMPDIR": "/tmp",
                           "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                           "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})

    def prepare_scratch(self, scratch: str, req: dict) -> str:
        """The scratch copy: only this student's notebook, and a throwaway HOME. Returns HOME."""
        home = os.path.join(scratch, "home")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(scratch, os.path.basename(req.get("filename", "notebook.ipynb"))), "w") as f:
            f.write(req.get("raw", ""))
        os.chdir(scratch)
        self.env(home)
        return home

    def grade(self, req: dict) -> dict:
        from course_tools.grading.sandbox import Limits
        return NotebookRun(self, req, Limits.from_dict(req.get("limits", {}))).run()

    def serve(self, rfile, wfd: int) -> None:
        _send(wfd, {"ready": True, "warnings": self.warnings, "pid": os.getpid()})
        for line in rfile:
            if not line.strip():
                continue
            req = _loads(line)
            if req.get("op") == "exit":
                break
            try:
                resp = self.grade(req)
            except Exception as exc:  # report, never die silently
                import traceback
                resp = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            _send(wfd, resp)
            self.sandbox.reap()


def _unreadable_for_others(paths: list[str]) -> list[str]:
    """Python and the package must be readable by the sandbox's unprivileged uid; say so if not."""
    import stat
    bad = []
    for p in paths:
        if not p or not os.path.isdir(p):
            continue
        parts = os.path.abspath(p).split(os.sep)
        for k in range(2, len(parts) + 1):
            d = os.sep.join(parts[:k]) or os.sep
            try:
                mode = os.stat(d).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                bad.append(f"{d} is not searchable by other users, so graded code cannot import from {p}: "
                           "make it world-readable (chmod o+rx) or grade with --no-isolation")
                break
    return sorted(set(bad))


class StudentProcess:
    """S: the forked, sandboxed process that runs the student's cells on request."""

    def __init__(self, run: "NotebookRun"):
        self.run = run
        w = run.worker
        cmd_r, self.cmd_w = _pipe()
        self.res_r, res_w = _pipe()
        self.out_r, out_w = _pipe()
        self.buf = b""
        self.dead = False
        pid = _fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 70
            try:
                for fd in (self.cmd_w, self.res_r, self.out_r):
                    _close(fd)
                w.child_common([cmd_r, res_w, out_w], out_w, run.uid, run.limits, run.cg, run.limits.notebook_timeout)
                _close(out_w)
                _StudentLoop(w, run.req, run.scratch, cmd_r, res_w).serve()
                code = 0
            except BaseException:
                try:
                    import traceback
                    traceback.print_exc()
                except BaseException:
                    pass
            _exit(code)
        self.pid = pid
        for fd in (cmd_r, res_w, out_w):
            _close(fd)
        os.set_blocking(self.res_r, False)
        os.set_blocking(self.out_r, False)

    def send(self, obj) -> bool:
        try:
            _send(self.cmd_w, obj)
            return True
        except OSError:
            self.dead = True
            return False

    def alive(self) -> bool:
        if self.dead:
            return False
        try:
            p, _ = _waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            p = self.pid
        if p:
            self.dead = True
        return not self.dead

    def wait_for(self, pred, timeout: float):
        """Read result lines until ``pred(msg)``; returns the msg, "timeout" or "died"."""
        deadline = _monotonic() + timeout
        next_check = 0.0
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    msg = _loads(line)
                except ValueError:
                    self.run.noise += 1
                    continue
                if _isinstance(msg, dict) and pred(msg):
                    return msg
                self.run.noise += 1
            now = _monotonic()
            if now > deadline:
                return "timeout"
            if now > next_check:
                if not self.alive():
                    self.drain(0.05)
                    if b"\n" not in self.buf:
                        return "died"
                    continue
                next_check = now + 0.05
            try:
                ready, _, _ = select.select([self.res_r, self.out_r], [], [], min(0.05, max(0.0, deadline - now)))
            except InterruptedError:
                continue
            self._pump(ready)

    def _pump(self, ready) -> None:
        if self.out_r in ready:
            self.run.output(self.out_r)
        if self.res_r in ready:
            try:
                chunk = _read(self.res_r, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                self.buf += chunk
                if _len(self.buf) > MAX_LINE:
                    self.buf = b""
                    self.run.noise += 1

    def drain(self, seconds: float) -> None:
        end = _monotonic() + seconds
        while _monotonic() < end:
            ready, _, _ = select.select([self.res_r, self.out_r], [], [], 0.01)
            if not ready:
                return
            self._pump(ready)

    def close(self) -> None:
        for fd in (self.cmd_w, self.res_r, self.out_r):
            try:
                _close(fd)
            except OSError:
                pass


class _StudentLoop:  # pragma: no cover - runs in S
    """S's request loop. It holds nothing secret: S decides no verdict."""

    def __init__(self, w: Worker, req: dict, scratch: str, cmd_r: int, res_w: int):
        w.prepare_scratch(scratch, req)
        self.shell = w.shell
        self.shell.user_ns.clear()
        self.shell.user_ns.update(w.user_ns0)
        self.builtins = _tuple(builtins.__dict__.items())
        self.cmd_r, self.res_w, self.buf = cmd_r, res_w, b""
        _add_audit_hook(_make_audit_hook(w.pristine.function_ids))

    def _restore_builtins(self) -> list[str]:
        """Student code that rebinds builtins would break this loop too: undo it after each cell."""
        bd, changed = builtins.__dict__, []
        want = dict(self.builtins)
        for k in [k for k in bd if k not in want]:
            changed.append(f"builtins.{k}")
        for k, v in self.builtins:
            if bd.get(k, want) is not v:
                changed.append(f"builtins.{k}")
        if changed:
            bd.clear()
            bd.update(self.builtins)
        return changed[:10]

    def serve(self) -> None:
        shell = self.shell
        while True:
            while b"\n" not in self.buf:
                chunk = _read(self.cmd_r, 65536)
                if not chunk:
                    _exit(0)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = _loads(line)
            op = msg["op"]
            if op == "run":
                err = None
                try:
                    r = shell.run_cell(msg["source"], store_history=False)
                    err = None if r.success else "error"
                except BaseException as exc:
                    err = type(exc).__name__
                changed = self._restore_builtins()
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except BaseException:
                    pass
                _send(self.res_w, {"i": msg["i"], "done": True, "error": err, "tampered": changed})
            elif op == "values":
                vals = {}
                for name in msg["names"]:
                    if name not in shell.user_ns:
                        vals[name] = {"t": "undefined"}
                        continue
                    try:
                        vals[name] = encode_value(shell.user_ns[name])
                    except BaseException:
                        vals[name] = {"t": "opaque"}
                _send(self.res_w, {"i": msg["i"], "values": vals})
            elif op == "exit":
                _exit(0)


# ------------------------------------------------------------------------------------------------
# T: one code test, in a fresh fork of the worker

def _test_process(w: Worker, req: dict, scratch: str, replay: list[str], tests: list[tuple[str, str]],  # pragma: no cover
                  cmd_r: int, res_w: int, timeout: float, replay_timeout: float) -> None:
    """The main thread of T: replay once, then run ``tests`` (consecutive code tests with nothing of
    the student's between them) one after the other, each in its own filtered thread and with its
    own nonce. Never calls anything student code could have replaced before restoring it."""
    sb = w.sandbox
    prog = sb.fd_guard_program([cmd_r, res_w]) if w.seccomp else None
    install = sb.install_seccomp
    w.prepare_scratch(scratch, req)
    shell, pristine, ns0 = w.shell, w.pristine, w.user_ns0
    ns = shell.user_ns
    ns.clear()
    ns.update(ns0)
    restore = pristine.restore
    wd = globals()
    wd_items = _tuple(wd.items())
    bd = builtins.__dict__
    bd_items = _tuple(bd.items())
    sysd = sys.__dict__
    sys_items = _tuple(sysd.items())
    grave: list = []
    grave_append = grave.append
    gc_disable, tuple_, dict_values = _gc_disable, _tuple, _dict_values     # locals: used before globals are restored
    wd_clear, wd_update, bd_clear, bd_update, sys_clear, sys_update = (
        wd.clear, wd.update, bd.clear, bd.update, sysd.clear, sysd.update)
    n = _len(tests)
    ks = _tuple(range(n))
    locks = [_allocate_lock() for _ in range(3 + 3 * n)]
    for lock in locks:
        lock.acquire()
    r_ready, r_go, r_done = locks[:3]
    flags: list = []

    def replay_thread():
        flags.append(prog is not None and install(prog))
        r_ready.release()
        r_go.acquire()
        for cell_source in replay:
            try:
                shell.run_cell(cell_source, store_history=False)
            except BaseException:
                pass
            bd_clear(), bd_update(bd_items)    # as in S: rebound builtins are undone after each cell
        r_done.release()

    def make_test_thread(ready, go, done, box):
        def test_thread():
            flags.append(prog is not None and install(prog))
            ready.release()
            go.acquire()
            src, g, test_id = box[0]
            box.append(run_test_source(src, g, test_id))
            done.release()
        return test_thread

    boxes = [[] for _ in range(n)]
    _start_thread(replay_thread, ())
    for k in range(n):
        _start_thread(make_test_thread(*locks[3 + 3 * k: 6 + 3 * k], boxes[k]), ())
    r_ready.acquire()
    for k in range(n):
        locks[3 + 3 * k].acquire()
    sealed = _len(flags) == n + 1 and all(f is True for f in flags)
    _add_audit_hook(_make_audit_hook(w.pristine.function_ids))
    r_go.release()                         # student code starts running, in the filtered thread R
    finished = r_done.acquire(True, max(0.1, replay_timeout))
    for k in ks:
        # ---- no student code may run in this thread from here on; until the globals are restored,
        # ---- only locals captured above are used (student code may have rebound this module's globals)
        gc_disable()
        grave_append((tuple_(dict_values(wd)), tuple_(dict_values(bd)), tuple_(dict_values(sysd))))
        wd_clear(), wd_update(wd_items), bd_clear(), bd_update(bd_items), sys_clear(), sys_update(sys_items)
        deadline = _monotonic() + 1.0
        while _thread_count() > n - k and _monotonic() < deadline:   # only the test threads still to run
            _sleep(0.002)
        threads_left = _thread_count() - (n - k)
        tampered = restore(grave)
        g = {key: v for key, v in _dict_items(ns) if _type(key) is _str}
        for key in [key for key in g if key in bd and g[key] is not bd[key] and not key.startswith("_")]:
            if g[key] is not ns0.get(key, g):
                tampered.append(f"global {key} (it shadows a builtin)")
            grave_append(g.pop(key))
        g["__builtins__"] = builtins
        g["__name__"] = "__main__"
        grave_append(g)                    # kept alive: no student __del__ may run in this thread
        _sys_audit(TEST_MODE_EVENT)
        if not finished:
            _write_all(res_w, b"refuse " + _hex(_str_encode("replaying your cells took too long", "utf-8")) + b"\n")
            _exit(0)
        if threads_left > 0:
            _write_all(res_w, b"refuse " + _hex(_str_encode(
                f"your code left {threads_left} thread(s) running; tests cannot run safely next to them (join "
                "your threads before the cell or function ends)", "utf-8")) + b"\n")
            _exit(0)
        _write_all(res_w, b"ready " + (b"1" if sealed else b"0") + b" " +
                   _hex(_str_encode("\n".join(tampered[:20]), "utf-8", "replace")) + b"\n")
        nonce = b""
        while b"\n" not in nonce and _len(nonce) < 200:
            chunk = _read(cmd_r, 256)
            if not chunk:
                _exit(0)
            nonce += chunk
        nonce = nonce.split(b"\n", 1)[0]
        source, gid = tests[k]
        box = boxes[k]
        box.append((source, g, gid))
        locks[4 + 3 * k].release()         # the test starts, in its own filtered thread
        done = locks[5 + 3 * k].acquire(True, max(0.1, timeout))
        # the test ran student code (in its own thread): restore the globals again before using any
        gc_disable()
        grave_append((tuple_(dict_values(wd)), tuple_(dict_values(bd)), tuple_(dict_values(sysd))))
        wd_clear(), wd_update(wd_items), bd_clear(), bd_update(bd_items), sys_clear(), sys_update(sys_items)
        if not done or _len(box) < 2:
            _write_all(res_w, b"V " + nonce + b" timeout " + b"\n")
            _exit(0)
        status, message = box[1]
        st = {"passed": b"passed", "failed": b"failed", "error": b"error"}.get(status, b"error") \
            if _type(status) is _str else b"error"
        msg = _str_encode(message, "utf-8", "replace") if _type(message) is _str else b""
        _write_all(res_w, b"V " + nonce + b" " + st + b" " + _hex(msg) + b"\n")
    _exit(0)


class NotebookRun:
    def __init__(self, worker: Worker, req: dict, limits):
        self.worker, self.req, self.limits = worker, req, limits
        self.uid = int(req["uid"])
        self.cells = req["cells"]
        self.results: dict[int, dict] = {}
        self.warnings: list[str] = []
        self.noise = 0
        self.out_total = 0
        self.cg = None
        self.sessions: set[int] = set()
        self.skip: set[int] = set()
        self.temp_dirs: list[str] = []
        self.deadline = _monotonic() + limits.notebook_timeout
        self.scratch = self._scratch(self.uid)

    def _scratch(self, uid: int) -> str:
        if self.worker.mountns:
            return "/tmp/grade"          # inside the process's private /tmp
        import tempfile                  # no mount namespace: a scratch dir we remove ourselves
        d = tempfile.mkdtemp(prefix="course-grade-")
        if self.worker.uid_ok:
            os.chown(d, uid, uid)
        self.temp_dirs.append(d)
        return d

    def output(self, fd: int) -> None:
        try:
            chunk = _read(fd, 65536)
        except BlockingIOError:
            return
        self.out_total += _len(chunk)   # counted, never stored: nothing printed decides or shows anything
        if self.worker.debug and self.out_total < 1 << 16:
            os.write(2, chunk)

    def note(self, text: str) -> None:
        if text not in self.warnings and _len(self.warnings) < 40:
            self.warnings.append(text)

    # ---- lifecycle ----
    def kill_all(self, uids: tuple[int, ...] | None = None) -> None:
        """Every process the student started is gone when this returns (daemons and fork bombs too)."""
        sb = self.worker.sandbox
        if os.getpid() == 1:  # PID 1 of our own PID namespace: everything else in it is the student's
            for _ in range(200):
                try:
                    _kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                sb.reap()
                if not [p for p in os.listdir("/proc") if p.isdigit() and p != "1"]:
                    break
                _sleep(0.005)
        if self.worker.uid_ok:
            for uid in uids or (self.uid,):
                sb.kill_uid(uid)
        if self.cg is not None:
            self.cg.kill()
        for sid in list(self.sessions):
            sb.kill_session(sid)
        sb.reap()

    def run(self) -> dict:
        sb = self.worker.sandbox
        t0 = _monotonic()
        if self.worker.cgroups_ok:
            try:
                self.cg = sb.CGroups(f"{os.getpid()}-{self.uid}", self.limits)
            except OSError as exc:
                self.note(f"no cgroup for this notebook: {exc}")
        restarts = 0
        try:
            while True:
                restart = self._pass()
                if not restart or _monotonic() > self.deadline:
                    break
                restarts += 1
        finally:
            self.kill_all()
            if self.cg is not None:
                self.cg.remove()
            import shutil
            for d in self.temp_dirs:
                shutil.rmtree(d, ignore_errors=True)
        for i, cell in enumerate(self.cells):
            if cell["kind"] == "test" and i not in self.results:
                self.results[i] = {"status": "timeout", "message":
                                   f"Not run: the notebook used up its {self.limits.notebook_timeout:g} s time limit "
                                   "before this test (look for slow or endless loops)."}
        if self.noise:
            self.note(f"{self.noise} unexpected message(s) from the student process were ignored")
        if self.out_total > self.limits.output:
            self.note(f"the notebook printed {self.out_total} bytes; output over {self.limits.output} bytes is "
                      "discarded (output is never stored)")
        return {"results": {str(k): v for k, v in self.results.items()}, "warnings": self.warnings,
                "seconds": round(_monotonic() - t0, 3), "restarts": restarts}

    def _pass(self) -> bool:
        """Run the cells once in a fresh S; return True if S had to be restarted."""
        S = StudentProcess(self)
        self.sessions.add(S.pid)
        try:
            for i, cell in enumerate(self.cells):
                if i in self.skip:
                    continue
                left = self.deadline - _monotonic()
                if left <= 0:
                    return False
                if cell["kind"] == "test":
                    if i not in self.results and not self._test(S, i, cell):
                        return True
                    if cell.get("defines"):
                        if self._code(S, i, cell["source"], min(self.limits.cell_timeout, left)) != "ok":
                            self.skip.add(i)
                            return True
                    continue
                r = self._code(S, i, cell["source"], min(self.limits.cell_timeout, left))
                if r != "ok":
                    self.skip.add(i)
                    label = cell.get("label") or f"code cell {i + 1}"
                    self.note(f"{label}: " + (f"stopped after {self.limits.cell_timeout:g} s (endless loop?)"
                                              if r == "timeout" else "ended the Python process (exit, crash or "
                                              "out of memory)") + "; it was skipped and the cells before it run again")
                    return True
            return False
        finally:
            S.send({"op": "exit"})
            S.close()
            self.kill_all()

    def _code(self, S: StudentProcess, i: int, source: str, timeout: float) -> str:
        if not S.send({"op": "run", "i": i, "source": source}):
            return "died"
        r = S.wait_for(lambda m: m.get("i") == i and m.get("done"), timeout)
        if _isinstance(r, str):
            return r
        for t in r.get("tampered") or []:
            self.note(f"student code rebinds {_str(t)[:60]}; undone after each cell")
        return "ok"

    def _test(self, S: StudentProcess, i: int, cell: dict) -> bool:
        """Decide test ``i`` and the tests right after it (no student cell in between: S's state is
        the same for all of them). Returns False if S must be restarted."""
        group = [i]
        j = i + 1
        while (j < _len(self.cells) and j not in self.skip and j not in self.results
               and self.cells[j]["kind"] == "test" and not self.cells[j - 1].get("defines")):
            group.append(j)
            j += 1
        timeout = min(self.limits.cell_timeout, max(0.1, self.deadline - _monotonic()))
        code_tests = []
        for t in group:
            kind = self._data_test(S, t, self.cells[t], timeout)
            if kind == "dead":
                return False
            if kind == "code":
                code_tests.append((t, self.cells[t]))
        if code_tests:
            self.results.update(self._isolated_tests(code_tests, timeout))
        return True

    def _data_test(self, S: StudentProcess, i: int, cell: dict, timeout: float) -> str:
        """Grade test ``i`` in C if it only reads plain data from the notebook: "done"; else "code"
        (or "dead" if S stopped answering)."""
        free = cell.get("free")
        if free is None:
            return "code"
        if not S.send({"op": "values", "i": i, "names": free}):
            return "dead"
        r = S.wait_for(lambda m: m.get("i") == i and "values" in m, min(timeout, 10.0))
        if _isinstance(r, str):
            self.results[i] = {"status": "error", "message": "Your notebook stopped responding before this test."}
            return "dead"
        vals = r.get("values") if _isinstance(r.get("values"), dict) else {}
        if not all(_isinstance(vals.get(n), dict) and vals[n].get("t") != "opaque" for n in free):
            return "code"
        try:
            decoded = {n: decode_value(vals[n]) for n in free if vals[n].get("t") != "undefined"}
        except Exception:
            return "code"
        self.results[i] = self._clean_test(cell, decoded, timeout)
        return "done"

    # ---- C: a data test ----
    def _clean_test(self, cell: dict, values: dict, timeout: float) -> dict:
        """Run a data-only test in C, a fresh fork of the worker that never ran student code."""
        w = self.worker
        vr, vw = _pipe()
        pid = _fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                _close(vr)
                devnull = os.open(os.devnull, os.O_WRONLY)
                w.child_common([vw, devnull], devnull, self.uid, self.limits, self.cg, timeout, network=False)
                w.env("/tmp")
                _add_audit_hook(_make_audit_hook(w.pristine.function_ids))
                g = {"__builtins__": builtins, "__name__": "__main__", **values}
                status, message = run_test_source(cell["source"], g, cell.get("grade_id", ""))
                _send(vw, {"status": status, "message": message})
            finally:
                _exit(0)
        _close(vw)
        buf = self._read_until(vr, pid, timeout, lambda b: b"\n" in b)
        _close(vr)
        try:
            _waitpid(pid, 0)
        except ChildProcessError:
            pass
        if buf is None:
            return {"status": "timeout", "message": f"The test did not finish within {timeout:g} s."}
        try:
            msg = _loads(buf.split(b"\n", 1)[0])
            return {"status": msg["status"], "message": _str(msg.get("message", ""))[:MAX_MESSAGE]}
        except (ValueError, KeyError, TypeError):
            return {"status": "error", "message": "The test process ended without a verdict (out of memory?)."}

    def _read_until(self, fd: int, pid: int, timeout: float, done) -> bytes | None:
        """Read from ``fd`` until ``done(buf)``, EOF (returns buf) or timeout (kills ``pid``, returns None)."""
        buf = b""
        deadline = _monotonic() + timeout
        try:
            while True:
                left = deadline - _monotonic()
                if left <= 0:
                    _kill(pid, signal.SIGKILL)
                    return None
                ready, _, _ = select.select([fd], [], [], min(0.05, left))
                if ready:
                    chunk = _read(fd, 65536)
                    if not chunk:
                        return buf
                    buf += chunk
                    if done(buf) or _len(buf) > MAX_LINE:
                        return buf
        except OSError:
            return buf

    # ---- T: a code test ----
    def _isolated_tests(self, items: list[tuple[int, dict]], timeout: float) -> dict[int, dict]:
        """Code tests ``items`` (consecutive, nothing of the student's between them) in one T.
        Anything irregular ends the group; the tests left each get a T of their own."""
        w = self.worker
        first = items[0][0]
        replay = [c["source"] for j, c in enumerate(self.cells[:first]) if j not in self.skip and
                  (c["kind"] == "code" or (c["kind"] == "test" and c.get("defines")))]
        uid_t = self.uid + 1 + first % 999
        scratch = self._scratch(uid_t)
        replay_budget = max(1.0, min(self.deadline - _monotonic(), self.limits.cell_timeout * (1 + _len(replay))))
        tests = [(cell["source"], cell.get("grade_id", "")) for _, cell in items]
        cmd_r, cmd_w = _pipe()
        res_r, res_w = _pipe()
        pid = _fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                for fd in (cmd_w, res_r):
                    _close(fd)
                # the channel lives on fds above RLIMIT_NOFILE: no file any student process opens (even
                # after exec) can get these numbers, which the seccomp filter guards
                os.dup2(cmd_r, SECRET_FDS[0], inheritable=False)
                os.dup2(res_w, SECRET_FDS[1], inheritable=False)
                _close(cmd_r)
                _close(res_w)
                out = os.dup(2) if w.debug else os.open(os.devnull, os.O_WRONLY)
                w.child_common([*SECRET_FDS, out], out, uid_t, self.limits, self.cg, self.limits.notebook_timeout)
                _test_process(w, self.req, scratch, replay, tests, *SECRET_FDS, timeout, replay_budget)
            except BaseException as exc:
                if w.debug:
                    os.write(2, f"test process failed: {type(exc).__name__}: {exc}\n".encode())
            finally:
                _exit(0)
        _close(cmd_r)
        _close(res_w)
        results: dict[int, dict] = {}
        rest: list[tuple[int, dict]] = []
        buf = b""
        died = ("The Python process ended before this test could run (exit(), os._exit(), a crash, or running out "
                "of memory or processes).")
        try:
            for k, (i, cell) in enumerate(items):
                line, buf, st = self._line(res_r, pid, buf, (replay_budget + timeout) if k == 0 else timeout + 2.0)
                if st != "ok":
                    results[i] = ({"status": "timeout", "message": "Replaying your cells before this test took too "
                                   "long."} if st == "timeout" else {"status": "error", "message": died})
                    rest = items[k + 1:]
                    break
                parts = line.split(b" ")
                if parts[0] == b"refuse" and _len(parts) > 1:
                    why = bytes.fromhex(parts[1].decode()).decode("utf-8", "replace")
                    for j, _ in items[k:]:
                        results[j] = {"status": "error", "message": why}
                    break
                if parts[0] != b"ready" or _len(parts) < 3:
                    results[i] = {"status": "error", "message": "The test process did not start correctly."}
                    rest = items[k + 1:]
                    break
                if parts[1] != b"1":
                    self.note("the test process could not seal its channel (seccomp); a deliberate attack could "
                              "forge code-test verdicts")
                for t in bytes.fromhex(parts[2].decode()).decode("utf-8", "replace").splitlines():
                    self.note(f"student code changed {t} before a test (restored for the test)")
                if w.uid_ok:   # nothing else of this uid may be alive when the nonce exists
                    self._kill_others(uid_t, pid)
                nonce = secrets.token_hex(16).encode()
                _write_all(cmd_w, nonce + b"\n")
                line, buf, st = self._line(res_r, pid, buf, timeout + 1.0)
                parts = line.split(b" ") if st == "ok" else []
                if _len(parts) < 3 or parts[0] != b"V" or parts[1] != nonce:
                    if st == "ok":
                        self.note("a forged or malformed test verdict was ignored")
                        results[i] = {"status": "error", "message": "The test's verdict could not be trusted."}
                    elif st == "timeout":
                        results[i] = {"status": "timeout", "message": f"The test did not finish within {timeout:g} "
                                      "s: look for an endless loop or a deadlock in your code."}
                    else:
                        results[i] = {"status": "error", "message": "The Python process ended while this test ran "
                                      "(exit(), os._exit(), a crash, or running out of memory or processes)."}
                    rest = items[k + 1:]
                    break
                if parts[2] == b"timeout":
                    results[i] = {"status": "timeout", "message": f"The test did not finish within {timeout:g} s: "
                                  "look for an endless loop or a deadlock in your code."}
                    rest = items[k + 1:]
                    break
                status = parts[2].decode()
                if status not in ("passed", "failed", "error"):
                    results[i] = {"status": "error", "message": "The test's verdict could not be read."}
                    rest = items[k + 1:]
                    break
                message = bytes.fromhex(parts[3].decode()).decode("utf-8", "replace") if _len(parts) > 3 else ""
                results[i] = {"status": status, "message": message[:MAX_MESSAGE]}
        except ValueError:
            for j, _ in items:
                results.setdefault(j, {"status": "error", "message": "The test's verdict could not be read."})
        finally:
            for fd in (cmd_w, res_r):
                try:
                    _close(fd)
                except OSError:
                    pass
            try:
                _kill(pid, signal.SIGKILL)
            except OSError:
                pass
            if w.uid_ok:
                w.sandbox.kill_uid(uid_t)
            try:
                _waitpid(pid, 0)
            except ChildProcessError:
                pass
        for item in rest:      # after an irregularity: one fresh T per remaining test
            if _monotonic() < self.deadline:
                results.update(self._isolated_tests([item], min(timeout, max(0.1, self.deadline - _monotonic()))))
        return results

    def _line(self, fd: int, pid: int, buf: bytes, timeout: float) -> tuple[bytes, bytes, str]:
        """The next line from ``fd``: (line, rest, "ok") or (b"", buf, "eof" | "timeout")."""
        if b"\n" not in buf:
            more = self._read_until(fd, pid, timeout, lambda b: b"\n" in b)
            if more is None:
                return b"", buf, "timeout"
            buf += more
            if b"\n" not in buf:
                return b"", buf, "eof"
        line, rest = buf.split(b"\n", 1)
        return line, rest, "ok"

    def _kill_others(self, uid: int, keep: int) -> None:
        sb = self.worker.sandbox
        for _ in range(100):
            others = [p for p in sb.pids_of_uid(uid) if p != keep]
            if not others:
                return
            sb.kill_pids(others)
            sb.reap()
            _sleep(0.002)


def main() -> int:
    # fd 1 is the protocol channel: keep a private copy, and send anything else printed to stderr
    proto = os.dup(1)
    os.dup2(2, 1)
    os.environ.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)   # a dead student process must not take the worker with it
    rfile = os.fdopen(0, "rb", buffering=0)
    line = rfile.readline()
    if not line:
        return 0
    worker = Worker(_loads(line))
    try:
        worker.serve(rfile, proto)
    finally:
        import shutil
        shutil.rmtree(worker.ipdir, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    # run the functions from the importable module, not from this __main__ copy (IPython
    # replaces sys.modules["__main__"] with the notebook's namespace)
    from course_tools.grading.worker import main as _main
    sys.exit(_main())
