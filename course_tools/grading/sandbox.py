"""Operating-system isolation for grading on one machine, without Docker: :class:`Jail`.

A :class:`Jail` runs one program (the student process of one graded notebook) in a sandbox
built with bubblewrap (``bwrap``, Debian package ``bubblewrap``), the tool Flatpak uses. Start
it from a process that has called :func:`private_loopback`; :func:`jail_available` says whether
every guarantee below holds on this machine, and if not, why.

What the jail guarantees (each is tested by running real programs in it:
tests/grading/test_sandbox.py and tests/grading/hostile/test_host_isolation.py)

* **A minimal root, nothing else of the host.** Read-only: ``/usr`` (system libraries), the
  Python installation, the virtual environment, ``course_tools`` minus ``hide_paths`` (hidden
  files and directories, and a hidden module's cached bytecode, do not exist in the jail), a
  few files of ``/etc`` the dynamic linker needs, and generated ``/etc/passwd``, ``group``,
  ``hosts``. Writable, private and gone with the jail: the working directory ``/scratch``
  (holding ``files``), ``/tmp`` (``HOME`` is ``/tmp/home``) and ``/dev/shm``, each a tmpfs of
  ``Limits.tmp_size`` bytes; everything else, ``/`` included, is read-only. Not there: the
  checkout (``.git``, ``notebooks/``, assessment sources), any home directory, ``/run``,
  ``/var``, ``/sys``, the host's ``/tmp`` and ``/dev/shm``, and so no host unix socket. Nothing
  the grader imports (``course_tools``, the venv's ``site-packages``, the Python installation)
  can be changed from inside. The environment is only ``PATH``, ``HOME``, ``TMPDIR``, ``LANG``,
  ``LC_ALL``, two ``PYTHON*`` switches, ``PWD`` and the caller's ``env``.
* **Own namespaces**: user (nested user namespaces refused), PID (it sees only its own
  processes; ``/proc`` is its own), IPC (SysV shared memory, semaphores and queues die with
  it), UTS (hostname ``jail``), cgroup and mount. The **network** namespace is the caller's:
  after :func:`private_loopback` that is a loopback of its own, so servers the caller starts on
  127.0.0.1 are reachable and nothing else is (not the host's loopback services, not its
  abstract unix sockets, not other notebooks, not the internet). A jail refuses to start in a
  network namespace with any interface but a loopback.
* **No privilege.** As root, each jail runs as a fresh uid (never used by any process, from
  ``JAIL_UID_BASE``), without supplementary groups, with no capabilities, ``no_new_privs``, in a
  new session (no terminal), so it cannot signal, trace or read another jail's processes.
* **Limits per jail** (cgroup v1 ``cpu``, ``cpuacct``, ``memory``, ``pids``, or a delegated
  cgroup v2, whose code path the tests have not run: the test machine has v1): a CPU quota (``Limits.cpu_quota`` CPUs: a spinning submission cannot slow the
  others beyond its share), memory for all its processes and tmpfs files together
  (``Limits.cgroup_memory``; swap counted when the kernel accounts it), processes and threads
  (``Limits.processes``); plus rlimits per process (address space, file size, open files,
  CPU seconds, no core dumps, and processes of its uid). :meth:`Jail.cpu_seconds` is the
  kernel's count for the whole tree, so the jailed program cannot under-report it.
* **Nothing survives it.** :meth:`Jail.kill` kills every process in its cgroup (a fork bomb
  included; the pids limit bounds it) and then every process of its uid, and removes the
  cgroups; its tmpfs mounts (scratch, ``/tmp``, ``/dev/shm``) and IPC objects die with its
  namespaces, and the launcher's own mounts with its private mount namespace. If the caller dies,
  the jail dies with it (``--die-with-parent``, and the launcher's parent-death signal; note
  that Linux sends it when the *thread* that created the jail exits), and
  :func:`remove_stale_jails` (run before each new jail) removes cgroups left by a dead caller.

What it does not guarantee

* It is not a virtual machine: the jail shares the host's kernel; a kernel vulnerability
  reachable from an unprivileged process can break out. A seccomp filter (x86_64 only) refuses
  the system calls that are the usual kernel attack surface or reach other processes
  (:data:`JAIL_DENIED_SYSCALLS`: io_uring, bpf, userfaultfd, perf_event_open, keyctl, ptrace,
  mount and namespace calls, other ABIs, ...); everything else is allowed.
* Side channels are not closed: CPU caches, timing, ``/proc/cpuinfo``, and the load the jail
  causes within its quota, memory and I/O bandwidth (there is no I/O limit).
* Whatever ``course_tools`` (minus ``hide_paths``), the virtual environment and the Python
  installation contain is readable, and a unix socket someone placed inside them would be
  reachable: keep secrets out of them. Everything the caller passes in ``files``, ``env`` and
  ``pass_fds`` is the jail's.
* Without root (``jail_available()`` is then False), a jail runs as the caller's own uid,
  without cgroups (no CPU quota, no memory or pids limit for the tree; CPU time only of the
  main process, read from ``/proc`` while it runs) and without ``RLIMIT_NPROC`` (checked by
  hand as uid 65534 with the system Python: the jail starts, sees the same minimal root). ``unsafe=True`` runs the program with rlimits only: for a
  learner's own ``course check`` or an instructor's explicit ``--unsafe`` (and without even
  rlimits where util-linux's ``prlimit``/``setpriv`` do not exist, e.g. macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import stat as _stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Limits", "Jail", "JailError", "jail_available", "private_loopback", "module_paths", "remove_stale_jails",
           "kill_uid", "UID_BASE", "JAIL_UID_BASE"]

UID_BASE = 1_700_000_000          # far above any real account; the jail uids lie just below it (JAIL_UID_BASE)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
LINUX = sys.platform.startswith("linux") and hasattr(_libc, "prctl")


@dataclass
class Limits:
    """What one graded notebook may use. Times in seconds, sizes in bytes."""
    cell_timeout: float = 30.0        # one student cell or one test
    notebook_timeout: float = 300.0   # all cells of one notebook, replays included
    memory: int = 1 << 30             # address space (RLIMIT_AS) of each jailed process: cgroup_memory + memory
    cgroup_memory: int = 2 << 30      # all processes of the notebook together (cgroup, when available)
    clean_memory: int = 1 << 30       # data (RLIMIT_DATA) the clean process may add on top of its worker's
    processes: int = 48               # processes + threads of the notebook's uid (RLIMIT_NPROC / pids cgroup)
    file_size: int = 64 << 20         # largest file it may write (RLIMIT_FSIZE)
    tmp_size: int = 256 << 20         # private /tmp, /dev/shm (tmpfs size)
    output: int = 256 << 10           # stdout+stderr bytes before a warning; output is read and discarded,
                                      # never stored (so never shown, and never a size problem)
    open_files: int = 256
    cpu_quota: float = 1.0            # CPUs a jail may use at once (cgroup CPU quota); 1.0 = one core

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Limits":
        return Limits(**{k: v for k, v in d.items() if k in Limits.__dataclass_fields__})


# ----------------------------------------------------------------------------------------------
# the caller's side: its private network, finding and killing a jail's processes

CLONE_NEWNET = 0x40000000


def private_network() -> None:
    """A new network namespace with only its own loopback, brought up: servers a notebook starts
    on 127.0.0.1 work, but nothing outside this process tree is reachable (not the host's
    loopback, not other students, not the internet)."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    _lo_up()


def pids_of_uid(uid: int) -> list[int]:
    return pids_of_uid_range(uid, uid + 1)


def pids_of_uid_range(lo: int, hi: int, *, live_only: bool = False) -> list[int]:
    """Processes whose real uid is in [lo, hi) (``live_only``: zombies left out, see
    :func:`live_pids_of_uid`)."""
    out = []
    if not os.path.isdir("/proc"):
        return out
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:  # not os.stat: a non-dumpable process's /proc entry is owned by root
            with open(f"/proc/{name}/status") as f:
                zombie = False
                for line in f:
                    if line.startswith("State:"):          # comes before Uid:
                        zombie = line.split()[1] in ("Z", "X")
                    elif line.startswith("Uid:"):
                        if lo <= int(line.split()[1]) < hi and not (live_only and zombie):
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
        reap(pids)
        if time.monotonic() > deadline:
            return not pids_of_uid(uid)
        time.sleep(0.01)


def kill_pids(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def reap(pids: list[int]) -> None:
    """Collect those of ``pids`` that are exited children of this process. Only these: a
    ``waitpid(-1)`` would also take the exit status of an unrelated child of the caller (a
    reference server, another jail), which its own ``Popen.wait`` then never sees."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (the usual case), or already collected
            pass


# ----------------------------------------------------------------------------------------------
# seccomp-BPF building blocks (the jail's filter: jail_seccomp_filter below)

_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_AUDIT_ARCH_X86_64 = 0xC000003E


def seccomp_available() -> bool:
    import platform
    return LINUX and platform.machine() in ("x86_64", "AMD64")


# ----------------------------------------------------------------------------------------------
# The jail: one sandboxed process tree in bubblewrap (see the module docstring for its guarantees)

JAIL_UID_BASE = 1_600_000_000     # jail uids: [JAIL_UID_BASE, UID_BASE)
JAIL_UID_COUNT = UID_BASE - JAIL_UID_BASE
JAIL_SCRATCH = "/scratch"         # the jail's writable working directory (a tmpfs of its own)
JAIL_HOME = "/tmp/home"
_CG_PREFIX = "course-jail-"
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # parent of course_tools/


class JailError(RuntimeError):
    """The jail could not be set up as asked (nothing of it is left running)."""


def _v1_root(controller: str) -> Path | None:
    """The directory of this process's cgroup in the v1 hierarchy of ``controller``."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                root = Path("/sys/fs/cgroup") / controller
                return root / path.lstrip("/") if root.is_dir() else None
    except (OSError, ValueError):
        pass
    return None


def _v2_root() -> Path | None:
    """This process's cgroup in a unified (v2) hierarchy mounted at /sys/fs/cgroup, if that is what is mounted."""
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return None
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    except OSError:
        pass
    return None


class JailCgroup:
    """The cgroup(s) of one jail: CPU quota, memory, pids; CPU time from the kernel.

    cgroup v1: one directory per controller (cpu, cpuacct, memory, pids) below this process's
    own cgroup. cgroup v2: one directory with cpu.max, memory.max, pids.max (the controllers
    must be delegated to this process's cgroup)."""

    def __init__(self, name: str, limits: Limits):
        self.name, self.dirs, self.v2 = name, [], False
        self._cpu_final: float | None = None
        v2 = _v2_root()
        try:
            if v2 is not None:
                self.v2 = True
                ctl = (v2 / "cgroup.subtree_control").read_text().split()
                missing = [c for c in ("cpu", "memory", "pids") if c not in ctl]
                if missing:
                    (v2 / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
                d = v2 / name
                d.mkdir()
                self.dirs.append(d)
                period = 100_000
                (d / "cpu.max").write_text(f"{max(1000, int(limits.cpu_quota * period))} {period}")
                (d / "memory.max").write_text(str(int(limits.cgroup_memory)))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(int(limits.processes) + 8))
                return
            roots = {}
            for c in _V1_CONTROLLERS:
                r = _v1_root(c)
                if r is None:
                    raise OSError(f"no cgroup v1 '{c}' hierarchy at /sys/fs/cgroup/{c}")
                roots[c] = r
            made: dict[str, Path] = {}
            for c, r in roots.items():
                d = r / name
                key = os.path.realpath(d)
                if key not in made:               # cpu and cpuacct may be one co-mounted hierarchy
                    d.mkdir()
                    self.dirs.append(d)
                    made[key] = d
            self._cpu_dir = made[os.path.realpath(roots["cpu"] / name)]
            self._acct_dir = made[os.path.realpath(roots["cpuacct"] / name)]
            (self._cpu_dir / "cpu.cfs_period_us").write_text("100000")
            (self._cpu_dir / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpu_quota * 100_000))))
            mem = made[os.path.realpath(roots["memory"] / name)]
            (mem / "memory.limit_in_bytes").write_text(str(int(limits.cgroup_memory)))
            if (mem / "memory.memsw.limit_in_bytes").exists():     # swap accounting on: no escape into swap
                (mem / "memory.memsw.limit_in_bytes").write_text(str(int(limits.cgroup_memory)))
            pids = made[os.path.realpath(roots["pids"] / name)]
            (pids / "pids.max").write_text(str(int(limits.processes) + 8))
        except OSError:
            self.remove()
            raise

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def cpu_seconds(self) -> float:
        if self._cpu_final is not None:
            return self._cpu_final
        try:
            if self.v2:
                for line in (self.dirs[0] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
                return 0.0
            return int((self._acct_dir / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, IndexError, AttributeError):
            return 0.0

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the cgroup until none is left (the pids limit bounds a fork bomb)."""
        if self.v2 and self.dirs and (self.dirs[0] / "cgroup.kill").exists():
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            kill_pids(pids)                   # repeated until empty: pids.max bounds a fork bomb
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def remove(self) -> None:
        if self.dirs and self._cpu_final is None:
            self._cpu_final = self.cpu_seconds()
        for d in reversed(self.dirs):
            rmdir_retrying(d, lambda d=d: kill_pids(self._pids_of(d)), tries=200, pause=0.01)
        self.dirs = []

    @staticmethod
    def _pids_of(d: Path) -> list[int]:
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []


def remove_stale_jails() -> int:
    """Remove the cgroups (and kill the processes) of jails whose creating process is gone, e.g.
    after a grader was SIGKILLed. Returns how many cgroup directories were removed."""
    roots = [r for r in [_v2_root(), *(_v1_root(c) for c in _V1_CONTROLLERS)] if r is not None]
    removed = 0
    for root in {os.path.realpath(r): r for r in roots}.values():
        try:
            entries = [e for e in os.listdir(root) if e.startswith(_CG_PREFIX)]
        except OSError:
            continue
        for e in entries:
            try:
                creator = int(e.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            if _alive(creator):
                continue
            d = root / e
            kill_pids(JailCgroup._pids_of(d))
            removed += rmdir_retrying(d, lambda d=d: kill_pids(JailCgroup._pids_of(d)), tries=100, pause=0.01)
    return removed


def rmdir_retrying(d: Path, on_busy, *, tries: int, pause: float) -> bool:
    """rmdir a cgroup directory whose processes may still be exiting: ``on_busy()`` then retry."""
    for _ in range(tries):
        try:
            d.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            on_busy()
            time.sleep(pause)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _netns_interfaces() -> list[str]:
    """The network interfaces of the calling thread's network namespace."""
    for f in ("/proc/thread-self/net/dev", "/proc/self/net/dev"):
        try:
            with open(f) as fh:
                return [line.split(":", 1)[0].strip() for line in fh.read().splitlines()[2:] if ":" in line]
        except OSError:
            continue
    return []


def _netns_is_private() -> bool:
    """Is the calling thread in a network namespace whose only interface is a loopback (as after
    :func:`private_loopback`), rather than one that reaches a network or the host's loopback?"""
    try:
        if os.readlink("/proc/thread-self/ns/net") == os.readlink("/proc/1/ns/net"):
            return False
    except OSError:
        pass
    return _netns_interfaces() == ["lo"]


def private_loopback() -> None:
    """Give the calling thread (and every process it starts afterwards) a new network namespace whose
    only interface is a loopback, brought up.

    Servers it starts on 127.0.0.1 are reachable from a :class:`Jail` it starts afterwards (the jail
    shares this namespace); the host's loopback services (Jupyter, Redis, ...), its abstract unix
    sockets, other graded notebooks and the internet are not. Call it from the thread that will
    create the jails, before starting threads that must see the same namespace. As root this is
    ``unshare(CLONE_NEWNET)``; otherwise a user namespace mapping only this uid is created first
    (which needs a single-threaded process)."""
    if not LINUX:
        raise OSError("private_loopback needs Linux network namespaces")
    if os.geteuid() == 0:
        private_network()
        return
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(0x10000000 | CLONE_NEWNET) != 0:             # CLONE_NEWUSER | CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    for f, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{f}", "w") as fh:
            fh.write(text)
    _lo_up()


def _lo_up() -> None:
    """Bring the loopback interface of the current network namespace up."""
    import fcntl
    import socket
    import struct
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sh", b"lo", 0)))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh", b"lo", flags | 0x1 | 0x40))                 # SIOCSIFFLAGS: UP, RUNNING


def module_paths(module: str) -> list[str]:
    """The paths that hold ``module`` (a dotted name such as ``course_tools.sim.caches``) below the
    checkout: its package directory or its ``.py`` file. For ``Jail(hide_paths=...)``."""
    base = os.path.join(CHECKOUT, *module.split("."))
    return [p for p in (base, base + ".py") if os.path.exists(p)]


def _hidden_set(hide_paths) -> set[str]:
    """Absolute paths to leave out of the jail: each given path, and for a ``.py`` file its
    cached bytecode (``__pycache__/<name>.*.pyc``), which holds the same code."""
    out: set[str] = set()
    for p in hide_paths:
        p = os.path.abspath(os.path.join(CHECKOUT, os.fspath(p)))
        out.add(p)
        out.add(os.path.realpath(p))
        if p.endswith(".py"):
            d, name = os.path.split(p)
            cache = os.path.join(d, "__pycache__")
            stem = name[:-3] + "."
            try:
                out.update(os.path.join(cache, f) for f in os.listdir(cache) if f.startswith(stem))
            except OSError:
                pass
    return out


def _bind_excluding(src: str, hidden: set[str], out: list[str], source=lambda p: p,
                    split: list[str] | None = None) -> None:
    """Bind ``src`` read-only at the same path, leaving out the ``hidden`` paths below it: a
    directory holding one is recreated as a small tmpfs of its own (listed in ``split``, to be
    remounted read-only once everything is bound into it: it may lie under the jail's writable
    /tmp, e.g. a checkout cloned by mktemp) and its other entries bound one by one; hidden entries
    simply do not exist in the jail. ``source(path)`` is where bwrap finds ``path`` (see :class:`_Stage`)."""
    if src in hidden:
        return
    if not any(h.startswith(src + os.sep) for h in hidden):
        out += ["--ro-bind", source(src), src]
        return
    out += ["--tmpfs", src]
    if split is not None:
        split.append(src)
    try:
        names = sorted(os.listdir(src))
    except OSError:
        return
    for name in names:
        p = os.path.join(src, name)
        if p in hidden:
            continue
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if _stat.S_ISLNK(st.st_mode):
            out += ["--symlink", os.readlink(p), p]
        elif _stat.S_ISDIR(st.st_mode):
            _bind_excluding(p, hidden, out, source, split)
        elif _stat.S_ISREG(st.st_mode):        # sockets, FIFOs, devices: never
            out += ["--ro-bind", source(p), p]


def _jail_roots() -> list[str]:
    """What the jail sees of the host (read-only): /usr (system libraries), the Python installation,
    the virtual environment and the course_tools package. Nested duplicates removed."""
    course_tools = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cands = ["/usr", os.path.abspath(sys.base_prefix), os.path.abspath(sys.prefix), course_tools]
    roots: list[str] = []
    for c in cands:
        for path in {c, os.path.realpath(c)}:
            if os.path.isdir(path) and path not in roots:
                roots.append(path)
    roots.sort(key=len)
    return [r for i, r in enumerate(roots) if not any(r.startswith(o + os.sep) for o in roots[:i])]


# x86_64 system calls a graded notebook never needs and that are a kernel's usual attack surface
# or reach other processes: refused with EPERM (as Docker's default profile does for most of them).
JAIL_DENIED_SYSCALLS = {
    101: "ptrace", 310: "process_vm_readv", 311: "process_vm_writev", 312: "kcmp", 298: "perf_event_open",
    321: "bpf", 323: "userfaultfd", 248: "add_key", 249: "request_key", 250: "keyctl", 103: "syslog",
    425: "io_uring_setup", 426: "io_uring_enter", 427: "io_uring_register", 303: "name_to_handle_at",
    304: "open_by_handle_at", 165: "mount", 166: "umount2", 155: "pivot_root", 272: "unshare", 308: "setns",
    428: "open_tree", 429: "move_mount", 430: "fsopen", 431: "fsconfig", 432: "fsmount", 433: "fspick",
    442: "mount_setattr", 246: "kexec_load", 320: "kexec_file_load", 175: "init_module", 313: "finit_module",
    176: "delete_module", 167: "swapon", 168: "swapoff", 163: "acct",
}


def jail_seccomp_filter() -> bytes | None:
    """The jail's seccomp-BPF program (``bwrap --seccomp``): other architectures' and the x32 system
    call ABI refused, then :data:`JAIL_DENIED_SYSCALLS`; everything else allowed. None off x86_64."""
    import struct
    if not seccomp_available():
        return None
    ins = [(_BPF_LD_W_ABS, 0, 0, 4), (_BPF_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64), (_BPF_RET_K, 0, 0, _RET_EPERM),
           (_BPF_LD_W_ABS, 0, 0, 0), (_BPF_JGE_K, 0, 1, 0x40000000), (_BPF_RET_K, 0, 0, _RET_EPERM)]
    for nr in sorted(JAIL_DENIED_SYSCALLS):
        ins += [(_BPF_JEQ_K, 0, 1, nr), (_BPF_RET_K, 0, 0, _RET_EPERM)]
    ins.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(struct.pack("=HBBI", *i) for i in ins)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)          # no MFD_CLOEXEC: bwrap reads it
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _reserve_uid() -> int:
    """A uid no process on this machine has (and no live jail reserved): one per jail."""
    import random
    for _ in range(1000):
        uid = JAIL_UID_BASE + random.SystemRandom().randrange(JAIL_UID_COUNT)
        if not pids_of_uid(uid):
            return uid
    raise JailError("no free jail uid")


_AVAILABLE: tuple[bool, list[str]] | None = None
_SEQ = __import__("itertools").count(1)    # next() is atomic under the GIL: jails may start from threads


def jail_available() -> tuple[bool, list[str]]:
    """Can :class:`Jail` run here with every guarantee of this module? ``(True, [])``, or
    ``(False, reasons)`` that an instructor can act on. Probed once per process (a real jail
    starting Python and exiting)."""
    global _AVAILABLE
    if _AVAILABLE is not None:
        return _AVAILABLE[0], list(_AVAILABLE[1])
    reasons = []
    if not LINUX:
        reasons.append("not Linux: the jail needs Linux namespaces and cgroups")
    if shutil.which("bwrap") is None:
        reasons.append("bubblewrap is not installed: `apt-get install bubblewrap` (or `make test` as root does it)")
    for tool in ("setpriv", "prlimit", "unshare", "mount"):
        if shutil.which(tool) is None:
            reasons.append(f"`{tool}` (util-linux) is not on PATH")
    if os.geteuid() != 0:
        reasons.append("not running as root: each jail needs a fresh unprivileged uid and its own cgroups; "
                       "run `course autograde` as root (or pass --unsafe to grade with rlimits only)")
    elif LINUX:
        try:
            JailCgroup(f"{_CG_PREFIX}probe-0-{os.getpid()}", Limits()).remove()
        except OSError as exc:
            reasons.append(f"cannot create cgroups for CPU, memory and pids limits ({exc}); cgroup v1 needs "
                           "writable cpu, cpuacct, memory, pids hierarchies under /sys/fs/cgroup, cgroup v2 a "
                           "delegated cgroup with the cpu, memory and pids controllers")
    if not reasons:
        try:
            with Jail([sys.executable, "-I", "-S", "-c", "pass"], limits=Limits(), share_host_network=True,
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as probe:
                code = probe.wait(30)
                err = probe.stderr_text()
            if code != 0:
                reasons.append(f"bubblewrap could not start a jail as an unprivileged user (exit {code}: "
                               f"{err.strip()[-300:]}); unprivileged user namespaces may be disabled "
                               "(sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap "
                               "on Ubuntu >= 23.10)")
        except (OSError, JailError) as exc:
            reasons.append(f"the jail self-test failed: {exc}")
    _AVAILABLE = (not reasons, reasons)
    return _AVAILABLE[0], list(reasons)


class Jail:
    """One sandboxed process tree running ``argv``; a context manager (see the module docstring).

    ``pass_fds`` are inherited by the jailed program (e.g. one end of a socketpair);
    ``hide_paths`` (absolute, or relative to the checkout, e.g. ``course_tools/grading``, see
    :func:`module_paths`) do not exist in the jail; ``files`` (relative path -> bytes) are written
    into its scratch working directory before it starts; ``env`` is added to a minimal environment.
    ``unsafe=True`` runs ``argv`` without bubblewrap, with rlimits only. ``share_host_network``
    lets a jail be started without :func:`private_loopback` (only for the self-test)."""

    def __init__(self, argv: list[str], *, limits: Limits, pass_fds: tuple[int, ...] = (),
                 hide_paths: list[str] = (), files: dict[str, bytes] = {}, env: dict[str, str] = {},
                 unsafe: bool = False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 share_host_network: bool = False):
        self.unsafe, self.limits = unsafe, limits
        self.uid: int | None = None
        self.cgroup: JailCgroup | None = None
        self.scratch: str | None = None
        self._proc: subprocess.Popen | None = None
        self._killed = False
        self._cpu_unsafe = 0.0
        try:
            if unsafe:
                self._start_unsafe(list(argv), pass_fds, files, env, stdout, stderr)
            else:
                self._start(list(argv), pass_fds, hide_paths, files, env, stdout, stderr, share_host_network)
        except BaseException:
            self.kill()
            raise
        self.pid: int = self._proc.pid
        self.stdout = self._proc.stdout        # file objects when stdout/stderr=subprocess.PIPE, else None
        self.stderr = self._proc.stderr

    # -- starting
    def _env(self, home: str, tmp: str, extra: dict[str, str]) -> dict[str, str]:
        venv_bin = os.path.join(os.path.abspath(sys.prefix), "bin")
        env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        env.update(extra)
        return env

    def _launch(self, cmd: list[str], *, pass_fds, env, stdout, stderr, cwd: str, stage: "_Stage | None" = None) -> None:
        """Start ``cmd`` through a short chain of util-linux tools, each exec'ing the next in one process:
        ``sh`` joins the jail's cgroups (before anything else runs), ``unshare --mount`` + ``mount``
        (root only, when a bound path is under a directory the jail's uid cannot search, see
        :class:`_Stage`), ``prlimit`` sets rlimits, ``setpriv`` drops to the jail's uid (no groups,
        no capabilities, no_new_privs) and asks for SIGKILL when the caller dies."""
        lim = self.limits
        rl = [f"--as={int(lim.cgroup_memory) + int(lim.memory)}", f"--fsize={int(lim.file_size)}",
              f"--nofile={min(int(lim.open_files), 900)}", "--core=0", f"--cpu={max(1, int(lim.notebook_timeout) + 1)}"]
        if self.uid is not None:            # RLIMIT_NPROC counts the processes of the (fresh) uid only
            rl.append(f"--nproc={int(lim.processes) + 8}")
        if self.unsafe and not (shutil.which("prlimit") and shutil.which("setpriv")):
            chain = []                  # not Linux (a learner's own check on macOS): no rlimits, said in the docstring
        else:
            chain = ["prlimit", *rl, "setpriv", "--pdeathsig=KILL", "--no-new-privs"]
        if self.uid is not None:
            chain += [f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all",
                      "--bounding-set=-all"]
        chain += cmd
        if stage is not None and stage.sources:
            chain = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", stage.script(), "jail-stage",
                     *chain]
        join = "".join(f"echo $$ > {_q(f)} || exit 125\n" for f in (self.cgroup.procs_files() if self.cgroup else []))
        self._proc = subprocess.Popen(["/bin/sh", "-c", join + 'exec "$@"', "jail", *chain], env=env,
                                      pass_fds=tuple(pass_fds), stdin=subprocess.DEVNULL, stdout=stdout,
                                      stderr=stderr, start_new_session=True, cwd=cwd)

    def _start(self, argv, pass_fds, hide_paths, files, env, stdout, stderr, share_host_network) -> None:
        if not share_host_network and not _netns_is_private():
            raise JailError("the jail would share the caller's network namespace, which has interfaces "
                            f"{_netns_interfaces()} (the host's): call sandbox.private_loopback() first")
        root = os.geteuid() == 0
        if root:
            self.uid = _reserve_uid()
        remove_stale_jails()
        uid_for_name = self.uid if self.uid is not None else os.getuid()
        try:
            # name: course-jail-<uid>-<n>-<creator pid> (remove_stale_jails reads the pid)
            self.cgroup = JailCgroup(f"{_CG_PREFIX}{uid_for_name}-{next(_SEQ)}-{os.getpid()}", self.limits)
        except OSError as exc:
            if root:
                raise JailError(f"cannot create the jail's cgroups: {exc}") from exc
            self.cgroup = None          # not root: jail_available() says so; rlimits still apply
        memfds: list[int] = []
        try:
            b = ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
                 "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                 "--hostname", "jail"]
            for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
                if os.path.islink(top):
                    b += ["--symlink", os.readlink(top), top]
                elif os.path.isdir(top):
                    b += ["--ro-bind", top, top]
            # /proc, /dev and the private /tmp first: the read-only roots bound below may lie under /tmp (a
            # checkout cloned by mktemp, as CI does), and a tmpfs mounted after them would hide them
            lim = self.limits
            b += ["--proc", "/proc", "--dev", "/dev",
                  "--size", str(int(lim.tmp_size)), "--tmpfs", "/dev/shm",
                  "--size", str(int(lim.tmp_size)), "--tmpfs", "/tmp"]
            hidden = _hidden_set(hide_paths)
            split_dirs: list[str] = []
            roots = _jail_roots()
            stage = _Stage(roots if self.uid is not None else [])
            for r in roots:
                _bind_excluding(r, hidden, b, stage.source, split_dirs)
            for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
                if os.path.exists(f):
                    b += ["--ro-bind", f, f]
            uid = self.uid if self.uid is not None else os.getuid()
            gid = self.uid if self.uid is not None else os.getgid()
            etc = {"/etc/passwd": f"root:x:0:0::/:/usr/sbin/nologin\nstudent:x:{uid}:{gid}::{JAIL_HOME}:/usr/sbin/nologin\n"
                                  "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
                   "/etc/group": f"root:x:0:\nstudent:x:{gid}:\nnogroup:x:65534:\n",
                   "/etc/hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
                   "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
                   "/etc/hostname": "jail\n"}
            for path, text in etc.items():
                fd = _memfd(path, text.encode())
                memfds.append(fd)
                b += ["--perms", "0444", "--ro-bind-data", str(fd), path]
            b += ["--size", str(int(lim.tmp_size)), "--tmpfs", JAIL_SCRATCH, "--dir", JAIL_HOME]
            made = {JAIL_SCRATCH}
            for rel, data in files.items():
                dest = os.path.normpath(os.path.join(JAIL_SCRATCH, rel))
                if not dest.startswith(JAIL_SCRATCH + "/"):
                    raise JailError(f"file {rel!r} would land outside the scratch directory")
                parent = os.path.dirname(dest)
                chain = []
                while parent not in made:
                    chain.append(parent)
                    parent = os.path.dirname(parent)
                for d in reversed(chain):
                    b += ["--dir", d]
                    made.add(d)
                fd = _memfd("file", bytes(data))
                memfds.append(fd)
                b += ["--perms", "0644", "--file", str(fd), dest]
            prog = jail_seccomp_filter()
            if prog is not None:
                fd = _memfd("seccomp", prog)
                memfds.append(fd)
                b += ["--seccomp", str(fd)]
            for d in reversed(split_dirs):            # innermost first: nothing is bound into them any more
                b += ["--remount-ro", d]
            b += ["--remount-ro", "/", "--chdir", JAIL_SCRATCH, "--", *argv]
            self._launch([shutil.which("bwrap") or "bwrap", *b], pass_fds=tuple(pass_fds) + tuple(memfds),
                         env=self._env(JAIL_HOME, "/tmp", env), stdout=stdout, stderr=stderr, cwd="/", stage=stage)
        finally:
            for fd in memfds:
                os.close(fd)

    def _start_unsafe(self, argv, pass_fds, files, env, stdout, stderr) -> None:
        import tempfile
        self.scratch = tempfile.mkdtemp(prefix="course-jail-unsafe-")
        home, tmp = os.path.join(self.scratch, ".home"), os.path.join(self.scratch, ".tmp")
        os.mkdir(home)
        os.mkdir(tmp)
        for rel, data in files.items():
            dest = os.path.normpath(os.path.join(self.scratch, rel))
            if not dest.startswith(self.scratch + os.sep):
                raise JailError(f"file {rel!r} would land outside the scratch directory")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
        self._launch(argv, pass_fds=pass_fds, env=self._env(home, tmp, env), stdout=stdout, stderr=stderr,
                     cwd=self.scratch)

    # -- running
    def wait(self, timeout: float | None) -> int | None:
        """The exit status of the jailed program (bwrap passes it on), or None after ``timeout`` seconds."""
        proc = self._proc
        if proc.returncode is not None or timeout is None:
            return proc.wait()
        try:                          # a pidfd wakes us the moment it exits (Popen.wait(t) polls every 50 ms)
            fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            import select
            try:
                p = select.poll()
                p.register(fd, select.POLLIN)
                ready = p.poll(max(0.0, timeout) * 1000)
            finally:
                os.close(fd)
            return proc.wait() if ready else None
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_text(self) -> str:
        """What the program wrote to stderr=PIPE (read after it exited; for self-tests)."""
        if self._proc is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read(1 << 16).decode("utf-8", "replace")

    def cpu_seconds(self) -> float:
        """CPU time used by the whole process tree, from the kernel (cgroup CPU accounting), so
        nothing the jailed program does can under-report it. Still valid after :meth:`kill`.
        Without cgroups (``unsafe``), the main process's own and reaped children's time from /proc."""
        if self.cgroup is not None:
            return self.cgroup.cpu_seconds()
        if self._proc is not None and self._proc.returncode is None:
            try:
                with open(f"/proc/{self._proc.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                self._cpu_unsafe = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                pass
        return self._cpu_unsafe

    def kill(self) -> None:
        """Kill every process of the jail and remove its cgroups and scratch. Idempotent."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if self.unsafe:
                self.cpu_seconds()
                try:
                    os.killpg(proc.pid, signal.SIGKILL)       # its session's process group
                except OSError:
                    pass
            try:
                proc.kill()        # bwrap: --die-with-parent and the PID namespace take every process with it
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill()
        if proc is not None:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.uid is not None and live_pids_of_uid(self.uid):
            kill_uid(self.uid, timeout=5.0)            # nothing of this uid may survive (belt and braces)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
        self._killed = True

    def __enter__(self) -> "Jail":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def live_pids_of_uid(uid: int) -> list[int]:
    """Processes of ``uid`` that are not zombies. (bwrap's PID 1 can outlive the bwrap process
    we wait for by a moment; it is then reparented and reaped by the machine's init, which may
    take a second: a zombie holds no resources, runs nothing and is out of the cgroup.)"""
    return pids_of_uid_range(uid, uid + 1, live_only=True)


_STAGE_POINTS = ("/mnt", "/media", "/srv", "/opt", "/var/tmp", "/dev/shm")


class _Stage:
    """Make bind sources reachable for bubblewrap running as the jail's uid, without touching the host.

    bwrap resolves every bind source as the unprivileged jail uid, so a Python installation
    under a 0700 ``/root`` (pyenv) or a checkout under someone's home cannot be bound directly.
    The launcher, still root, enters a mount namespace of its own (``unshare --mount``), mounts a
    small tmpfs on an existing directory (:data:`_STAGE_POINTS`, never an ancestor of a source)
    and bind-mounts each such root there; bwrap binds from the stage. The host's mounts are
    untouched and the stage dies with the jail."""

    def __init__(self, roots: list[str]):
        self.sources = [r for r in roots if _unsearchable_ancestor(r)]
        self.point = None
        if self.sources:
            for cand in _STAGE_POINTS:
                if os.path.isdir(cand) and not os.path.islink(cand) and not any(
                        (r + os.sep).startswith(cand + os.sep) for r in roots):
                    self.point = cand
                    break
            if self.point is None:
                raise JailError(f"cannot make {self.sources} reachable for the jail's uid: none of "
                                f"{_STAGE_POINTS} exists to stage them on")

    def source(self, path: str) -> str:
        for i, r in enumerate(self.sources):
            if path == r or path.startswith(r + os.sep):
                return f"{self.point}/{i}{path[len(r):]}"
        return path

    def script(self) -> str:
        lines = ["set -e", f"mount -t tmpfs -o mode=755,size=64k,nosuid,nodev jail-stage {_q(self.point)}"]
        for i, r in enumerate(self.sources):
            lines += [f"mkdir {_q(f'{self.point}/{i}')}", f"mount --bind {_q(r)} {_q(f'{self.point}/{i}')}"]
        return "\n".join(lines + ['exec "$@"'])


def _unsearchable_ancestor(path: str) -> bool:
    """Is a directory on the way to ``path`` closed to a uid that is neither its owner nor in its group?"""
    parts = path.strip(os.sep).split(os.sep)
    for i in range(1, len(parts)):
        try:
            if not os.stat(os.sep + os.path.join(*parts[:i])).st_mode & 0o001:
                return True
        except OSError:
            return False
    return False


def _q(s: str) -> str:
    import shlex
    return shlex.quote(s)
