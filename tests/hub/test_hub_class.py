"""Does a whole class work on a real JupyterHub on this machine, end to end, with learners kept apart?

Throwaway unix users (prefix ``cthub``) for two learners and one instructor, a real JupyterHub with the
Python configurable-http-proxy and the local spawner (each server runs as its user), nbgrader's exchange
in a temporary folder. The instructor releases 08_caching; each learner fetches and submits through
their own single-user server's nbgrader REST endpoints, authenticated with a hub API token of their
own; the instructor collects from the exchange, autogrades in the jail and returns feedback; each
learner fetches theirs. Needs root (to create users); without it the test skips, under CI=true it fails.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest

from course_tools.grading.autograde import autograde
from course_tools.grading.exchange import collect_exchange, release_to_exchange, return_feedback
from course_tools.grading.feedback import score_text, write_feedback
from course_tools.grading.nbgrader_io import COURSE_DIR
from course_tools.hub import HubProcess, Settings, launcher
from course_tools.net.ports import free_port

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.network]

ASSIGNMENT = "08_caching"
PREFIX = "cthub"


def _need_root() -> None:
    why = None
    if os.geteuid() != 0:
        why = "needs root to create throwaway unix users (one per learner: the isolation under test)"
    elif not shutil.which("useradd") or not shutil.which("userdel"):
        why = "needs useradd/userdel (Debian package passwd)"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"hub test cannot run in CI: {why}")
        pytest.skip(why)


def _http(method: str, url: str, token: str, data: dict | None = None, form: dict | None = None,
          timeout: float = 60) -> tuple[int, bytes]:
    body, headers = None, {"Authorization": f"token {token}"}
    if data is not None:
        body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
    elif form is not None:
        body, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class ClassUsers:
    """Throwaway unix users with homes (mode 700) under ``base``; removed with everything they own."""

    def __init__(self, base: Path):
        tag = secrets.token_hex(2)
        self.learners = [f"{PREFIX}{tag}-alice", f"{PREFIX}{tag}-bob"]
        self.instructor = f"{PREFIX}{tag}-teach"
        self.base = base
        self.created: list[str] = []
        self.uids: dict[str, int] = {}

    def __enter__(self):
        _remove_stale_users()
        for name in [*self.learners, self.instructor]:
            home = self.base / "home" / name
            subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh",
                            "--user-group", name], check=True, capture_output=True)
            self.created.append(name)
            self.uids[name] = self.uid(name)
            home.chmod(0o700)
        return self

    def uid(self, name: str) -> int:
        import pwd

        return self.uids.get(name) or pwd.getpwnam(name).pw_uid

    def processes(self, *, settle: float = 0.0) -> list[psutil.Process]:
        """The class's users' processes that still run (a zombie has ended; it only waits to be reaped),
        waiting up to ``settle`` seconds for exiting ones to go."""
        uids = set(self.uids.values())
        deadline = time.monotonic() + settle
        while True:
            left = [p for p in psutil.process_iter(["uids", "status"]) if p.info["uids"]
                    and p.info["uids"].real in uids and p.info["status"] != psutil.STATUS_ZOMBIE]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.2)

    def __exit__(self, *exc):
        for name in self.created:
            for p in [p for p in self.processes() if p.info["uids"].real == self.uids[name]]:
                p.kill()
            subprocess.run(["userdel", "--force", name], capture_output=True)
            subprocess.run(["groupdel", name], capture_output=True)


def _remove_stale_users() -> None:
    """Users of an interrupted earlier run (prefix and a home under a course-hub- temporary folder)."""
    import pwd

    for pw in pwd.getpwall():
        if pw.pw_name.startswith(PREFIX) and "/course-hub-" in pw.pw_dir:
            for p in psutil.process_iter(["uids"]):
                if p.info["uids"] and p.info["uids"].real == pw.pw_uid:
                    p.kill()
            subprocess.run(["userdel", "--force", pw.pw_name], capture_output=True)
            subprocess.run(["groupdel", pw.pw_name], capture_output=True)


def _as_user(user: str, settings, code: str) -> dict:
    """Run ``code`` as a learner, seeing what their server sees (as in their own terminal); its JSON result."""
    out = subprocess.run([*launcher(user, settings), sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_class_on_jupyterhub_end_to_end():
    """Release, fetch, submit, collect, autograde, return and fetch feedback on a real hub: full and zero
    scores, each learner sees only their own feedback, and one learner can neither read the other's
    submission or the instructor's source through the exchange, nor forge a submission in their name."""
    _need_root()
    base = Path(tempfile.mkdtemp(prefix="course-hub-"))
    base.chmod(0o755)
    try:
        with ClassUsers(base) as users:
            course = base / "instructor" / "assessments"
            shutil.copytree(COURSE_DIR / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
            shutil.copy(COURSE_DIR / "nbgrader_config.py", course / "nbgrader_config.py")
            (base / "instructor").chmod(0o700)            # the instructor's side: solutions, grades
            exchange = base / "exchange"
            admin = secrets.token_hex(32)
            s = Settings(base / "runtime", exchange, free_port(), users.learners, [users.instructor], course, admin)
            _run_class(users, s, admin, course, exchange)
            left = users.processes(settle=15)
            assert not left, f"processes of the class's users still running: {[p.info for p in left]}"
        import pwd

        for name in [*users.learners, users.instructor]:
            with pytest.raises(KeyError):
                pwd.getpwnam(name)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_class(users: ClassUsers, s: Settings, admin: str, course: Path, exchange: Path) -> None:
    (alice, bob), teach = users.learners, users.instructor
    with HubProcess(s) as hub:
        api = f"{hub.url}/hub/api"

        def start(user: str) -> str:
            status, body = _http("POST", f"{api}/users/{user}/server", admin)
            assert status in (201, 202), (status, body, hub.log_tail())
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                _, info = _http("GET", f"{api}/users/{user}", admin)
                server = json.loads(info).get("servers", {}).get("")
                if server and server.get("ready"):
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"{user}'s server did not start: {hub.log_tail()}")
            status, body = _http("POST", f"{api}/users/{user}/tokens", admin,
                                 data={"note": "course hub test", "expires_in": 900})
            assert status in (200, 201), (status, body)
            return json.loads(body)["token"]

        with ThreadPoolExecutor(3) as ex:
            tokens = dict(zip([alice, bob, teach], ex.map(start, [alice, bob, teach])))

        def srv(user: str, path: str) -> str:
            return f"{hub.url}/user/{user}/{path}"

        # each server runs as its own unix user, from the course's environment, in its mode
        for user in (alice, bob, teach):
            procs = [p for p in users.processes() if p.info["uids"].real == users.uid(user)]
            assert procs and any(sys.prefix in " ".join(p.cmdline()) for p in procs), user
        # a kernel in a learner's server is the course's Python (and must be gone when the hub stops)
        status, body = _http("POST", srv(alice, "api/kernels"), tokens[alice], data={"name": "python3"})
        assert status == 201, body
        deadline = time.monotonic() + 60
        while not [p for p in users.processes() if p.info["uids"].real == users.uid(alice)
                   and "ipykernel" in " ".join(p.cmdline())]:
            assert time.monotonic() < deadline, "the kernel did not start"
            time.sleep(0.3)
        kernel = next(p for p in users.processes() if "ipykernel" in " ".join(p.cmdline()))
        assert Path(kernel.cmdline()[0]).parent.parent.resolve() == Path(sys.prefix).resolve()
        assert _http("GET", srv(teach, "formgrader/"), tokens[teach])[0] == 200      # instructor mode
        assert _http("GET", srv(alice, "formgrader/"), tokens[alice])[0] == 404      # learner mode
        # a learner's token opens only their own server
        assert _http("GET", srv(alice, "api/contents/"), tokens[bob])[0] in (403, 404)

        # the instructor releases; both learners fetch through their own servers
        release_to_exchange(course, ASSIGNMENT, exchange)
        for user in (alice, bob):
            status, body = _http("GET", srv(user, "assignments?course_id=backend-engineering"), tokens[user])
            listed = json.loads(body)
            assert status == 200 and listed["success"], body
            assert ASSIGNMENT in [a["assignment_id"] for a in listed["value"]]
            status, body = _http("POST", srv(user, "assignments/fetch"), tokens[user],
                                 form={"course_id": "backend-engineering", "assignment_id": ASSIGNMENT})
            assert status == 200 and json.loads(body)["success"], body

        # alice solves it (the instructor's solution stands in for her work); bob submits it untouched
        solved = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        status, body = _http("PUT", srv(alice, f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"), tokens[alice],
                             data={"type": "notebook", "format": "json", "content": solved})
        assert status in (200, 201), body
        for user in (alice, bob):
            status, body = _http("POST", srv(user, "assignments/submit"), tokens[user],
                                 form={"course_id": "backend-engineering", "assignment_id": ASSIGNMENT})
            assert status == 200 and json.loads(body)["success"], body

        # bob, in his own terminal, tries to get at alice's submission and the solutions, and to forge
        inbound = exchange / "backend-engineering" / "inbound"
        attempt = _as_user(bob, s, textwrap.dedent(f"""
            import glob, json, os
            out = {{}}
            def tryit(key, f):
                try:
                    out[key] = ["ok", f()]
                except OSError as e:
                    out[key] = ["refused", e.errno]
            tryit("list_inbound", lambda: os.listdir({str(inbound)!r}))
            out["glob_alice"] = glob.glob({str(inbound)!r} + "/{alice}+*")
            tryit("instructor_source", lambda: os.listdir({str(course / 'source')!r}))
            tryit("repo_source", lambda: os.listdir({str(COURSE_DIR / 'source')!r}))
            tryit("alice_home", lambda: os.listdir({str(s.runtime.parent / 'home' / alice)!r}))
            readable = []
            for d, _, files in os.walk({str(exchange)!r}):
                for f in files:
                    try:
                        readable.append(open(os.path.join(d, f), encoding="utf-8", errors="replace").read())
                    except OSError:
                        pass
            out["solution_visible"] = any("BEGIN SOLUTION" in t or "BEGIN HIDDEN TESTS" in t for t in readable)
            forged = os.path.join({str(inbound)!r}, "{alice}+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+forged")
            tryit("forge", lambda: (os.mkdir(forged), os.chmod(forged, 0o777),
                                    open(os.path.join(forged, "{ASSIGNMENT}.ipynb"), "w").write(
                                        open({str(s.runtime.parent / 'home' / bob / ASSIGNMENT / (ASSIGNMENT + '.ipynb'))!r}).read()),
                                    True)[-1])
            print(json.dumps(out))
        """))
        assert attempt["list_inbound"][0] == "refused", attempt
        assert attempt["glob_alice"] == []
        assert attempt["instructor_source"][0] == "refused"
        assert attempt["repo_source"] == ["refused", errno.ENOENT]   # the checkout's solutions: covered
        assert attempt["alice_home"][0] == "refused"
        assert attempt["solution_visible"] is False
        assert attempt["forge"] == ["ok", True]        # the exchange lets him write it: collect must refuse it

        # the instructor collects from the exchange: one submission each, the forgery refused
        report = collect_exchange(exchange, ASSIGNMENT, course)
        assert report.ok, report.summary()
        assert sorted(i.student for i in report.imported) == sorted([alice, bob]), report.summary()
        assert any("forged" in sk.origin and "another user may have forged it" in sk.reason
                   for sk in report.skipped), report.summary()
        got = nbformat.read(course / "submitted" / alice / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        assert "BEGIN SOLUTION" in "".join(c.source for c in got.cells)   # alice's own, not bob's forgery

        results = {r.student: r for r in autograde(ASSIGNMENT, course, jobs=2, progress=False)}
        assert results[alice].max_score > 0
        assert results[alice].score == results[alice].max_score, results[alice].status
        assert results[bob].score == 0, results[bob].status

        write_feedback(course, ASSIGNMENT)
        returned = return_feedback(course, ASSIGNMENT, exchange)
        assert sorted(returned) == sorted([alice, bob])

        seen = {}
        for user in (alice, bob):
            status, body = _http("POST", srv(user, "assignments/fetch_feedback"), tokens[user],
                                 form={"course_id": "backend-engineering", "assignment_id": ASSIGNMENT})
            assert status == 200 and json.loads(body)["success"], body
            status, body = _http("GET", srv(user, f"api/contents/{ASSIGNMENT}/feedback"), tokens[user])
            assert status == 200, body
            stamps = json.loads(body)["content"]
            assert len(stamps) == 1, stamps
            status, body = _http("GET", srv(user, "api/contents/" + urllib.parse.quote(stamps[0]['path'])), tokens[user])
            files = json.loads(body)["content"]
            assert [f["name"] for f in files] == [f"{ASSIGNMENT}.html"]
            status, body = _http("GET", srv(user, "api/contents/" + urllib.parse.quote(files[0]['path']) + "?type=file&format=text"),
                                 tokens[user])
            seen[user] = json.loads(body)["content"]
        a, b = results[alice], results[bob]
        assert f"<b>{alice}</b>" in seen[alice] and bob not in seen[alice]
        assert f"<b>{bob}</b>" in seen[bob] and alice not in seen[bob]
        assert score_text(a) in seen[alice] and score_text(b) in seen[bob]
        listing = _as_user(bob, s, textwrap.dedent(f"""
            import json, os
            try:
                print(json.dumps(os.listdir({str(exchange / 'backend-engineering' / 'feedback')!r})))
            except OSError as e:
                print(json.dumps(["refused", e.errno]))
        """))
        assert listing[0] == "refused"                 # nobody can list the returned feedback
