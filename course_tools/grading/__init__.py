"""The instructor pipeline around nbgrader, and the checks assessments call.

- ``course_tools.grading.checks``      what assessment test cells import
- ``course_tools.grading.nbgrader_io`` generate / autograde / scores, driven in-process
"""
