"""Does the crash-point explorer crash every point, count losses and duplicates right, and repeat itself?"""

from __future__ import annotations

import random

import pytest

from course_tools.sim import delivery as d

MSGS = d.payments(3)


@pytest.mark.parametrize("name", list(d.CONSUMERS))
def test_every_crash_point_is_explored_once_per_position(name):
    """Is the number of explored crash points exactly the number of calls of a crash-free run,
    and does each crash point get one run per position the redelivered message can take?"""
    consumer = d.CONSUMERS[name]
    n = d.count_crash_points(consumer, MSGS)
    report = d.explore_crashes(consumer, MSGS, positions=False)
    assert report.crash_points == n
    assert report.explored_points == n
    assert report.runs == n + 1                      # one run per crash point, plus the crash-free run
    full = d.explore_crashes(consumer, MSGS, positions=True)
    assert full.explored_points == n
    per_point = {}
    for o in full.outcomes[1:]:
        per_point.setdefault(o.crash_point, []).append(o.position)
    assert set(per_point) == set(range(n))
    for ps in per_point.values():
        # nothing in flight: one run, nothing redelivered; else positions 0..waiting, each once
        assert ps == [None] or ps == list(range(len(ps))), ps


def test_counts_are_what_the_model_implies():
    """Derived by hand for 3 payments. ack_before calls receive, ack, get, put per message plus a
    last empty receive: 13 crash points. Only a crash before an ack leaves a message in flight
    (2, 1, 0 messages waiting behind it: 3 + 2 + 1 positions); the other 10 points get one run
    each; + the crash-free run = 17. It loses at the 6 points between ack and put. ack_after
    (receive, get, put, ack) has a message in flight before get, put and ack: 3*3 + 3*2 + 3*1 = 18
    runs + 4 points before a receive + the clean run = 23, and doubles a payment exactly when the
    crash comes before an ack: 3 + 2 + 1 = 6 runs. No run is counted twice."""
    before = d.explore_crashes(d.ack_before, MSGS)
    after = d.explore_crashes(d.ack_after, MSGS)
    assert (before.crash_points, before.runs, before.lost_runs, before.duplicated_runs) == (13, 17, 6, 0)
    assert (after.crash_points, after.runs, after.lost_runs, after.duplicated_runs) == (13, 23, 0, 6)
    for rep in (before, after):
        scenarios = [(o.crash_point, o.position) for o in rep.outcomes]
        assert len(scenarios) == len(set(scenarios)), "an identical run counted twice"
    lost_at = {o.crash_label.split(" ")[0] for o in before.outcomes if o.lost}
    assert lost_at == {"get", "put"} and all(o.position is None for o in before.outcomes if o.lost)


def test_crash_point_labels_are_the_calls_of_the_clean_run():
    """Is the crash 'before call k' the k-th call of the crash-free run (the consumer is deterministic)?"""
    clean = d.run_consumer(d.ack_after, MSGS)
    for k, label in enumerate(clean.calls):
        o = d.run_consumer(d.ack_after, MSGS, crash_before=k)
        assert o.crash_point == k
        assert label.startswith(o.crash_label.split(" ->")[0])


def test_ack_before_loses_and_ack_after_duplicates():
    """At-most-once loses a message at some crash point and never duplicates on crashes;
    at-least-once never loses and duplicates at some crash point."""
    before = d.explore_crashes(d.ack_before, MSGS)
    after = d.explore_crashes(d.ack_after, MSGS)
    assert before.lost_runs > 0 and before.duplicated_runs == 0
    assert after.lost_runs == 0 and after.duplicated_runs > 0


def test_which_crash_points_lose_under_ack_before():
    """Exactly the crashes between an ack and its effect's write lose that message."""
    report = d.explore_crashes(d.ack_before, MSGS, positions=False)
    losing = [o.crash_label for o in report.outcomes if o.lost]
    assert len(losing) == 2 * len(MSGS)                  # before the read and before the write of each effect
    assert {label.split(" ")[0] for label in losing} == {"get", "put"}
    assert all(label.split(" ")[1].startswith("balance:") for label in losing)


def test_idempotent_consumer_is_exact_everywhere():
    """With dedupe and one atomic write, no crash point, position or duplicate delivery changes the balances."""
    report = d.explore_crashes(d.idempotent, MSGS, positions=True, duplicates=True)
    assert report.lost_runs == report.duplicated_runs == 0
    want = {"balance:alice": 10 + 30, "balance:bob": 20}
    assert all({k: v for k, v in o.store.items() if k.startswith("balance:")} == want for o in report.outcomes)


def test_two_separate_writes_still_duplicate():
    """Deduplicating with a second, separate write leaves a window: a crash between the two duplicates."""
    report = d.explore_crashes(d.dedupe_not_atomic, MSGS)
    assert report.duplicated_runs > 0 and report.lost_runs == 0
    assert all(o.crash_label.startswith("put seen:") for o in report.outcomes if o.duplicated)


def test_duplicate_deliveries_without_crash_hurt_non_idempotent_consumers():
    """An at-least-once queue's extra copy doubles an effect unless the consumer dedupes."""
    o = d.run_consumer(d.ack_after, MSGS, duplicate=("m2", 3))
    assert o.duplicated == ["m2"]
    assert d.run_consumer(d.idempotent, MSGS, duplicate=("m2", 0)).ok


def test_unacked_and_endless_consumers_end_with_a_status():
    """A consumer that never acks, or never returns False, ends with a status instead of hanging."""
    def never_acks(queue, store):
        return queue.receive() is not None

    def never_stops(queue, store):
        queue.receive()
        return True

    assert d.run_consumer(never_acks, MSGS).status == d.UNACKED
    assert d.run_consumer(never_stops, MSGS, max_calls=50).status == d.STEP_LIMIT


def test_crash_cannot_be_swallowed_by_except_exception():
    """ConsumerCrash is a BaseException: `except Exception` in a consumer does not stop the crash."""
    def careful(queue, store):
        try:
            return d.ack_before(queue, store)
        except Exception:     # noqa: BLE001
            return True
    report = d.explore_crashes(careful, MSGS, positions=False)
    assert report.lost_runs > 0


def test_random_crash_run_same_seed_same_trace():
    """Does one seed always give the same run, and do different seeds explore different points?"""
    a = d.random_crash_run(d.ack_after, MSGS, rng=random.Random(5))
    b = d.random_crash_run(d.ack_after, MSGS, rng=random.Random(5))
    assert a == b
    points = {d.random_crash_run(d.ack_after, MSGS, rng=random.Random(s)).crash_point for s in range(30)}
    assert len(points) > 3


def test_store_and_queue_accept_only_plain_data():
    """The fakes refuse values that are not plain data and copy what they hand out."""
    store = d.Store()
    with pytest.raises(TypeError):
        store.put("k", object())
    store.put("k", [1, 2])
    got = store.get("k")
    got.append(3)
    assert store.get("k") == [1, 2]
    q = d.SimQueue(MSGS)
    with pytest.raises(TypeError):
        q.ack(123)
    msg = q.receive()
    assert msg["receive_count"] == 1 and q.ack(msg["receipt"]) and not q.ack(msg["receipt"])


def test_dead_letter_rule_and_queue_redrive():
    """The reference rule acks what succeeds within N deliveries and parks the rest after exactly N;
    without a DLQ a poison message is never acknowledged."""
    failures = {"a": 0, "b": 2, "c": 3, "p": None}
    o = d.run_with_dlq(d.with_dead_letters, failures, 3)
    assert o.status == d.DONE and o.actual() == o.expected(failures, 3)
    assert o.actual() == {"a": ("acked", 1), "b": ("acked", 3), "c": ("dead-letter", 3), "p": ("dead-letter", 3)}
    assert d.run_with_dlq(d.retry_forever, failures, 3).status == d.UNACKED
    q = d.SimQueue(d.stream_of({"x": None}), max_receives=2)
    for _ in range(2):
        q.release(q.receive()["receipt"])
    assert q.receive() is None and q.dead_letters == ["x"]


def test_visibility_timeout_redelivers_a_slow_job_and_heartbeats_prevent_it():
    """Jobs slower than the visibility timeout are processed twice; a heartbeat that extends the
    timeout while working prevents it; every job is deleted in the end."""
    slow = d.simulate_visibility(rng=random.Random(2), work_mean=25.0, visibility_timeout=30.0)
    beat = d.simulate_visibility(rng=random.Random(2), work_mean=25.0, visibility_timeout=30.0, heartbeat=10.0)
    assert slow.duplicates > 0 and slow.stale_deletes == slow.duplicates
    assert beat.duplicates == 0 and beat.deliveries == 20
    assert sum(1 for n in slow.processed.values() if n) == sum(1 for n in beat.processed.values() if n) == 20
    fast = d.simulate_visibility(rng=random.Random(2), work_mean=2.0, visibility_timeout=30.0)
    assert fast.duplicates == 0


def test_visibility_same_seed_same_run():
    """One seed, one run."""
    a = d.simulate_visibility(rng=random.Random(8), work_mean=25.0)
    b = d.simulate_visibility(rng=random.Random(8), work_mean=25.0)
    assert (a.processed, a.log, a.finished_at) == (b.processed, b.log, b.finished_at)


def test_timed_queue_receipts():
    """Only the latest receipt deletes; an expired message comes back with a new receipt."""
    from course_tools.clock import VirtualClock
    clock = VirtualClock()
    q = d.TimedQueue(["a"], visibility_timeout=10, clock=clock)
    m, first = q.receive()
    assert q.receive() is None
    clock.advance(10)
    m, second = q.receive()
    assert not q.delete(first) and q.delete(second) and q.receive() is None


def test_catching_the_crash_does_not_keep_the_process_alive():
    """A consumer that catches ConsumerCrash and retries gets nowhere: a dead process's calls all fail,
    and returning normally after a crash still counts as the crash. The two-write dedupe stays wrong."""
    def stubborn(queue, store):
        for _ in range(3):
            try:
                return d.dedupe_not_atomic(queue, store)
            except BaseException:    # noqa: BLE001 - the cheat under test
                continue
        return True

    report = d.explore_crashes(stubborn, MSGS)
    assert report.duplicated_runs > 0
    assert report.explored_points == report.crash_points
