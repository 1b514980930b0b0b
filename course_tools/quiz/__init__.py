"""Self-check questions for the end of a lesson (instant feedback, not graded).

    from course_tools.quiz import Question, Option, Quiz
    quiz = Quiz([
        Question("Write-back caching's main risk is:", [
            Option("Stale reads", why="Stale reads come from invalidation, not write-back."),
            Option("Losing acknowledged writes", correct=True,
                   why="Writes are acknowledged before the store has them; a crash loses them."),
        ], objectives=("2.8.1",)),
    ])
    quiz.show()          # widgets in JupyterLab, plain text elsewhere
    quiz.check(1, "b")   # works everywhere: prints the explanation of option b

In JupyterLab each question is a set of radio buttons and a *Check* button that shows why
the chosen option is right or wrong. Where widgets cannot render (nbval, nbconvert, a
terminal) the same questions print as text with lettered options.
"""

from course_tools.quiz.bank import check_answer, load_quiz, self_check
from course_tools.quiz.core import Option, Question, Quiz

__all__ = ["Option", "Question", "Quiz", "self_check", "check_answer", "load_quiz"]
