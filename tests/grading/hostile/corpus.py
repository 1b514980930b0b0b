"""Hostile submissions of the fixture quiz, each with the exact outcome the autograder must give.

Every case is a function returning the submitted file's bytes (usually a small notebook
derived from the fixture source) plus its expected status, score (out of 4) and per-test
statuses. Cases that probe isolation encode what the student code *could do* in the answer:
e.g. ``answer_1 = 'b' if <could read the solutions> else 'a'``, so a leak shows up as a point.

    write_corpus(course_dir)   # submitted/<case>/fixture_quiz/fixture_quiz.ipynb for every case
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

FILES = Path(__file__).resolve().parents[1] / "files" / "course"
ASSIGNMENT = "fixture_quiz"
SOURCE = FILES / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
NB = f"{ASSIGNMENT}.ipynb"

GOOD = {"q1_test": "passed", "q2_test": "passed", "q3_test": "passed"}
WRONG_ANSWERS = {  # grade_id of the answer cell -> a wrong answer
    "q1_answer": "answer_1 = 'a'",
    "q2_answer": "answer_2 = 'a'",
    "q3_answer": "def lru_hits(capacity, keys):\n    return 0",
}


def source_nb() -> dict:
    return json.loads(SOURCE.read_text())


def _src(cell: dict) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def student_nb(correct: bool = True) -> dict:
    """What a student submits: hidden tests gone; answers correct (or the untouched stubs)."""
    nb = source_nb()
    for c in nb["cells"]:
        s = _src(c)
        s = re.sub(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", s, flags=re.S)
        if correct:
            s = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", s)
        else:
            s = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "# YOUR CODE HERE\nraise NotImplementedError()", s,
                       flags=re.S)
        c["source"] = s
    return nb


def cell_index(nb: dict, grade_id: str) -> int:
    for i, c in enumerate(nb["cells"]):
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def code_cell(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


def insert(nb: dict, before: str | None, *sources: str) -> dict:
    """Student-added cells before the cell ``before`` (a grade_id), or at the end."""
    i = cell_index(nb, before) if before else len(nb["cells"])
    nb["cells"][i:i] = [code_cell(s) for s in sources]
    return nb


def wrong(nb: dict, *ids: str) -> dict:
    for gid in ids or WRONG_ANSWERS:
        nb["cells"][cell_index(nb, gid)]["source"] = WRONG_ANSWERS[gid]
    return nb


def dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1).encode()


@dataclass
class Case:
    name: str
    build: Callable[[Path], bytes | dict[str, bytes]]    # course_dir -> file bytes (or {filename: bytes})
    status: str                                          # "graded" or a "failed: ..." prefix
    score: float
    tests: dict[str, str] = field(default_factory=dict)  # grade_id -> cell status
    warning: str | None = None                           # a substring expected in result.warnings
    doc: str = ""


CASES: list[Case] = []


def case(status: str, score: float, tests: dict[str, str] | None = None, warning: str | None = None):
    def deco(fn):
        CASES.append(Case(fn.__name__, fn, status, score, dict(tests or {}), warning, (fn.__doc__ or "").strip()))
        return fn
    return deco


# ---- control group ---------------------------------------------------------------------------

@case("graded", 4, GOOD)
def good(course: Path):
    """A correct, honest submission."""
    return dump(student_nb())


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "error"})
def untouched(course: Path):
    """The student version as released (stubs raise NotImplementedError)."""
    nb = student_nb(correct=False)
    for gid, s in (("q1_answer", "answer_1 = None"), ("q2_answer", "answer_2 = None")):
        nb["cells"][cell_index(nb, gid)]["source"] = s
    return dump(nb)


@case("graded", 2, {"q1_test": "failed", "q2_test": "failed", "q3_test": "passed"})
def partly_right(course: Path):
    """Wrong multiple-choice answers, a correct function."""
    return dump(wrong(student_nb(), "q1_answer", "q2_answer"))


# ---- unreadable files ------------------------------------------------------------------------

@case("failed: fixture_quiz.ipynb is not valid JSON", 0)
def malformed_json(course: Path):
    """A truncated file."""
    return dump(student_nb())[:-40]


@case("failed: fixture_quiz.ipynb uses nbformat", 0)
def unsupported_nbformat(course: Path):
    """nbformat 5 does not exist."""
    nb = student_nb()
    nb["nbformat"] = 5
    return dump(nb)


@case("failed: fixture_quiz.ipynb is not a valid notebook (JSON nested", 0)
def deeply_nested(course: Path):
    """Cell metadata nested 100 000 levels deep (json.loads would hit the recursion limit)."""
    text = dump(student_nb()).decode()
    bomb = "[" * 100_000 + "]" * 100_000
    return text.replace('"metadata": {}', '"metadata": {"x": ' + bomb + "}", 1).encode()


@case("failed: fixture_quiz.ipynb has no list of cells", 0)
def not_a_notebook(course: Path):
    """Valid JSON, but not a notebook."""
    return b'{"hello": "world"}'


# ---- tampered structure ----------------------------------------------------------------------

@case("graded", 4, GOOD, warning="recognised and restored")
def missing_metadata(course: Path):
    """Every metadata dict removed (notebook, cells): tests are recognised by their text."""
    nb = student_nb()
    nb.pop("metadata")
    for c in nb["cells"]:
        c.pop("metadata", None)
    return dump(nb)


@case("graded", 4, GOOD, warning="duplicated cell ignored")
def duplicated_tests(course: Path):
    """q3's test cell three times (nbgrader aborts the whole batch on this)."""
    nb = student_nb()
    i = cell_index(nb, "q3_test")
    nb["cells"][i + 1:i + 1] = [copy.deepcopy(nb["cells"][i]), copy.deepcopy(nb["cells"][i])]
    return dump(nb)


@case("graded", 3, {"q1_test": "passed", "q2_test": "missing", "q3_test": "passed"}, warning="was deleted")
def deleted_test(course: Path):
    """q2's test cell deleted: it counts as failed, not as 'needs manual grading'."""
    nb = student_nb()
    del nb["cells"][cell_index(nb, "q2_test")]
    return dump(nb)


@case("graded", 2, {"q1_test": "passed", "q2_test": "passed", "q3_test": "failed"}, warning="was edited")
def edited_test(course: Path):
    """A wrong function, and its test cell replaced by `pass`: the source test is restored."""
    nb = wrong(student_nb(), "q3_answer")
    nb["cells"][cell_index(nb, "q3_test")]["source"] = "pass"
    return dump(nb)


@case("graded", 4, GOOD, warning="recognised and restored")
def stripped_test_metadata(course: Path):
    """The nbgrader metadata of q1's test removed."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q1_test")]["metadata"] = {}
    return dump(nb)


@case("graded", 3, {"q1_test": "failed", "q2_test": "passed", "q3_test": "passed"})
def flipped_flags(course: Path):
    """q1 wrong, its test turned into an ungraded solution cell worth 100, plus a 'bonus' test of its own."""
    nb = wrong(student_nb(), "q1_answer")
    meta = nb["cells"][cell_index(nb, "q1_test")]["metadata"]["nbgrader"]
    meta.update(grade=False, solution=True, locked=False, points=100)
    bonus = code_cell("assert True")
    bonus["metadata"] = {"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50, "solution": False,
                                      "locked": True, "schema_version": 3}}
    nb["cells"].append(bonus)
    return dump(nb)


@case("graded", 4, GOOD, warning="kernelspec")
def unknown_kernelspec(course: Path):
    """A kernel nobody has installed."""
    nb = student_nb()
    nb["metadata"]["kernelspec"] = {"name": "evil-kernel", "display_name": "Evil", "language": "python"}
    return dump(nb)


# ---- processes that end or never end --------------------------------------------------------

@case("graded", 4, GOOD)
def calls_exit(course: Path):
    """exit() and sys.exit() in cells."""
    return dump(insert(student_nb(), "q2_answer", "exit()", "import sys\nsys.exit(3)", "quit()"))


@case("graded", 4, GOOD, warning="ended the Python process")
def os_exit(course: Path):
    """os._exit(0) between two answers: that cell is skipped, the rest is graded."""
    return dump(insert(student_nb(), "q2_answer", "import os\nos._exit(0)"))


@case("graded", 4, GOOD, warning="endless loop")
def infinite_loop(course: Path):
    """while True: pass, in its own cell."""
    return dump(insert(student_nb(), "q3_answer", "while True:\n    pass"))


@case("graded", 4, GOOD, warning="endless loop")
def loop_ignoring_sigint(course: Path):
    """A loop that ignores SIGINT (nbgrader's interrupt cannot stop it)."""
    return dump(insert(student_nb(), "q2_answer",
                       "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))


@case("graded", 2, {"q1_test": "passed", "q2_test": "passed", "q3_test": "timeout"})
def loop_inside_answer(course: Path):
    """The function under test never returns: only that test is lost."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q3_answer")]["source"] = "def lru_hits(capacity, keys):\n    while True:\n        pass"
    return dump(nb)


@case("graded", 4, GOOD)
def memory_bomb(course: Path):
    """Allocate without bound (RLIMIT_AS turns it into a MemoryError in that cell)."""
    return dump(insert(student_nb(), "q2_answer",
                       "blocks = []\ntry:\n    while True:\n        blocks.append(bytearray(50 << 20))\n"
                       "finally:\n    del blocks", "huge = bytearray(1 << 40)"))


@case("graded", 4, GOOD, warning="endless loop")
def fork_bomb(course: Path):
    """Fork without bound; every process keeps forking (bounded by RLIMIT_NPROC / pids cgroup)."""
    return dump(insert(student_nb(), "q3_answer",
                       "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                       "        time.sleep(0.01)"))


@case("graded", 4, GOOD)
def huge_output(course: Path):
    """About 30 MB printed (output goes to /dev/null: nobody reads it; grading goes on)."""
    return dump(insert(student_nb(), "q2_answer", "for _ in range(30_000):\n    print('x' * 1000)"))


@case("graded", 4, GOOD)
def huge_file(course: Path):
    """Writes a 200 MB file (RLIMIT_FSIZE stops it at the limit with 'File too large')."""
    return dump(insert(student_nb(), "q2_answer",
                       "import os\nwith open('big.bin', 'wb') as f:\n    for _ in range(200):\n"
                       "        f.write(b'x' * (1 << 20))", "os.remove('big.bin')"))


@case("graded", 4, GOOD)
def top_level_await_and_magics(course: Path):
    """Not hostile: top-level await, %magics and !shell commands work as in a kernel (also when replayed)."""
    nb = student_nb()
    i = cell_index(nb, "q3_answer")
    nb["cells"][i]["source"] = ("import asyncio\nawait asyncio.sleep(0)\n%time x = 1\n!true\n"
                                + nb["cells"][i]["source"])
    return dump(nb)


@case("graded", 4, GOOD)
def stderr_warnings(course: Path):
    """Warnings and text on stderr (nbgrader gives 0 for a correct answer here)."""
    nb = student_nb()
    for gid in ("q1_answer", "q3_answer"):
        i = cell_index(nb, gid)
        nb["cells"][i]["source"] = ("import sys, warnings\nwarnings.warn('deprecated!')\n"
                                    "print('noise on stderr', file=sys.stderr)\n" + nb["cells"][i]["source"])
    return dump(nb)


@case("graded", 4, GOOD)
def background_daemon(course: Path):
    """A double-forked daemon that outlives its cell (it must not outlive grading)."""
    return dump(insert(student_nb(), "q2_answer",
                       "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                       "        while True:\n            time.sleep(0.2)\n    os._exit(0)\nos.wait()"))


# ---- attempts to forge the verdict -----------------------------------------------------------

@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def input_transformer(course: Path):
    """Wrong answers, and an IPython input transformer that turns every test cell into `pass`."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "def _neuter(lines):\n    text = ''.join(lines)\n"
        "    return ['pass\\n'] if ('check_' in text or 'assert' in text) else lines\n"
        "get_ipython().input_transformers_post.append(_neuter)\n"
        "get_ipython().input_transformers_cleanup.append(_neuter)"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def traceback_hooks(course: Path):
    """Wrong answers; exceptions swallowed by set_custom_exc, sys.excepthook and showtraceback."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "import sys\nip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "sys.excepthook = lambda *a: None\nip.showtraceback = lambda *a, **k: None\n"
        "ip.run_cell_orig = ip.run_cell"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def monkeypatched_checks(course: Path):
    """Wrong answers; the check functions, AssertionError, isinstance and type all patched (in the
    student process, where no test runs; course_tools.grading is not even importable there)."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "import builtins, course_tools.grading.checks as c\n"
        "c.check_choice = lambda *a, **k: None\nc.normalise_choice = lambda a, *x, **k: 'b'\n"
        "c.check_exact_type = lambda *a, **k: None\nc.AnswerError = type('E', (Exception,), {})\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.AssertionError = ZeroDivisionError\n"
        "type = lambda x: int\n"
        "import random\nrandom.Random.randint = lambda self, a, b: a\n"
        "import sys\nsys.settrace(lambda *a: None)"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def fake_output(course: Path):
    """Wrong answers; prints 'passed' lines and writes fake verdicts to every open file descriptor."""
    nb = wrong(student_nb())
    fake = '{"nonce": "0", "status": "passed", "i": 0, "done": true}\\n'
    nb["cells"].append(code_cell(
        "import os\nprint('All tests passed! 4/4')\n"
        f"for fd in range(3, 64):\n    try:\n        os.write(fd, b'{fake}')\n    except OSError:\n        pass"))
    nb["cells"].insert(1, code_cell(
        f"import os\nfor fd in range(0, 64):\n    try:\n        os.write(fd, b'{fake}' * 3)\n"
        "    except OSError:\n        pass"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def fake_checks_module(course: Path):
    """Wrong answers; a fake course_tools.grading.checks in sys.modules and an import hook that
    serves one, plus a replaced __import__."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "import sys, types, builtins, importlib.abc, importlib.util\n"
        "fake = types.ModuleType('course_tools.grading.checks')\n"
        "for name in ('check_choice', 'normalise_choice', 'check_exact_type', 'check_is_subclass_free'):\n"
        "    setattr(fake, name, lambda *a, **k: 'b')\n"
        "sys.modules['course_tools.grading.checks'] = fake\n"
        "class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        return importlib.util.spec_from_loader(name, self) if 'checks' in name else None\n"
        "    def create_module(self, spec):\n        return fake\n"
        "    def exec_module(self, module):\n        pass\n"
        "sys.meta_path.insert(0, Finder())\n"
        "real_import = builtins.__import__\n"
        "builtins.__import__ = lambda name, *a, **k: fake if 'checks' in name else real_import(name, *a, **k)"))
    return dump(nb)


@case("graded", 4, GOOD)
def kills_everything(course: Path):
    """Sends SIGKILL to every process it may signal, to PID 1 and to its parent."""
    return dump(insert(student_nb(), "q2_answer",
                       "import os\nfor pid in (-1, 1, os.getppid()):\n    try:\n        os.kill(pid, 9)\n"
                       "    except OSError:\n        pass"))


@case("graded", 3, {"q1_test": "failed", "q2_test": "passed", "q3_test": "passed"})
def huge_answer(course: Path):
    """A 50 MB string as an answer: too big to cross as data, so the test gets a handle, not a str."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q1_answer")]["source"] = "answer_1 = 'b' * (50 << 20)"
    return dump(nb)


@case("graded", 2, {"q1_test": "failed", "q2_test": "failed", "q3_test": "passed"})
def eq_always_true(course: Path):
    """Multiple-choice answers whose __eq__ always returns True (a str subclass and a plain object)."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q1_answer")]["source"] = (
        "class Liar(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
        "    def strip(self, *a):\n        return self\n    def lower(self):\n        return self\n"
        "answer_1 = Liar('z')")
    nb["cells"][cell_index(nb, "q2_answer")]["source"] = (
        "class Any:\n    def __eq__(self, other):\n        return True\nanswer_2 = Any()")
    return dump(nb)


@case("graded", 2, {"q1_test": "passed", "q2_test": "passed", "q3_test": "error"})
def forges_verdict_from_inside_the_test(course: Path):
    """A wrong function that, when the test calls it, walks frames it stashed earlier, tries every
    introspection tool for a secret, reads every fd, and writes 'passed' verdicts on every fd: the
    clean process sees garbage on the channel and ends that test as an error (no points)."""
    nb = student_nb()
    nb["cells"].insert(1, code_cell("import sys\nSTASH = [sys._getframe()]\ntry:\n    1/0\n"
                                    "except ZeroDivisionError as e:\n    STASH.append(e.__traceback__.tb_frame)"))
    nb["cells"][cell_index(nb, "q3_answer")]["source"] = (
        "def lru_hits(capacity, keys):\n"
        "    import os, sys, gc, re\n"
        "    found = set()\n"
        "    def scan(obj, depth=0):\n"
        "        if depth > 3:\n            return\n"
        "        if isinstance(obj, (bytes, str)):\n"
        "            found.update(re.findall(r'[0-9a-f]{32}', obj if isinstance(obj, str) else obj.decode('latin1')))\n"
        "        elif isinstance(obj, dict):\n"
        "            for v in list(obj.values()):\n                scan(v, depth + 1)\n"
        "        elif isinstance(obj, (list, tuple)):\n"
        "            for v in obj:\n                scan(v, depth + 1)\n"
        "    tries = [lambda: sys._getframe(), lambda: gc.get_objects(), lambda: sys._current_frames(),\n"
        "             lambda: open('/proc/self/mem', 'rb'), lambda: os.listdir('/proc/self/fd')]\n"
        "    for t in tries:\n        try:\n            scan(t())\n        except Exception:\n            pass\n"
        "    for f in STASH:\n"
        "        while f is not None:\n"
        "            try:\n                scan(dict(f.f_locals))\n                f = f.f_back\n"
        "            except Exception:\n                break\n"
        "    for fd in range(0, 256):\n"
        "        try:\n            os.set_blocking(fd, False)\n            scan(os.read(fd, 4096))\n"
        "        except Exception:\n            pass\n"
        "    for n in list(found) + ['0' * 32]:\n"
        "        line = ('V ' + n + ' passed \\n').encode()\n"
        "        for fd in range(0, 256):\n"
        "            try:\n                os.write(fd, line)\n            except Exception:\n                pass\n"
        "    return 0")
    return dump(nb)


@case("graded", 2, {"q1_test": "passed", "q2_test": "passed", "q3_test": "failed"})
def forges_ready_during_replay(course: Path):
    """While its cells are replayed before a test: announces 'ready' on every fd, waits for a nonce
    on every fd, and answers 'passed' with it (the seccomp filter of the replay thread stops this)."""
    nb = wrong(student_nb(), "q3_answer")
    return dump(insert(nb, "q3_answer", "\n".join([
        "import os, re, time",
        "def _attack():",
        "    for fd in range(3, 64):",
        "        try:",
        "            os.write(fd, b'ready 1 \\n')",
        "        except OSError:",
        "            pass",
        "    got, end = b'', time.time() + 1.5",
        "    while time.time() < end:",
        "        for fd in range(3, 64):",
        "            try:",
        "                os.set_blocking(fd, False)",
        "                got += os.read(fd, 256)",
        "            except OSError:",
        "                pass",
        "        for n in re.findall(rb'[0-9a-f]{32}', got):",
        "            for fd in range(3, 64):",
        "                try:",
        "                    os.write(fd, b'V ' + n + b' passed \\n')",
        "                except OSError:",
        "                    pass",
        "            return",
        "        time.sleep(0.01)",
        "import threading",
        "if threading.current_thread() is not threading.main_thread():  # only while replayed for a test",
        "    _attack()"])))


@case("graded", 4, GOOD)
def leaves_threads_running(course: Path):
    """A thread left running in the student process: harmless, tests run in the clean process."""
    return dump(insert(student_nb(), "q3_answer",
                       "import threading, time\nthreading.Thread(target=lambda: time.sleep(3600), daemon=True).start()"))


# ---- attempts to read or write what is not theirs --------------------------------------------

@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def reads_solutions(course: Path):
    """Reads source/ (the hidden tests hold the answers), the gradebook and another student's files:
    each answer is right only if the read succeeded."""
    src = course / "source" / ASSIGNMENT / NB
    other = course / "submitted" / "good" / ASSIGNMENT / NB
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        f"try:\n    text = open({str(src)!r}).read()\n"
        "    answer_1 = 'b' if 'check_choice' in text else 'a'\n"
        "except Exception:\n    answer_1 = 'a'\n"
        f"try:\n    open({str(other)!r}).read()\n    answer_2 = 'c'\nexcept Exception:\n    answer_2 = 'a'\n"
        f"try:\n    open({str(course / 'gradebook.db')!r}, 'rb').read()\n    GRADEBOOK = True\n"
        "except Exception:\n    GRADEBOOK = False\n"))
    i = cell_index(nb, "q1_answer")
    nb["cells"][i]["source"] = "pass  # answer_1 was set above"
    nb["cells"][cell_index(nb, "q2_answer")]["source"] = "pass"
    nb["cells"][cell_index(nb, "q3_answer")]["source"] = (
        "def lru_hits(capacity, keys):\n    return 1 if GRADEBOOK else 0")
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def writes_gradebook(course: Path):
    """Wrong answers; tries to overwrite the gradebook and its own result file with full marks."""
    res = course / "grades" / ASSIGNMENT / "writes_gradebook.json"
    nb = wrong(student_nb())
    nb["cells"].append(code_cell(
        "import json, os\n"
        f"for path in ({str(course / 'gradebook.db')!r}, {str(res)!r}):\n    try:\n"
        "        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "        with open(path, 'w') as f:\n"
        "            f.write(json.dumps({'score': 4, 'status': 'graded'}))\n    except Exception:\n        pass"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def uses_network(course: Path):
    """Connects to a server listening on the grader's loopback: answers right only if that worked."""
    port = int((course / "port.txt").read_text())
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
        "    answer_1, answer_2 = 'b', 'c'\nexcept OSError:\n    pass"))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def ships_extra_files(course: Path):
    """Ships helper.py and a fake course_tools package next to the notebook; neither is importable."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "try:\n    import helper\n    answer_1, answer_2 = helper.A1, helper.A2\nexcept ImportError:\n    pass"))
    return {NB: dump(nb), "helper.py": b"A1, A2 = 'b', 'c'\n",
            "sitecustomize.py": b"import builtins; builtins.answer_1 = 'b'\n"}


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def persists_startup_files(course: Path):
    """Wrong answers; writes IPython startup files (profile and ~/.ipython) that would set the answers
    of whoever is graded next (see the victim in the test)."""
    payload = "answer_1 = 'b'\\nanswer_2 = 'c'\\n"
    nb = wrong(student_nb())
    nb["cells"].append(code_cell(
        "import os\nip = get_ipython()\n"
        "dirs = [ip.profile_dir.startup_dir, os.path.expanduser('~/.ipython/profile_default/startup'),\n"
        "        '/tmp/.ipython/profile_default/startup', os.path.join(os.environ.get('IPYTHONDIR', '/tmp'), 'profile_default', 'startup')]\n"
        "for d in dirs:\n    try:\n        os.makedirs(d, exist_ok=True)\n"
        f"        open(os.path.join(d, '00-evil.py'), 'w').write('{payload}')\n"
        "    except Exception:\n        pass"))
    return dump(nb)


# ---- attacks on the clean-process design (issue 9) --------------------------------------------

@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def code_replaced_in_course_modules(course: Path):
    """Wrong answers; replaces the __code__ of every function and method of every course_tools module
    it can import, and of random.Random's methods, with one that answers 'b' / never fails (the old
    in-process design ran such code when it wrote the verdict)."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "import sys, types, random, importlib, pkgutil, course_tools\n"
        "def forged(*a, **k):\n    return 'b'\n"
        "for info in pkgutil.walk_packages(course_tools.__path__, 'course_tools.'):\n"
        "    try:\n        importlib.import_module(info.name)\n    except Exception:\n        pass\n"
        "def patch(f):\n    try:\n        f.__code__ = forged.__code__.replace(co_freevars=f.__code__.co_freevars)\n"
        "    except Exception:\n        pass\n"
        "for name, mod in list(sys.modules.items()):\n"
        "    if not name.startswith('course_tools'):\n        continue\n"
        "    for v in list(vars(mod).values()):\n"
        "        if isinstance(v, types.FunctionType):\n            patch(v)\n"
        "        elif isinstance(v, type):\n"
        "            for w in list(vars(v).values()):\n"
        "                if isinstance(w, types.FunctionType):\n                    patch(w)\n"
        "for w in list(vars(random.Random).values()):\n"
        "    if isinstance(w, types.FunctionType):\n        patch(w)\n"
        "GRADING_VISIBLE = 'course_tools.grading' in sys.modules"))
    return dump(nb)


_HUNT = (
    "def _hunt():\n"
    "    import gc, sys\n"
    "    marks = ('BEGIN' + ' HIDDEN', 'Random' + '(7)', '_r' + 'ef(', 'check_choice' + '(answer_1')\n"
    "    mine = lambda v: 'def _hunt' in v\n"
    "    found = []\n"
    "    f = sys._getframe()\n"
    "    while f is not None:\n"
    "        for v in list(f.f_locals.values()) + list(f.f_globals.values()) + [f.f_code.co_filename]:\n"
    "            if isinstance(v, str) and any(m in v for m in marks) and not mine(v):\n                found.append(v)\n"
    "        f = f.f_back\n"
    "    for o in gc.get_objects():\n"
    "        if isinstance(o, dict):\n"
    "            for v in list(o.values()):\n"
    "                if isinstance(v, str) and any(m in v for m in marks) and not mine(v):\n                    found.append(v)\n"
    "    return found\n")


@case("graded", 2, {"q1_test": "passed", "q2_test": "passed", "q3_test": "failed"})
def hunts_hidden_tests(course: Path):
    """A wrong function that, when the test calls it, walks every frame and every object of its process
    for hidden test text; if found it raises it (exception messages reach feedback) and adds it to
    builtins (names the old worker reported as notes). Nothing is found: S never holds test source."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q3_answer")]["source"] = (
        _HUNT + "def lru_hits(capacity, keys):\n"
        "    found = _hunt()\n"
        "    if found:\n"
        "        import builtins\n"
        "        for t in found:\n            setattr(builtins, 'LEAK_' + str(abs(hash(t))), t)\n"
        "        raise RuntimeError('LEAK: ' + ' | '.join(found)[:500])\n"
        "    return 0")
    return dump(nb)


@case("graded", 1, {"q1_test": "failed", "q2_test": "passed", "q3_test": "failed"})
def ne_always_false(course: Path):
    """Answers whose != is always False and == always True: a str subclass for q1, an object as the
    count for q3 (exact types on the clean side: neither is plain data)."""
    nb = student_nb()
    nb["cells"][cell_index(nb, "q1_answer")]["source"] = (
        "class Same(str):\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n"
        "        return False\n    __hash__ = str.__hash__\nanswer_1 = Same('b ')")
    nb["cells"][cell_index(nb, "q3_answer")]["source"] = (
        "class Same(int):\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n"
        "        return False\n    __hash__ = int.__hash__\n"
        "def lru_hits(capacity, keys):\n    return Same(0)")
    return dump(nb)


@case("graded", 4, GOOD)
def blocks_the_channel(course: Path):
    """After the last test: a signal handler that sleeps forever in the student process's main thread
    (so it stops reading), then a 2 MB cell the grader must write to it. The write is non-blocking
    with a deadline: that cell costs its time limit, not the worker. (Whether the timer fires before
    or after the grader's write depends on timing, so only the outcome is asserted: the notebook is
    graded in full and the batch goes on; tests/grading/test_protocol.py holds the write deadline.)"""
    nb = student_nb()
    nb["cells"].append(code_cell(
        "import signal, time\n"
        "signal.signal(signal.SIGALRM, lambda *a: time.sleep(10 ** 6))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.3)"))
    nb["cells"].append(code_cell("x = 1  # " + "y" * (2 << 20)))
    return dump(nb)


@case("graded", 0, {"q1_test": "failed", "q2_test": "failed", "q3_test": "failed"})
def forged_protocol_frames(course: Path):
    """Wrong answers; writes forged frames on the channel to the clean process (its fd numbers are in
    sys.argv): replies claiming 'passed' for every request id, a value type with extra fields, a handle
    of an unknown kind, a frame announcing 4 GB, then garbage. The clean process ends that
    conversation; verdicts never come from the student side."""
    nb = wrong(student_nb())
    nb["cells"].insert(1, code_cell(
        "import os, sys, json, struct\n"
        "wfd = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 4\n"
        "def frame(o):\n    b = json.dumps(o).encode()\n    return struct.pack('>I', len(b)) + b\n"
        "junk = b''\n"
        "for i in range(1, 60):\n"
        "    junk += frame({'re': i, 'ok': ['d', [[['s', 'status'], ['s', 'passed']]]]})\n"
        "junk += frame({'re': 1, 'ok': ['v', 'Read', {'var': ['s', 'x'], 'extra': ['n']}]})\n"
        "junk += frame({'re': 2, 'ok': ['h', 1, 'module']})\n"
        "junk += struct.pack('>I', 0xFFFFFFFF) + b'garbage' * 100\n"
        "for fd in range(3, 64):\n"
        "    try:\n        os.write(fd, junk)\n    except OSError:\n        pass"))
    return dump(nb)


def write_corpus(course: Path, names: list[str] | None = None) -> list[Case]:
    """Write every case (or ``names``) as ``submitted/<case>/fixture_quiz/``; returns the cases."""
    out = []
    for c in CASES:
        if names and c.name not in names:
            continue
        d = course / "submitted" / c.name / ASSIGNMENT
        d.mkdir(parents=True, exist_ok=True)
        built = c.build(course)
        files = built if isinstance(built, dict) else {NB: built}
        for name, data in files.items():
            (d / name).write_bytes(data)
        out.append(c)
    return out
