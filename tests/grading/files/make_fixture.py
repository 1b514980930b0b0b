"""Build the small fixture assignment the autograder tests use (run to regenerate it).

    .venv/bin/python tests/grading/files/make_fixture.py

Three questions worth 4 points: two multiple choice (graded as plain data), one coding task
(the test calls the student's function), plus a locked set-up cell.
"""

from pathlib import Path

from course_tools.authoring import md, notebook, readonly, solution, tests, write

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "fixture_quiz"
PATH = HERE / "course" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def build():
    return notebook([
        md("# Fixture quiz\nA tiny assignment for the autograder's tests."),
        readonly("import math\nCAPACITY = 2", grade_id="setup"),
        md("**Q1.** Which write policy risks losing writes on a crash? a) write-through b) write-back c) cache-aside"),
        solution("### BEGIN SOLUTION\nanswer_1 = 'b'\n### END SOLUTION", grade_id="q1_answer", objectives=["2.8.1"]),
        tests("""
            from course_tools.grading.checks import check_choice, normalise_choice
            normalise_choice(answer_1, "abc", question=1)
            ### BEGIN HIDDEN TESTS
            check_choice(answer_1, "b", question=1, choices="abc", hint="Which one acknowledges before the store has it?")
            ### END HIDDEN TESTS
            """, grade_id="q1_test", points=1, objectives=["2.8.1"]),
        md("**Q2.** Which policy evicts the least recently used key? a) FIFO b) LFU c) LRU"),
        solution("### BEGIN SOLUTION\nanswer_2 = 'c'\n### END SOLUTION", grade_id="q2_answer", objectives=["2.8.2"]),
        tests("""
            from course_tools.grading.checks import check_choice, normalise_choice
            normalise_choice(answer_2, "abc", question=2)
            ### BEGIN HIDDEN TESTS
            check_choice(answer_2, "c", question=2, choices="abc", hint="Recency, not frequency.")
            ### END HIDDEN TESTS
            """, grade_id="q2_test", points=1, objectives=["2.8.2"]),
        md("**Q3.** Write `lru_hits(capacity, keys)`: how many accesses hit an LRU cache of that capacity?"),
        solution("""
            def lru_hits(capacity, keys):
                ### BEGIN SOLUTION
                from collections import OrderedDict
                cache, hits = OrderedDict(), 0
                for k in keys:
                    if k in cache:
                        hits += 1
                        cache.move_to_end(k)
                    else:
                        cache[k] = True
                        if len(cache) > capacity:
                            cache.popitem(last=False)
                return hits
                ### END SOLUTION
            """, grade_id="q3_answer", objectives=["2.8.2"]),
        tests("""
            from course_tools.grading.checks import check_exact_type
            check_exact_type(lru_hits(CAPACITY, ["a", "b", "a"]), int, what="lru_hits(...)", question=3)
            assert lru_hits(CAPACITY, ["a", "b", "a"]) == 1, "Question 3: a repeated key within capacity is a hit."
            ### BEGIN HIDDEN TESTS
            import random
            def _ref(capacity, keys):
                order, hits = [], 0
                for k in keys:
                    if k in order:
                        hits += 1
                        order.remove(k)
                    elif len(order) == capacity:
                        order.pop(0)
                    order.append(k)
                return hits
            rng = random.Random(7)
            for _ in range(50):
                cap = rng.randint(1, 4)
                keys = [rng.choice("abcdef") for _ in range(rng.randint(0, 30))]
                assert lru_hits(cap, keys) == _ref(cap, keys), "Question 3: wrong count on a longer trace. Hint: a hit also makes the key most recent."
            ### END HIDDEN TESTS
            """, grade_id="q3_test", points=2, objectives=["2.8.2"]),
    ])


if __name__ == "__main__":
    print(write(build(), PATH))
