"""The clean side of grading: verdicts decided in a process in which no student code ever ran.

``course autograde`` starts ``--jobs`` warm workers (``python -m course_tools.grading.clean``),
each of which has imported ``course_tools``, the reference checkers and every module the
source's cells import. Per notebook a worker forks **C**, the clean process, which:

1. enters a private network namespace whose only interface is an up loopback
   (``sandbox.private_loopback``), so servers a test starts on 127.0.0.1 are reachable by the
   student's code and nothing else is;
2. starts **S**, the student process, in the jail (``sandbox.Jail``, bubblewrap: a minimal root
   without ``course_tools/grading/`` or the modules the assessment hides), running
   :mod:`course_tools.grading.stub`, connected by two pipes that carry
   :mod:`course_tools.grading.protocol` frames (plain data only, size/depth/count limits,
   every read and write with a deadline);
3. walks the plan: a student cell is sent to S (``run_cell``; ok / error / timeout); a TEST cell
   is compiled from the SOURCE text (the host restored it) and run here, in a fresh namespace
   holding the source's own imports plus, for every other name the test reads, the value S
   holds at that point: plain data as exact builtin types, a registered course value type,
   or a proxy (:class:`~course_tools.grading.protocol.RemoteFunction`, ``RemoteClass``,
   ``RemoteObject``, ``RemoteGenerator``) that calls, reads attributes, iterates and drives
   generators in S with plain-data arguments. Objects the test owns (fakes, replicas, clocks)
   go to S by reference and S calls them back with plain data;
4. decides every verdict here and writes the results on a pipe only the worker reads.

C's own memory is bounded too: RLIMIT_DATA at its worker's size plus ``Limits.clean_memory``
(:func:`limit_own_memory`). Reaching it costs the test (or student cell) during which it happened,
with a message that says so; C frees what that test held and grades the rest of the notebook.

A student cell or test whose S hangs or dies costs that cell or test: S is killed, started
again and the student cells that ran before are replayed (bounded by the notebook limit).
Test source, reference implementations and verdicts never enter S.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

from course_tools.grading import protocol as P

from course_tools.grading.sandbox import CHECKOUT, Jail, Limits, jail_available, module_paths, private_loopback

__all__ = ["StudentProcess", "grade_cells", "current_student", "TestTimeout", "main"]

MAX_MESSAGE = 600
MAX_RECEIVED = 1 << 30     # bytes one student process may send the clean process in all (then it is ended)
_HERE = Path(__file__).resolve().parent


_MEMORY_LIMIT = [0]        # this clean process's RLIMIT_DATA, once limit_own_memory has set it


def _data_size() -> int:
    """VmData of this process (heap, anonymous mappings, thread stacks: what RLIMIT_DATA counts)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_own_memory(extra: int) -> int:
    """Bound this clean process's data (RLIMIT_DATA, soft limit) to what it holds now plus ``extra``
    bytes; returns the limit (0: not set). Past it an allocation raises MemoryError here, instead of the
    process growing until the machine's OOM killer picks a victim among the other graders. (RLIMIT_DATA, not
    RLIMIT_AS: it does not count shared libraries or the address space glibc and OpenBLAS reserve
    without using, so it follows what grading really allocates. S, started from here, gets its own
    limits from the jail and sets its soft RLIMIT_DATA back to its hard one.)"""
    now = _data_size()
    if not now:                 # no /proc (not Linux): left as it was
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = now + int(extra)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    _MEMORY_LIMIT[0] = limit
    return limit


def memory_message() -> str:
    mib = _MEMORY_LIMIT[0] >> 20
    return (f"the grader's clean process reached its memory limit ({mib} MiB of data; an instructor can raise "
            "Limits.clean_memory)")


class TestTimeout(BaseException):
    """The test ran past its deadline (raised in C's main thread by a watchdog)."""


def _stub_files() -> dict[str, bytes]:
    return {"_course_stub.py": (_HERE / "stub.py").read_bytes(),
            "_course_protocol.py": (_HERE / "protocol.py").read_bytes()}


def _hidden_paths(names: list[str]) -> list[str]:
    """What S must not see: ``course_tools/grading/`` (tests' helpers, reference solutions, this
    code) and the files of the modules the assessment hides."""
    out = [str(_HERE)]
    for name in names:
        out += module_paths(name)
    return out


class StudentProcess:
    """S in its jail, and the conversation with it."""

    def __init__(self, *, limits: Limits, hidden_modules: list[str], unsafe: bool) -> None:
        c2s_r, c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()
        os.set_inheritable(c2s_r, True)
        os.set_inheritable(s2c_w, True)
        env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": CHECKOUT,
               "COURSE_STUDENT": "1"}
        if os.environ.get("COURSE_GRADE_DEBUG"):
            env["COURSE_GRADE_DEBUG"] = "1"
        argv = [sys.executable, "-s", "_course_stub.py", str(c2s_r), str(s2c_w), ",".join(hidden_modules)]
        try:
            self.jail = Jail(argv, limits=limits, pass_fds=(c2s_r, s2c_w), hide_paths=_hidden_paths(hidden_modules),
                             files=_stub_files(), env=env, unsafe=unsafe)
        finally:
            os.close(c2s_r)
            os.close(s2c_w)
        self.channel = P.Channel(s2c_r, c2s_w, max_total=MAX_RECEIVED)
        self.peer = P.Peer(self.channel)
        self.peer.passthrough = (P.ChannelBroken, TestTimeout)
        self.peer.strict = True
        self.dead = False

    def request(self, op: str, seconds: float, **args):
        self.peer.deadline = P.Deadline(seconds)
        return self.peer.request(op, **args)

    def run_cell(self, source: str, seconds: float) -> dict:
        """{"status": "ok"|"error"|"timeout"|"died", ...}; after timeout/died S is gone."""
        try:
            r = self.request("run_cell", seconds, source=source)
        except P.ChannelTimeout:
            self.kill()
            return {"status": "timeout"}
        except (P.ChannelBroken, P.ProtocolError):
            self.kill()
            return {"status": "died"}
        except MemoryError:        # what S sent did not fit in C: S is stopped, what it sent is freed
            self.kill()
            return {"status": "memory"}
        except Exception as exc:      # S answered with an exception: the stub itself failed
            return {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)[:200]}
        if type(r) is not dict or r.get("status") not in ("ok", "error"):
            self.kill()
            return {"status": "died"}
        return r

    def cpu_seconds(self) -> float:
        return self.jail.cpu_seconds()

    def kill(self) -> None:
        if not self.dead:
            self.dead = True
            self.channel.broken = self.channel.broken or "killed"
            self.jail.kill()
            self.channel.close()


_current: list[StudentProcess | None] = [None]


def current_student() -> StudentProcess | None:
    """The S of the test running now (reference checkers measure its CPU time), or None outside grading."""
    return _current[0]


# ------------------------------------------------------------------------------------------------
# one test, run here


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return text[:MAX_MESSAGE]


class _Watchdog:
    """Raise TestTimeout in the main thread when ``seconds`` have passed (SIGUSR1; checks.time_limit
    keeps SIGALRM for itself)."""

    def __init__(self, seconds: float) -> None:
        self.armed = True
        self.main = threading.main_thread().ident
        self.old = signal.signal(signal.SIGUSR1, self._fire)
        self.timer = threading.Timer(seconds, lambda: self.armed and signal.pthread_kill(self.main, signal.SIGUSR1))
        self.timer.daemon = True
        self.timer.start()

    def _fire(self, signum, frame):
        if self.armed:
            self.armed = False
            raise TestTimeout

    def cancel(self) -> None:
        self.armed = False
        self.timer.cancel()
        self.timer.join()
        signal.signal(signal.SIGUSR1, self.old)


HIDDEN_MARK = "### BEGIN HIDDEN TESTS"


def _raised_in_hidden_part(exc: BaseException, cell: dict) -> bool:
    """Did the student's code raise ``exc`` while a line of the test's hidden part ran? Its message is
    then the student's own text about the hidden test's arguments (keys, traces, requests): shown in
    feedback it would carry the hidden test's data out, so only its type is reported."""
    if not P.from_peer(exc):
        return False
    lines = cell["source"].splitlines()
    start = next((i for i, line in enumerate(lines, 1) if HIDDEN_MARK in line), None)
    if start is None:
        return False
    label, line, tb = cell.get("label", "test"), None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == label:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line is None or line >= start


def run_test(cell: dict, base_imports: str, sp: StudentProcess | None, seconds: float,
             student_code: list[str] | None = None) -> dict:
    """Compile and run one test cell (source text) here; student names fetched from S now.
    ``student_code``: the text of the student's cells before it (for static checks)."""
    try:
        return _run_test(cell, base_imports, sp, seconds, student_code)
    except TestTimeout:       # the watchdog fires once; if it fires while a verdict was being made
        if sp is not None:
            sp.kill()
        return {"status": "timeout", "message": f"The test did not finish within {seconds:g} s."}


def _run_test(cell: dict, base_imports: str, sp: StudentProcess | None, seconds: float,
              student_code: list[str] | None) -> dict:
    from course_tools.grading import checks

    checks._STUDENT_CODE[0] = list(student_code or [])
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    deadline = time.monotonic() + seconds
    if base_imports:
        exec(compile(base_imports, "<setup imports>", "exec"), ns)
    _current[0] = sp
    dog = _Watchdog(seconds)
    try:
        try:
            code = compile(cell["source"], cell.get("label", "test"), "exec")
        except SyntaxError as exc:
            return {"status": "error", "message": f"The test could not be compiled ({exc.msg})."}
        for name in cell.get("free") or []:
            if name in ns:
                continue
            if sp is None or sp.dead:
                break
            try:
                ns[name] = sp.request("value", max(0.1, deadline - time.monotonic()), name=name)
            except NameError:
                continue
        if sp is not None and not sp.dead:
            sp.peer.deadline = P.Deadline(max(0.1, deadline - time.monotonic()))
        exec(code, ns)
        return {"status": "passed", "message": ""}
    except TestTimeout:
        if sp is not None:
            sp.kill()
        return {"status": "timeout", "message": f"The test did not finish within {seconds:g} s."}
    except P.ChannelTimeout:
        if sp is not None:
            sp.kill()
        return {"status": "timeout", "message": f"Your code did not answer within {seconds:g} s during this test."}
    except (P.ChannelBroken, P.ProtocolError) as exc:
        if sp is not None:
            sp.kill()
        return {"status": "error", "message": "Your notebook's Python process stopped or misbehaved during this "
                                              f"test ({_message(exc)[:120]})."}
    except MemoryError:
        if sp is not None:
            sp.kill()
        return {"status": "error", "message": f"This test could not finish: {memory_message()} while it handled "
                                              "what your code sent or returned (e.g. a very large value)."}
    except AssertionError as exc:
        if _raised_in_hidden_part(exc, cell):
            return {"status": "failed", "message": "Your code raised AssertionError during the hidden tests."}
        return {"status": "failed", "message": _message(exc)}
    except Exception as exc:
        if _raised_in_hidden_part(exc, cell):
            # (a class of the student's own is not named: its name is student text too)
            name = "an exception" if isinstance(exc, P.RemoteError) else type(exc).__name__
            return {"status": "error", "message": f"Your code raised {name} during the hidden tests (its "
                                                  "message is not shown: it could quote the hidden tests' data)."}
        if isinstance(exc, P.RemoteError):
            return {"status": "error", "message": f"Your code raised {_message(exc)}"}
        return {"status": "error", "message": f"{type(exc).__name__}: {_message(exc)}"}
    finally:
        dog.cancel()
        _current[0] = None
        checks._STUDENT_CODE[0] = None
        if sp is not None and not sp.dead and sp.channel.broken:
            sp.kill()


# ------------------------------------------------------------------------------------------------
# one notebook


def grade_cells(request: dict) -> dict:
    """Run the plan of one notebook; {"results": {index: verdict}, "warnings": [...]}."""
    limits = Limits.from_dict(request.get("limits") or {})
    cells = request["cells"]
    hidden = [str(m) for m in request.get("hidden_modules") or []]
    unsafe = bool(request.get("unsafe"))
    base = request.get("base_imports") or ""
    notebook_deadline = time.monotonic() + limits.notebook_timeout
    results: dict[str, dict] = {}
    warnings: list[str] = []
    ran_ok: list[str] = []
    student_code: list[str] = []
    sp: StudentProcess | None = None

    def left() -> float:
        return notebook_deadline - time.monotonic()

    def ensure() -> StudentProcess | None:
        nonlocal sp
        if sp is not None and not sp.dead:
            return sp
        if left() <= 1:
            return None
        sp = StudentProcess(limits=limits, hidden_modules=hidden, unsafe=unsafe)
        for src in list(ran_ok):
            if left() <= 1:
                sp.kill()
                return None
            r = sp.run_cell(src, min(limits.cell_timeout, left()))
            if r["status"] in ("timeout", "died", "memory"):
                warnings.append("a cell that ran before behaved differently when replayed")
                return None
        return sp

    try:
        for i, cell in enumerate(cells):
            if cell["kind"] == "code":
                if cell.get("student"):
                    student_code.append(cell["source"])
                s = ensure()
                if s is None:
                    continue
                seconds = min(limits.cell_timeout, max(0.1, left()))
                r = s.run_cell(cell["source"], seconds)
                if r["status"] == "ok":
                    ran_ok.append(cell["source"])
                elif r["status"] == "timeout":
                    warnings.append(f"{cell.get('label', 'a cell')}: still running after {seconds:g} s (an endless "
                                    "loop, or waiting forever?); skipped, the cells after it were graded")
                elif r["status"] == "memory":
                    warnings.append(f"{cell.get('label', 'a cell')}: skipped, {memory_message()} while the cell ran "
                                    "(its process was stopped; the cells after it were graded)")
                elif r["status"] == "died":
                    warnings.append(f"{cell.get('label', 'a cell')}: ended the Python process (or broke its "
                                    "channel to the grader); skipped, the cells after it were graded")
            elif cell["kind"] == "test":
                if left() <= 1:
                    results[str(i)] = {"status": "timeout", "message": f"The notebook's {limits.notebook_timeout:g} s "
                                                                       "time limit was reached before this test."}
                    continue
                s = ensure()
                t0 = time.monotonic()
                results[str(i)] = run_test(cell, base, s, min(limits.cell_timeout, max(0.1, left())), student_code)
                results[str(i)]["seconds"] = round(time.monotonic() - t0, 3)
    finally:
        if sp is not None:
            sp.kill()
    return {"results": results, "warnings": warnings}


# ------------------------------------------------------------------------------------------------
# the warm worker


def _preload(names: list[str]) -> None:
    import importlib

    for name in ["course_tools.grading.checks", "course_tools.grading.reference.caching",
                 "course_tools.grading.reference.concurrency", "course_tools.grading.reference.distributed",
                 "course_tools.grading.reference.http", *names]:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    P.value_types()
    P.exception_classes()


def _grade_in_child(request: dict, timeout: float) -> dict:
    """Fork C, let it grade, read its answer from a pipe only it and we hold."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # C
        code = 0
        try:
            os.close(r)
            os.setsid()
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG: C dies with its worker
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            if not os.environ.get("COURSE_GRADE_DEBUG"):
                os.dup2(null, 1)
            if not request.get("unsafe"):
                private_loopback()
            limit_own_memory(Limits.from_dict(request.get("limits") or {}).clean_memory)
            out = grade_cells(request)
            data = json.dumps(out).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException as exc:   # noqa: BLE001 - report, never raise out of the child
            why = memory_message() if isinstance(exc, MemoryError) else f"{type(exc).__name__}: {exc}"
            try:
                os.write(w, json.dumps({"error": why[:500]}).encode())
            except OSError:
                pass
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    buf = b""
    deadline = time.monotonic() + timeout
    import select
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"error": f"the notebook did not finish within {timeout:.0f} s"}
            ready, _, _ = select.select([r], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    try:
        return json.loads(buf.decode()) if buf else {"error": "the clean process ended without an answer"}
    except ValueError:
        return {"error": "the clean process's answer could not be read"}


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    hello = json.loads(stdin.readline() or b"{}")
    _preload(list(hello.get("preload") or []))
    stdout.write((json.dumps({"ready": True, "warnings": []}) + "\n").encode())
    stdout.flush()
    for line in stdin:
        req = json.loads(line)
        if req.get("op") == "exit":
            break
        limits = Limits.from_dict(req.get("limits") or {})
        resp = _grade_in_child(req, limits.notebook_timeout + 30)
        stdout.write((json.dumps(resp) + "\n").encode())
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
