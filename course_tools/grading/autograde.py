"""``course autograde``: grade every submission of an assignment, sandboxed and in parallel.

    results = autograde("08_caching", course_dir, jobs=2)       # writes grades/08_caching/<student>.json
    nb = grade_notebook(source_nb, my_copy)                      # one notebook, for `course check`

The instructor process (this module and :mod:`course_tools.grading.plan`) reads the source
and the submissions, and decides every score; it never runs student code. ``jobs`` warm
workers (:mod:`course_tools.grading.worker`, sandboxed by :mod:`course_tools.grading.sandbox`)
execute the cells and report per-test verdicts. nbgrader's database is not used: results go
to ``grades/<assignment>/<student>.json`` (:mod:`course_tools.grading.results`).

A submission that cannot be graded gets ``status="failed: <reason>"`` and the batch goes on;
a worker that dies or hangs is replaced, and only the submission it held is affected.
Ctrl-C or SIGTERM stops the workers at once; results saved before stay.

Isolation and what the verdicts can be trusted for: see the docstrings of
:mod:`course_tools.grading.worker` (design, guarantees, limits) and
:mod:`course_tools.grading.sandbox` (the OS means). The means this machine lacks are printed
as warnings at start and recorded in every result's ``warnings``.

Known limits: a code test replays the student's cells in a fresh process, so a notebook whose
cells are slow costs that time again per group of code tests (bounded by the per-notebook
limit). If the ``course autograde`` process itself is SIGKILLed, its workers die with it
(``setpriv --pdeathsig``, util-linux), and with them every process they started.
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.plan import PlanError, SourceNotebook, load_source, make_plan, read_notebook_json
from course_tools.grading.results import (GRADED, NEEDS_MANUAL, CellResult, NotebookResult, SubmissionResult,
                                          save_result)
from course_tools.grading.sandbox import Limits

__all__ = ["autograde", "grade_submission", "grade_notebook", "WorkerPool", "Limits", "submissions",
           "load_sources", "IsolationError", "grade_request"]

class WorkerError(RuntimeError):
    pass


class IsolationError(RuntimeError):
    """The jail is not available and ``unsafe`` was not given: refusing to grade other people's code."""


def _with_pdeathsig(cmd: list[str]) -> list[str]:
    """Kill the worker if the thread that started it (and so ``course autograde``) dies, even by
    SIGKILL: util-linux ``setpriv --pdeathsig`` where available."""
    import shutil

    if sys.platform.startswith("linux") and shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
    return cmd


def worker_command(python: str = sys.executable) -> list[str]:
    # not `-m`: the module must be imported under its own name (reference checkers import it to find
    # the student process of the running test)
    return [python, "-c", "import sys; from course_tools.grading.clean import main; sys.exit(main())"]


class Worker:
    """One warm clean worker process, spoken to over its stdin/stdout (one JSON line each way)."""

    def __init__(self, preload: list[str], start_timeout: float = 60.0, wait: bool = True,
                 command: list[str] | None = None):
        import tempfile

        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        debug = bool(os.environ.get("COURSE_GRADE_DEBUG"))
        self.log = None if debug else tempfile.TemporaryFile(prefix="course-grade-worker-")   # its stderr, for errors
        self.proc = subprocess.Popen(_with_pdeathsig(command or worker_command()), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=None if debug else self.log, env=env,
                                     close_fds=True, start_new_session=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.warnings: list[str] = []
        try:
            self._send({"preload": preload})
        except WorkerError:
            self.kill()
            self.close()
            raise
        if wait:
            self.wait_ready(start_timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the worker's hello (it has preloaded)."""
        try:
            hello = self._recv(timeout)
        except (WorkerError, ValueError):
            self.kill()
            self.close()
            raise
        self.warnings = list(hello.get("warnings", []))

    def _send(self, obj) -> None:
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"grading worker is gone ({exc})") from None

    def _recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"grading worker did not answer within {timeout:.0f} s")
            if not self.sel.select(min(left, 1.0)):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WorkerError(f"grading worker exited (code {self.proc.poll()}){self._log_tail()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _log_tail(self) -> str:
        if self.log is None:
            return ""
        try:
            self.log.seek(0, 2)
            size = self.log.tell()
            self.log.seek(max(0, size - 600))
            tail = self.log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        except (OSError, ValueError):
            return ""
        return (": " + " | ".join(tail)) if tail else ""

    def grade(self, request: dict, timeout: float) -> dict:
        self._send(request)
        return self._recv(timeout)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self._send({"op": "exit"})
                    self.proc.stdin.close()
                except (WorkerError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            self.sel.close()
            for f in (self.proc.stdin, self.proc.stdout, self.log):
                try:
                    if f is not None:
                        f.close()
                except OSError:
                    pass

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class WorkerPool:
    """``jobs`` warm clean workers; ``grade(request)`` borrows one, replacing it if it failed.

    ``unsafe=False`` (the default) refuses to start unless the bubblewrap jail works on this
    machine (:func:`course_tools.grading.sandbox.jail_available`); ``unsafe=True`` grades with
    rlimits only and says so in every result's warnings."""

    def __init__(self, jobs: int, *, unsafe: bool = False, preload: Iterable[str] = (),
                 announce: Callable[[str], None] | None = None, command: list[str] | None = None):
        from course_tools.grading.clean import jail_available

        ok, reasons = jail_available()
        self.jailed = ok and not unsafe
        if not ok and not unsafe:
            raise IsolationError("refusing to grade: the student sandbox is not available on this machine ("
                                 + "; ".join(reasons) + "). Fix that, or pass --unsafe to grade with rlimits only "
                                 "(only for code you trust)")
        self.unsafe = not self.jailed
        self.preload = sorted(set(preload))
        self.command = command
        self.jobs = max(1, int(jobs))
        self.idle: "queue.Queue[Worker | None]" = queue.Queue()
        self.all: list[Worker] = []
        self.lock = threading.Lock()
        self.warnings = [] if self.jailed else [
            "UNSAFE: student code ran WITHOUT the jail (rlimits only): " + ("; ".join(reasons) or "--unsafe given")]
        self.start_error = ""
        self.aborted = False
        for w in self.warnings:
            (announce or (lambda m: print(f"WARNING: {m}", file=sys.stderr)))(w)
        launched = [self._start(wait=False) for _ in range(self.jobs)]
        started = []
        for w in launched:
            if w is not None:
                try:
                    w.wait_ready()
                except (WorkerError, OSError, ValueError) as exc:
                    self.start_error = str(exc)
                    with self.lock:
                        if w in self.all:
                            self.all.remove(w)
                    w = None
            started.append(w)
        for w in started:
            self.idle.put(w)

    def _start(self, wait: bool = True) -> Worker | None:
        try:
            w = Worker(self.preload, wait=wait, command=self.command)
        except (WorkerError, OSError, ValueError) as exc:
            self.start_error = str(exc)
            return None
        with self.lock:
            self.all.append(w)
        return w

    def grade(self, request: dict, timeout: float) -> dict:
        request = dict(request, unsafe=self.unsafe)
        if self.aborted:
            raise WorkerError("grading was interrupted")
        w = self.idle.get()
        if self.aborted:
            self.idle.put(w)
            raise WorkerError("grading was interrupted")
        if w is None:
            w = self._start()
            if w is None:
                self.idle.put(None)
                raise WorkerError(f"could not start a grading worker ({self.start_error})")
        try:
            resp = w.grade(request, timeout)
        except (WorkerError, ValueError) as exc:
            w.kill()
            w.close()
            with self.lock:
                if w in self.all:
                    self.all.remove(w)
            self.idle.put(None if self.aborted else self._start())
            raise WorkerError(str(exc)) from None
        self.idle.put(w)
        return resp

    def describe(self) -> str:
        """One line for the instructor: which isolation is in force."""
        if self.jailed:
            return ("isolation: student code in the bubblewrap jail (minimal root, own PID/IPC/mount namespaces, "
                    "private loopback, memory/pids/CPU limits); verdicts decided in a clean process")
        return ("isolation: UNSAFE, rlimits only (no jail); verdicts still decided in a clean process from plain "
                "data")

    def abort(self) -> None:
        """Stop now (Ctrl-C): kill every worker; submissions in flight fail as 'interrupted'."""
        self.aborted = True
        with self.lock:
            workers = list(self.all)
        for w in workers:
            w.kill()

    def close(self) -> None:
        with self.lock:
            workers, self.all = list(self.all), []
        for w in workers:
            w.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------

def load_sources(course_dir: Path | str, assignment: str) -> list[SourceNotebook]:
    src_dir = Path(course_dir) / "source" / assignment
    paths = sorted(src_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no source notebook in {src_dir}")
    return [load_source(p) for p in paths]


def submissions(course_dir: Path | str, assignment: str, students: Iterable[str] | None = None,
                refused: list[tuple[str, str]] | None = None) -> list[str]:
    """The students to grade: every valid ``submitted/<student>/<assignment>/`` (or the valid ones of
    ``students``). Folder names that are not student ids, symbolic links (never followed) and invalid
    requested names are left out and reported (appended to ``refused`` as ``(shown name, reason)``,
    else printed on stderr): the batch goes on. See :mod:`course_tools.grading.ids`."""
    from course_tools.grading import ids

    bad: list[tuple[str, str]] = []
    if students:
        found = ids.submitted_students(course_dir, assignment)
        wanted = []
        for s in dict.fromkeys(students):
            why = ids.problem(s)
            if why is None:
                wanted.append(s)
            else:
                bad.append((ids.shown(s), why))
        out = [s for s in wanted if s in found] + [s for s in wanted if s not in found]
    else:
        out = ids.submitted_students(course_dir, assignment, bad)
    if refused is not None:
        refused.extend(bad)
    else:
        for where, why in bad:
            print(f"skipped {where}: {why}", file=sys.stderr)
    return out


def _nb_result(src: SourceNotebook, plan_cells: list[dict] | None, missing: list[str], resp: dict | None,
               fail_all: str | None = None) -> NotebookResult:
    """Score one notebook from the worker's verdicts (decided here, from the source's points)."""
    by_gid: dict[str, dict] = {}
    if plan_cells is not None and resp is not None:
        for i, cell in enumerate(plan_cells):
            if cell["kind"] == "test":
                by_gid[cell["grade_id"]] = resp.get("results", {}).get(str(i), {})
    cells = []
    for sc in src.graded:
        if sc.role == "manual":
            cells.append(CellResult(sc.grade_id, 0.0, sc.points, sc.objectives, "manual",
                                    "Graded by your instructor."))
            continue
        if fail_all is not None:
            cells.append(CellResult(sc.grade_id, 0.0, sc.points, sc.objectives, "error", fail_all))
        elif sc.grade_id in missing:
            cells.append(CellResult(sc.grade_id, 0.0, sc.points, sc.objectives, "missing",
                                    "This test cell was deleted from your notebook, so it counts as failed. "
                                    "Restore it from a fresh copy of the assignment."))
        else:
            v = by_gid.get(sc.grade_id) or {"status": "error", "message": "No verdict was reported for this test."}
            status = v.get("status", "error")
            if status not in ("passed", "failed", "error", "timeout"):
                status = "error"
            points = sc.points if status == "passed" else 0.0
            cells.append(CellResult(sc.grade_id, points, sc.points, sc.objectives, status, str(v.get("message", ""))))
    return NotebookResult(src.name, sum(c.points for c in cells), src.max_score, cells)


def grade_submission(pool: WorkerPool, sources: list[SourceNotebook], sub_dir: Path, student: str,
                     assignment: str, limits: Limits) -> SubmissionResult:
    """Grade one ``submitted/<student>/<assignment>/`` folder. Never raises for a bad submission."""
    t0 = time.monotonic()
    warnings = list(pool.warnings)
    failures: list[str] = []
    notebooks: list[NotebookResult] = []
    for src in sources:
        path = sub_dir / src.filename
        if not path.exists():
            cands = sorted(sub_dir.glob("*.ipynb"))
            if len(sources) == 1 and len(cands) == 1:
                warnings.append(f"graded {cands[0].name} as {src.filename}")
                path = cands[0]
            else:
                failures.append(f"{src.filename} is missing from {sub_dir}: ask the student to submit it "
                                "(files found: " + (", ".join(p.name for p in cands) or "none") + ")")
                notebooks.append(_nb_result(src, None, [], None, fail_all="notebook not submitted"))
                continue
        try:
            data = path.read_bytes()
            nb = read_notebook_json(data, path.name)
            plan = make_plan(src, nb)
        except PlanError as exc:
            failures.append(str(exc))
            notebooks.append(_nb_result(src, None, [], None, fail_all="your notebook could not be read"))
            continue
        except OSError as exc:
            failures.append(f"cannot read {path}: {exc}")
            notebooks.append(_nb_result(src, None, [], None, fail_all="your notebook could not be read"))
            continue
        warnings += [f"{src.filename}: {w}" for w in plan.warnings]
        request = grade_request(src, plan, limits)
        try:
            resp = pool.grade(request, timeout=limits.notebook_timeout + 60)
        except Exception as exc:
            failures.append(f"the grading worker failed on {src.filename} ({exc}); rerun "
                            f"`course autograde {assignment} --student {student}`")
            notebooks.append(_nb_result(src, None, [], None, fail_all="grading was interrupted"))
            continue
        if "error" in resp:
            failures.append(f"internal grading error on {src.filename}: {resp['error']}; rerun "
                            f"`course autograde {assignment} --student {student}` and report it if it persists")
            notebooks.append(_nb_result(src, None, [], None, fail_all="grading was interrupted"))
            continue
        warnings += [f"{src.filename}: {w}" for w in resp.get("warnings", [])]
        notebooks.append(_nb_result(src, plan.cells, plan.missing, resp))
    score = sum(n.score for n in notebooks)
    max_score = sum(n.max_score for n in notebooks)
    if failures:
        status = "failed: " + "; ".join(failures)
    elif any(c.status == "manual" for n in notebooks for c in n.cells):
        status = NEEDS_MANUAL
    else:
        status = GRADED
    return SubmissionResult(student, assignment, status, score, max_score, notebooks,
                            datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            round(time.monotonic() - t0, 3), warnings)


def grade_request(src: SourceNotebook, plan, limits: Limits) -> dict:
    """What a clean worker needs for one notebook: the plan (tests from the source), the source's
    own imports (bound in every test's namespace), the modules hidden from the student."""
    return {"op": "grade", "filename": src.filename, "cells": plan.cells, "limits": limits.to_dict(),
            "base_imports": src.base_imports(), "hidden_modules": src.hidden_modules}


def autograde(assignment: str, course_dir: Path | str = COURSE_DIR, *, jobs: int | None = None,
              students: Iterable[str] | None = None, unsafe: bool = False, limits: Limits | None = None,
              progress: bool = True, save: bool = True, pool: WorkerPool | None = None,
              isolation: bool = True) -> list[SubmissionResult]:
    """Grade every ``submitted/*/<assignment>/`` (or only ``students``) and save one result each.
    Raises :class:`IsolationError` if the jail is not available and ``unsafe`` is not set
    (``isolation=False`` is an old spelling of ``unsafe=True``)."""
    course_dir = Path(course_dir)
    limits = limits or Limits()
    sources = load_sources(course_dir, assignment)
    names = submissions(course_dir, assignment, students)
    jobs = jobs or os.cpu_count() or 1
    if not names:
        return []
    own_pool = pool is None
    if own_pool:
        preload = sorted({m for s in sources for m in s.preload()})
        pool = WorkerPool(min(jobs, len(names)), unsafe=unsafe or not isolation, preload=preload)
    results: list[SubmissionResult] = []
    try:
        bar = None
        if progress:
            print(pool.describe(), file=sys.stderr)
            from tqdm import tqdm

            class _Bar(tqdm):
                monitor_interval = 0   # no monitor thread left behind

            bar = _Bar(total=len(names), unit="submission", desc=f"autograde {assignment}", file=sys.stderr)

        def one(student: str) -> SubmissionResult:
            sub_dir = course_dir / "submitted" / student / assignment
            if not sub_dir.is_dir():
                r = SubmissionResult(student, assignment, f"failed: no submission folder {sub_dir}", 0.0,
                                     sum(s.max_score for s in sources), [], "", 0.0, [])
            else:
                try:
                    r = grade_submission(pool, sources, sub_dir, student, assignment, limits)
                except Exception as exc:  # never abort the batch
                    r = SubmissionResult(student, assignment, f"failed: internal error ({type(exc).__name__}: "
                                         f"{exc}); rerun with --student {student}", 0.0,
                                         sum(s.max_score for s in sources), [], "", 0.0, list(pool.warnings))
            if save and not pool.aborted:    # an interrupted run leaves earlier results as they were
                save_result(course_dir, r)
            if bar is not None:
                bar.update(1)
            return r

        ex = ThreadPoolExecutor(pool.jobs)
        try:
            results = list(ex.map(one, names))
        except BaseException:          # Ctrl-C: do not wait for the submissions in flight
            pool.abort()
            raise
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    finally:
        if own_pool:
            pool.close()
    return results


def grade_notebook(source_nb_path: Path | str, submission_nb_path: Path | str, *, isolation: bool = True,
                   limits: Limits | None = None, unsafe: bool | None = None) -> NotebookResult:
    """Grade one notebook file against its source, e.g. a learner's own copy (``course check``).

    Same plan, clean process and verdicts as ``course autograde``. The learner grades their own
    code, so no flag is needed: the jail is used when this machine has it, otherwise rlimits
    only, and the result's ``isolation`` attribute says which. Raises ``PlanError`` (with a
    message for the learner) when the file cannot be read as a notebook.
    """
    from course_tools.grading.clean import jail_available

    src = load_source(source_nb_path)
    data = Path(submission_nb_path).read_bytes()
    plan = make_plan(src, read_notebook_json(data, Path(submission_nb_path).name))
    limits = limits or Limits()
    if unsafe is None:
        unsafe = not isolation or not jail_available()[0]
    with WorkerPool(1, unsafe=unsafe, preload=src.preload(), announce=lambda m: None) as pool:
        resp = pool.grade(grade_request(src, plan, limits), timeout=limits.notebook_timeout + 60)
        described = pool.describe()
    if "error" in resp:
        raise RuntimeError(f"grading failed: {resp['error']}")
    result = _nb_result(src, plan.cells, plan.missing, resp)
    result.isolation = described     # type: ignore[attr-defined]  (shown by `course check`)
    return result


def run_autograde(assignment: str, course_dir: Path | str = COURSE_DIR, *, jobs: int | None = None,
                  students: Iterable[str] | None = None, isolation: bool = True, unsafe: bool = False) -> int:
    """``course autograde``: grade, save, print one line per submission and a summary. Exit 1 if any failed."""
    from course_tools.grading.results import result_path

    import signal

    course_dir = Path(course_dir)
    t0 = time.monotonic()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):   # stop the workers, keep earlier results
            signal.signal(sig, interrupted)
    try:
        results = autograde(assignment, course_dir, jobs=jobs, students=students, unsafe=unsafe or not isolation)
    except IsolationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the workers were stopped; results saved before the interruption are kept",
              file=sys.stderr)
        return 130
    if not results:
        print(f"no submissions under {course_dir / 'submitted'}/*/{assignment}/")
        return 0
    for r in results:
        print(f"{r.student:<24} {r.score:6.1f} / {r.max_score:<6.1f} {r.status}")
    failed = sum(r.failed for r in results)
    manual = sum(r.status == NEEDS_MANUAL for r in results)
    dt = time.monotonic() - t0
    print(f"{len(results)} submission(s) in {dt:.1f} s: {len(results) - failed - manual} graded, {manual} need manual "
          f"grading, {failed} failed. Results in {result_path(course_dir, assignment, '*').parent}/")
    return 1 if failed else 0
