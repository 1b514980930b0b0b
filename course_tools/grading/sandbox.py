"""Operating-system isolation for grading one submission on one machine, without Docker.

This module holds the means; :mod:`course_tools.grading.worker` decides when to use them
and the module docstring there states what the whole design guarantees.

Layers, outermost first (each one is used when available and reported when not):

1. **The worker** runs inside ``unshare --net --mount --pid --fork --mount-proc --kill-child``
   (as root; otherwise with ``--user --map-root-user`` added). In that namespace there is no
   network at all (the new network namespace has only a loopback interface, and it is down),
   the course directory (``source/``, ``gradebook.db``, ``submitted/``, ``grades/``) is covered
   by an empty read-only tmpfs, and the worker is PID 1: when it exits the kernel kills every
   process left in the namespace.
2. **Per process that runs student or test code** (the student process, each test process), a
   fresh network namespace whose only interface is its *own* loopback, brought up: a notebook
   can start a server on 127.0.0.1 and talk to it (the HTTP assessment does), but cannot reach
   the host's loopback services (Jupyter, Redis, ...), another student, or the internet. And a
   fresh mount namespace with private, size-limited tmpfs mounts on ``/tmp``, ``/var/tmp`` and
   ``/dev/shm`` (its scratch directory and throwaway ``HOME`` live there and vanish with it),
   joins a fresh ``pids`` + ``memory`` cgroup when cgroups are writable, gets rlimits
   (``RLIMIT_AS``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, ``RLIMIT_CORE``,
   ``RLIMIT_CPU``), a new session, ``PR_SET_PDEATHSIG`` and ``PR_SET_NO_NEW_PRIVS``, and then drops to a
   never-used uid/gid (so it cannot read root-only files, signal other submissions' processes,
   and ``RLIMIT_NPROC`` counts only its own processes).
3. **Clean-up**: when a notebook is done (or a cell times out) every process of that uid is
   SIGKILLed until none is left, and the cgroups are removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Limits", "Capabilities", "detect_capabilities", "worker_command", "enter_sandbox", "kill_uid",
           "CGroups", "hide_paths", "UID_BASE"]

UID_BASE = 1_700_000_000          # far above any real account; one fresh uid per graded notebook

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
LINUX = sys.platform.startswith("linux") and hasattr(_libc, "prctl")


def _prctl(*args: int) -> int:
    """prctl(2) where it exists (Linux); elsewhere a no-op that reports failure."""
    return _libc.prctl(*args) if LINUX else -1


@dataclass
class Limits:
    """What one graded notebook may use. Times in seconds, sizes in bytes."""
    cell_timeout: float = 30.0        # one student cell or one test
    notebook_timeout: float = 300.0   # all cells of one notebook, replays included
    memory: int = 1 << 30             # address space each process may add on top of the worker's
    cgroup_memory: int = 2 << 30      # all processes of the notebook together (cgroup, when available)
    processes: int = 48               # processes + threads of the notebook's uid (RLIMIT_NPROC / pids cgroup)
    file_size: int = 64 << 20         # largest file it may write (RLIMIT_FSIZE)
    tmp_size: int = 256 << 20         # private /tmp, /dev/shm (tmpfs size)
    output: int = 256 << 10           # stdout+stderr bytes before a warning; output is read and discarded,
                                      # never stored (so never shown, and never a size problem)
    open_files: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Limits":
        return Limits(**{k: v for k, v in d.items() if k in Limits.__dataclass_fields__})


@dataclass
class Capabilities:
    """Which isolation means this machine offers; ``warnings`` says loudly what is missing."""
    root: bool = False
    unshare: bool = False             # util-linux unshare on PATH
    netns: bool = False               # we can create a network namespace
    userns: bool = False              # we need (and can create) a user namespace for the above
    pidns: bool = False
    mountns: bool = False
    setuid: bool = False              # we can drop to an unprivileged uid per submission
    cgroups: bool = False
    warnings: list[str] = field(default_factory=list)


def _try(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_CAPS: Capabilities | None = None


def detect_capabilities(isolation: bool = True) -> Capabilities:
    """Probe (once per process) what isolation is available."""
    global _CAPS
    if not isolation:
        return Capabilities(warnings=[
            "ISOLATION OFF: student code runs as this user, with network access and read access to your files; "
            "only rlimits, time limits and process clean-up apply"])
    if _CAPS is not None:
        return Capabilities(**{**asdict(_CAPS), "warnings": list(_CAPS.warnings)})
    caps = Capabilities(root=os.geteuid() == 0, unshare=shutil.which("unshare") is not None)
    flags = ["--net", "--mount", "--pid", "--fork", "--mount-proc"]
    if caps.unshare:
        if caps.root and _try(["unshare", *flags, "true"]):
            caps.netns = caps.pidns = caps.mountns = True
        elif _try(["unshare", "--user", "--map-root-user", *flags, "true"]):
            caps.netns = caps.pidns = caps.mountns = caps.userns = True
    caps.setuid = caps.root and not caps.userns
    caps.cgroups = CGroups.available()
    w = caps.warnings
    if not caps.unshare:
        w.append("NO unshare (util-linux): student code has NETWORK access, can see the course directory "
                 "(source/, gradebook) and its processes are not in a private PID namespace")
    elif not caps.netns:
        w.append("NO namespaces (unshare failed; user namespaces disabled?): student code has NETWORK access and "
                 "can read the course directory (source/, gradebook.db)")
    if not caps.setuid:
        w.append("NOT ROOT: student code runs as your own uid, so it can read any file you can read outside the "
                 "hidden course directory; RLIMIT_NPROC is not applied (it would count all your processes)")
    if not caps.cgroups:
        w.append("NO writable cgroups: total memory and process count of a submission are bounded only by "
                 "per-process rlimits")
    _CAPS = caps
    return Capabilities(**{**asdict(caps), "warnings": list(w)})


def worker_command(caps: Capabilities, python: str = sys.executable) -> list[str]:
    """The argv that starts a grading worker inside the namespaces available."""
    base = [python, "-I", "-m", "course_tools.grading.worker"]  # -I: no cwd on sys.path, no PYTHON* env
    if not caps.netns:
        return base
    prefix = ["unshare"]
    if caps.userns:
        prefix += ["--user", "--map-root-user"]
    return prefix + ["--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child"] + base


# ----------------------------------------------------------------------------------------------
# inside the worker (its own mount namespace)

def _mount(src: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or src} on {target}: {os.strerror(err)}")


def default_keep() -> list[str]:
    """What graded code needs to see wherever it lives: Python, the virtual environment and this
    package (a checkout cloned under /tmp must survive the private /tmp mounted over it)."""
    here = Path(__file__).resolve().parents[1]          # course_tools/
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, str(here))})


def _tmpfs_keeping(target: str, data: str, keep: list[str] | None = None) -> None:
    """Mount an empty tmpfs on ``target`` and bind the ``keep`` directories that lay below it
    back in place (through O_PATH descriptors taken before the mount hid them); the directories
    leading to them are recreated world-searchable, so a 0700 ``mktemp -d`` parent is no obstacle."""
    keep = default_keep() if keep is None else keep
    prefix = target.rstrip(os.sep) + os.sep
    inner = sorted({k for k in keep if os.path.isdir(k) and k.startswith(prefix)})
    inner = [k for k in inner if not any(k != o and k.startswith(o + os.sep) for o in inner)]
    fds = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in inner]
    try:
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, data)
        for k, fd in fds:
            os.makedirs(k, exist_ok=True)
            rel = k[len(prefix):].split(os.sep)
            for i in range(1, len(rel) + 1):   # the path down to k: searchable by the sandbox uid
                os.chmod(os.path.join(target, *rel[:i]), 0o755)
            _mount(f"/proc/self/fd/{fd}", k, "", MS_BIND | MS_REC)
    finally:
        for _, fd in fds:
            os.close(fd)


def private_worker_tmp(size: int = 64 << 20, keep: list[str] | None = None) -> None:
    """In the worker's own mount namespace: a fresh /tmp, so that nothing it creates there outlives it
    (and the host's /tmp, where other courses may keep files, is out of sight)."""
    _tmpfs_keeping("/tmp", f"size={int(size)},mode=1777", keep)


def hide_paths(paths: list[str], keep: list[str] = ()) -> list[str]:
    """Cover each existing directory with an empty tmpfs (a file: bind /dev/null over it), then
    re-expose the ``keep`` paths that lie inside one (e.g. a Python installed under ``~/.pyenv``).
    Only call inside a private mount namespace. Returns warnings for what could not be done."""
    import tempfile
    warnings = []
    try:
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
    except OSError as exc:
        return [f"could not make mounts private ({exc}); nothing hidden"]
    for p in paths:
        if not os.path.exists(p):
            continue
        inner = [k for k in keep if os.path.isdir(k) and (k + os.sep).startswith(p.rstrip(os.sep) + os.sep)]
        try:
            if not os.path.isdir(p):
                _mount("/dev/null", p, "", MS_BIND)
                continue
            staged = []
            for k in inner:
                st = tempfile.mkdtemp(prefix="course-grade-keep-")
                _mount(k, st, "", MS_BIND | MS_REC)
                staged.append((k, st))
            _mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=" + ("755" if staged else "000"))
            for k, st in staged:
                os.makedirs(k, mode=0o755, exist_ok=True)
                _mount(st, k, "", MS_BIND | MS_REC)
                _libc.umount2(st.encode(), 2)  # MNT_DETACH
                os.rmdir(st)
            if staged:
                _mount("none", p, "", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError as exc:
            warnings.append(f"could not hide {p}: {exc}")
    return warnings


# ----------------------------------------------------------------------------------------------
# in the forked child, before any student code runs

def private_tmp(size: int) -> None:
    """A fresh mount namespace whose /tmp, /var/tmp and /dev/shm are new, empty tmpfs mounts."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount("none", "/", "", MS_REC | MS_PRIVATE)
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(d):
            _tmpfs_keeping(d, f"size={int(size)},mode=1777")


CLONE_NEWNET = 0x40000000


def private_network() -> None:
    """A new network namespace with only its own loopback, brought up: servers a notebook starts
    on 127.0.0.1 work, but nothing outside this process tree is reachable (not the host's
    loopback, not other students, not the internet)."""
    import fcntl
    import socket
    import struct

    if _libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sh", b"lo", 0)))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh", b"lo", flags | 0x1 | 0x40))                 # SIOCSIFFLAGS: UP, RUNNING


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def enter_sandbox(uid: int | None, limits: Limits, *, cpu_seconds: float) -> None:
    """Apply rlimits, a new session, death signal and (if ``uid``) drop privileges. Irreversible."""
    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.umask(0o077)

    def cap(res: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(res)
            v = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(res, (v, v))
        except (ValueError, OSError):
            pass

    cap(resource.RLIMIT_AS, _vm_size() + int(limits.memory))
    cap(resource.RLIMIT_FSIZE, int(limits.file_size))
    cap(resource.RLIMIT_NOFILE, min(int(limits.open_files), 900))   # below the worker's secret fds (1000, 1001)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_CPU, max(1, int(cpu_seconds) + 1))
    if uid is not None:
        cap(resource.RLIMIT_NPROC, int(limits.processes))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("could not drop privileges")
    elif os.geteuid() == 0:
        drop_capabilities()
    # not dumpable: no other process of this uid may ptrace it or read /proc/<pid>/mem, fd/, environ
    _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> bool:
    """For uid 0 inside a user namespace (the non-root fallback): lock root out of capabilities
    (securebits NOROOT), empty the bounding and ambient sets, then clear every capability, so
    student code cannot unmount what hides the course directory. Returns True on success."""
    ok = True
    if not LINUX:
        return False
    _libc.prctl(28, 0x2F, 0, 0, 0)            # PR_SET_SECUREBITS: NOROOT|NOROOT_LOCKED|NO_SETUID_FIXUP(_LOCKED)|KEEP_CAPS_LOCKED
    _libc.prctl(47, 4, 0, 0, 0)               # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    for cap in range(64):
        _libc.prctl(24, cap, 0, 0, 0)         # PR_CAPBSET_DROP
    hdr = _CapHeader(0x20080522, 0)           # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(hdr), data) != 0:
        ok = False
    return ok


def pids_of_uid(uid: int) -> list[int]:
    return pids_of_uid_range(uid, uid + 1)


def pids_of_uid_range(lo: int, hi: int) -> list[int]:
    """Processes whose real uid is in [lo, hi)."""
    out = []
    if not os.path.isdir("/proc"):
        return out
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:  # not os.stat: a non-dumpable process's /proc entry is owned by root
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if lo <= int(line.split()[1]) < hi:
                            out.append(int(name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return out


def kill_uid(uid: int, timeout: float = 5.0) -> bool:
    """SIGKILL every process owned by ``uid`` (a fork bomb included) until none is left.

    Runs ``kill(-1, SIGKILL)`` from a helper that has become ``uid``: the kernel then signals
    every process of that uid in one pass, which outruns forking. Returns True when none is left.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_of_uid(uid)
        if not pids:
            return True
        for p in pids:
            try:
                os.kill(p, signal.SIGSTOP)
            except OSError:
                pass
        pid = os.fork()
        if pid == 0:  # pragma: no cover - helper child
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        reap()
        if time.monotonic() > deadline:
            return not pids_of_uid(uid)
        time.sleep(0.01)


def kill_session(sid: int, timeout: float = 5.0) -> None:
    """Fallback without namespaces or root: kill the processes of one session (student code can escape
    it with setsid(); the warnings say so)."""
    if not os.path.isdir("/proc"):   # e.g. macOS: the student process leads its own process group
        try:
            os.killpg(sid, signal.SIGKILL)
        except OSError:
            pass
        reap()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.getsid(int(name)) == sid:
                        pids.append(int(name))
                except OSError:
                    pass
        if not pids:
            return
        kill_pids(pids)
        reap()
        time.sleep(0.01)


def kill_pids(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def reap() -> None:
    """Collect every exited child (as PID 1 of the namespace, orphans are ours too)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class CGroups:
    """A pids + memory cgroup (v1) for one graded notebook; best effort."""

    PIDS = Path("/sys/fs/cgroup/pids")

    @staticmethod
    def _memory_root() -> Path | None:
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, ctrl, path = line.split(":", 2)
                if "memory" in ctrl.split(","):
                    return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        except OSError:
            pass
        return None

    @staticmethod
    def _pids_root() -> Path | None:
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, ctrl, path = line.split(":", 2)
                if "pids" in ctrl.split(","):
                    return CGroups.PIDS / path.lstrip("/")
        except OSError:
            pass
        return None

    @classmethod
    def available(cls) -> bool:
        if not LINUX:
            return False
        try:
            cg = cls(f"probe-{os.getpid()}", Limits())
        except OSError:
            return False
        cg.remove()
        return True

    def __init__(self, name: str, limits: Limits):
        self.dirs: list[Path] = []
        pids_root, mem_root = self._pids_root(), self._memory_root()
        if pids_root is None or mem_root is None:
            raise OSError("no cgroup v1 pids/memory hierarchy")
        try:
            p = pids_root / f"course-grade-{name}"
            p.mkdir()
            self.dirs.append(p)
            (p / "pids.max").write_text(str(int(limits.processes) + 8))
            m = mem_root / f"course-grade-{name}"
            m.mkdir()
            self.dirs.append(m)
            (m / "memory.limit_in_bytes").write_text(str(int(limits.cgroup_memory)))
        except OSError:
            self.remove()
            raise

    def add_self(self) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(out)

    def kill(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            kill_pids(pids)
            reap()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    reap()
                    time.sleep(0.02)
        self.dirs = []


# ----------------------------------------------------------------------------------------------
# seccomp: a per-thread filter that makes a few file descriptors untouchable

class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_AUDIT_ARCH_X86_64 = 0xC000003E
# x86_64 syscalls that take a file descriptor argument at these positions
_FD_SYSCALLS = {0: (0,), 1: (0,), 3: (0,), 16: (0,), 17: (0,), 18: (0,), 19: (0,), 20: (0,), 32: (0,), 33: (0, 1),
                40: (0, 1), 46: (0,), 47: (0,), 72: (0,), 275: (0, 2), 276: (0, 1), 278: (0,), 292: (0, 1),
                295: (0,), 296: (0,), 326: (0, 2), 327: (0,), 328: (0,), 232: (0,), 233: (0, 2), 7: (), 23: ()}
# always refused: ways to reach another thread's fds or memory (pidfd_getfd, process_vm_*, ptrace, io_uring,
# close_range, kcmp)
_BLOCKED_SYSCALLS = (101, 310, 311, 312, 425, 426, 427, 436, 438)


def seccomp_available() -> bool:
    import platform
    return LINUX and platform.machine() in ("x86_64", "AMD64")


def fd_guard_program(fds: list[int]):
    """A seccomp-BPF program refusing (EPERM) any syscall on ``fds`` and the syscalls above.

    Installed per thread (no TSYNC): the threads that run student code get it, the grader's
    main thread does not, so student code cannot read the nonce or write a verdict."""
    ins: list[tuple[int, int, int, int]] = []

    def emit(code, jt, jf, k):
        ins.append((code, jt, jf, k))

    emit(_BPF_LD_W_ABS, 0, 0, 4)                       # arch
    emit(_BPF_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64)
    emit(_BPF_RET_K, 0, 0, _RET_EPERM)
    emit(_BPF_LD_W_ABS, 0, 0, 0)                       # nr
    emit(_BPF_JGE_K, 0, 1, 0x40000000)                 # x32 ABI: refuse
    emit(_BPF_RET_K, 0, 0, _RET_EPERM)
    for nr in _BLOCKED_SYSCALLS:
        emit(_BPF_LD_W_ABS, 0, 0, 0)
        emit(_BPF_JEQ_K, 0, 1, nr)
        emit(_BPF_RET_K, 0, 0, _RET_EPERM)
    for nr, positions in _FD_SYSCALLS.items():
        if not positions:
            continue
        body: list[tuple[int, int, int, int]] = []
        for pos in positions:
            body.append((_BPF_LD_W_ABS, 0, 0, 16 + 8 * pos))
            for fd in fds:
                body.append((_BPF_JEQ_K, 0, 0, fd))   # jt patched below to the local "ret EPERM"
        body.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
        body.append((_BPF_RET_K, 0, 0, _RET_EPERM))
        err = len(body) - 1
        body = [(c, (err - i - 1) if c == _BPF_JEQ_K else jt, jf, k) for i, (c, jt, jf, k) in enumerate(body)]
        emit(_BPF_LD_W_ABS, 0, 0, 0)
        emit(_BPF_JEQ_K, 0, len(body), nr)
        ins.extend(body)
    emit(_BPF_RET_K, 0, 0, _RET_ALLOW)
    arr = (_SockFilter * len(ins))(*[_SockFilter(*i) for i in ins])
    prog = _SockFprog(len(ins), ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
    prog._keep = arr
    return prog


def install_seccomp(prog) -> bool:
    """Install ``prog`` on the calling thread only (needs PR_SET_NO_NEW_PRIVS, set by enter_sandbox)."""
    return _prctl(22, 2, ctypes.byref(prog), 0, 0) == 0    # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def remove_stale_cgroups(uids, timeout: float = 3.0) -> int:
    """Remove the cgroups of these notebook uids (ours), e.g. after a worker was killed: their
    processes, if any are still dying, are killed first. Returns how many were removed."""
    removed = 0
    roots = [r for r in (CGroups._pids_root(), CGroups._memory_root()) if r is not None]
    dirs = [d for uid in uids for root in roots for d in root.glob(f"course-grade-*-{uid}")]
    deadline = time.monotonic() + timeout
    while dirs and time.monotonic() < deadline:
        left = []
        for d in dirs:
            try:
                pids = [int(x) for x in (d / "cgroup.procs").read_text().split()]
                if pids:
                    kill_pids(pids)
                    left.append(d)
                    continue
                d.rmdir()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
        dirs = left
        if dirs:
            time.sleep(0.05)
    return removed
