"""Does the lab server leave out exactly the two start-up costs ``course_tools.labserver`` names, and
nothing a course lab uses? And does ``course`` reach ``course lab`` without importing nbformat?

Each check runs in a fresh interpreter: what it asserts is which modules a process imports.
(How fast the lab starts is measured by ``make bench-lab``, not asserted here.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_tools.lab import lab_argv


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_lab_is_started_through_labserver():
    argv = lab_argv(Path("/nonexistent"), 8888, "t")
    assert argv[1:3] == ["-m", "course_tools.labserver"]


def test_singleuser_entry_runs_jupyterhub_singleuser():
    """`python -m course_tools.labserver --singleuser ARGS` is jupyterhub-singleuser ARGS (course hub's
    per-learner server); without the flag it is JupyterLab."""
    from importlib.metadata import version

    for flag, package in ((["--singleuser"], "jupyterhub"), ([], "jupyterlab")):
        proc = subprocess.run([sys.executable, "-m", "course_tools.labserver", *flag, "--version"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-1] == version(package)


def test_prepare_blocks_the_iri_grammar_and_keeps_every_other_format_checker():
    out = _run("""
        import jsonschema, sys
        full = set(jsonschema.Draft7Validator.FORMAT_CHECKER.checkers)
        print(sorted(full))
    """)
    full = set(eval(out))  # noqa: S307 - our own subprocess's repr of a list of str
    out = _run("""
        import sys
        from course_tools.labserver import prepare
        prepare()
        import jsonschema
        assert sys.modules["rfc3987_syntax"] is None, "the IRI grammar was imported"
        assert "lark" not in sys.modules, "Lark was imported"
        print(sorted(jsonschema.Draft7Validator.FORMAT_CHECKER.checkers))
    """)
    lab = set(eval(out))  # noqa: S307
    if {"iri", "iri-reference"} <= full:  # rfc3987_syntax installed, as jupyter_events' extras install it
        assert full - lab == {"iri", "iri-reference"}
    else:  # the grammar is not installed at all: nothing to leave out
        assert full == lab


def test_prepare_keeps_jupyterlab_from_asking_yarn_for_its_registry():
    _run("""
        import subprocess
        import jupyterlab.commands as commands
        assert hasattr(commands, "_yarn_config"), "JupyterLab renamed _yarn_config: update course_tools.labserver"

        started = []

        def refuse(*args, **kwargs):  # JupyterLab logs and swallows what this raises: record it too
            started.append(args)
            raise OSError(f"a subprocess was started: {args}")

        from course_tools.labserver import prepare
        prepare()
        subprocess.check_output = subprocess.run = subprocess.Popen = refuse
        options = commands.AppOptions()
        assert options.registry == commands.YARN_DEFAULT_REGISTRY, options.registry
        import jupyterlab.labapp  # runs get_app_version() at import, which reads the registry
        assert started == [], started
    """)


def _schema_files() -> list[Path]:
    import jupyter_events
    import jupyter_server
    import jupyterlab
    import jupyterlab_server
    import nbformat

    roots = [Path(m.__file__).parent for m in (jupyter_events, jupyter_server, jupyterlab_server, nbformat)]
    roots.append(Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas")
    roots.append(Path(jupyterlab.__file__).parent / "schemas")
    files = [p for root in roots if root.is_dir()
             for p in root.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and p.is_file()]
    return files


def test_no_schema_the_lab_server_validates_uses_an_iri_format():
    """What justifies leaving the IRI checker out: no schema of the server, its events, the
    notebook format or JupyterLab's settings asks for ``format: iri`` or ``iri-reference``."""
    files = _schema_files()
    if len(files) < 20:
        pytest.fail(f"found only {len(files)} schema files: the search paths are wrong")
    pattern = re.compile(r"""["']?format["']?\s*:\s*["']?iri""")
    offenders = [str(p) for p in files if pattern.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert offenders == []


def test_course_reaches_course_lab_without_importing_nbformat():
    _run("""
        import sys
        from course_tools.cli import build_parser
        build_parser().parse_args(["lab", "--no-release"])
        build_parser().format_help()
        heavy = [m for m in ("nbformat", "jsonschema", "nbgrader", "jupyterlab") if m in sys.modules]
        assert not heavy, heavy
    """)


def test_collect_help_still_shows_its_rules():
    from course_tools.cli import collect_rules
    from course_tools.grading import collect

    assert collect_rules() == collect.__doc__ and len(collect_rules()) > 100
