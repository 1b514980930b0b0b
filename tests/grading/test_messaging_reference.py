"""Do the Messaging assessment's checks pass the reference answers and fail the classic mistakes?

The hidden configurations below are the ones the assessment's hidden tests use
(notebooks/assessments/source/06_messaging); each wrong answer must fail the check that
carries its points, and the hidden messages must not reveal the hidden data.
"""

from __future__ import annotations

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import messaging as ref
from course_tools.sim import delivery as d
from course_tools.sim import outbox as ob

VISIBLE = ref.payment_messages([("alice", 10), ("bob", 20)])
HIDDEN = ref.payment_messages([("carol", 7), ("dave", 11), ("carol", 13), ("dave", 17)], prefix="h")
EVENTS = [(101, '{"order": "o1"}'), (102, '{"order": "o2"}'), (103, '{"order": "o3"}')]

_memory: set = set()


def remembers_in_memory(queue, store):
    """Gaming the visible test: dedupe by a set in the process's memory, not in the store."""
    msg = queue.receive()
    if msg is None:
        return False
    if msg["id"] not in _memory:
        _memory.add(msg["id"])
        key = "balance:" + msg["account"]
        store.put(key, (store.get(key) or 0) + msg["amount"])
    queue.ack(msg["receipt"])
    return True


def catch_and_continue(outbox, broker):
    for event_id, payload in outbox.pending():
        try:
            broker.publish(event_id, payload)
            outbox.mark_sent(event_id)
        except ob.PublishError:
            continue


def publish_all_then_mark(outbox, broker):
    """Correct too: duplicates after a crash, but nothing lost or reordered."""
    rows = outbox.pending()
    for event_id, payload in rows:
        broker.publish(event_id, payload)
    for event_id, _ in rows:
        outbox.mark_sent(event_id)


def dlq_off_by_one(queue, handler, max_deliveries):
    return d.handle_one(queue, handler, lambda q, msg: (q.dead_letter if msg["receive_count"] > max_deliveries
                                                        else q.release)(msg["receipt"]))


def dlq_first_failure(queue, handler, max_deliveries):
    return d.handle_one(queue, handler, lambda q, msg: q.dead_letter(msg["receipt"]))


def dlq_hard_coded_three(queue, handler, max_deliveries):
    """Gaming the visible test, whose limit is 3."""
    return ref.reference_consume_with_dlq(queue, handler, 3)


def _passes(fn, *args, **kw) -> bool:
    _memory.clear()
    try:
        fn(*args, **kw)
    except AnswerError:
        return False
    return True


def test_references_pass_visible_and_hidden():
    """The instructor's answers pass every configuration."""
    assert _passes(ref.check_consumer, ref.reference_consume_one, VISIBLE, crashes=False, show=True)
    assert _passes(ref.check_consumer, ref.reference_consume_one, VISIBLE)
    assert _passes(ref.check_consumer, ref.reference_consume_one, HIDDEN)
    for kw in ({"crashes": False, "failures": False}, {"failures": False}, {"crashes": False}):
        assert _passes(ref.check_relay, ref.reference_relay, EVENTS, **kw)
    assert _passes(ref.check_relay, publish_all_then_mark, EVENTS)
    assert _passes(ref.check_dead_letter, ref.reference_consume_with_dlq, {"ok": 1, "bad": None}, 3, show=True)
    for seed, n in [(61, 2), (62, 4), (63, 1)]:
        assert _passes(ref.check_dead_letter, ref.reference_consume_with_dlq, ref.hidden_failures(seed, max_deliveries=n), n)


@pytest.mark.parametrize("wrong, visible, hidden_crash", [
    (d.ack_before, False, False),          # at-most-once: a duplicate delivery doubles, a crash loses
    (d.ack_after, False, False),           # not idempotent: doubles on every redelivery
    (d.dedupe_not_atomic, True, False),    # passes the visible run, fails the crash points
    (remembers_in_memory, False, False),   # a fresh world with the same ids: the in-memory set skips them
])
def test_wrong_consumers_lose_their_points(wrong, visible, hidden_crash):
    """Ack-before, a non-idempotent consumer, a two-write dedupe and an in-memory dedupe fail the hidden checks."""
    assert _passes(ref.check_consumer, wrong, VISIBLE, crashes=False, show=True) is visible
    assert _passes(ref.check_consumer, wrong, VISIBLE) is hidden_crash
    assert _passes(ref.check_consumer, wrong, HIDDEN) is hidden_crash


def test_wrong_relays_lose_their_points():
    """Marking before publishing loses an event at a crash; skipping a refused publish reorders."""
    assert _passes(ref.check_relay, ob.mark_then_publish, EVENTS, crashes=False, failures=False)
    assert not _passes(ref.check_relay, ob.mark_then_publish, EVENTS, failures=False)
    assert not _passes(ref.check_relay, ob.mark_then_publish, EVENTS, crashes=False)
    assert _passes(ref.check_relay, catch_and_continue, EVENTS, failures=False)
    assert not _passes(ref.check_relay, catch_and_continue, EVENTS, crashes=False)


@pytest.mark.parametrize("wrong", [dlq_off_by_one, dlq_first_failure, d.retry_forever])
def test_wrong_dead_letter_rules_fail_visible_and_hidden(wrong):
    """Off by one, dead-lettering at the first failure, and retrying forever all fail."""
    assert not _passes(ref.check_dead_letter, wrong, {"ok": 1, "bad": None}, 3, show=True)
    assert not _passes(ref.check_dead_letter, wrong, ref.hidden_failures(61, max_deliveries=2), 2)


def test_hard_coded_limit_passes_visible_only():
    """A rule that hard-codes the visible limit fails the hidden streams with other limits."""
    assert _passes(ref.check_dead_letter, dlq_hard_coded_three, {"ok": 1, "bad": None}, 3, show=True)
    assert not _passes(ref.check_dead_letter, dlq_hard_coded_three, ref.hidden_failures(61, max_deliveries=2), 2)
    assert not _passes(ref.check_dead_letter, dlq_hard_coded_three, ref.hidden_failures(62, max_deliveries=4), 4)


def test_hidden_messages_do_not_reveal_hidden_data():
    """A hidden failure names the kind of problem, never the hidden accounts, ids or amounts."""
    with pytest.raises(AnswerError) as e:
        ref.check_consumer(d.dedupe_not_atomic, HIDDEN)
    assert "carol" not in str(e.value) and "h1" not in str(e.value) and "TWICE" in str(e.value)
    with pytest.raises(AnswerError) as e:
        ref.check_dead_letter(dlq_off_by_one, ref.hidden_failures(61, max_deliveries=2), 2)
    assert "msg-61" not in str(e.value)


def test_wrong_return_type_and_escaping_errors_are_explained():
    """Returning None, or letting the handler's error escape, fails with a message saying so."""
    def returns_none(queue, store):
        ref.reference_consume_one(queue, store)

    def lets_it_escape(queue, handler, n):
        msg = queue.receive()
        if msg is None:
            return False
        handler(msg["body"])
        queue.ack(msg["receipt"])
        return True
    with pytest.raises(AnswerError, match="True .* or False"):
        ref.check_consumer(returns_none, VISIBLE, crashes=False)
    with pytest.raises(AnswerError, match="escaped"):
        ref.check_dead_letter(lets_it_escape, {"ok": 1}, 3)


def test_catching_the_crash_does_not_rescue_a_wrong_relay():
    """A mark-first relay that catches every BaseException and retries the call still loses an event."""
    def stubborn_mark_first(outbox, broker):
        def retry(call, *args):
            for _ in range(3):
                try:
                    return call(*args)
                except BaseException:   # noqa: BLE001 - the cheat under test
                    continue
        for event_id, payload in retry(outbox.pending) or []:
            retry(outbox.mark_sent, event_id)
            retry(broker.publish, event_id, payload)
    assert not _passes(ref.check_relay, stubborn_mark_first, EVENTS, failures=False)
