"""Does `make lab` build the student versions, serve the lessons, and stop cleanly?"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from course_tools.net.ports import free_port

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def test_lab_serves_lessons_and_student_versions(tmp_path):
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "gradebook.db", ".ipynb_checkpoints"))
    port, token = free_port(), "test-token-123"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    course = Path(sys.executable).with_name("course")
    proc = subprocess.Popen([str(course), "lab", "--root", str(root), "--port", str(port), "--token", token],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        listing = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"course lab exited early:\n{proc.stdout.read()}")
            try:
                listing = _get(f"{base}/api/contents?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer within 120 s"
        names = {item["name"] for item in listing["content"]}
        lessons = {p.name for p in root.glob("[0-9][0-9]_*.ipynb")}
        assert lessons and lessons <= names
        release = _get(f"{base}/api/contents/assessments/release?token={token}")
        assert {i["name"] for i in release["content"]} >= {"08_caching"}
        # the lab UI itself is served
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), out[-2000:]
    assert f"http://127.0.0.1:{port}/lab?token={token}" in out
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
