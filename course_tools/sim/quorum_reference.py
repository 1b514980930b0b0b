"""The reference coordinator for :mod:`course_tools.sim.quorum`: the majority-quorum register of
Attiya, Bar-Noy & Dolev (JACM 42(1), 1995).

It lives apart from the lab so that the Distributed assessment can hide it from the student's
process (``metadata.course.hidden_modules``) while the student still imports the lab
(:class:`~course_tools.sim.quorum.QuorumLab`, :class:`~course_tools.sim.quorum.Unreachable`, ...).
Lessons may import it from here or, as before, from :mod:`course_tools.sim.quorum`.
"""

from __future__ import annotations

from typing import Any, Sequence

from course_tools.sim.quorum import INITIAL_VERSION, QuorumUnavailable, RemoteReplica, Unreachable

__all__ = ["abd_write", "abd_read"]


def _ask_versions(replicas: Sequence[RemoteReplica], key: str, r: int) -> list[tuple[tuple, Any]]:
    replies = []
    for rep in replicas:
        try:
            replies.append(rep.get(key))
        except Unreachable:
            continue
        if len(replies) == r:
            return replies
    raise QuorumUnavailable(f"only {len(replies)} of the {r} replicas needed answered")


def _store(replicas: Sequence[RemoteReplica], key: str, version: tuple, value: Any, w: int) -> None:
    acks = 0
    for rep in replicas:
        try:
            rep.put(key, version, value)
        except Unreachable:
            continue
        acks += 1
        if acks == w:
            return
    raise QuorumUnavailable(f"only {acks} of the {w} acknowledgements needed arrived")


def abd_write(replicas: Sequence[RemoteReplica], key: str, value: Any, writer: str, *, r: int = 3, w: int = 3) -> None:
    """Ask R replicas for their version, then store (highest counter + 1, writer) on W replicas."""
    replies = _ask_versions(replicas, key, r)
    top = max(v for v, _ in replies)
    _store(replicas, key, (top[0] + 1, writer), value, w)


def abd_read(replicas: Sequence[RemoteReplica], key: str, *, r: int = 3, w: int = 3) -> Any:
    """Take the highest-versioned value of R replicas and write it back to W before returning it."""
    replies = _ask_versions(replicas, key, r)
    version, value = max(replies, key=lambda vv: vv[0])
    if version != INITIAL_VERSION:
        _store(replicas, key, version, value, w)
    return value
