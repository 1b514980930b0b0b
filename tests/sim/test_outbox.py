"""Does the dual write lose or invent events at some crash point while the outbox never does?"""

from __future__ import annotations

from course_tools.sim import outbox as ob


def test_every_crash_point_is_tried():
    """One run per call of the crash-free run, plus the crash-free run itself."""
    for outs, calls in [(ob.explore_dual_write(n_orders=2), 4), (ob.explore_outbox(n_orders=2), 9)]:
        assert len(outs) == calls + 1


def test_dual_write_loses_events():
    """Commit-then-publish: a crash between the two leaves an order nobody hears about."""
    outs = ob.explore_dual_write(ob.place_dual_write, n_orders=2)
    assert sum(bool(o.lost) for o in outs) == 2
    assert not any(o.phantom for o in outs)


def test_publish_first_invents_orders():
    """Publish-then-commit: a crash between the two announces an order that does not exist."""
    outs = ob.explore_dual_write(ob.place_publish_first, n_orders=2)
    assert sum(bool(o.phantom) for o in outs) == 2


def test_outbox_never_loses_or_reorders_but_may_duplicate():
    """The outbox relay publishes every committed order, in order; a crash before marking duplicates."""
    outs = ob.explore_outbox(ob.relay_once, n_orders=3)
    assert not any(o.lost or o.phantom or o.reordered for o in outs)
    assert any(o.duplicated for o in outs)


def test_marking_before_publishing_loses():
    """A relay that marks sent before publishing loses an event when it crashes in between."""
    outs = ob.explore_outbox(ob.mark_then_publish, n_orders=2)
    assert sum(bool(o.lost) for o in outs) == 2


def test_a_crash_inside_the_transaction_rolls_back():
    """A crash between the order insert and the outbox insert leaves neither (SQLite rolls back)."""
    crashes = ob.Crashes(crash_before=0)
    db = ob.OrderDB(crashes)
    try:
        try:
            db.save_order_with_event({"id": "o1", "item": "mug"})
        except ob.ConsumerCrash:
            pass
        assert db.orders() == []
        assert db.conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    finally:
        db.close()


def test_check_log_flags_loss_reorder_and_counts_duplicates():
    """check_log names lost events, a reorder, and counts duplicates."""
    assert ob.check_log([(1, "a"), (2, "b"), (1, "a")], [1, 2]) == {"lost": [], "reordered": False, "duplicates": 1}
    assert ob.check_log([(2, "b"), (1, "a")], [1, 2])["reordered"]
    assert ob.check_log([(1, "a")], [1, 2])["lost"] == [2]
