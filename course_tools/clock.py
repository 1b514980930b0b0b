"""Clocks: a virtual clock for simulations and a real one with the same interface.

Every simulator in the course takes ``clock=``. Lessons and tests pass a
:class:`VirtualClock` and move time with :meth:`VirtualClock.advance`, so results never
depend on how fast the machine is. Anything that only needs "the current time" accepts
any zero-argument callable returning seconds (``clock()``), so ``time.monotonic`` works too.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

__all__ = ["Clock", "VirtualClock", "RealClock", "as_clock"]


class Clock(Protocol):
    """What simulators need from a clock: the time now, in seconds."""

    def __call__(self) -> float: ...


class VirtualClock:
    """A clock that moves only when told to.

    >>> clock = VirtualClock()
    >>> clock()
    0.0
    >>> clock.advance(1.5)
    1.5
    >>> clock.now
    1.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The current virtual time in seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds!r}))")
        self._now += float(seconds)
        return self._now

    # cachetools-style alias, so tests written against a "fake timer" read naturally
    tick = advance

    def advance_to(self, t: float) -> float:
        """Move time forward to ``t``; moving to the past is an error."""
        return self.advance(t - self._now) if t != self._now else self._now

    def sleep(self, seconds: float) -> None:
        """Simulated ``time.sleep``: advances the clock instead of waiting."""
        self.advance(seconds)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:g})"


class RealClock:
    """Wall-clock time (``time.monotonic``) behind the same interface, for real servers."""

    def __call__(self) -> float:
        return time.monotonic()

    @property
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def as_clock(clock: Callable[[], float] | None) -> Callable[[], float]:
    """``None`` means real time; anything callable is used as is."""
    return RealClock() if clock is None else clock
