"""JupyterHub configuration of the course: `jupyterhub -f hub/jupyterhub_config.py` (or `course hub`).

Everything is decided by course_tools.hub.configure from COURSE_HUB_* environment variables
(see that module's docstring): 127.0.0.1 only, the Python configurable-http-proxy, the
DummyAuthenticator, a local spawner, learner mode for learners and instructor mode for
instructors, nbgrader's exchange in COURSE_HUB_EXCHANGE. Run it with the course's environment:
`.venv/bin/jupyterhub -f hub/jupyterhub_config.py`.
"""

from course_tools.hub import configure

configure(get_config())  # noqa: F821  (get_config is provided by JupyterHub)
