import random

import pytest

from course_tools.net.redis import redis_client
from course_tools.net.redis_eviction import eviction_stats, replay
from course_tools.sim import traces

pytestmark = pytest.mark.redis


def test_replay_counts_hits_and_server_side_evictions():
    """With maxmemory and allkeys-lfu, Redis itself evicts and the replay counts it."""
    trace = traces.scan_over_hot_set(100, 4000, scan_every=500, scan_length=200, rng=random.Random(1))
    with redis_client(use_env=False) as r:
        r.config_set("maxmemory", r.info("memory")["used_memory"] + 30_000)
        r.config_set("maxmemory-policy", "allkeys-lfu")
        stats = replay(r, trace)
        assert stats.accesses == 4000 and 0 < stats.hits < 4000
        assert stats.evicted_keys > 0 and stats.keys_held == r.dbsize()
        assert eviction_stats(r)["evicted_keys"] == stats.evicted_keys


def test_without_maxmemory_nothing_is_evicted():
    with redis_client(use_env=False) as r:
        stats = replay(r, list(range(300)) * 2)
        assert stats.hits == 300 and stats.evicted_keys == 0 and stats.keys_held == 300
