"""A Redis Streams consumer run as a separate process, so that a lesson can SIGKILL it.

    python -m course_tools.net.stream_worker STREAM GROUP CONSUMER --batch 5 --stop-before-ack 3

Connection settings arrive as JSON in the environment variable ``COURSE_STREAM_WORKER_REDIS``
(never on the command line). The worker reads one batch with ``XREADGROUP ... >``, and
for each entry applies its effect (``HINCRBY effects <id> 1``; with ``--idempotent``, only if
``seen:<id>`` did not exist, both in one Lua script, so atomically), prints ``done <id>``
and acknowledges with ``XACK``. Before acknowledging entry number ``--stop-before-ack``
(1-based) it prints ``stopping <id>`` and waits on stdin: the parent kills it there, so the
crash point is chosen, not raced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import redis

ENV = "COURSE_STREAM_WORKER_REDIS"

IDEMPOTENT_EFFECT = """
if redis.call('SET', KEYS[1], '1', 'NX') then
  return redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
end
return 0
"""


def apply_effect(r: redis.Redis, entry_id: str, idempotent: bool) -> None:
    """The consumer's side effect for one stream entry (shared with the lesson's in-process consumer)."""
    if idempotent:
        r.eval(IDEMPOTENT_EFFECT, 2, f"seen:{entry_id}", "effects", entry_id)
    else:
        r.hincrby("effects", entry_id, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stream")
    p.add_argument("group")
    p.add_argument("consumer")
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--stop-before-ack", type=int, default=0)
    p.add_argument("--idempotent", action="store_true")
    a = p.parse_args(argv)
    r = redis.Redis(**json.loads(os.environ[ENV]), decode_responses=True)
    got = r.xreadgroup(a.group, a.consumer, {a.stream: ">"}, count=a.batch)
    entries = got[0][1] if got else []
    print(f"read {len(entries)}", flush=True)
    for n, (entry_id, _fields) in enumerate(entries, start=1):
        apply_effect(r, entry_id, a.idempotent)
        if n == a.stop_before_ack:
            print(f"stopping {entry_id}", flush=True)
            sys.stdin.readline()             # the parent kills us while we wait here
        print(f"done {entry_id}", flush=True)
        r.xack(a.stream, a.group, entry_id)
    r.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
