"""A stand-in with the interface of ``sandbox.Jail`` (G2's), used only while that is not available.

It runs argv with rlimits, its own session, a scratch cwd holding ``files`` and the death
signal; it does NOT hide anything or limit the network (``jail_available()`` says so).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time

from course_tools.grading.sandbox import Limits, private_network

__all__ = ["Jail", "Limits", "jail_available", "private_loopback"]


def jail_available() -> tuple[bool, list[str]]:
    return False, ["the bubblewrap jail (course_tools.grading.sandbox.Jail) is not available in this build"]


def private_loopback() -> None:
    private_network()


class Jail:
    def __init__(self, argv: list[str], *, limits: Limits, pass_fds: tuple[int, ...] = (),
                 hide_paths: list[str] = (), files: dict[str, bytes] = {}, env: dict[str, str] = {},
                 unsafe: bool = False) -> None:
        self.scratch = tempfile.mkdtemp(prefix="course-jail-")
        for name, data in files.items():
            with open(os.path.join(self.scratch, name), "wb") as f:
                f.write(data)
        mem = int(limits.memory)

        def pre() -> None:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)
            for res, v in ((resource.RLIMIT_AS, mem + (1 << 30)), (resource.RLIMIT_FSIZE, int(limits.file_size)),
                           (resource.RLIMIT_CORE, 0)):
                try:
                    resource.setrlimit(res, (v, v))
                except (ValueError, OSError):
                    pass

        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.scratch, "TMPDIR": self.scratch,
                    "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **env}
        self.proc = subprocess.Popen(argv, cwd=self.scratch, pass_fds=pass_fds, env=full_env, preexec_fn=pre,
                                     start_new_session=True, stdin=subprocess.DEVNULL,
                                     stdout=None if os.environ.get("COURSE_GRADE_DEBUG") else subprocess.DEVNULL,
                                     stderr=None if os.environ.get("COURSE_GRADE_DEBUG") else subprocess.DEVNULL)
        self.pid = self.proc.pid

    def wait(self, timeout: float | None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ticks = sum(int(x) for x in parts[11:15])
            return ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> "Jail":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


_ = time
