"""Shared fixtures: a fake clock, seeded generators, and leak checks.

Every test under tests/ is checked for what it leaves behind: child processes, threads and
embedded Redis servers. At the end of the session the whole run is checked once more
(notebook kernels started by nbval included).
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time

import psutil
import pytest

from course_tools.clock import VirtualClock

# A learner's progress file is never touched by the tests (kernels started by nbval inherit this too).
os.environ["COURSE_PROGRESS_FILE"] = os.path.join(tempfile.gettempdir(), f"course-test-progress-{os.getpid()}.json")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _listening_ports() -> set[int]:
    try:
        conns = psutil.Process().net_connections(kind="inet")
    except (psutil.AccessDenied, AttributeError):
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


def _settle(check, timeout: float = 5.0):
    """Leftovers may need a moment to finish exiting; wait for them, then report."""
    deadline = time.monotonic() + timeout
    while True:
        left = check()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _nothing_left_running(request):
    """Fail a test (under tests/) that leaves a process, thread, port or Redis running."""
    if request.node.fspath is None or "/tests/" not in str(request.node.fspath):
        yield
        return
    from course_tools.net.redis import live_servers

    before_children, before_threads, before_ports = _children(), _threads(), _listening_ports()
    before_redis = set(map(id, live_servers()))
    yield
    problems = []
    left = _settle(lambda: _children() - before_children)
    if left:
        problems.append(f"processes {sorted(left)}")
    left = _settle(lambda: {t for t in _threads() - before_threads if not t.name.startswith("asyncio_")})
    if left:
        problems.append(f"threads {sorted(t.name for t in left)}")
    left = _settle(lambda: _listening_ports() - before_ports)
    if left:
        problems.append(f"listening ports {sorted(left)}")
    left = [s for s in live_servers() if id(s) not in before_redis]
    if left:
        problems.append(f"Redis servers {left}")
    if problems:
        pytest.fail("left running after the test: " + "; ".join(problems), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """The whole run (notebooks included) must leave nothing behind."""
    from course_tools.net.redis import live_servers

    left_children = _settle(_children, timeout=10)
    left_redis = live_servers()
    if left_children or left_redis:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        msg = f"left running after the test session: processes {sorted(left_children)}, Redis {left_redis}"
        if reporter:
            reporter.write_line(msg, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
