"""nbgrader configuration of the course's assessments (the instructor side).

`course release` / `make lab` build the student versions from source/ into release/.
The database and every generated folder stay out of git (see .gitignore).
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader)

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = "backend-engineering"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")

# What a learner sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# One cell never blocks grading for long; course autograde adds its own limits on top.
c.ExecutePreprocessor.timeout = 60
c.ExecutePreprocessor.interrupt_on_timeout = True
