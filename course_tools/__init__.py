"""Backend Engineering course: the library every lesson, assessment and the `course` CLI import.

Layout (each module can be opened and read by a learner):

- ``course_tools.clock``   virtual clock (``advance()``) for deterministic simulations
- ``course_tools.rng``     one seed for every random generator a lesson uses
- ``course_tools.env``     the version / environment check in the first cell of every lesson
- ``course_tools.sim``     deterministic simulators (caches, interleavings, clusters, ...)
- ``course_tools.net``     real servers on loopback (HTTP, TLS, embedded Redis)
- ``course_tools.viz``     the course's plot style and widgets
- ``course_tools.security`` JWTs and their attacks, password hashing measured, sessions and refresh tokens
- ``course_tools.quiz``    self-check questions with an explanation for every option
- ``course_tools.grading`` the instructor pipeline around nbgrader, and checks used by assessments

Importing this package starts nothing and seeds nothing.
"""

__version__ = "0.1.0"
