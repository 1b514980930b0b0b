"""Do the Kubernetes and Binder files describe the course's image: its environment, learner mode, the exchange?

Not a deployment (no cluster here): the files parse, name the course's environment and nbgrader's
exchange consistently, and the configs the image build writes are the ones the values file points at.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from course_tools.hub import write_image_configs

ROOT = Path(__file__).resolve().parents[2]
EXCHANGE = "/srv/nbgrader/exchange"
ENV_PREFIX = "/srv/conda/envs/notebook"      # repo2docker's NB_PYTHON_PREFIX


def _packages(env: dict) -> set[str]:
    names = set()
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        names |= {re.split(r"[<>=! ]", d, maxsplit=1)[0].lower() for d in items}
    return names


def test_binder_environment_is_the_course_environment_without_the_editable_install():
    """repo2docker builds binder/environment.yml before copying the repo, so it must hold the same
    packages as environment.yml except `-e .` (which postBuild replaces)."""
    main = yaml.safe_load((ROOT / "environment.yml").read_text())
    binder = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert binder["name"] == main["name"] == "backend-course"
    assert binder["channels"] == main["channels"]
    assert _packages(binder) == _packages(main) - {"-e"}
    assert "-e" not in _packages(binder)


def test_postbuild_installs_the_course_and_writes_the_configs_the_values_file_uses(tmp_path):
    """postBuild installs course_tools, builds the student versions and writes the mode configs with the
    exchange the values file mounts; the learner config is the one the values file selects."""
    post = (ROOT / "binder" / "postBuild").read_text()
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK) and os.access(ROOT / "binder" / "start", os.X_OK)
    assert "pip install --no-deps" in post and "course release" in post
    assert f"Path('{EXCHANGE}')" in post and "etc/course-jupyter" in post

    values = yaml.safe_load((ROOT / "hub" / "z2jh-values.yaml").read_text())
    su = values["singleuser"]
    assert su["image"]["name"] and su["defaultUrl"] == "/lab"
    mounts = {m["name"]: m["mountPath"] for m in su["storage"]["extraVolumeMounts"]}
    assert mounts["nbgrader-exchange"] == EXCHANGE
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in su["storage"]["extraVolumes"]}
    assert claims["nbgrader-exchange"]
    assert su["extraEnv"]["COURSE_HUB_MODE"] == "learner"
    learner_path = su["extraEnv"]["JUPYTER_CONFIG_PATH"]
    assert learner_path == f"{ENV_PREFIX}/etc/course-jupyter/jupyter/learner"
    for name, code in values["hub"]["extraConfig"].items():
        compile(code, name, "exec")                       # hub config snippets are valid Python
    assert "JUPYTER_CONFIG_PATH" in values["hub"]["extraConfig"]["course-modes"]

    # what postBuild writes, under a temporary prefix: the same relative layout the values file points at
    folders = write_image_configs(tmp_path / "etc" / "course-jupyter", Path(EXCHANGE),
                                  ROOT / "notebooks" / "assessments")
    assert folders["learner"] == tmp_path / Path(learner_path).relative_to(ENV_PREFIX)
    nbgrader = (folders["learner"] / "nbgrader_config.py").read_text()
    assert f"c.Exchange.root = {EXCHANGE!r}" in nbgrader
    server = json.loads((folders["learner"] / "jupyter_server_config.json").read_text())
    ext = server["ServerApp"]["jpserver_extensions"]
    assert ext["nbgrader.server_extensions.assignment_list"] is True       # fetch / submit / feedback
    assert ext["nbgrader.server_extensions.formgrader"] is False            # no instructor tools
    assert server["ServerApp"]["contents_manager_class"] == "course_tools.labmode.LearnerContentsManager"
    assert EXCHANGE in (folders["instructor"] / "nbgrader_config.py").read_text()
