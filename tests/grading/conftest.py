"""Fixtures for tests that run real programs in the grading jail (course_tools.grading.sandbox).

``jailed`` runs a Python snippet in a :class:`~course_tools.grading.sandbox.Jail` started by a
separate *runner* process that first calls ``private_loopback()`` (so the test process keeps the
host's network namespace), and returns what the snippet printed as JSON plus the jail's facts.
Without the jail (no bubblewrap, not root, no cgroups) these tests skip with one line saying why;
under ``CI=true`` they fail instead, because CI must prove the guarantees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from course_tools.grading import sandbox


def require_jail() -> None:
    ok, reasons = sandbox.jail_available()
    if ok:
        return
    msg = "the grading jail is not available here: " + "; ".join(reasons)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI must run these tests)")
    pytest.skip(msg)


# The runner: private loopback, optionally a server of its own on it, then one jail.
RUNNER = r"""
import json, os, socket, sys, threading, time
from course_tools.grading import sandbox
cfg = json.loads(sys.argv[1])
if cfg["private_net"]:
    sandbox.private_loopback()
port = None
if cfg["serve"]:
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1); port = srv.getsockname()[1]
    def serve():
        c, _ = srv.accept(); c.sendall(b"hello from the grader " + c.recv(100)); c.close()
    threading.Thread(target=serve, daemon=True).start()
limits = sandbox.Limits(**cfg["limits"])
env = {"SERVER_PORT": str(port)} if port else {}
files = {k: v.encode() for k, v in cfg["files"].items()}
t0 = time.monotonic()
with sandbox.Jail([sys.executable, "-c", cfg["code"]], limits=limits, files=files, env=env,
                  hide_paths=cfg["hide"], stdout=__import__("subprocess").PIPE, stderr=__import__("subprocess").PIPE) as j:
    print(json.dumps({"started": True, "uid": j.uid, "cgroups": [str(d) for d in j.cgroup.dirs]}), flush=True)
    rc = j.wait(cfg["timeout"])
    wall = time.monotonic() - t0
    out = j.stdout.read().decode("utf-8", "replace") if rc is not None else ""
    err = j.stderr.read().decode("utf-8", "replace") if rc is not None else ""
    cpu = j.cpu_seconds()
    uid, dirs = j.uid, list(j.cgroup.dirs)
print(json.dumps({"rc": rc, "out": out, "err": err[-3000:], "cpu": cpu, "wall": wall, "uid": uid,
                  "live_after_kill": sandbox.live_pids_of_uid(uid), "cgroups_left": [str(d) for d in dirs if d.exists()],
                  "cpu_after_kill": j.cpu_seconds()}))
"""


def run_jailed(code: str, *, limits: dict | None = None, files: dict[str, str] | None = None,
               hide: list[str] | None = None, serve: bool = False, private_net: bool = True,
               timeout: float = 60) -> dict:
    """Run ``code`` in a jail (see the module docstring). Returns the runner's report, with
    ``seen`` = the JSON object the snippet printed last (or None)."""
    require_jail()
    cfg = {"code": textwrap.dedent(code), "limits": limits or {}, "files": files or {}, "hide": hide or [],
           "serve": serve, "private_net": private_net, "timeout": timeout}
    p = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(cfg)], capture_output=True, text=True,
                       timeout=timeout + 60)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and len(lines) == 2, f"runner failed: {p.stdout}\n{p.stderr}"
    report = json.loads(lines[-1])
    seen = [ln for ln in report["out"].splitlines() if ln.startswith(("{", "["))]
    report["seen"] = json.loads(seen[-1]) if seen else None
    return report


@pytest.fixture
def jailed():
    """``jailed(code, ...)``: run a snippet in a fresh jail (see :func:`run_jailed`)."""
    return run_jailed
