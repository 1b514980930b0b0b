"""Does the environment for conda users declare what pyproject.toml declares?"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"redis-py": "redis"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec.strip(), maxsplit=1)[0].lower()


def pyproject_dependencies() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(d) for d in data["project"]["dependencies"]}


def environment_dependencies() -> tuple[set[str], list[str]]:
    names, uncommented = set(), []
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s+-\s+(?!pip:)([A-Za-z0-9_.\-]+)(.*)$", line)
        if not m or m.group(1) in ("python", "pip", "-e"):
            continue
        name = CONDA_TO_PYPI.get(m.group(1).lower(), m.group(1).lower())
        names.add(name)
        if "#" not in m.group(2):
            uncommented.append(name)
    return names, uncommented


def test_environment_yml_declares_the_same_packages_as_pyproject():
    env, _ = environment_dependencies()
    py = pyproject_dependencies()
    assert env == py, f"only in pyproject.toml: {sorted(py - env)}; only in environment.yml: {sorted(env - py)}"


def test_every_dependency_in_environment_yml_says_why():
    _, uncommented = environment_dependencies()
    assert not uncommented, f"add a comment saying why: {uncommented}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert [l for l in ci.splitlines() if l.strip() and not l.startswith("#") and not l.startswith(("set ", "cd "))] == ["make test"]


def test_system_packages_script_parses_and_lists_what_the_tests_need():
    """Would a typo in scripts/ensure-system-packages (it once had a quote mark in a comment, which ended
    its package list) break `make test` before any test runs? bash -n parses it; the list names the tools."""
    import subprocess

    script = ROOT / "scripts" / "ensure-system-packages"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    listed = text[text.index("PACKAGES='") + len("PACKAGES='"):]
    listed = listed[:listed.index("'")]
    commands = {line.split()[0] for line in listed.splitlines() if line.strip() and not line.startswith("#")}
    assert {"bwrap", "chromium", "setpriv"} <= commands
