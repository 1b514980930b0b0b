"""Names that moved to a module an assessment may hide, still reachable from their old module.

A course implementation that an assessment asks the student to write (the quorum coordinator,
the hash ring, conditional GET) lives in a module of its own, listed in that assessment's
``metadata.course.hidden_modules``, so that the grading jail leaves it out. The module the student
does need keeps the old name for lessons through a module-level ``__getattr__``:

    __getattr__ = moved_to("course_tools.sim.ring", {"HashRing", "ModuloRouter"}, __name__)

which imports the new home on first use. Where the new home is hidden, the old name does not exist
either: ``hasattr`` is False and ``getattr`` / ``from ... import`` fail, saying the module is hidden.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable


def moved_to(home: str, names: Iterable[str], owner: str) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``owner`` that loads ``names`` lazily from ``home``."""
    names = frozenset(names)

    def __getattr__(name: str) -> object:
        if name in names:
            try:
                module = importlib.import_module(home)
            except ImportError:
                raise AttributeError(f"{name} is not available in this assessment ({home} is hidden): "
                                     f"write your own") from None
            return getattr(module, name)
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")

    return __getattr__
