"""Does a jailed program see nothing of the host (issue 9, "a sandbox with nothing of the host in it")?

Each test runs a real program in a real jail (``jailed``, tests/grading/conftest.py: started by a
runner process that called ``private_loopback()``) that tries what a hostile submission would try,
and asserts its exact outcome, and what the host sees afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

import pytest

from course_tools.grading import sandbox

pytestmark = [pytest.mark.grading]

CHECKOUT = Path(sandbox.CHECKOUT)

PROBE_PATHS = """
import json, os
seen = {}
for p in PATHS:
    try:
        if os.path.isdir(p):
            os.listdir(p); seen[p] = "listed"
        else:
            open(p, "rb").read(1); seen[p] = "read"
    except OSError as e:
        seen[p] = e.errno
print(json.dumps({"paths": seen, "root": sorted(os.listdir("/"))}))
"""


def test_checkout_git_solutions_and_homes_are_not_there(jailed):
    """Can a jailed program read the checkout (.git, notebooks, assessment sources with the
    solutions), /root beyond the Python install, /run, /var, /sys or the host's /tmp? Every path
    must be absent (ENOENT), and / holds only the minimal root."""
    paths = [str(CHECKOUT / ".git"), str(CHECKOUT / "notebooks"), str(CHECKOUT / "notebooks/assessments/source"),
             str(CHECKOUT / "pyproject.toml"), "/root/.bashrc", "/root/.ssh", "/home", "/run", "/var", "/sys",
             "/etc/shadow", "/etc/hostname.host", str(CHECKOUT / "course_tools/grading/autograde.py")]
    r = jailed(f"PATHS = {paths!r}\n" + PROBE_PATHS, hide=["course_tools/grading"])
    seen = r["seen"]
    assert seen["paths"] == {p: 2 for p in paths}           # ENOENT, each one
    top = {p.split(os.sep)[1] for p in (sandbox.CHECKOUT, os.path.realpath(os.sys.base_prefix))}
    assert set(seen["root"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev",
                                 "tmp", "scratch"} | top


def _unix_server(path_or_name: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path_or_name)
    s.listen(8)
    return s


def test_host_unix_sockets_and_loopback_services_are_unreachable(jailed, tmp_path):
    """Can a jailed program connect to a unix socket on the host's filesystem (under /tmp or
    /run), to the host's abstract unix sockets, or to a TCP server on the host's 127.0.0.1?
    Each attempt must fail, and none of the host's servers may see a connection."""
    tmp_sock = str(tmp_path / "host.sock")
    run_sock = f"/run/course-test-{os.getpid()}.sock" if os.access("/run", os.W_OK) else None
    abstract = f"\0course-test-{os.getpid()}"
    servers = [_unix_server(tmp_sock), _unix_server(abstract)] + ([_unix_server(run_sock)] if run_sock else [])
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    servers.append(tcp)
    try:
        targets = {"tmp": tmp_sock, "abstract": abstract, "tcp": tcp.getsockname()[1]}
        if run_sock:
            targets["run"] = run_sock
        r = jailed(f"TARGETS = {targets!r}\n" + """
import json, socket
seen = {}
for name, t in TARGETS.items():
    s = socket.socket(socket.AF_INET if name == "tcp" else socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", t) if name == "tcp" else t); seen[name] = "connected"
    except OSError as e:
        seen[name] = type(e).__name__
print(json.dumps(seen))
""")
        assert r["seen"] == {"tmp": "FileNotFoundError", "abstract": "ConnectionRefusedError",
                             "tcp": "ConnectionRefusedError", **({"run": "FileNotFoundError"} if run_sock else {})}
        for s in servers:                      # and no connection is waiting on any of them
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.accept()
    finally:
        for s in servers:
            s.close()
        if run_sock:
            os.unlink(run_sock)


def test_server_of_the_grader_on_its_private_loopback_is_reachable(jailed):
    """After private_loopback(), does a server the grader (the jail's creator) starts on
    127.0.0.1 answer the jailed program (the HTTP assessment needs this)?"""
    r = jailed("""
import os, socket, json
s = socket.create_connection(("127.0.0.1", int(os.environ["SERVER_PORT"])), timeout=10)
s.sendall(b"student"); print(json.dumps({"reply": s.recv(100).decode()}))
""", serve=True)
    assert r["seen"] == {"reply": "hello from the grader student"}


def test_nothing_written_survives_the_jail(jailed):
    """Does anything a jailed program writes outlive it: files in /tmp, /dev/shm, /run/lock,
    /var/tmp, its scratch, or a SysV shared-memory segment? The host must see none of them."""
    key = 0x5EED0000 + os.getpid() % 0xFFFF
    name = f"course-test-{os.getpid()}"
    r = jailed(f"KEY, NAME = {key}, {name!r}\n" + """
import ctypes, json, os
seen = {}
for d in ("/tmp", "/dev/shm", "/run/lock", "/var/tmp", "/scratch", "/tmp/home"):
    try:
        with open(os.path.join(d, NAME), "w") as f:
            f.write("left behind")
        seen[d] = "written"
    except OSError as e:
        seen[d] = e.errno
libc = ctypes.CDLL(None, use_errno=True)
seen["shm"] = libc.shmget(KEY, 4096, 0o1000 | 0o666) >= 0          # IPC_CREAT
print(json.dumps(seen))
""")
    assert r["seen"] == {"/tmp": "written", "/dev/shm": "written", "/run/lock": 2, "/var/tmp": 2,
                         "/scratch": "written", "/tmp/home": "written", "shm": True}
    for d in (tempfile.gettempdir(), "/tmp", "/dev/shm", "/run/lock", "/var/tmp"):
        assert not os.path.exists(os.path.join(d, name))
    keys = [int(line.split()[0]) for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    assert key not in keys
    assert "jail-stage" not in Path("/proc/self/mountinfo").read_text()      # the launcher's mounts were its own


def test_processes_of_the_host_are_invisible_and_unsignalable(jailed):
    """Does a jailed program see only its own processes in /proc, and fail to signal the
    grader (its creator) by pid?"""
    grader = os.getpid()
    r = jailed(f"GRADER = {grader}\n" + """
import json, os, signal
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    os.kill(GRADER, 0); sig = "sent"
except OSError as e:
    sig = type(e).__name__
print(json.dumps({"pids": pids, "me": os.getpid(), "signal": sig}))
""")
    seen = r["seen"]
    assert seen["pids"] == [1, seen["me"]] and seen["signal"] in ("ProcessLookupError", "PermissionError")



def test_code_the_grader_imports_cannot_be_changed(jailed):
    """Can a jailed program change what the grader itself imports afterwards: course_tools, a
    .pth file in the venv's site-packages (run at every interpreter start), the Python
    installation? Every write must fail (EROFS, or EACCES where the file's own mode is checked
    first), and the host's files stay as they were."""
    import site
    import sys
    course_tools = str(CHECKOUT / "course_tools")
    site_packages = site.getsitepackages()[0]
    targets = [f"{course_tools}/__init__.py", f"{course_tools}/evil.py", f"{course_tools}/sim/evil.py",
               f"{site_packages}/evil.pth", f"{os.path.realpath(sys.base_prefix)}/lib/evil.py"]
    before = (CHECKOUT / "course_tools" / "__init__.py").read_bytes()
    r = jailed(f"TARGETS = {targets!r}\n" + """
import json, os
seen = {}
for t in TARGETS:
    try:
        with open(t, "a") as f:
            f.write("import os; os.system('id')\\n")
        seen[t] = "written"
    except OSError as e:
        seen[t] = e.errno
print(json.dumps(seen))
""", hide=["course_tools/sim/caches.py"])                 # a split directory (sim/) is read-only too
    assert set(r["seen"]) == set(targets) and set(r["seen"].values()) <= {13, 30}     # EACCES, EROFS
    assert (CHECKOUT / "course_tools" / "__init__.py").read_bytes() == before
    assert not [t for t in targets[1:] if os.path.exists(t)]


def test_kernel_attack_surface_syscalls_are_refused(jailed):
    """Are io_uring, bpf, userfaultfd, perf_event_open, keyctl, ptrace, unshare and mount refused
    with EPERM inside the jail (seccomp), while ordinary work (files, sockets, threads) goes on?"""
    if not sandbox.seccomp_available():
        pytest.skip("the jail's seccomp filter is for x86_64")
    r = jailed("""
import ctypes, json, os, socket, threading
libc = ctypes.CDLL(None, use_errno=True)
calls = {"io_uring_setup": (425, 1, 0), "bpf": (321, 0, 0, 0), "userfaultfd": (323, 0), "keyctl": (250, 0, 0),
         "perf_event_open": (298, 0, 0, -1, -1, 0), "ptrace": (101, 0, 0, 0, 0), "unshare": (272, 0x20000),
         "mount": (165, 0, 0, 0, 0, 0), "process_vm_readv": (310, 1, 0, 0, 0, 0, 0)}
seen = {}
for name, args in calls.items():
    ctypes.set_errno(0)
    rc = libc.syscall(*args)
    seen[name] = ctypes.get_errno() if rc == -1 else "allowed"
t = threading.Thread(target=lambda: None); t.start(); t.join()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.close()
open("f", "w").write("ok")
seen["ordinary"] = open("f").read()
print(json.dumps(seen))
""")
    assert r["seen"] == {**{k: 1 for k in ("io_uring_setup", "bpf", "userfaultfd", "keyctl", "perf_event_open",
                                          "ptrace", "unshare", "mount", "process_vm_readv")}, "ordinary": "ok"}


def test_the_graders_environment_does_not_leak(jailed, monkeypatch):
    """Does a jailed program see only its minimal environment, not the grader's variables
    (tokens, COURSE_REDIS_URL, ...)?"""
    monkeypatch.setenv("COURSE_TEST_SECRET", "s3cr3t")          # inherited by the runner, the jail's creator
    r = jailed("import json, os; print(json.dumps(sorted(os.environ)))")
    assert set(r["seen"]) <= {"PATH", "PWD", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONDONTWRITEBYTECODE",
                              "PYTHONNOUSERSITE"}
