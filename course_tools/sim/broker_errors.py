"""The exceptions of the messaging simulators, in a module of their own.

Learners import these in the Messaging assessment (``from course_tools.sim.broker_errors
import ProcessingError``) while the simulators and reference solutions stay hidden from them.
"""

from __future__ import annotations

__all__ = ["ConsumerCrash", "ProcessingError", "PublishError"]


class ConsumerCrash(BaseException):
    """The consumer process died here. A ``BaseException``, so ``except Exception`` in a
    consumer cannot swallow it (a real crash cannot be caught either)."""


class ProcessingError(Exception):
    """A handler could not process a message this time (a bug, bad data, a dependency down)."""


class PublishError(Exception):
    """The broker refused a publish this time (unreachable, throttled); a retry may succeed."""
