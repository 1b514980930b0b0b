"""The ``course`` command: a thin layer over plain functions in ``course_tools``.

Each subcommand parses its arguments and calls one function; no logic lives here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_tools.grading.paths import COURSE_DIR  # not nbgrader_io: importing nbformat costs seconds


def _course_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                        help="nbgrader course root holding source/ (default: notebooks/assessments of this checkout)")


def cmd_lab(args: argparse.Namespace) -> int:
    from course_tools.lab import run_lab

    return run_lab(args.root, args.port, args.token, release=not args.no_release, instructor=args.instructor)


def cmd_release(args: argparse.Namespace) -> int:
    from course_tools.grading.nbgrader_io import LeakError, assignments, generate_student_version

    names = args.assignments or assignments(args.course_dir)
    failed = 0
    for name in names:
        try:
            for path in generate_student_version(args.course_dir, name):
                print(f"released {path}")
        except LeakError as exc:
            failed += 1
            print(f"REFUSED {name}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def cmd_autograde(args: argparse.Namespace) -> int:
    from course_tools.grading.autograde import run_autograde

    return run_autograde(args.assignment, args.course_dir, jobs=args.jobs, students=args.student,
                         unsafe=args.unsafe)


def cmd_bench(args: argparse.Namespace) -> int:
    from course_tools.grading.bench import run_bench

    return run_bench(n=args.n, jobs=args.jobs, assignment=args.assignment, course_dir=args.course_dir)


def collect_rules() -> str:
    from course_tools.grading import collect

    return collect.__doc__ or ""


def cmd_collect(args: argparse.Namespace) -> int:
    from course_tools.grading.collect import run

    return run(args.source, args.assignment, args.course_dir, force=args.force, dry_run=args.dry_run)


def cmd_feedback(args: argparse.Namespace) -> int:
    from course_tools.grading.feedback import run

    return run(args.assignment, args.course_dir, students=args.student)


def cmd_export(args: argparse.Namespace) -> int:
    from course_tools.grading.export import run

    return run(args.csv, args.assignments, args.course_dir)


def cmd_report(args: argparse.Namespace) -> int:
    from course_tools.grading.report import run

    return run(args.assignment, args.course_dir, plots=not args.no_plots)


def cmd_check(args: argparse.Namespace) -> int:
    from course_tools.grading.check import run

    return run(args.notebook, args.course_dir, assignment=args.assignment, html=args.html)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Backend Engineering course: lessons and grading.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lab", help="build student versions and open the course in JupyterLab")
    p.add_argument("--root", type=Path, default=None, help="folder to serve (default: notebooks/)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--token", default=None)
    p.add_argument("--no-release", action="store_true", help="do not rebuild the student versions")
    p.add_argument("--instructor", action="store_true",
                   help="show nbgrader's instructor tools (formgrader, Create Assignment) and assessments/source/")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("release", help="generate student versions (refuses if solutions would leak)")
    p.add_argument("assignments", nargs="*")
    _course_dir(p)
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("autograde", help="grade every submitted/*/ASSIGNMENT/ in a sandbox, in parallel")
    p.add_argument("assignment")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: the number of cores)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--unsafe", "--no-isolation", dest="unsafe", action="store_true",
                   help="grade even without the bubblewrap jail (rlimits only): only for code you trust")
    _course_dir(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("bench", help="grading throughput: plain sequential nbgrader vs course autograde --jobs 2")
    p.add_argument("--n", type=int, default=40, help="synthetic submissions (default 40)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--assignment", default=None, help="default: 08_caching if present, else the test fixture")
    p.add_argument("--course-dir", type=Path, default=None,
                   help="course root holding source/ (default: notebooks/assessments, else the test fixture)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("collect", help="import submissions (folder or LMS zip) into submitted/<student>/<assignment>/",
                       description=collect_rules(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="a folder of per-student notebooks, or a .zip")
    p.add_argument("assignment")
    p.add_argument("--force", action="store_true", help="replace an existing, different submission")
    p.add_argument("--dry-run", action="store_true", help="show what would be imported, write nothing")
    _course_dir(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("feedback", help="per-student HTML feedback under feedback/<student>/<assignment>/")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    _course_dir(p)
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="grades as CSV: one row per student and assignment")
    p.add_argument("--csv", required=True, metavar="FILE", help="where to write ('-' for standard output)")
    p.add_argument("assignments", nargs="*", help="default: every assignment with submissions or results")
    _course_dir(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="class results per question and per objective; plots under reports/")
    p.add_argument("assignment")
    p.add_argument("--no-plots", action="store_true", help="only print the tables")
    _course_dir(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="grade your own notebook locally and see its feedback")
    p.add_argument("notebook", type=Path)
    p.add_argument("--assignment", default=None, help="default: from the notebook's name or its nbgrader metadata")
    p.add_argument("--html", type=Path, default=None, metavar="FILE", help="also write the feedback as HTML")
    _course_dir(p)
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
