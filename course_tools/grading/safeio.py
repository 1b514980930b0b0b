"""Opening a file a student controls, as the (root) grader: never follow a link, never block.

``open_submission(path, limit)`` is how the grading run reads a submitted notebook. Whatever
sits at ``path`` (a student's upload may be anything), it returns the bytes of a *regular
file* of at most ``limit`` bytes, or raises :class:`SubmissionFileError` whose message an
instructor can act on and which names the file safely (see :func:`course_tools.grading.ids.shown`):

* a symbolic link is refused, not followed (``O_NOFOLLOW``: a link to ``/etc/shadow`` or to
  another student's file is never read as root);
* a FIFO, socket or device is refused without blocking (``O_NONBLOCK`` on open, then
  ``fstat`` of the opened descriptor: what is checked is what is read, no race);
* a directory is refused;
* a file over ``limit`` bytes is refused, and at most ``limit + 1`` bytes are ever read
  (a file that grows while it is read is caught too).

Only the last path component is opened without following links; the folders above it are
the grader's own (``submitted/<student>/<assignment>/``), whose names and links
:func:`course_tools.grading.ids.submitted_students` already checked.
"""

from __future__ import annotations

import errno
import os
import stat

from course_tools.grading.ids import shown

__all__ = ["SubmissionFileError", "open_submission"]


class SubmissionFileError(OSError):
    """The submitted file cannot be read as a notebook; the message says why and what to do."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_submission(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit`` bytes), or SubmissionFileError."""
    name = shown(os.fspath(path))
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SubmissionFileError(exc.errno, f"{name} is a symbolic link: not followed; ask the student to "
                                                 "resubmit the notebook file itself") from None
        if exc.errno == errno.ENXIO:          # a socket (or a FIFO with no writer on some systems)
            raise SubmissionFileError(exc.errno, f"{name} is not a regular file (a socket or device): "
                                                 "ask the student to resubmit the notebook file") from None
        if exc.errno == errno.ENOENT:
            raise SubmissionFileError(exc.errno, f"{name} does not exist") from None
        raise SubmissionFileError(exc.errno, f"{name} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionFileError(errno.EINVAL, f"{name} is {_kind(st.st_mode)}, not a notebook file: ask the "
                                                    "student to resubmit the .ipynb file")
        if st.st_size > limit:
            raise SubmissionFileError(errno.EFBIG, f"{name} is {st.st_size} bytes, more than the limit of {limit}: "
                                                   "ask the student to clear the notebook's outputs and resubmit")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise SubmissionFileError(errno.EFBIG, f"{name} grew past the limit of {limit} bytes while it was "
                                                       "read")
        return b"".join(chunks)
    finally:
        os.close(fd)
