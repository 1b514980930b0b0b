"""``make bench`` / ``course bench``: grading throughput, plain nbgrader vs ``course autograde``.

Builds a scratch course (under ``.bench/`` of the checkout, git-ignored) with ``n`` synthetic
submissions of the Caching assessment (the test fixture if Caching is absent): a mix of
correct, partly wrong and untouched notebooks. Then, on this machine, in one run:

1. ``nbgrader autograde ASSIGNMENT --force`` — the nbgrader CLI, once for the whole class,
   sequential, as an instructor would run it;
2. ``course autograde ASSIGNMENT`` (default ``--jobs``: twice the cores) — student code in the jail, verdicts in the clean
   process (the CLI, start-up included; ``--unsafe``, said loudly, where the jail is unavailable);

and prints both wall times, their ratio, and whether the two agree on every score.
Performance goals live here only, never in unit tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course_tools.grading.paths import COURSE_DIR

__all__ = ["make_bench_course", "run_bench"]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "grading" / "files" / "course"
_HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
_MARKERS = re.compile(r"[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?")


def _pick(assignment: str | None, course_dir: Path | None) -> tuple[Path, str]:
    if course_dir is not None:
        course_dir = Path(course_dir)
        names = sorted(p.name for p in (course_dir / "source").iterdir() if p.is_dir())
        return course_dir, assignment or ("08_caching" if "08_caching" in names else names[0])
    if (COURSE_DIR / "source" / (assignment or "08_caching")).is_dir():
        return COURSE_DIR, assignment or "08_caching"
    return FIXTURE, assignment or "fixture_quiz"


def _src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def make_bench_course(workdir: Path, n: int, assignment: str | None = None,
                      course_dir: Path | None = None) -> tuple[Path, str]:
    """A scratch nbgrader course with ``n`` submissions; returns (course root, assignment)."""
    from course_tools.grading.nbgrader_io import generate_student_version

    origin, assignment = _pick(assignment, course_dir)
    course = Path(workdir) / "course"
    shutil.rmtree(course, ignore_errors=True)
    shutil.copytree(origin / "source" / assignment, course / "source" / assignment)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///' + {str(course / 'gradebook.db')!r}\n"
        "c.ExecutePreprocessor.timeout = 60\n"
        f"c.Exchange.root = {str(course / '.exchange')!r}\n")
    released = {p.name: p for p in generate_student_version(course, assignment, db_path=course / "gradebook.db")}
    for i in range(n):
        d = course / "submitted" / f"student{i:03d}" / assignment
        d.mkdir(parents=True)
        for src in sorted((course / "source" / assignment).glob("*.ipynb")):
            if i % 4 == 3:        # untouched release
                shutil.copy(released[src.name], d / src.name)
                continue
            nb = json.loads(src.read_text())
            for c in nb["cells"]:
                text = _MARKERS.sub("", _HIDDEN.sub("", _src(c)))
                if i % 4 == 2 and c["cell_type"] == "code" and re.match(r"answer_\d+ = ", text.strip()):
                    text = re.sub(r"= .*", '= "a"', text.strip(), count=1)   # wrong-ish multiple choice
                c["source"] = text
            (d / src.name).write_text(json.dumps(nb, indent=1))
    return course, assignment


def _nbgrader_scores(course: Path, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student_id] = float(sub.score)
    return out


def run_bench(n: int = 40, jobs: int | None = None, assignment: str | None = None, course_dir: Path | None = None,
              workdir: Path | None = None) -> int:
    from course_tools.grading.autograde import default_jobs

    jobs = jobs or default_jobs()
    workdir = Path(workdir or ROOT / ".bench")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"building {n} synthetic submissions ...", flush=True)
    course, assignment = make_bench_course(workdir, n, assignment, course_dir)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]))
    nbgrader = [str(bindir / "nbgrader")] if (bindir / "nbgrader").exists() else [sys.executable, "-m", "nbgrader"]

    print(f"[1/2] nbgrader autograde {assignment} (sequential, {n} submissions) ...", flush=True)
    t0 = time.monotonic()
    p = subprocess.run([*nbgrader, "autograde", assignment, "--force"], cwd=course, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t_nb = time.monotonic() - t0
    if p.returncode != 0:
        print(f"nbgrader exited with {p.returncode}:\n{p.stderr[-2000:]}", file=sys.stderr)

    from course_tools.grading.sandbox import jail_available

    jailed, reasons = jail_available()
    how = "jailed" if jailed else "UNSAFE: the jail is not available here (" + "; ".join(reasons) + ")"
    print(f"[2/2] course autograde {assignment} --jobs {jobs} ({how}) ...", flush=True)
    t0 = time.monotonic()
    q = subprocess.run([str(bindir / "course") if (bindir / "course").exists() else sys.executable,
                        *([] if (bindir / "course").exists() else ["-m", "course_tools.cli"]),
                        "autograde", assignment, "--jobs", str(jobs), "--course-dir", str(course),
                        *([] if jailed else ["--unsafe"])],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t_us = time.monotonic() - t0
    if q.returncode != 0:
        print(f"course autograde exited with {q.returncode}:\n{q.stderr[-2000:]}", file=sys.stderr)

    from course_tools.grading.results import load_results

    ours = {r.student: r.score for r in load_results(course, assignment)}
    theirs = _nbgrader_scores(course, assignment) if p.returncode == 0 else {}
    agree = sum(1 for s, v in ours.items() if s in theirs and abs(theirs[s] - v) < 1e-9)
    print()
    print(f"assignment {assignment}, {n} submissions, {os.cpu_count()} cores")
    print(f"  nbgrader autograde (sequential): {t_nb:7.1f} s  ({t_nb / n:.2f} s per submission)")
    print(f"  course autograde --jobs {jobs}:       {t_us:7.1f} s  ({t_us / n:.2f} s per submission, {how})")
    print(f"  throughput ratio: {t_nb / t_us:.1f}x  (goal >= 3x)")
    print(f"  scores agree on {agree}/{len(ours)} submissions" + ("" if theirs else " (nbgrader failed)"))
    return 0 if p.returncode == 0 and q.returncode == 0 else 1
