"""Do the sandbox's building blocks do what the worker relies on?"""

from __future__ import annotations

import json
import os
import threading

import pytest

from course_tools.grading import sandbox
from course_tools.grading.worker import Worker

pytestmark = [pytest.mark.grading]


@pytest.mark.skipif(not sandbox.seccomp_available(), reason="seccomp filters need Linux x86_64")
def test_seccomp_guard_seals_two_fds_for_one_thread_only():
    """A filtered thread can neither read nor write nor dup the guarded fds; other fds work, and
    the process's other threads are not filtered."""
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            prog = sandbox.fd_guard_program([r, w])
            sandbox._prctl(38, 1, 0, 0, 0)           # no_new_privs (for this thread)
            seen = {}

            def filtered():
                seen["installed"] = sandbox.install_seccomp(prog)
                for name, call in (("read", lambda: os.read(r, 1)), ("write", lambda: os.write(w, b"x")),
                                   ("dup", lambda: os.dup(r)), ("other", lambda: os.write(out_w, b""))):
                    try:
                        call()
                        seen[name] = "allowed"
                    except OSError as exc:
                        seen[name] = exc.errno

            t = threading.Thread(target=filtered)
            t.start()
            t.join()
            os.write(w, b"m")
            seen["main"] = os.read(r, 1).decode()
            os.write(out_w, json.dumps(seen).encode())
        finally:
            os._exit(0)
    os.close(out_w)
    data = b""
    while chunk := os.read(out_r, 4096):
        data += chunk
    os.waitpid(pid, 0)
    for fd in (r, w, out_r):
        os.close(fd)
    seen = json.loads(data)
    assert seen == {"installed": True, "read": 1, "write": 1, "dup": 1, "other": "allowed", "main": "m"}


def test_self_test_drops_a_means_that_fails_and_says_so():
    """If one isolation means fails on this machine, the worker grades without it and warns."""
    w = Worker.__new__(Worker)
    w.netns, w.mountns, w.uid_ok, w.warnings = True, True, True, []
    w._probe = lambda uid: "OSError: unshare(CLONE_NEWNET)" if w.netns else ""
    w._self_test(None)
    assert (w.netns, w.mountns, w.uid_ok) == (False, True, True)
    assert w.warnings == ["a network namespace per process failed here (OSError: unshare(CLONE_NEWNET)); "
                          "grading continues WITHOUT it"]


def test_capabilities_without_isolation_are_loud():
    caps = sandbox.detect_capabilities(isolation=False)
    assert not caps.netns and caps.warnings and caps.warnings[0].startswith("ISOLATION OFF")
    assert sandbox.worker_command(caps)[-2:] == ["-m", "course_tools.grading.worker"]
