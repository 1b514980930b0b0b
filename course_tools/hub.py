"""``course hub``: the course on a real JupyterHub on this machine (learners, an instructor, nbgrader's exchange).

    course hub --learners alice,bob --instructors teacher          # as root: one unix user each
    jupyterhub -f hub/jupyterhub_config.py                         # the same, from the settings below

What runs: JupyterHub (PyPI ``jupyterhub``) on 127.0.0.1 with its proxy (PyPI
``configurable-http-proxy``, the Python implementation of the npm proxy, installed with the
course's environment: nothing to fetch at run time), the ``DummyAuthenticator`` (any password:
for tests and a try-out, never for a real class) and a local spawner. Every single-user server
is ``jupyterhub-singleuser`` from the course's environment (``.venv``), started through
:mod:`course_tools.labserver` as ``course lab``'s server is (the same two start-up costs left out):

* a **learner** gets the learner mode of ``course lab`` (:mod:`course_tools.lab`: no formgrader,
  no Create Assignment, the instructor's side of the course neither listed nor served), with
  nbgrader's *student* tools on (the Assignments tab: fetch, submit, fetch feedback) on the
  class's exchange, in their home folder;
* an **instructor** gets the instructor mode (formgrader on the course's nbgrader config) serving
  the course folder (``COURSE_HUB_COURSE_DIR``, default ``notebooks/assessments``) and the same exchange.

As root (a server, CI) each hub user must be a unix user of the same name: JupyterHub's
``LocalProcessSpawner`` starts each server as that user, so learners are separated by the
kernel's file permissions (what nbgrader's exchange relies on). Not as root,
``SimpleLocalProcessSpawner`` runs every server as you, with a home folder per user under the
runtime folder: fine to try the course, **no isolation between learners**; ``course hub`` says so.

Settings come from the environment, so ``hub/jupyterhub_config.py`` works with ``jupyterhub -f``:

    COURSE_HUB_RUNTIME      state folder (hub database, cookie secret, Jupyter configs); default .hub/
    COURSE_HUB_EXCHANGE     nbgrader exchange root (made world-writable, sticky); default RUNTIME/exchange
    COURSE_HUB_PORT         the proxy's public port on 127.0.0.1 (default 8000)
    COURSE_HUB_LEARNERS     comma-separated hub user names (default: learner1,learner2)
    COURSE_HUB_INSTRUCTORS  comma-separated (default: instructor)
    COURSE_HUB_COURSE_DIR   the instructor's nbgrader course folder (default notebooks/assessments)
    COURSE_HUB_ADMIN_TOKEN  optional: an API token for a "course-admin" service that may start servers
                            and issue tokens for users (the tests drive the hub with it)
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from course_tools.lab import REPO, write_mode_config
from course_tools.net.ports import LOOPBACK, free_port

__all__ = ["Settings", "settings_from_env", "configure", "mode_folder", "HubProcess", "run_hub", "launcher",
           "launcher_script", "write_image_configs"]

ASSIGNMENT_LIST_EXTENSION = "nbgrader.server_extensions.assignment_list"
ASSIGNMENT_LIST_PLUGIN = "@jupyter/nbgrader:assignment-list"
COURSE_ID = "backend-engineering"
BIN = Path(sys.executable).parent          # the course's environment


class Settings:
    def __init__(self, runtime: Path, exchange: Path, port: int, learners: list[str], instructors: list[str],
                 course_dir: Path, admin_token: str | None = None):
        self.runtime, self.exchange, self.port = Path(runtime).resolve(), Path(exchange).resolve(), int(port)
        self.learners, self.instructors = list(learners), list(instructors)
        self.course_dir, self.admin_token = Path(course_dir).resolve(), admin_token

    def env(self) -> dict[str, str]:
        out = {"COURSE_HUB_RUNTIME": str(self.runtime), "COURSE_HUB_EXCHANGE": str(self.exchange),
               "COURSE_HUB_PORT": str(self.port), "COURSE_HUB_LEARNERS": ",".join(self.learners),
               "COURSE_HUB_INSTRUCTORS": ",".join(self.instructors), "COURSE_HUB_COURSE_DIR": str(self.course_dir)}
        if self.admin_token:
            out["COURSE_HUB_ADMIN_TOKEN"] = self.admin_token
        return out


def _names(value: str | None, default: str) -> list[str]:
    return [n.strip() for n in (value if value is not None else default).split(",") if n.strip()]


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    runtime = Path(env.get("COURSE_HUB_RUNTIME") or REPO / ".hub")
    return Settings(runtime, Path(env.get("COURSE_HUB_EXCHANGE") or runtime / "exchange"),
                    int(env.get("COURSE_HUB_PORT") or 8000),
                    _names(env.get("COURSE_HUB_LEARNERS"), "learner1,learner2"),
                    _names(env.get("COURSE_HUB_INSTRUCTORS"), "instructor"),
                    Path(env.get("COURSE_HUB_COURSE_DIR") or REPO / "notebooks" / "assessments"),
                    env.get("COURSE_HUB_ADMIN_TOKEN") or None)


def mode_folder(mode: str, s: Settings) -> Path:
    """Write the Jupyter config of a hub learner or instructor and return its folder (readable by all)."""
    folder = write_mode_config(mode, s.course_dir.parent, config_root=s.runtime / "jupyter")
    if mode == "learner":          # the student side of nbgrader's exchange is what a hub learner needs
        server_file = folder / "jupyter_server_config.json"
        server = json.loads(server_file.read_text())
        server["ServerApp"]["jpserver_extensions"][ASSIGNMENT_LIST_EXTENSION] = True
        server_file.write_text(json.dumps(server, indent=1))
        page_file = folder / "labconfig" / "page_config.json"
        page = json.loads(page_file.read_text())
        page["disabledExtensions"].pop(ASSIGNMENT_LIST_PLUGIN, None)
        page_file.write_text(json.dumps(page, indent=1))
        (folder / "nbgrader_config.py").write_text(
            "# written by course_tools.hub: a learner's side of the class's exchange\n"
            f"c.Exchange.root = {str(s.exchange)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
    else:
        (folder / "nbgrader_config.py").write_text(
            "# written by course_tools.hub: the course's nbgrader config and the class's exchange\n"
            f"load_subconfig({str(s.course_dir / 'nbgrader_config.py')!r})\n"
            f"c.CourseDirectory.root = {str(s.course_dir)!r}\n"
            f"c.Exchange.root = {str(s.exchange)!r}\n")
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return folder


def write_image_configs(folder: Path, exchange: Path, course_dir: Path) -> dict[str, Path]:
    """The learner and instructor Jupyter configs for an image (Binder, Zero to JupyterHub): written
    once at build time by ``binder/postBuild``; a pod picks one with ``JUPYTER_CONFIG_PATH``."""
    s = Settings(Path(folder), Path(exchange), 8000, [], [], Path(course_dir))
    (s.runtime / "jupyter").mkdir(parents=True, exist_ok=True)
    return {mode: mode_folder(mode, s) for mode in ("learner", "instructor")}


def _prepare(s: Settings) -> None:
    s.runtime.mkdir(parents=True, exist_ok=True)
    for p in (s.runtime, s.runtime / "jupyter"):
        p.mkdir(exist_ok=True)
        p.chmod(0o755)
    s.exchange.mkdir(parents=True, exist_ok=True)
    s.exchange.chmod(0o1777)     # nbgrader: writable by every learner; sticky: nobody deletes another's entry


def configure(c, s: Settings | None = None) -> None:
    """Fill a JupyterHub config object ``c`` (``hub/jupyterhub_config.py`` calls this)."""
    s = s or settings_from_env()
    _prepare(s)
    learner_cfg, instructor_cfg = mode_folder("learner", s), mode_folder("instructor", s)
    root = os.geteuid() == 0

    c.JupyterHub.bind_url = f"http://{LOOPBACK}:{s.port}"
    c.JupyterHub.hub_bind_url = f"http://{LOOPBACK}:{free_port()}"
    c.JupyterHub.db_url = f"sqlite:///{s.runtime / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(s.runtime / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(s.runtime / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True            # stopping the hub stops every single-user server
    c.JupyterHub.cleanup_proxy = True
    c.JupyterHub.log_level = "WARN"
    c.ConfigurableHTTPProxy.command = [str(BIN / "configurable-http-proxy")]
    c.ConfigurableHTTPProxy.api_url = f"http://{LOOPBACK}:{free_port()}"
    c.ConfigurableHTTPProxy.auth_token = secrets.token_hex(32)
    c.ConfigurableHTTPProxy.pid_file = str(s.runtime / "proxy.pid")

    c.JupyterHub.authenticator_class = "dummy"     # any password: tests and try-outs only
    c.Authenticator.allowed_users = set(s.learners) | set(s.instructors)
    c.Authenticator.admin_users = set(s.instructors)

    if s.admin_token:
        c.JupyterHub.services = [{"name": "course-admin", "api_token": s.admin_token}]
        c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                                    "scopes": ["admin:users", "admin:servers", "tokens", "list:users",
                                               "read:users"]}]

    c.JupyterHub.spawner_class = _spawner_class() if root else "simple"
    if not root:
        c.SimpleLocalProcessSpawner.home_dir_template = str(s.runtime / "home" / "{username}")
    # jupyterhub-singleuser, minus two start-up costs a course lab never uses (course_tools/labserver.py)
    singleuser = [sys.executable, "-m", "course_tools.labserver", "--singleuser"]
    c.Spawner.cmd = singleuser
    c.Spawner.args = [f"--ServerApp.ip={LOOPBACK}", "--LabApp.news_url=",
                      "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    instructors = set(s.instructors)

    def pre_spawn(spawner) -> None:
        instructor = spawner.user.name in instructors
        spawner.environment["JUPYTER_CONFIG_PATH"] = str(instructor_cfg if instructor else learner_cfg)
        spawner.environment["COURSE_HUB_MODE"] = "instructor" if instructor else "learner"
        if instructor:
            spawner.notebook_dir = str(s.course_dir.parent)
        if root:
            spawner.cmd = launcher(spawner.user.name, s, instructor) + singleuser

    c.Spawner.pre_spawn_hook = pre_spawn


# -- the spawner ---------------------------------------------------------------------------------

def _blocked_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that other users cannot enter (e.g. /root, mode 700), or None."""
    for parent in reversed(path.parents):
        try:
            if not os.stat(parent).st_mode & 0o001:
                return parent
        except OSError:
            return parent
    return None


def needed_paths() -> list[Path]:
    """What a single-user server must be able to read: the interpreter, the environment, course_tools."""
    import course_tools

    return sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                   Path(course_tools.__file__).resolve().parents[1]})


def launcher_script(needed: list[Path], hidden: list[Path]) -> str:
    """Shell run as root in a private mount namespace, then dropping to the user (``$1``/``$2``) and
    exec'ing the server (``$3...``; same pid, so JupyterHub's signals reach it).

    * a folder of ``needed`` under one other users cannot enter (the course's Python under
      ``/root/.pyenv`` on a developer's machine) is made visible, and only it: a tmpfs (mode 755)
      over the blocking folder, the needed folders bound back into it;
    * every ``hidden`` folder (a learner: the course's ``assessments/`` with the solutions) is covered
      by an empty read-only tmpfs.
    """
    import shlex

    q = shlex.quote
    lines = ["set -eu", 'stage="$(mktemp -d)"']
    groups: dict[Path, list[Path]] = {}
    for t in needed:
        b = _blocked_ancestor(t)
        if b is not None:
            groups.setdefault(b, []).append(t)
    for b, targets in sorted(groups.items()):
        lines += [f'mount --bind {q(str(b))} "$stage"',
                  f"mount -t tmpfs -o mode=755,size=1m tmpfs {q(str(b))}"]
        for t in targets:
            rel = t.relative_to(b)
            lines += [f"mkdir -p {q(str(t))}", f'mount --bind "$stage"/{q(str(rel))} {q(str(t))}']
        lines.append('umount "$stage"')
    lines.append('rmdir "$stage"')
    for h in hidden:
        lines.append(f"if [ -d {q(str(h))} ]; then mount -t tmpfs -o ro,mode=755,size=1m tmpfs {q(str(h))}; fi")
    lines += ['uid="$1"; gid="$2"; shift 2',
              'exec setpriv --reuid="$uid" --regid="$gid" --init-groups --no-new-privs -- "$@"']
    return "\n".join(lines)


def launcher(user: str, s: Settings, instructor: bool = False) -> list[str]:
    """The command prefix that runs what follows as ``user`` (root only), seeing what their server sees."""
    import pwd

    hidden = [] if instructor else sorted({REPO / "notebooks" / "assessments", s.course_dir})
    pw = pwd.getpwnam(user)
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            launcher_script(sorted({*needed_paths(), s.exchange}), hidden), "course-hub-launcher",
            str(pw.pw_uid), str(pw.pw_gid)]


def _spawner_class():
    from jupyterhub.spawner import LocalProcessSpawner

    class CourseSpawner(LocalProcessSpawner):
        """LocalProcessSpawner whose command drops to the user itself, after arranging what that user's
        server may see (:func:`launcher_script`): started as root, exec'd as the user."""

        def make_preexec_fn(self, name):
            import pwd

            home = pwd.getpwnam(name).pw_dir

            def preexec():
                os.chdir(home)
            return preexec

    return CourseSpawner


# -- running it -------------------------------------------------------------------------------------

class HubProcess:
    """``jupyterhub -f hub/jupyterhub_config.py`` as a context manager: started, waited for, and on
    exit stopped with every process it started (proxy, single-user servers, their kernels)."""

    def __init__(self, settings: Settings, log: Path | None = None):
        self.s = settings
        self.log_path = log or settings.runtime / "jupyterhub.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.s.port}"

    def __enter__(self) -> "HubProcess":
        _prepare(self.s)
        env = dict(os.environ, **self.s.env())
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(REPO / "hub" / "jupyterhub_config.py")],
                                     cwd=self.s.runtime, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with code {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"jupyterhub did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)           # the hub stops its servers and its proxy
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)    # anything of its session still there
            except OSError:
                pass
            proc.wait()
        self._log.close()


def run_hub(learners: list[str], instructors: list[str], port: int | None = None, runtime: Path | None = None,
            exchange: Path | None = None, course_dir: Path | None = None) -> int:
    """``course hub``: start the hub in the foreground until Ctrl-C."""
    s = settings_from_env()
    s = Settings(runtime or s.runtime, exchange or (Path(runtime) / "exchange" if runtime else s.exchange),
                 port or s.port, learners or s.learners, instructors or s.instructors, course_dir or s.course_dir)
    if os.geteuid() == 0:
        import pwd

        missing = [u for u in s.learners + s.instructors if not _has_user(pwd, u)]
        if missing:
            print(f"course hub: as root, every hub user must be a unix user of the same name; missing: "
                  f"{', '.join(missing)} (create them with useradd, or run course hub as an ordinary user)",
                  file=sys.stderr)
            return 2
    else:
        print("course hub: not root, so every server runs as you (SimpleLocalProcessSpawner): "
              "NO isolation between learners; fine for a try-out, not for a class", file=sys.stderr)
    def interrupted(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):     # stop like Ctrl-C: the hub, its proxy and servers
        signal.signal(sig, interrupted)
    from course_tools.lab import release_all

    try:
        release_all(s.course_dir)
        return _serve(s)
    except KeyboardInterrupt:
        return 130


def _serve(s: Settings) -> int:
    with HubProcess(s) as hub:
        print(f"\nJupyterHub for the course at {hub.url}/ (any password: DummyAuthenticator)\n"
              f"  learners: {', '.join(s.learners)}    instructors: {', '.join(s.instructors)}\n"
              f"  nbgrader exchange: {s.exchange}\n"
              f"  release an assessment: course release 08_caching --exchange {s.exchange}\n"
              "Ctrl-C stops the hub, its proxy and every server.\n", flush=True)
        hub.proc.wait()                 # Ctrl-C / SIGTERM: KeyboardInterrupt, and HubProcess stops it all
    return 0


def _has_user(pwd, name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
