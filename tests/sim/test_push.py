"""Polling vs push on a virtual clock."""

import random

import pytest

from course_tools.sim import push


def test_polling_delay_is_about_half_the_interval_and_costs_horizon_over_interval():
    changes = push.change_times(400, 3600, rng=random.Random(1))
    for interval in (1, 10, 60):
        out = push.poll(changes, interval, 3600, rng=random.Random(2))
        assert out.mean_delay == pytest.approx(interval / 2, rel=0.15)
        assert out.max_delay <= interval
        assert abs(out.requests - 3600 / interval) <= 1
        assert 0 <= out.useless <= out.requests


def test_push_costs_one_message_per_change_and_waits_only_the_latency():
    changes = push.change_times(30, 600, rng=random.Random(3))
    out = push.push(changes, latency=0.05)
    assert out.requests == 30 and out.mean_delay == out.max_delay == 0.05 and out.useless == 0
    with pytest.raises(ValueError):
        push.poll(changes, 0, 600, rng=random.Random(1))
