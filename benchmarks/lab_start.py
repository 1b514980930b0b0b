"""Benchmark: how long ``make lab`` takes to start when nothing changed (issue 16: under 3 s).

Run: ``make bench-lab`` (or ``.venv/bin/python benchmarks/lab_start.py``). Not a test: it prints
observations and asserts nothing.

Each run starts ``make -s lab`` exactly as a learner does (at a free port given by
``COURSE_LAB_PORT``), reads the URL with its token from what it prints, and stops the clock when the
server answers ``/api/status``; then it stops the server. The first run is a warm-up that builds
any student version whose source changed; the next ``--runs`` are timed, and the best and median
are printed with the load average, so a busy machine reads as one. For comparison, the same
server started as plain ``python -m jupyterlab`` (without ``course_tools.labserver``'s two changes)
is timed the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_tools.lab import lab_argv, lab_env  # noqa: E402
from course_tools.net.ports import free_port  # noqa: E402

URL = re.compile(rb"http://127\.0\.0\.1:(\d+)/lab\?token=([0-9a-f]+)")


def _time_start(argv: list[str], env: dict[str, str], timeout: float = 120) -> float:
    """Seconds from starting ``argv`` until the lab it prints (or was given) answers /api/status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen = b""
    try:
        port = token = None
        os.set_blocking(proc.stdout.fileno(), False)
        while time.perf_counter() - t0 < timeout:
            seen += proc.stdout.read() or b""
            if port is None and (m := URL.search(seen)):
                port, token = m.group(1).decode(), m.group(2).decode()
            if port is not None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                        return time.perf_counter() - t0
                except OSError:
                    pass
            if proc.poll() is not None:
                raise RuntimeError(f"the lab exited early:\n{seen.decode(errors='replace')}")
            time.sleep(0.01)
        raise RuntimeError(f"no answer in {timeout} s:\n{seen.decode(errors='replace')}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _report(label: str, times: list[float]) -> None:
    print(f"{label:<44} best {min(times):5.2f} s   median {statistics.median(times):5.2f} s   "
          f"runs {', '.join(f'{t:.2f}' for t in times)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-plain", action="store_true", help="skip timing plain `python -m jupyterlab`")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}   cores: {os.cpu_count()}")

    def make_lab() -> float:
        env = dict(os.environ, COURSE_LAB_PORT=str(free_port()))
        return _time_start(["make", "-s", "lab"], env)

    print(f"warm-up (builds what changed): {make_lab():.2f} s")
    _report("`make lab`, nothing changed", [make_lab() for _ in range(args.runs)])
    if not args.no_plain:
        root = REPO / "notebooks"

        def plain() -> float:
            token = secrets.token_hex(8)
            argv = lab_argv(root, free_port(), token)
            argv[1:3] = ["-m", "jupyterlab"]  # the same server without course_tools.labserver
            env = lab_env("learner", root)
            env["PYTHONUNBUFFERED"] = "1"
            port = next(a.split("=")[1] for a in argv if a.startswith("--ServerApp.port="))
            print_url = [sys.executable, "-c",
                         f"print('http://127.0.0.1:{port}/lab?token={token}', flush=True);"
                         f"import os; os.execv({argv[0]!r}, {argv!r})"]
            return _time_start(print_url, env)

        _report("plain `python -m jupyterlab`, same config", [plain() for _ in range(args.runs)])
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
