"""The grading worker: a warm, sandboxed fork server that grades one notebook at a time.

``course autograde`` starts ``--jobs`` of these (``python -m course_tools.grading.worker``
inside ``unshare``, see :mod:`course_tools.grading.sandbox`) and sends each one a *plan* per
notebook over its stdin: the notebook's code cells in the student's order, with every test
and locked cell already restored from the SOURCE notebook by the trusted host process
(:mod:`course_tools.grading.plan`). Nothing here reads the course directory (it is hidden).

How one notebook is graded
--------------------------
The worker imported IPython and the modules the tests use once, at start-up, and never runs
student code itself. Per notebook it forks:

* **S, the student process**: fresh mount namespace with private ``/tmp`` (its scratch copy of
  the notebook and a throwaway ``HOME``/``IPYTHONDIR`` live there), a new cgroup, rlimits, a
  never-used uid, an audit hook, then an IPython ``InteractiveShell`` (the same cell
  transformations and magics as a Jupyter kernel, without ZMQ or kernel start-up) runs the
  student's cells one by one on request. IPython startup files are never loaded and anything
  written to a profile dies with the private ``/tmp``.
* **For each test cell**, the verdict is decided outside S's control wherever possible:

  - *data tests*: if every name the test reads from the notebook holds plain data (``str``,
    ``int``, ``float``, ``bool``, ``None``, ``bytes`` and lists/tuples/dicts/sets of those —
    checked with ``type(x) is ...``, so an object whose ``__eq__`` lies is not data), S only
    reports those *values*; the test itself runs in **C, a fresh fork of the worker** that never
    ran student code, and reports on a pipe only C holds. Student code cannot influence that
    verdict except by choosing the values (which is answering). Multiple-choice and numeric
    answers are graded this way.
  - *code tests* (the test calls the student's functions or classes): S forks **T** from its
    current state. Before the test runs, T restores a pristine interpreter surface captured in
    the worker before any student code existed: ``builtins``, every module dict that existed
    in the worker (undoing monkeypatches such as ``checks.check_choice = lambda *a: None``),
    functions' ``__code__``/defaults and class dicts of ``course_tools``, import hooks and
    ``sys.path``, ``sys.excepthook``/``displayhook``, trace and profile functions, signal
    handlers and timers; it drops names in the notebook namespace that shadow builtins. The
    test source is compiled by T itself (never through IPython, so input transformers,
    ``set_custom_exc``, ``sys.excepthook`` and traceback hooks installed by the student are never
    on the path), exceptions are caught by the wrapper, and the verdict is written on the result
    pipe tagged with a random nonce the worker generated for this test and sent only with it.
    Printed output is never read as a verdict, and stderr never fails a test.

* Timeouts: the worker waits for every cell/test with a deadline. A student cell that hangs
  (even ignoring SIGINT), kills its process (``os._exit``), or exhausts memory/processes is
  skipped: every process of the uid is killed, S is forked again and the cells before it are
  replayed (bounded by the per-notebook limit). A test that hangs or dies costs that test only.
* Test cells run in T/C, not in S; a test cell that *defines* names (not just imports) is also
  run in S afterwards, outcome ignored, so later cells can use its definitions as in nbgrader.

What is guaranteed, and what is not
-----------------------------------
Guaranteed (given a Linux kernel with the namespaces and root; otherwise see the warnings):
no network; no read access to the course directory, the gradebook, other students' scratch
copies or the instructor's HOME (hidden by tmpfs, and a private uid); nothing persists from one
notebook to the next (fresh fork, private tmpfs, all processes of the uid killed); time, memory,
processes, file size and output bytes are bounded; a crash or hang costs only the cell or test
involved; a data test's verdict cannot be forged; printed text, stderr, input transformers,
traceback/exception hooks and monkeypatched checks do not change any verdict.

Not guaranteed: a *code test* runs the student's code in the same process as the test (it has
to call it). The audit hook blocks the obvious tools (``ctypes``, ``gc`` referrer walking,
``/proc/*/mem``, new audit hooks) and T's memory cannot be read by other processes (not
dumpable), but student code that runs *during* the test can still walk Python frames
(``f_back``) or scan file descriptors to find the nonce and the result pipe and write a forged
"passed". That takes a deliberate attack on this grader (visible in the submitted notebook);
treat code-test scores as "not forgeable by accident or by common tricks", and spot-check
suspicious notebooks. Audit hooks are not a security boundary (PEP 578 says so); the OS
layers are.
"""

from __future__ import annotations

import ast
import builtins
import json
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
_BaseException = BaseException

MAX_LINE = 1 << 20
MAX_MESSAGE = 600

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
    if t is str:
        budget[0] -= _len(value) // 64
        return {"t": "str", "v": str.__str__(value)}
    if t is bytes:
        budget[0] -= _len(value) // 64
        return {"t": "bytes", "v": bytes.hex(value)}
    if t in (list, tuple, set, frozenset):
        items = list.__new__(list)
        for x in (t.__iter__(value)):
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
# the pristine interpreter surface, captured in the worker before any fork


class Pristine:
    def __init__(self) -> None:
        self.builtins = dict(builtins.__dict__)
        self.modules = {}
        for name, mod in list(sys.modules.items()):
            if _isinstance(mod, types.ModuleType) and name not in ("sys", "builtins", "__main__"):
                try:
                    self.modules[name] = (mod, dict(mod.__dict__))
                except Exception:
                    pass
        self.sys = {k: getattr(sys, k) for k in ("excepthook", "displayhook", "breakpointhook", "unraisablehook",
                                                    "stdin", "stdout", "stderr") if hasattr(sys, k)}
        self.lists = {"meta_path": list(sys.meta_path), "path_hooks": list(sys.path_hooks), "path": list(sys.path)}
        self.functions = []
        self.classes = []
        for name, (mod, d) in self.modules.items():
            if not name.startswith("course_tools"):
                continue
            for v in d.values():
                if _type(v) is types.FunctionType and getattr(v, "__module__", None) == name:
                    self.functions.append((v, v.__code__, v.__defaults__, v.__kwdefaults__))
                elif _isinstance(v, type) and getattr(v, "__module__", None) == name:
                    self.classes.append((v, dict(v.__dict__)))
        self.recursion = sys.getrecursionlimit()

    def restore(self) -> list[str]:
        """Undo what student code may have rebound. Returns what was found tampered with."""
        tampered = []
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)
        for s in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF):
            signal.setitimer({signal.SIGALRM: signal.ITIMER_REAL, signal.SIGVTALRM: signal.ITIMER_VIRTUAL,
                              signal.SIGPROF: signal.ITIMER_PROF}[s], 0)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP,
                  signal.SIGCHLD, signal.SIGPIPE, signal.SIGVTALRM, signal.SIGPROF, signal.SIGXFSZ):
            try:
                signal.signal(s, signal.default_int_handler if s == signal.SIGINT else
                              (signal.SIG_IGN if s in (signal.SIGPIPE, signal.SIGXFSZ) else signal.SIG_DFL))
            except (OSError, ValueError):
                pass
        sys.setrecursionlimit(self.recursion)
        bd = builtins.__dict__
        for k in [k for k in bd if k not in self.builtins]:
            del bd[k]
            tampered.append(f"builtins.{k}")
        for k, v in self.builtins.items():
            if bd.get(k, self) is not v:
                bd[k] = v
                tampered.append(f"builtins.{k}")
        for k, v in self.sys.items():
            if getattr(sys, k) is not v:
                setattr(sys, k, v)
        for k, v in self.lists.items():
            cur = getattr(sys, k)
            if _type(cur) is not list:
                setattr(sys, k, list(v))
            elif cur != v:
                cur[:] = v
        sys.path_importer_cache.clear()
        mods = sys.modules
        for name in [n for n in mods if n not in self.modules and n not in ("sys", "builtins", "__main__")]:
            del mods[name]   # imported by student code: the test imports its own fresh copy
        for name, (mod, snap) in self.modules.items():
            if mods.get(name) is not mod:
                mods[name] = mod
                tampered.append(f"sys.modules[{name!r}]")
            d = mod.__dict__
            if _len(d) != _len(snap) or any(d.get(k, self) is not v for k, v in snap.items()):
                if name.startswith("course_tools"):
                    tampered.append(name)
                for k in [k for k in d if k not in snap]:
                    del d[k]
                for k, v in snap.items():
                    if d.get(k, self) is not v:
                        d[k] = v
        for f, code, defaults, kwdefaults in self.functions:
            if f.__code__ is not code or f.__defaults__ is not defaults or f.__kwdefaults__ is not kwdefaults:
                tampered.append(f"{f.__module__}.{f.__qualname__}")
                f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults
        for cls, snap in self.classes:
            cur = cls.__dict__
            if _len(cur) != _len(snap) or any(cur.get(k, self) is not v for k, v in snap.items()):
                tampered.append(f"{cls.__module__}.{cls.__qualname__}")
                for k in [k for k in cur if k not in snap]:
                    try:
                        delattr(cls, k)
                    except (AttributeError, TypeError):
                        pass
                for k, v in snap.items():
                    if k in ("__dict__", "__weakref__"):
                        continue
                    if cur.get(k, self) is not v:
                        try:
                            setattr(cls, k, v)
                        except (AttributeError, TypeError):
                            pass
        return tampered


# ------------------------------------------------------------------------------------------------
# the audit hook installed in every sandboxed process before student code runs

_BLOCKED = frozenset({"sys.addaudithook", "gc.get_referrers", "gc.get_referents", "gc.get_objects",
                      "sys._current_frames", "sys._current_exceptions", "cpython.PyInterpreterState_Clear",
                      "cpython._PySys_ClearAuditHooks"})


def _audit(event, args):
    if event in _BLOCKED or event.startswith("ctypes."):
        raise PermissionError(f"{event} is not allowed while grading")
    if event == "open" and args:
        p = args[0]
        if _isinstance(p, bytes):
            p = p.decode("utf-8", "replace")
        if _isinstance(p, str) and p.startswith("/proc/") and (p.endswith("/mem") or "/mem" in p or "/fd" in p):
            raise PermissionError(f"opening {p} is not allowed while grading")


# ------------------------------------------------------------------------------------------------
# test execution (in T or C)

def _learner_message(exc) -> tuple[str, str]:
    """(status, message) for an exception raised by a test, without running student code."""
    t = _type(exc)
    name = type.__dict__["__name__"].__get__(t)
    args = BaseException.__dict__["args"].__get__(exc)
    text = args[0] if _len(args) >= 1 and _type(args[0]) is str else ""
    text = text[:MAX_MESSAGE]
    if _isinstance(exc, AssertionError):
        return "failed", text or "A check in this test failed."
    if _isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return "error", f"The test was stopped by {name} raised from your code."
    return "error", f"{name}: {text}" if text else name


def _transform(src: str) -> str:
    if any(line.lstrip().startswith(("%", "!")) for line in src.splitlines()):
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(src)
    return src


def run_test_source(src: str, g: dict, gid: str) -> tuple[str, str]:
    try:
        code = _compile(_transform(src), f"<test {gid}>", "exec")
    except _BaseException as exc:  # the source test cell itself is broken: an instructor problem
        return "error", f"the test cell could not be compiled ({type(exc).__name__}); tell your instructor"
    try:
        _exec(code, g)
    except _BaseException as exc:
        return _learner_message(exc)
    return "passed", ""


def _send(fd: int, obj) -> None:
    data = (_dumps(obj, ensure_ascii=True) + "\n").encode()
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        view = view[n:]


# ------------------------------------------------------------------------------------------------
# the worker process

class Worker:
    def __init__(self, hello: dict):
        self.warnings: list[str] = []
        self.caps = hello.get("caps", {})
        self.uid_ok = bool(self.caps.get("setuid"))
        self.mountns = bool(self.caps.get("mountns"))
        from course_tools.grading import sandbox
        self.sandbox = sandbox
        if self.mountns:
            self.warnings += sandbox.hide_paths(list(hello.get("hide", [])), list(hello.get("keep", [])))
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
        if threading.active_count() != 1:
            self.warnings.append(f"worker has {threading.active_count()} threads before forking")
        self.pristine = Pristine()

    # -- helpers -------------------------------------------------------------------------------
    def _child_common(self, keep: list[int], out_fd: int, uid: int | None, limits, cg, cpu: float) -> None:
        """In a freshly forked child: fds, private /tmp, cgroup, rlimits, uid. Never returns on failure."""
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep_set = set(keep) | {0, 1, 2}
        for fd in range(3, 1024):
            if fd not in keep_set:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.mountns:
            self.sandbox.private_tmp(limits.tmp_size)
        if cg is not None:
            cg.add_self()
        self.sandbox.enter_sandbox(uid if self.uid_ok else None, limits, cpu_seconds=cpu)

    def _env(self, home: str) -> None:
        keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        os.environ.clear()
        os.environ.update(keep)
        os.environ.update({"HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"), "TMPDIR": "/tmp",
                           "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                           "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})

    # -- one notebook --------------------------------------------------------------------------
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
                _close(self.cmd_w)
                _close(self.res_r)
                _close(self.out_r)
                w._child_common([cmd_r, res_w, out_w], out_w, run.uid, run.limits, run.cg, run.limits.notebook_timeout)
                _close(out_w)
                self._child_main(cmd_r, res_w)
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

    # ---- child side ----
    def _child_main(self, cmd_r: int, res_w: int) -> None:  # pragma: no cover - runs in the child
        run, w = self.run, self.run.worker
        scratch = run.scratch
        home = os.path.join(scratch, "home")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(scratch, os.path.basename(run.req.get("filename", "notebook.ipynb"))), "w") as f:
            f.write(run.req.get("raw", ""))
        os.chdir(scratch)
        w._env(home)
        shell = w.shell
        shell.user_ns.clear()
        shell.user_ns.update(w.user_ns0)
        sys.addaudithook(_audit)
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = _read(cmd_r, 65536)
                if not chunk:
                    _exit(0)
                buf += chunk
            line, buf = buf.split(b"\n", 1)
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
                _send(res_w, {"i": msg["i"], "done": True, "error": err, "tampered": changed})
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
                _send(res_w, {"i": msg["i"], "values": vals})
            elif op == "test":
                status = self._fork_test(shell, msg, res_w)
                _send(res_w, {"i": msg["i"], "done": True, "child": status})
            elif op == "exit":
                _exit(0)

    def _restore_builtins(self) -> list[str]:  # pragma: no cover - runs in the child
        """Student code that rebinds builtins would break this runner too: undo it after each cell."""
        snap, bd, changed = self.run.worker.pristine.builtins, builtins.__dict__, []
        for k in [k for k in bd if k not in snap]:
            del bd[k]
            changed.append(f"builtins.{k}")
        for k, v in snap.items():
            if bd.get(k, snap) is not v:
                bd[k] = v
                changed.append(f"builtins.{k}")
        return changed[:10]

    def _fork_test(self, shell, msg: dict, res_w: int) -> str:  # pragma: no cover - runs in the child
        pid = _fork()
        if pid == 0:
            try:
                tampered = self.run.worker.pristine.restore()
                g = dict(shell.user_ns)
                bd = builtins.__dict__
                ns0 = self.run.worker.user_ns0
                for k in [k for k in g if k in bd and g[k] is not bd[k] and not k.startswith("_")]:
                    if g[k] is not ns0.get(k, g):
                        tampered.append(f"global {k} (it shadows a builtin)")
                    del g[k]
                g["__builtins__"] = builtins
                g["__name__"] = "__main__"
                status, message = run_test_source(msg["source"], g, msg["gid"])
                _send(res_w, {"nonce": msg["nonce"], "status": status, "message": message,
                              "tampered": tampered[:20]})
            finally:
                _exit(0)
        deadline = _monotonic() + float(msg["timeout"])
        while True:
            try:
                p, st = _waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return "gone"
            if p:
                return "exited" if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 else "died"
            if _monotonic() > deadline:
                try:
                    _kill(pid, signal.SIGKILL)
                    _waitpid(pid, 0)
                except OSError:
                    pass
                return "timeout"
            _sleep(0.002)

    # ---- worker side ----
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
        """Read result lines until ``pred(msg)`` is true; returns the msg, "timeout" or "died"."""
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
                if not _isinstance(msg, dict):
                    self.run.noise += 1
                    continue
                if "nonce" in msg:
                    self.run.verdict(msg)
                    continue
                if pred(msg):
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


class NotebookRun:
    def __init__(self, worker: Worker, req: dict, limits):
        self.worker, self.req, self.limits = worker, req, limits
        self.uid = int(req["uid"])
        self.cells = req["cells"]
        self.results: dict[int, dict] = {}
        self.warnings: list[str] = []
        self.noise = 0
        self.forged = 0
        self.out_kept = 0
        self.out_total = 0
        self.expect: dict[str, int] = {}      # nonce -> cell index
        self.cg = None
        self.sessions: set[int] = set()
        if worker.mountns:
            self.scratch = "/tmp/grade"          # inside the student process's private /tmp
        else:                                     # no mount namespace: a scratch dir we remove ourselves
            import tempfile
            self.scratch = tempfile.mkdtemp(prefix="course-grade-")
            if worker.uid_ok:
                os.chown(self.scratch, self.uid, self.uid)
        self.deadline = _monotonic() + limits.notebook_timeout

    # ---- channel callbacks ----
    def output(self, fd: int) -> None:
        try:
            chunk = _read(fd, 65536)
        except BlockingIOError:
            return
        self.out_total += _len(chunk)   # kept bytes are counted only; nothing of it decides a grade

    def verdict(self, msg: dict) -> None:
        i = self.expect.pop(str(msg.get("nonce")), None)
        if i is None or i in self.results:
            self.forged += 1
            return
        status = msg.get("status")
        if status not in ("passed", "failed", "error"):
            self.forged += 1
            return
        self.results[i] = {"status": status, "message": _str(msg.get("message", ""))[:MAX_MESSAGE]}
        for t in msg.get("tampered") or []:
            self.tamper(_str(t))

    def tamper(self, what: str) -> None:
        note = f"student code changed {what} before a test (restored for the test)"
        if note not in self.warnings and _len(self.warnings) < 30:
            self.warnings.append(note)

    # ---- lifecycle ----
    def kill_all(self) -> None:
        """Every process the student started is gone when this returns (daemons and fork bombs too)."""
        sb = self.worker.sandbox
        if os.getpid() == 1:  # PID 1 of our own PID namespace: everything else in it is the student's
            for _ in range(100):
                try:
                    _kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                sb.reap()
                if not [p for p in os.listdir("/proc") if p.isdigit() and p != "1"]:
                    break
                _sleep(0.005)
        if self.worker.uid_ok:
            sb.kill_uid(self.uid)
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
                self.warnings.append(f"no cgroup for this notebook: {exc}")
        skip: set[int] = set()
        restarts = 0
        try:
            while True:
                restart = self._pass(skip)
                if not restart or _monotonic() > self.deadline:
                    break
                restarts += 1
        finally:
            self.kill_all()
            if self.cg is not None:
                self.cg.remove()
            if not self.worker.mountns:
                import shutil
                shutil.rmtree(self.scratch, ignore_errors=True)
        for i, cell in enumerate(self.cells):
            if cell["kind"] == "test" and i not in self.results:
                self.results[i] = {"status": "timeout", "message":
                                   f"Not run: the notebook used up its {self.limits.notebook_timeout:g} s time limit "
                                   "before this test (look for slow or endless loops)."}
        if self.forged:
            self.warnings.append(f"{self.forged} forged or unexpected test verdict(s) were ignored")
        if self.out_total > self.limits.output:
            self.warnings.append(f"the notebook printed {self.out_total} bytes; output over {self.limits.output} "
                                 "bytes is discarded")
        return {"results": {str(k): v for k, v in self.results.items()}, "warnings": self.warnings,
                "seconds": round(_monotonic() - t0, 3), "restarts": restarts}

    def _pass(self, skip: set[int]) -> bool:
        """Run the cells once in a fresh S; return True if S had to be restarted."""
        S = StudentProcess(self)
        self.sessions.add(S.pid)
        try:
            for i, cell in enumerate(self.cells):
                if i in skip:
                    continue
                left = self.deadline - _monotonic()
                if left <= 0:
                    return False
                if cell["kind"] == "test":
                    if i in self.results:
                        continue
                    ok = self._test(S, i, cell)
                    if not ok:
                        return True
                    if cell.get("defines"):
                        r = self._code(S, i, cell["source"], min(self.limits.cell_timeout, left))
                        if r != "ok":
                            skip.add(i)
                            return True
                else:
                    r = self._code(S, i, cell["source"], min(self.limits.cell_timeout, left))
                    if r != "ok":
                        skip.add(i)
                        label = cell.get("label") or f"code cell {i + 1}"
                        self.warnings.append(
                            f"{label}: " + ("stopped after %g s (endless loop?)" % self.limits.cell_timeout
                                            if r == "timeout" else "ended the Python process (exit, crash or out of "
                                            "memory)") + "; it was skipped and the cells before it run again")
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
            note = f"student code rebinds {_str(t)[:60]}; undone after each cell"
            if note not in self.warnings and _len(self.warnings) < 30:
                self.warnings.append(note)
        return "ok"

    def _test(self, S: StudentProcess, i: int, cell: dict) -> bool:
        """Decide test ``i``. Returns False if S must be restarted."""
        timeout = min(self.limits.cell_timeout, max(0.1, self.deadline - _monotonic()))
        free = cell.get("free")
        if free is not None:
            if not S.send({"op": "values", "i": i, "names": free}):
                return False
            r = S.wait_for(lambda m: m.get("i") == i and "values" in m, min(timeout, 10.0))
            if _isinstance(r, str):
                self.results[i] = {"status": "error", "message": "Your notebook stopped responding before this test."}
                return False
            vals = r.get("values") if _isinstance(r.get("values"), dict) else {}
            if all(_isinstance(vals.get(n), dict) and vals[n].get("t") != "opaque" for n in free):
                try:
                    decoded = {n: decode_value(vals[n]) for n in free if vals[n].get("t") != "undefined"}
                except Exception:
                    decoded = None
                if decoded is not None:
                    self.results[i] = self._clean_test(cell, decoded, timeout)
                    return True
        nonce = secrets.token_hex(16)
        self.expect[nonce] = i
        if not S.send({"op": "test", "i": i, "gid": cell.get("grade_id", ""), "source": cell["source"],
                       "nonce": nonce, "timeout": timeout}):
            return False
        r = S.wait_for(lambda m: m.get("i") == i and m.get("done"), timeout + 3.0)
        self.expect.pop(nonce, None)
        if i not in self.results:
            child = r.get("child") if _isinstance(r, dict) else None
            if r == "timeout" or child == "timeout":
                self.results[i] = {"status": "timeout", "message":
                                   f"The test did not finish within {timeout:g} s: look for an endless loop or a "
                                   "deadlock in your code."}
            else:
                self.results[i] = {"status": "error", "message":
                                   "The Python process ended while this test ran (exit(), os._exit(), a crash, or "
                                   "running out of memory or processes)."}
        return not _isinstance(r, str)

    def _clean_test(self, cell: dict, values: dict, timeout: float) -> dict:
        """Run a data-only test in C, a fresh fork of the worker that never ran student code."""
        w = self.worker
        vr, vw = _pipe()
        pid = _fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                _close(vr)
                devnull = os.open(os.devnull, os.O_WRONLY)
                w._child_common([vw, devnull], devnull, self.uid, self.limits, self.cg, timeout)
                w._env("/tmp")
                sys.addaudithook(_audit)
                g = {"__builtins__": builtins, "__name__": "__main__", **values}
                status, message = run_test_source(cell["source"], g, cell.get("grade_id", ""))
                _send(vw, {"status": status, "message": message})
            finally:
                _exit(0)
        _close(vw)
        buf = b""
        deadline = _monotonic() + timeout
        try:
            while _monotonic() < deadline:
                ready, _, _ = select.select([vr], [], [], min(0.05, max(0.0, deadline - _monotonic())))
                if ready:
                    chunk = _read(vr, 65536)
                    if not chunk:
                        break
                    buf += chunk
            else:
                _kill(pid, signal.SIGKILL)
        finally:
            _close(vr)
            try:
                _waitpid(pid, 0)
            except ChildProcessError:
                pass
        try:
            msg = _loads(buf.split(b"\n", 1)[0])
            return {"status": msg["status"], "message": _str(msg.get("message", ""))[:MAX_MESSAGE]}
        except (ValueError, KeyError, TypeError):
            if _monotonic() >= deadline:
                return {"status": "timeout", "message": f"The test did not finish within {timeout:g} s."}
            return {"status": "error", "message": "The test process ended without a verdict (out of memory?)."}


def main() -> int:
    # fd 1 is the protocol channel: keep a private copy, and send anything else printed to stderr
    proto = os.dup(1)
    os.dup2(2, 1)
    os.environ.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
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
    sys.exit(main())
