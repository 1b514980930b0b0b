"""``make bench-class`` / ``course bench-class``: grading a whole class, time and memory.

Builds a scratch course under ``.bench/class/`` (git-ignored) with ``n`` (default 500) synthetic
submissions of one assessment (default 08_caching; the mix of
:func:`course_tools.grading.bench.make_bench_course`: half solved, a quarter partly wrong, a
quarter the untouched student version), then runs ``course autograde ASSIGNMENT --jobs J`` as the
instructor would (its progress bar with ETA on the terminal) while sampling, every 0.2 s, the
resident memory of the whole process tree it starts (the CLI, its clean workers, the jails and
student processes in them). Prints and writes to ``.bench/class/result.json``: wall time,
submissions per minute, peak RSS of the tree (the sum of the processes' RSS at one instant: an upper
bound, shared pages counted once per process), the largest single process, and the score mix.

A benchmark, never a timed test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from course_tools.grading.bench import ROOT, make_bench_course

__all__ = ["TreeSampler", "run_bench_class"]


class TreeSampler:
    """Peak summed RSS of a process and all its descendants, sampled in a background thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_tree = 0
        self.peak_one = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler", daemon=True)

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total, one = 0, 0
        for p in procs:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            one = max(one, rss)
        self.peak_tree = max(self.peak_tree, total)
        self.peak_one = max(self.peak_one, one)
        self.peak_procs = max(self.peak_procs, len(procs))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_bench_class(n: int = 500, jobs: int = 2, assignment: str | None = None, course_dir: Path | None = None,
                    workdir: Path | None = None, unsafe: bool = False) -> int:
    workdir = Path(workdir or ROOT / ".bench" / "class")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"building {n} synthetic submissions ...", flush=True)
    course, assignment = make_bench_course(workdir, n, assignment, course_dir)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]))
    cmd = [sys.executable, "-m", "course_tools.cli", "autograde", assignment, "--jobs", str(jobs),
           "--course-dir", str(course), *(["--unsafe"] if unsafe else [])]
    print(f"course autograde {assignment} --jobs {jobs}: {n} submissions (progress and ETA below)", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)   # stderr: tqdm's bar with ETA
    with TreeSampler(proc.pid) as sampler:
        rc = proc.wait()
    wall = time.monotonic() - t0

    from course_tools.grading.results import load_results

    results = load_results(course, assignment)
    mix = Counter("failed" if r.failed else "full" if r.score == r.max_score else "zero" if r.score == 0
                  else "partial" for r in results)
    mib = 2 ** 20
    out = {"assignment": assignment, "submissions": n, "jobs": jobs, "cores": os.cpu_count(),
           "wall_s": round(wall, 1), "per_minute": round(60 * len(results) / wall, 1) if wall else None,
           "peak_tree_rss_mib": round(sampler.peak_tree / mib), "peak_process_rss_mib": round(sampler.peak_one / mib),
           "peak_processes": sampler.peak_procs, "results": dict(mix), "exit_code": rc,
           "machine_load_1min_at_end": round(os.getloadavg()[0], 2)}
    (workdir / "result.json").write_text(json.dumps(out, indent=1))
    print()
    print(f"assignment {assignment}, {n} submissions, --jobs {jobs}, {os.cpu_count()} cores "
          f"(load {out['machine_load_1min_at_end']} at the end)")
    print(f"  wall time:          {wall:8.1f} s  ({out['per_minute']} submissions per minute)")
    print(f"  peak RSS, all processes of the run: {out['peak_tree_rss_mib']} MiB "
          f"(largest one process: {out['peak_process_rss_mib']} MiB; at most {sampler.peak_procs} processes)")
    print(f"  results: {dict(mix)}")
    print(f"  written to {workdir / 'result.json'}")
    return 0 if rc == 0 and len(results) == n and not mix.get("failed") else 1
