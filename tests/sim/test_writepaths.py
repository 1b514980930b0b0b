"""Write paths and stampedes: the numbers the Caching lesson reasons from."""

import random

import pytest

from course_tools.sim import stampede, writepaths as wp


@pytest.fixture(scope="module")
def ops():
    return wp.workload(4000, rng=random.Random(11))


def test_same_seed_same_workload():
    assert wp.workload(100, rng=random.Random(1)) == wp.workload(100, rng=random.Random(1))


def test_write_back_acknowledges_fastest_and_coalesces(ops):
    """Write-back answers writes at cache speed and sends fewer writes to the store."""
    res = {p: wp.run(p, ops) for p in wp.PATTERNS}
    assert res["write-back"].mean_write_ms < res["write-through"].mean_write_ms
    assert res["write-back"].store_writes < res["write-through"].store_writes
    assert res["write-through"].store_reads < res["cache-aside"].store_reads  # writes keep the cache warm
    assert all(r.stale_reads == 0 for r in res.values())  # single client, no crash: always fresh


def test_only_write_back_loses_acknowledged_writes_in_a_crash(ops):
    crash = ops[len(ops) // 2].at + 0.4
    for p in wp.PATTERNS:
        r = wp.run(p, ops, crash_at=crash, flush_interval=1.0)
        if p == "write-back":
            assert r.lost_writes > 0 and r.lost_keys > 0
        else:
            assert r.lost_writes == 0 and r.lost_keys == 0


def test_write_back_flushes_dirty_entries_it_evicts(ops):
    """A tiny cache evicts dirty entries; they must reach the store, or reads go stale."""
    r = wp.run("write-back", ops, capacity=5)
    assert r.stale_reads == 0


def test_longer_flush_interval_loses_more(ops):
    crash = ops[-1].at - 0.01
    lost = [wp.run("write-back", ops, crash_at=crash, flush_interval=f).lost_writes for f in (0.5, 2.0, 8.0)]
    assert lost[0] <= lost[1] <= lost[2] and lost[2] > lost[0]


def test_stampede_and_its_mitigations():
    times = stampede.arrivals(200, 40, rng=random.Random(2))
    none = stampede.simulate(times, mitigation="none", rng=random.Random(3))
    sf = stampede.simulate(times, mitigation="single-flight", rng=random.Random(3))
    xf = stampede.simulate(times, mitigation="xfetch", rng=random.Random(3))
    assert none.max_concurrent_recomputes > 20            # the herd
    assert sf.max_concurrent_recomputes == 1 and sf.recomputes <= 40 // 10 + 1
    assert xf.max_concurrent_recomputes == 1 and xf.waited == 0  # refreshed before expiry
    with pytest.raises(ValueError):
        stampede.simulate(times, mitigation="magic", rng=random.Random(3))
