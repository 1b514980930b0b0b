"""The student process (S): runs the student's cells and answers the clean process's requests.

Started by the clean process inside the jail as ``python _course_stub.py RFD WFD`` from a
scratch directory that holds a copy of this file and of :mod:`course_tools.grading.protocol`
(``_course_protocol.py``): ``course_tools/grading/`` itself is hidden from the jail. Nothing
here is trusted: the clean process validates every frame S sends and decides every verdict.
S runs the cells with an IPython ``InteractiveShell`` (the transformations and magics of a
Jupyter kernel, no ZMQ, no startup files), and otherwise serves requests on the objects the
student's code made (see the protocol module's ``Peer.handle``). It sends only plain data.
"""

from __future__ import annotations

import os
import sys


def _quiet() -> None:
    """Student output is never read by anyone: send it to /dev/null (the fds of the channel stay)."""
    if os.environ.get("COURSE_GRADE_DEBUG"):
        return
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def _own_memory_limit() -> None:
    """The clean process that started S bounds its own data (RLIMIT_DATA soft limit) and S inherits
    that: set it back to the hard limit, so that S's memory is bounded by the jail's limits alone."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


class _HiddenModules:
    """Refuses imports of modules the assessment hides (the jail also makes their files unreadable;
    this finder only gives a clear ImportError in the unjailed `course check`)."""

    def __init__(self, names: list[str]) -> None:
        self.names = tuple(names)

    def find_spec(self, name, path=None, target=None):
        if any(name == n or name.startswith(n + ".") for n in self.names):
            raise ImportError(f"{name} is not available in this assessment: write your own")
        return None


def main(argv: list[str]) -> int:
    rfd, wfd = int(argv[1]), int(argv[2])
    hidden = [m for m in (argv[3].split(",") if len(argv) > 3 else []) if m]
    _die_with_parent()
    _own_memory_limit()
    _quiet()
    os.environ.setdefault("IPYTHONDIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), ".ipython-student"))
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import _course_protocol as protocol

    sys.meta_path.insert(0, _HiddenModules(["course_tools.grading", *hidden]))
    for name in list(sys.modules):
        if name == "course_tools.grading" or name.startswith("course_tools.grading.") or name in hidden:
            del sys.modules[name]

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns["__name__"] = "__main__"
    peer = protocol.Peer(protocol.Channel(rfd, wfd))    # (registries load lazily: nothing imported up front)

    def run_cell(msg):
        src = msg.get("source")
        if type(src) is not str:
            raise protocol.ProtocolError("bad cell")
        res = shell.run_cell(src, store_history=True)
        err = res.error_before_exec or res.error_in_exec
        if err is None:
            return {"status": "ok"}
        return {"status": "error", "ename": type(err).__name__[:100], "evalue": str(err)[:protocol.MAX_TEXT]}

    def value(msg):
        name = msg.get("name")
        if type(name) is not str:
            raise protocol.ProtocolError("bad name")
        try:
            return shell.user_ns[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None

    peer.extra_ops.update({"run_cell": run_cell, "value": value, "ping": lambda msg: "pong"})
    try:
        peer.serve_forever()
    except protocol.ChannelBroken:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
