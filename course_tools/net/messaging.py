"""Three messaging models on a real Redis (embedded, or ``$COURSE_REDIS_URL``).

- **Lists as a work queue**: producers ``LPUSH``; each worker takes a job with
  ``LMOVE jobs processing:<worker> RIGHT LEFT`` (the *reliable queue* pattern of the redis.io
  ``LMOVE`` page): the job is never only in the worker's memory, so a crashed worker's job
  can be put back. :func:`work_queue` runs competing workers in seeded turns.
- **Pub/Sub**: fire-and-forget; only subscribers connected when a message is published get
  it. :func:`pubsub_missed` disconnects one subscriber for a while and counts what it missed.
- **Streams with consumer groups**: entries stay in the stream; each group has its own
  position, and inside a group every entry goes to one consumer and stays *pending*
  (``XPENDING``) until ``XACK``. :func:`killed_consumer` starts a real consumer process,
  ``SIGKILL``\\ s it after it applied an entry's effect but before the ``XACK``, and lets
  another consumer take over its pending entries with ``XAUTOCLAIM``.

Workers take turns in one Python process (except the killed consumer, a real process), so
every count printed is the same on every run: nothing depends on thread timing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import redis as redis_py

from course_tools.net.stream_worker import ENV as WORKER_ENV, apply_effect

__all__ = ["connection_settings", "WorkQueueRun", "work_queue", "PubSubRun", "pubsub_missed", "stream_fanout",
           "KilledConsumerRun", "killed_consumer"]


def connection_settings(r: redis_py.Redis) -> dict:
    """How to reach the same server and database from another process (plain JSON data)."""
    kw = r.connection_pool.connection_kwargs
    keep = {"path": "unix_socket_path", "host": "host", "port": "port", "db": "db", "username": "username",
            "password": "password"}
    return {arg: kw[k] for k, arg in keep.items() if kw.get(k) is not None}


# --------------------------------------------------------------------------------------
# Lists: a work queue with competing consumers
# --------------------------------------------------------------------------------------
@dataclass
class WorkQueueRun:
    done_by: dict[str, list[str]] = field(default_factory=dict)     # worker -> jobs it finished
    stranded: list[str] = field(default_factory=list)                # jobs left in a dead worker's processing list
    recovered: list[str] = field(default_factory=list)               # ... that were put back and finished

    def summary(self) -> str:
        parts = ", ".join(f"{w}: {len(j)}" for w, j in self.done_by.items())
        return f"jobs done per worker: {parts}; stranded by the crash: {self.stranded}; recovered: {self.recovered}"


def work_queue(r: redis_py.Redis, *, jobs: int = 12, workers: Sequence[str] = ("w1", "w2", "w3"),
               crash: str | None = "w2", crash_after: int = 1, rng: random.Random) -> WorkQueueRun:
    """Push ``jobs`` jobs; workers (taking seeded random turns) move one job at a time into
    their own ``processing:<worker>`` list, do it, and ``LREM`` it. Worker ``crash`` dies
    holding its ``crash_after + 1``-th job; a supervisor then moves what is left in its
    processing list back to the queue, and the others finish it."""
    r.delete("jobs", *[f"processing:{w}" for w in workers])
    r.lpush("jobs", *[f"job-{i + 1:02d}" for i in range(jobs)])
    run = WorkQueueRun({w: [] for w in workers})
    alive = list(workers)
    while r.llen("jobs"):
        for w in rng.sample(alive, len(alive)):                             # a round of turns in a seeded order
            job = r.lmove("jobs", f"processing:{w}", "RIGHT", "LEFT")  # atomically: pop from jobs, push to processing
            if job is None:
                break
            if w == crash and len(run.done_by[w]) == crash_after:
                alive.remove(w)                                             # dies before LREM: job stays in processing:w
                continue
            run.done_by[w].append(job)
            r.lrem(f"processing:{w}", 1, job)
    if crash:
        run.stranded = r.lrange(f"processing:{crash}", 0, -1)
        while r.lmove(f"processing:{crash}", "jobs", "RIGHT", "LEFT") is not None:   # the supervisor's recovery
            pass
        while (job := r.lmove("jobs", f"processing:{alive[0]}", "RIGHT", "LEFT")) is not None:
            run.done_by[alive[0]].append(job)
            run.recovered.append(job)
            r.lrem(f"processing:{alive[0]}", 1, job)
    return run


# --------------------------------------------------------------------------------------
# Pub/Sub: fire-and-forget
# --------------------------------------------------------------------------------------
@dataclass
class PubSubRun:
    published: int
    received: dict[str, int]
    delivered_counts: list[int]            # PUBLISH's reply per message: how many subscribers got it

    def summary(self) -> str:
        return (f"published {self.published}; received: " +
                ", ".join(f"{k} {v} (missed {self.published - v})" for k, v in self.received.items()))


WAIT_S = 10.0     # only ever waited in full if a message that must come does not: a loaded machine is slow, not lossy


def _drain(ps, expect: int) -> int:
    got = 0
    while got < expect:
        msg = ps.get_message(ignore_subscribe_messages=True, timeout=WAIT_S)
        if msg is None:
            break
        got += 1
    return got


def pubsub_missed(r: redis_py.Redis, *, messages: int = 10, down: tuple[int, int] = (3, 7),
                  channel: str = "prices") -> PubSubRun:
    """Two subscribers; ``billing`` disconnects before message ``down[0]`` and reconnects
    before message ``down[1]`` (0-based). Counts what each received."""
    settings = connection_settings(r)
    clients = {name: redis_py.Redis(**settings, decode_responses=True) for name in ("audit", "billing")}
    subs = {}
    try:
        def subscribe(name):
            ps = clients[name].pubsub()
            ps.subscribe(channel)
            # Wait for the server's subscribe confirmation: only then is the subscription in place,
            # so a PUBLISH sent afterwards on another connection is sure to reach it.
            confirm = ps.get_message(timeout=WAIT_S)
            if not confirm or confirm.get("type") != "subscribe":
                ps.close()
                raise RuntimeError(f"no subscribe confirmation for {name} within {WAIT_S} s: {confirm!r}")
            subs[name] = ps
        for name in clients:
            subscribe(name)
        received = Counter({name: 0 for name in clients})
        counts = []
        for i in range(messages):
            if i == down[0]:
                subs.pop("billing").close()      # the billing service restarts...
            if i == down[1]:
                subscribe("billing")             # ...and is back
            n = r.publish(channel, f"price update {i}")
            counts.append(n)
            for name, ps in subs.items():
                received[name] += _drain(ps, 1)
        return PubSubRun(messages, dict(received), counts)
    finally:
        for ps in subs.values():
            ps.close()
        for c in clients.values():
            c.close()


# --------------------------------------------------------------------------------------
# Streams: consumer groups
# --------------------------------------------------------------------------------------
def stream_fanout(r: redis_py.Redis, *, entries: int = 6, stream: str = "orders",
                  groups: Mapping | None = None, rng: random.Random) -> dict[str, dict[str, list[str]]]:
    """Add ``entries`` orders; two groups read the whole stream independently (fan-out);
    inside each group, consumers taking seeded turns share the entries (competing consumers).
    Returns ``{group: {consumer: [order, ...]}}``."""
    groups = groups or {"billing": ("b1", "b2"), "shipping": ("s1", "s2", "s3")}
    r.delete(stream)
    for i in range(entries):
        r.xadd(stream, {"order": f"o{i + 1}"})
    out: dict[str, dict[str, list[str]]] = {}
    for g, consumers in groups.items():
        r.xgroup_create(stream, g, id="0")
        out[g] = {c: [] for c in consumers}
        while sum(map(len, out[g].values())) < entries:
            for c in rng.sample(list(consumers), len(consumers)):            # a round of turns in a seeded order
                got = r.xreadgroup(g, c, {stream: ">"}, count=1)
                for entry_id, fields in (got[0][1] if got else []):
                    out[g][c].append(fields["order"])
                    r.xack(stream, g, entry_id)
    return out


@dataclass
class KilledConsumerRun:
    read_by_victim: int
    killed_at: str                       # entry whose effect was applied but not acknowledged
    pending_before: list[dict]           # XPENDING detail after the kill
    claimed: list[str]                   # entry ids taken over with XAUTOCLAIM
    effects: dict[str, int]              # entry id -> times its effect was applied
    exit_signal: int | None
    idempotent: bool

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.effects.values() if n > 1)

    @property
    def lost(self) -> int:
        return sum(1 for n in self.effects.values() if n == 0)

    def summary(self) -> str:
        return (f"{'idempotent' if self.idempotent else 'plain'} consumer: victim read {self.read_by_victim}, "
                f"killed (signal {self.exit_signal}) before acking {self.killed_at}; {len(self.pending_before)} pending; "
                f"rescuer claimed {len(self.claimed)}; effects lost {self.lost}, applied twice {self.duplicates}")


def killed_consumer(r: redis_py.Redis, *, entries: int = 8, batch: int = 5, kill_before_ack: int = 3,
                    idempotent: bool = False, stream: str = "payments", group: str = "ledger",
                    timeout: float = 30.0) -> KilledConsumerRun:
    """A consumer process reads a batch and is ``SIGKILL``-ed before acknowledging entry number
    ``kill_before_ack`` of it (its effect already applied). Another consumer claims its pending
    entries with ``XAUTOCLAIM`` and processes them and the rest of the stream."""
    r.delete(stream, "effects", *[k for k in r.scan_iter("seen:*")])
    ids = [r.xadd(stream, {"amount": str(10 * (i + 1))}) for i in range(entries)]
    r.xgroup_create(stream, group, id="0")
    env = {**os.environ, WORKER_ENV: json.dumps(connection_settings(r))}
    cmd = [sys.executable, "-m", "course_tools.net.stream_worker", stream, group, "victim",
           "--batch", str(batch), "--stop-before-ack", str(kill_before_ack)] + (["--idempotent"] if idempotent else [])
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    killed_at, read = "", 0
    try:
        for line in proc.stdout:             # blocks until the worker reports; no timing involved
            if line.startswith("read "):
                read = int(line.split()[1])
            if line.startswith("stopping "):
                killed_at = line.split()[1]
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=timeout)
        if not killed_at:
            raise RuntimeError(f"the worker ended without reaching the kill point: {proc.stderr.read()[-500:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=timeout)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
    pending = r.xpending_range(stream, group, min="-", max="+", count=100)
    pending_before = [{"id": p["message_id"], "consumer": p["consumer"], "deliveries": p["times_delivered"]}
                      for p in pending]
    # The rescuer: claim entries idle for >= 0 ms (production code waits, e.g. a minute, so a
    # slow but living consumer keeps its work), process them, then read new entries.
    claimed = r.xautoclaim(stream, group, "rescuer", min_idle_time=0, start_id="0-0", count=100)[1]
    claimed_ids = [entry_id for entry_id, _ in claimed]
    for entry_id in claimed_ids:
        apply_effect(r, entry_id, idempotent)
        r.xack(stream, group, entry_id)
    while got := r.xreadgroup(group, "rescuer", {stream: ">"}, count=10):
        for entry_id, _ in got[0][1]:
            apply_effect(r, entry_id, idempotent)
            r.xack(stream, group, entry_id)
    counts = {k: int(v) for k, v in r.hgetall("effects").items()}
    effects = {i: counts.get(i, 0) for i in ids}
    return KilledConsumerRun(read, killed_at, pending_before, claimed_ids, effects,
                             -proc.returncode if proc.returncode and proc.returncode < 0 else None, idempotent)
