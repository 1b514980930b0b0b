"""Does the grading jail (course_tools.grading.sandbox.Jail) hold what its docstring promises?"""

from __future__ import annotations

import json
import os

import pytest

from course_tools.grading import sandbox

pytestmark = [pytest.mark.grading]


# ------------------------------------------------------------------------------------------
# The jail (bubblewrap): real programs run in it; see tests/grading/conftest.py for `jailed`.

def test_jail_runs_python_with_course_tools_files_and_nothing_hidden(jailed):
    """Does a jailed Python start in its scratch directory holding the given files, import
    course_tools, and find hidden modules (and their cached bytecode) simply absent?"""
    r = jailed("""
        import json, os, sys, importlib
        seen = {"cwd": os.getcwd(), "file": open("sub/data.txt").read(), "home": os.environ["HOME"],
                "home_writable": os.access(os.environ["HOME"], os.W_OK)}
        import course_tools.clock
        seen["clock"] = course_tools.clock.__name__
        for mod in ("course_tools.grading", "course_tools.sim.caches"):
            try:
                importlib.import_module(mod); seen[mod] = "imported"
            except ImportError as e:
                seen[mod] = "ImportError"
        sim = os.path.dirname(importlib.import_module("course_tools.sim").__file__)
        seen["sim_entries"] = sorted(os.listdir(sim)) + sorted(os.listdir(os.path.join(sim, "__pycache__"))
                                                              if os.path.isdir(os.path.join(sim, "__pycache__")) else [])
        print(json.dumps(seen))
    """, files={"sub/data.txt": "given"}, hide=["course_tools/grading", "course_tools/sim/caches.py"])
    seen = r["seen"]
    assert r["rc"] == 0, r["err"]
    assert (seen["cwd"], seen["file"], seen["home"], seen["home_writable"]) == ("/scratch", "given", "/tmp/home", True)
    assert seen["clock"] == "course_tools.clock"
    assert seen["course_tools.grading"] == seen["course_tools.sim.caches"] == "ImportError"
    assert not [e for e in seen["sim_entries"] if e.startswith("caches.")]
    assert "__init__.py" in seen["sim_entries"]


def test_each_jail_runs_as_a_fresh_uid_without_privilege(jailed):
    """Does every jail get its own never-used uid, no groups, no capabilities, no_new_privs, no
    nested user namespaces, and a read-only root?"""
    code = """
        import json, os
        st = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
        seen = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(), "cap": st["CapEff"].strip(),
                "bnd": st["CapBnd"].strip(), "nnp": st["NoNewPrivs"].strip()}
        for name, path in (("root", "/x"), ("usr", "/usr/x")):
            try:
                open(path, "w"); seen[name] = "written"
            except OSError as e:
                seen[name] = e.errno
        import ctypes
        seen["userns"] = ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0
        print(json.dumps(seen))
    """
    a, b = jailed(code), jailed(code)
    for r in (a, b):
        s = r["seen"]
        assert s["uid"] == s["euid"] == r["uid"] and s["uid"] >= sandbox.JAIL_UID_BASE
        assert s["groups"] in ([], [s["uid"]]) and s["cap"] == "0000000000000000" and s["nnp"] == "1"
        assert s["root"] == s["usr"] == 30            # EROFS
        assert s["userns"] is False
    assert a["uid"] != b["uid"]


def test_cpu_quota_holds_for_the_whole_tree(jailed):
    """Do two processes spinning in a jail with a quota of half a CPU get at most half a CPU,
    by the kernel's count (cpuacct), however long they spin?"""
    r = jailed("""
        import os, time
        end = time.monotonic() + 3
        pid = os.fork()
        while time.monotonic() < end:
            pass
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    """, limits={"cpu_quota": 0.5})
    assert r["rc"] == 0, r["err"]
    # an upper bound: holds on a loaded machine too (load only lowers what the jail gets);
    # 10% + one period of slack for the CFS accounting granularity and the jail's start-up
    # (the count is still there after kill(), plus what bwrap's own init used while exiting)
    assert 0 < r["cpu"] <= r["cpu_after_kill"] <= 0.5 * r["wall"] * 1.1 + 0.1, (r["cpu"], r["cpu_after_kill"], r["wall"])


def test_memory_limit_holds_for_the_whole_tree(jailed):
    """Can two processes of one jail hold 96 MB each at once under a 128 MB limit for the whole
    tree? (The kernel must kill one of them; with a 1 GB limit, the control, both hold.)"""
    code = """
        import json, os, time
        r, w = os.pipe()
        def touch():
            b = bytearray(96 << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
            return b
        pid = os.fork()
        if pid == 0:
            held = touch(); os.write(w, b"x"); time.sleep(60); os._exit(0)
        os.read(r, 1)                               # the child holds its 96 MB
        held = touch()
        print(json.dumps({"both_holding": os.waitpid(pid, os.WNOHANG) == (0, 0)}), flush=True)
    """
    limited = jailed(code, limits={"cgroup_memory": 128 << 20, "memory": 4 << 30})
    assert limited["seen"] in (None, {"both_holding": False})    # the parent, or the child, was killed
    control = jailed(code, limits={"cgroup_memory": 1 << 30, "memory": 4 << 30})
    assert control["seen"] == {"both_holding": True}


def test_pids_limit_holds(jailed):
    """Can a jail start no more processes than its pids limit, whatever it tries?"""
    r = jailed("""
        import json, os, time
        n = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
        except OSError as e:
            err = e.errno
        print(json.dumps({"started": n, "errno": err}))
    """, limits={"processes": 10}, timeout=60)
    assert r["seen"]["errno"] == 11 and 0 < r["seen"]["started"] <= 10 + 8     # EAGAIN
    assert r["live_after_kill"] == [] and r["cgroups_left"] == []


def test_kill_leaves_no_process_and_no_cgroup(jailed):
    """After kill(), is no process of the jail's uid left, daemons that left the session
    included, and are its cgroups gone?"""
    r = jailed("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)
            os._exit(0)
        time.sleep(120)
    """, timeout=3)
    assert r["rc"] is None                     # still running when killed
    assert r["live_after_kill"] == [] and r["cgroups_left"] == []


def test_jail_dies_with_its_creator_and_its_cgroups_are_swept(tmp_path):
    """If the process that started a jail is SIGKILLed, do the jail's processes die, and does
    remove_stale_jails() remove the cgroups it left?"""
    import signal
    import subprocess
    import sys
    import time
    from tests.grading.conftest import require_jail  # noqa: F401  (same module object as the fixture's)
    require_jail()
    code = ("import json, sys, time\nfrom course_tools.grading import sandbox\nsandbox.private_loopback()\n"
            "j = sandbox.Jail([sys.executable, '-c', 'import time; time.sleep(120)'], limits=sandbox.Limits())\n"
            "print(json.dumps({'uid': j.uid, 'dirs': [str(d) for d in j.cgroup.dirs]}), flush=True)\ntime.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    deadline = time.monotonic() + 20
    while not sandbox.live_pids_of_uid(info["uid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.live_pids_of_uid(info["uid"])          # the jailed sleeper runs
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    while sandbox.live_pids_of_uid(info["uid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.live_pids_of_uid(info["uid"]) == []
    sandbox.remove_stale_jails()
    assert [d for d in info["dirs"] if os.path.exists(d)] == []


def test_jail_refuses_the_host_network_namespace():
    """Is a jail started without private_loopback() refused, instead of sharing the host's
    loopback services?"""
    from tests.grading.conftest import require_jail
    require_jail()
    if sandbox._netns_interfaces() == ["lo"]:
        pytest.skip("this test process has no network interface but a loopback")
    with pytest.raises(sandbox.JailError, match="private_loopback"):
        sandbox.Jail(["true"], limits=sandbox.Limits())


def test_unsafe_mode_runs_with_rlimits_and_cleans_its_scratch():
    """Does ``unsafe=True`` (a learner's own check) run the program without bubblewrap, with the
    file-size rlimit, in a scratch directory that kill() removes?"""
    import subprocess
    import sys
    code = ("import resource, os; print(resource.getrlimit(resource.RLIMIT_FSIZE)[0], open('f.txt').read(), "
            "os.getcwd())")
    with sandbox.Jail([sys.executable, "-c", code], limits=sandbox.Limits(file_size=12345), unsafe=True,
                      files={"f.txt": b"ok"}, stdout=subprocess.PIPE) as j:
        assert j.wait(60) == 0
        size, text, cwd = j.stdout.read().decode().split()
        scratch = j.scratch
    assert (size, text, cwd) == ("12345", "ok", scratch) and not os.path.exists(scratch)


def test_jail_available_names_what_is_missing_and_ci_fails_instead_of_skipping(monkeypatch):
    """Without bubblewrap, does jail_available() say so in a line an instructor can act on; and do
    the jail tests skip with that line, except under CI=true, where they fail?"""
    import shutil as _shutil

    from tests.grading.conftest import require_jail
    real_which = _shutil.which
    monkeypatch.setattr(sandbox, "_AVAILABLE", None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda cmd, *a, **k: None if cmd == "bwrap" else real_which(cmd))
    ok, reasons = sandbox.jail_available()
    assert not ok and reasons[0].startswith("bubblewrap is not installed: `apt-get install bubblewrap`")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="the grading jail is not available here: bubblewrap"):
        require_jail()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run these tests"):
        require_jail()


def test_without_root_the_jail_still_runs_and_says_what_it_lacks(tmp_path):
    """Run as an unprivileged user (uid 65534): does jail_available() say "not running as root",
    private_loopback() work through a user namespace, and a Jail still start in the minimal root
    as that same uid, without cgroups?"""
    import shutil as _shutil
    import subprocess
    import sys
    if os.geteuid() != 0 or not _shutil.which("setpriv") or not _shutil.which("bwrap"):
        pytest.skip("needs root (to become an unprivileged user), setpriv and bwrap")
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # (through sh: setpriv still holds root's capabilities at its own exec, so it could start a
    # Python under the 0700 /root that the unprivileged user cannot actually use)
    python = next((p for p in (os.path.realpath(sys.executable), "/usr/bin/python3")
                   if subprocess.run([*drop, "/bin/sh", "-c", 'exec "$0" -I -S -c "import encodings"', p],
                                     capture_output=True).returncode == 0), None)
    if python is None:
        pytest.skip("no Python that an unprivileged user may run (this one lives under a private directory)")
    if subprocess.run([*drop, "/bin/sh", "-c", 'test -r "$0"', os.path.join(sandbox.CHECKOUT, "course_tools",
                       "__init__.py")], capture_output=True).returncode != 0:
        pytest.skip("an unprivileged user cannot read this checkout (it lies under a private directory, e.g. "
                    "mktemp -d's 0700 folder), so no jail of theirs could either")
    code = f"""
import json, os, subprocess, sys
sys.path.insert(0, {sandbox.CHECKOUT!r})
from course_tools.grading import sandbox as sb
ok, reasons = sb.jail_available()
sb.private_loopback()
probe = "import os, json; print(json.dumps([os.getuid(), sorted(os.listdir('/'))]))"
with sb.Jail([sys.executable, "-I", "-c", probe], limits=sb.Limits(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as j:
    rc = j.wait(60)
    out, err = j.stdout.read(), j.stderr.read()
    seen = json.loads(out) if out else err.decode()[-500:]
print(json.dumps({{"ok": ok, "reasons": reasons, "private": sb._netns_is_private(), "rc": rc, "seen": seen,
                  "cgroup": j.cgroup is not None}}))
"""
    p = subprocess.run([*drop, python, "-I", "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["ok"] is False and r["reasons"][0].startswith("not running as root")
    assert r["private"] and r["rc"] == 0 and r["cgroup"] is False, r["seen"]
    uid, root = r["seen"]
    assert uid == 65534 and set(root) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc",
                                          "dev", "tmp", "scratch", sandbox.CHECKOUT.split(os.sep)[1]}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="becoming another uid needs root")
def test_kill_uid_leaves_the_exit_status_of_the_callers_other_children_alone():
    """Does killing a jail uid's processes leave an unrelated child's exit status to its own
    Popen? (A waitpid(-1) in the cleanup would take it, and Popen.wait would then report 0.)"""
    import subprocess
    import sys
    import time

    other = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    while not os.path.exists(f"/proc/{other.pid}") or open(f"/proc/{other.pid}/stat").read().split()[2] != "Z":
        time.sleep(0.01)                          # `other` has exited and waits to be collected
    uid = sandbox.JAIL_UID_BASE + 4242
    victim = os.fork()
    if victim == 0:  # pragma: no cover - child: becomes the jail uid and waits to be killed
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        time.sleep(60)
        os._exit(0)
    while not sandbox.pids_of_uid(uid):
        time.sleep(0.01)
    assert sandbox.kill_uid(uid, timeout=10)      # the victim, our child, is killed and collected
    assert other.wait(timeout=10) == 7
