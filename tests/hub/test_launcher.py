"""Does a hub server's launcher show exactly what the user needs and cover what a learner must not see?"""

import shutil
import tempfile
from pathlib import Path

from course_tools.hub import launcher_script


def test_a_needed_folder_under_an_unreachable_one_is_bound_back_alone():
    """A Python under a mode-700 folder: a tmpfs over that folder, the Python bound back into it, and
    hidden folders covered by an empty read-only tmpfs; the server is exec'd as the user last."""
    tmp_path = Path(tempfile.mkdtemp(prefix="course-launcher-"))    # /tmp itself is reachable by all
    tmp_path.chmod(0o755)
    locked = tmp_path / "locked"
    (locked / "py" / "bin").mkdir(parents=True)
    locked.chmod(0o700)
    try:
        script = launcher_script([locked / "py", tmp_path], [tmp_path / "assessments"])
    finally:
        shutil.rmtree(tmp_path)
    lines = script.splitlines()
    assert f'mount --bind {locked} "$stage"' in lines
    assert f"mount -t tmpfs -o mode=755,size=1m tmpfs {locked}" in lines
    assert f'mount --bind "$stage"/py {locked / "py"}' in lines
    assert not any(f"tmpfs {tmp_path}" == l.split(" ", 5)[-1] for l in lines)   # reachable: left alone
    assert f"mount -t tmpfs -o ro,mode=755,size=1m tmpfs {tmp_path / 'assessments'}" in script
    assert lines[-1].startswith('exec setpriv --reuid="$uid" --regid="$gid" --init-groups --no-new-privs')


def test_hub_config_on_loopback_with_the_python_proxy_and_modes(tmp_path, monkeypatch):
    """configure(): 127.0.0.1 only, the proxy from the course's environment, dummy authenticator, the learner
    and instructor configs chosen per user; not as root, every server runs as the caller (said, not hidden)."""
    import sys
    from types import SimpleNamespace

    from traitlets.config import Config

    from course_tools.hub import Settings, configure

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    s = Settings(tmp_path / "rt", tmp_path / "ex", 8123, ["l1", "l2"], ["t1"], tmp_path / "assessments")
    c = Config()
    configure(c, s)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8123"
    assert c.JupyterHub.hub_bind_url.startswith("http://127.0.0.1:")
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.ConfigurableHTTPProxy.command == [str(Path(sys.executable).parent / "configurable-http-proxy")]
    assert c.JupyterHub.authenticator_class == "dummy" and c.Authenticator.allowed_users == {"l1", "l2", "t1"}
    assert c.JupyterHub.spawner_class == "simple"
    assert c.Spawner.cmd == [sys.executable, "-m", "course_tools.labserver", "--singleuser"]
    assert (tmp_path / "ex").stat().st_mode & 0o7777 == 0o1777
    for user, mode in (("l1", "learner"), ("t1", "instructor")):
        spawner = SimpleNamespace(user=SimpleNamespace(name=user), environment={}, notebook_dir="")
        c.Spawner.pre_spawn_hook(spawner)
        assert spawner.environment["JUPYTER_CONFIG_PATH"] == str(s.runtime / "jupyter" / mode)
        assert spawner.environment["COURSE_HUB_MODE"] == mode
