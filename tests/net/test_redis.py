import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from course_tools.net.redis import RedisServer, live_servers, redis_client

pytestmark = pytest.mark.redis


def test_embedded_redis_is_isolated_and_removed():
    """Do two callers get separate servers, and is everything gone after the block?"""
    with RedisServer() as a, RedisServer() as b:
        ca, cb = a.client(), b.client()
        ca.set("k", "from-a")
        assert cb.get("k") is None
        pid, directory = a.process.pid, a.dir
        assert a in live_servers()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not os.path.exists(directory)
    assert a not in live_servers()


def test_config_is_applied():
    with redis_client({"maxmemory": "2mb", "maxmemory-policy": "allkeys-lfu"}, use_env=False) as r:
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lfu"}
        assert int(r.config_get("maxmemory")["maxmemory"]) == 2 * 1024 * 1024


def test_tcp_listener_is_loopback_only():
    with RedisServer(tcp=True) as s:
        assert s.url.startswith("redis://127.0.0.1:")
        assert s.client().config_get("bind")["bind"] == "127.0.0.1"
        assert s.client().ping()


def test_stopped_when_interrupted():
    """A KeyboardInterrupt inside the block (Ctrl-C / kernel interrupt) still stops the server."""
    server = RedisServer()
    with pytest.raises(KeyboardInterrupt):
        with server:
            pid = server.process.pid
            raise KeyboardInterrupt
    assert not server.running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_server_dies_with_a_killed_kernel(tmp_path):
    """If the Python process holding the server is SIGKILLed, the server goes too."""
    script = textwrap.dedent("""
        import sys, time
        from course_tools.net.redis import RedisServer
        s = RedisServer().start()
        print(s.process.pid, s.dir, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid, directory = proc.stdout.readline().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    deadline = time.monotonic() + 10
    while psutil.pid_exists(int(pid)) and time.monotonic() < deadline:
        try:
            if psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    assert not psutil.pid_exists(int(pid)) or psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE


def test_course_redis_url_leases_separate_databases(monkeypatch):
    """With COURSE_REDIS_URL set, callers share the server but never each other's keys."""
    with RedisServer(tcp=True) as server:
        monkeypatch.setenv("COURSE_REDIS_URL", server.url)
        with redis_client() as r1, redis_client() as r2:
            db1 = r1.connection_pool.connection_kwargs["db"]
            db2 = r2.connection_pool.connection_kwargs["db"]
            assert db1 != db2 and 0 not in (db1, db2)
            r1.set("k", "1")
            assert r2.get("k") is None
        admin = server.client()
        assert admin.keys("course_tools:db-lease:*") == []
        assert server.client(db=db1).dbsize() == 0
