"""A real JupyterLab, started as `make lab` starts it, driven by Playwright in Debian's Chromium.

Skipped with one line when no Chromium is installed (`sudo apt-get install chromium` enables it); under
CI=true a missing browser is a failure (CI installs it: see scripts/ensure-system-packages).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_tools.net.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# the flags a sandboxed, offline, root CI needs (no background connections to Google's hosts)
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _need_browser():
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (make test installs it from pyproject.toml)"
    if not CHROMIUM:
        return "no Chromium: install Debian's `chromium` package (apt-get install chromium) to run the browser tests"
    return None


@pytest.fixture(scope="module")   # playwright's event loop must not outlive this module (asyncio tests follow)
def playwright_driver():
    why = _need_browser()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_driver):
    """A fresh Chromium per test: every process it starts (renderers, utility processes) ends with the test."""
    import psutil

    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                "chrom" in (p.name() or "") for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE):
            time.sleep(0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, playwright_driver):
    """`course lab` (learner mode) on a copy of notebooks/, started as `make lab` starts it."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "gradebook.db", ".ipynb_checkpoints", ".release-stamps"))
    port, token = free_port(), "browser-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "ws"),
           "COURSE_PROGRESS_FILE": str(tmp / "progress.json")}
    course = Path(sys.executable).with_name("course")
    proc = subprocess.Popen([str(course), "lab", "--root", str(root), "--port", str(port), "--token", token],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"course lab exited early:\n{proc.stdout.read()}")
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start within 180 s")
            time.sleep(0.3)
    try:
        yield {"base": base, "token": token, "root": root, "pid": proc.pid}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
