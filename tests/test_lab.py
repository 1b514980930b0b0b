"""Does `make lab` build the student versions, serve the lessons in learner mode (no instructor tools, no
solutions), open the instructor's lab with --instructor, and stop cleanly?"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from course_tools.lab import INSTRUCTOR_PLUGINS, NEWS_PLUGIN, release_all
from course_tools.net.ports import free_port

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _copy_course(tmp_path: Path) -> Path:
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "gradebook.db", ".ipynb_checkpoints", ".release-stamps"))
    return root


class Lab:
    """`course lab` started as `make lab` starts it, on a copy of the course."""

    def __init__(self, tmp_path: Path, *extra: str):
        self.root = _copy_course(tmp_path) if not (tmp_path / "notebooks").exists() else tmp_path / "notebooks"
        self.port, self.token = free_port(), "test-token-123"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
               "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
        course = Path(sys.executable).with_name("course")
        self.proc = subprocess.Popen([str(course), "lab", "--root", str(self.root), "--port", str(self.port),
                                      "--token", self.token, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def wait(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"course lab exited early:\n{self.proc.stdout.read()}")
            try:
                return _get(self.url("/api/contents"))
            except OSError:
                time.sleep(0.3)
        pytest.fail("JupyterLab did not answer within 120 s")

    def stop(self) -> str:
        children = psutil.Process(self.proc.pid).children(recursive=True) if self.proc.poll() is None else []
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode in (0, -signal.SIGTERM), out[-2000:]
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        return out


def test_learner_lab_serves_lessons_and_hides_the_instructor_side(tmp_path):
    """In the default (learner) mode: lessons and student versions are served; solutions, gradebook and
    nbgrader's instructor tools are not; JupyterLab does not ask about news; no nbgrader config warning."""
    lab = Lab(tmp_path)
    try:
        listing = lab.wait()
        names = {item["name"] for item in listing["content"]}
        lessons = {p.name for p in lab.root.glob("[0-9][0-9]_*.ipynb")}
        assert lessons and lessons <= names
        release = _get(lab.url("/api/contents/assessments/release"))
        assert {i["name"] for i in release["content"]} >= {"08_caching"}
        visible = {i["name"] for i in _get(lab.url("/api/contents/assessments"))["content"]}
        assert visible == {"release"}, f"a learner's file browser shows the instructor's side: {visible}"
        for hidden in ("assessments/source", "assessments/source/08_caching/08_caching.ipynb",
                       "assessments/nbgrader_config.py", "assessments/./source"):
            assert _status(lab.url(f"/api/contents/{hidden}")) == 404, hidden
            assert _status(lab.url(f"/files/{hidden}")) in (403, 404), hidden
        assert _status(lab.url("/formgrader")) == 404, "formgrader must not be served to learners"
        with urllib.request.urlopen(lab.url("/lab"), timeout=10) as r:
            page = r.read().decode()
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        disabled = set(config.get("disabled_labextensions") or config.get("disabledExtensions") or [])
        assert set(INSTRUCTOR_PLUGINS) | {NEWS_PLUGIN} <= disabled, disabled
    finally:
        out = lab.stop()
    assert f"http://127.0.0.1:{lab.port}/lab?token={lab.token}" in out and "learner mode" in out
    assert "No nbgrader_config.py" not in out, out[-3000:]


def test_instructor_lab_has_formgrader_and_sources(tmp_path):
    """`course lab --instructor` opens the same lab with formgrader and assessments/source/."""
    lab = Lab(tmp_path, "--instructor", "--no-release")
    try:
        lab.wait()
        visible = {i["name"] for i in _get(lab.url("/api/contents/assessments"))["content"]}
        assert "source" in visible
        assert _status(lab.url("/formgrader")) == 200
    finally:
        out = lab.stop()
    assert "instructor mode" in out


def test_student_versions_are_rebuilt_only_when_their_source_changes(tmp_path):
    """Does a second `make lab` skip building student versions whose source did not change?"""
    course = _copy_course(tmp_path) / "assessments"
    first = release_all(course, quiet=True)
    assert set(first) >= {"08_caching"}
    assert release_all(course, quiet=True) == {}
    src = course / "source" / "08_caching" / "08_caching.ipynb"
    nb = json.loads(src.read_text())
    nb["cells"][0]["source"] += "\n"
    src.write_text(json.dumps(nb))
    assert set(release_all(course, quiet=True)) == {"08_caching"}
