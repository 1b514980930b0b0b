"""``make lab``: build the student versions of the assessments, then start JupyterLab.

Two modes, one lab:

* **learner** (the default): nbgrader's instructor tools are switched off for this server
  (the Create Assignment sidebar, formgrader, course list, Validate button and their server
  extensions), JupyterLab does not ask about news, and the instructor's side of the course
  (``assessments/source/`` with the solutions, the gradebook, other students' folders, nbgrader's
  config) is neither listed in the file browser nor served by the contents API.
* **instructor** (``course lab --instructor``): the same lab with formgrader and the instructor
  tools, on the course's nbgrader config (``notebooks/assessments/nbgrader_config.py``).

Each mode's Jupyter configuration is written to ``.lab/<mode>/`` (ignored by git) and put first on
``JUPYTER_CONFIG_PATH`` for this server only; nothing global is changed. The server listens on
127.0.0.1 only, at a free port (or ``--port``), with a token printed in the URL, and serves
``notebooks/``. A student version is rebuilt only when its source changed (a stamp per
assignment), so a second ``make lab`` starts at once; the server is JupyterLab started through
``course_tools.labserver``, which skips two start-up costs a course lab never uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

from course_tools.net.ports import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# nbgrader's JupyterLab plugins and server extensions that only an instructor needs
INSTRUCTOR_PLUGINS = [f"@jupyter/nbgrader:{p}" for p in
                      ("assignment-list", "course-list", "create-assignment", "formgrader", "menu",
                       "validate-assignment")]
INSTRUCTOR_SERVER_EXTENSIONS = [f"nbgrader.server_extensions.{e}" for e in
                                ("formgrader", "validate_assignment", "assignment_list", "course_list")]
# JupyterLab's "Would you like to receive official Jupyter news?" prompt
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
# what a learner's lab neither lists nor serves, relative to the served root
INSTRUCTOR_PATHS = ("assessments/source", "assessments/submitted", "assessments/autograded",
                    "assessments/feedback", "assessments/reports", "assessments/grades",
                    "assessments/gradebook.db", "assessments/nbgrader_config.py", "assessments/.nbgrader.log",
                    "assessments/.release-stamps")


def _source_digest(source_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(source_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        from importlib.metadata import version

        h.update(version("nbgrader").encode())
    except Exception:  # pragma: no cover - nbgrader is a dependency
        pass
    return h.hexdigest()


def release_all(course_dir: Path, *, quiet: bool = False, force: bool = False) -> dict[str, list[Path]]:
    """Generate ``release/<assignment>/`` for every assignment whose source changed since the last
    build (every one with ``force``). Returns what was built."""
    from course_tools.grading.paths import COURSE_DIR  # noqa: F401  (cheap; nbgrader_io is imported lazily)

    course_dir = Path(course_dir)
    stamps = course_dir / ".release-stamps"
    built: dict[str, list[Path]] = {}
    names = sorted(p.name for p in (course_dir / "source").iterdir() if p.is_dir()) \
        if (course_dir / "source").is_dir() else []
    for name in names:
        digest = _source_digest(course_dir / "source" / name)
        stamp = stamps / name
        release = course_dir / "release" / name
        if not force and release.is_dir() and stamp.is_file() and stamp.read_text() == digest:
            continue
        from course_tools.grading.nbgrader_io import generate_student_version

        try:
            built[name] = generate_student_version(course_dir, name)
        except Exception as exc:  # one broken source must not keep learners out of the lessons
            print(f"  WARNING: no student version of {name}: {exc}")
            continue
        stamps.mkdir(exist_ok=True)
        stamp.write_text(digest)
        if not quiet:
            for path in built[name]:
                print(f"  student version: {path.relative_to(course_dir.parent)}")
    return built


def write_mode_config(mode: str, root: Path, config_root: Path | None = None) -> Path:
    """Write the Jupyter config of ``mode`` ("learner" or "instructor") and return its folder."""
    if mode not in ("learner", "instructor"):
        raise ValueError(f"unknown lab mode {mode!r}")
    folder = Path(config_root or REPO / ".lab") / mode
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    disabled = {NEWS_PLUGIN: True}
    server: dict = {"ServerApp": {}}
    if mode == "learner":
        disabled.update({p: True for p in INSTRUCTOR_PLUGINS})
        server["ServerApp"]["jpserver_extensions"] = {e: False for e in INSTRUCTOR_SERVER_EXTENSIONS}
        server["ServerApp"]["contents_manager_class"] = "course_tools.labmode.LearnerContentsManager"
        server["LearnerContentsManager"] = {"hidden_paths": list(INSTRUCTOR_PATHS)}
    else:
        course = (Path(root) / "assessments").resolve()
        (folder / "nbgrader_config.py").write_text(
            "# written by course_tools.lab: the course's own nbgrader config, for formgrader\n"
            f"load_subconfig({str(course / 'nbgrader_config.py')!r})\n")
    (folder / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}, indent=1))
    (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=1))
    return folder


def lab_argv(root: Path, port: int, token: str) -> list[str]:
    argv = [
        sys.executable, "-m", "course_tools.labserver",  # JupyterLab, minus two start-up costs
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=",  # no fetching news from the internet
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def lab_env(mode: str, root: Path, config_root: Path | None = None) -> dict[str, str]:
    folder = write_mode_config(mode, root, config_root)
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])])
    return env


def run_lab(root: Path | None = None, port: int | None = None, token: str | None = None,
            release: bool = True, instructor: bool = False) -> int:
    root = Path(root or NOTEBOOKS).resolve()
    if release:
        built = release_all(root / "assessments")
        if built:
            print(f"Built the student versions of: {', '.join(built)}")
    port = port or int(os.environ.get("COURSE_LAB_PORT") or free_port())
    token = token or secrets.token_hex(16)
    mode = "instructor" if instructor else "learner"
    env = lab_env(mode, root)
    url = f"http://{LOOPBACK}:{port}/lab?token={token}"
    start = "00_start.ipynb (the course map and your progress)" if (root / "00_start.ipynb").exists() else "01_http.ipynb"
    print(f"\nOpen the course ({mode} mode) at:\n\n    {url}\n\nStart with {start}. Ctrl-C stops the server.\n",
          flush=True)
    argv = lab_argv(root, port, token)
    os.execve(argv[0], argv, env)  # replace this process: Ctrl-C and SIGTERM go straight to Jupyter
    return 0  # pragma: no cover
