"""Does the README describe the course that is actually here?"""

import re
from pathlib import Path

from course_tools.syllabus import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_two_commands_come_first():
    start = README.index("## Start")
    assert README.index("make lab", start) < README.index("## Chapters")
    assert README.index("make test", start) < README.index("## Chapters")


def test_chapter_table_matches_the_syllabus():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (2\.\d) \|.*$", README, re.M)}
    assert set(rows) == {c.number for c in CHAPTERS}
    for c in CHAPTERS:
        row = rows[c.number]
        assert f"| {c.minutes} |" in row, f"{c.number}: minutes"
        for o in c.objectives:
            assert o.id in row, f"{c.number}: objective {o.id} missing"
        lesson = ROOT / "notebooks" / f"{c.slug}.ipynb"
        cells = [x.strip() for x in row.strip("|").split("|")]
        if "ready" in cells[-2]:
            assert lesson.exists(), f"{c.number} is marked ready but {lesson.name} does not exist"
