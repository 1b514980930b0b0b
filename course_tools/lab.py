"""``make lab``: build the student versions of the assessments, then start JupyterLab.

The server listens on 127.0.0.1 only, at a free port (or ``--port``), with a token that is
printed in the URL, and serves ``notebooks/``. It runs as root too (``--allow-root``).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from course_tools.net.ports import LOOPBACK, free_port

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def release_all(course_dir: Path, *, quiet: bool = False) -> dict[str, list[Path]]:
    """Generate ``release/<assignment>/`` for every assignment under ``course_dir/source``."""
    from course_tools.grading.nbgrader_io import assignments, generate_student_version

    built = {}
    for name in assignments(course_dir):
        try:
            built[name] = generate_student_version(course_dir, name)
        except Exception as exc:  # one broken source must not keep learners out of the lessons
            print(f"  WARNING: no student version of {name}: {exc}")
            continue
        if not quiet:
            for path in built[name]:
                print(f"  student version: {path.relative_to(course_dir.parent)}")
    return built


def lab_argv(root: Path, port: int, token: str) -> list[str]:
    argv = [
        sys.executable, "-m", "jupyterlab",
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


def run_lab(root: Path | None = None, port: int | None = None, token: str | None = None,
            release: bool = True) -> int:
    root = Path(root or NOTEBOOKS).resolve()
    if release:
        print("Building the student versions of the assessments ...")
        release_all(root / "assessments")
    port = port or int(os.environ.get("COURSE_LAB_PORT") or free_port())
    token = token or secrets.token_hex(16)
    url = f"http://{LOOPBACK}:{port}/lab?token={token}"
    print(f"\nOpen the course at:\n\n    {url}\n\nStart with 08_caching.ipynb (the model chapter). Ctrl-C stops the server.\n", flush=True)
    argv = lab_argv(root, port, token)
    os.execv(argv[0], argv)  # replace this process: Ctrl-C and SIGTERM go straight to Jupyter
    return 0  # pragma: no cover
