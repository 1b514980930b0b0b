"""The course's reference implementations that assessments ask students to write live in modules of
their own, which an assessment hides (``metadata.course.hidden_modules``); the modules the student
needs still import where they are hidden, and their old names for the references fail cleanly."""

import json
import subprocess
import sys

import pytest

from course_tools.grading.paths import COURSE_DIR

# (module the student needs, old name there, module holding it now, assessment hiding that module)
MOVED = [
    ("course_tools.sim.quorum", "abd_write", "course_tools.sim.quorum_reference", "07_distributed"),
    ("course_tools.sim.quorum", "abd_read", "course_tools.sim.quorum_reference", "07_distributed"),
    ("course_tools.sim.hashing", "HashRing", "course_tools.sim.ring", "07_distributed"),
    ("course_tools.sim.hashing", "ModuloRouter", "course_tools.sim.ring", "07_distributed"),
    ("course_tools.net.http", "conditional_get", "course_tools.net.conditional", "01_http"),
    ("course_tools.net", "conditional_get", "course_tools.net.conditional", "01_http"),
]


@pytest.mark.parametrize("old,name,new,assessment", MOVED)
def test_old_name_is_the_moved_object(old, name, new, assessment):
    """Outside the jail, lessons' old imports still give the one implementation, now in ``new``."""
    import importlib

    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("old,name,new,assessment", MOVED)
def test_hidden_reference_fails_cleanly(old, name, new, assessment):
    """With ``new`` hidden (as the grading stub refuses it), ``old`` still imports, ``hasattr`` says
    no, and both ``getattr`` and ``from old import name`` fail with a message saying it is hidden."""
    code = f"""
import sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == {new!r}:
            raise ImportError(name + " is not available in this assessment")

sys.meta_path.insert(0, Hide())
import operator
import {old} as m
assert not hasattr(m, {name!r})
try:
    operator.attrgetter({name!r})(m)
except AttributeError as exc:
    assert "hidden" in str(exc), exc
else:
    raise SystemExit("getattr worked")
try:
    from {old} import {name}
except ImportError:
    pass
else:
    raise SystemExit("from-import worked")
assert {new!r} not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout


@pytest.mark.parametrize("new,assessment", sorted({(new, a) for _, _, new, a in MOVED}))
def test_assessment_hides_the_reference(new, assessment):
    """The assessment whose task the reference solves lists its module in hidden_modules."""
    nb = json.loads((COURSE_DIR / "source" / assessment / f"{assessment}.ipynb").read_text())
    assert new in nb["metadata"]["course"]["hidden_modules"]
