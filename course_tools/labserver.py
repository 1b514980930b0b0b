"""The JupyterLab server that ``course lab`` starts: JupyterLab itself, minus two start-up costs
that a course lab never uses.

``python -m course_tools.labserver ARGS`` is ``python -m jupyterlab ARGS`` with two changes, made in
this server process only (kernels and terminals are processes of their own and see neither).
``python -m course_tools.labserver --singleuser ARGS`` is ``jupyterhub-singleuser ARGS`` with the same
two changes: ``course hub`` starts each learner's server so (the same import chain runs in it).

1. **No IRI grammar.** Importing ``jsonschema`` imports its optional ``iri``/``iri-reference``
   format checker, ``rfc3987_syntax``, which compiles Earley parsers with Lark at import: about
   1.5 s of a 2-core machine's start (measured with ``python -X importtime -m jupyterlab
   --version``). No schema the server validates uses those formats (jupyter_events' event schemas,
   JupyterLab's settings schemas), so the server runs without that checker: ``jsonschema`` skips a
   format checker whose module cannot be imported. The cost is known upstream:
   https://github.com/jupyter-server/jupyter_server/issues/1559 and
   https://github.com/python-jsonschema/jsonschema/issues/1428.
2. **No yarn configuration.** ``import jupyterlab.labapp`` asks ``node yarn.js config`` which npm
   registry to use (about 0.6 s when Node.js is installed). The answer is used only to fetch
   package metadata from npm when installing or checking a *source* extension
   (``jupyterlab.commands._fetch_package_metadata``), which a course lab never does; the command
   line's ``jupyter labextension`` runs in its own process and still reads it.

Both are checked by ``tests/test_lab.py``: if a JupyterLab upgrade renames what is changed here,
the test says so, and the lab still starts, only slower.
"""

from __future__ import annotations

import sys

#: modules the lab server must not import, and why (see the module docstring)
BLOCKED_MODULES = {"rfc3987_syntax": "jsonschema's optional IRI format checker; compiles Lark grammars at import"}


def _no_yarn_config(logger=None) -> dict:
    """What ``jupyterlab.commands._yarn_config`` returns when it finds no Node.js."""
    return {"yarn config": {}, "npm config": {}}


def prepare() -> None:
    """Make the two changes in this process; call before anything imports ``jsonschema``."""
    for name in BLOCKED_MODULES:
        if name not in sys.modules:  # already imported: nothing to save
            sys.modules[name] = None  # `import name` now raises ImportError, which jsonschema skips
    import jupyterlab.commands as commands

    if hasattr(commands, "_yarn_config"):
        commands._yarn_config = _no_yarn_config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prepare()
    if argv[:1] == ["--singleuser"]:
        from jupyterhub.singleuser import main as singleuser

        sys.argv[1:] = argv[1:]         # jupyterhub-singleuser reads its arguments from sys.argv
        return singleuser() or 0
    from jupyterlab.labapp import LabApp

    LabApp.launch_instance(argv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
