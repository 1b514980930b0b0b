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


def cmd_hub(args: argparse.Namespace) -> int:
    from course_tools.hub import run_hub

    return run_hub(_csv(args.learners), _csv(args.instructors), port=args.port, runtime=args.runtime,
                   exchange=args.exchange, course_dir=args.course_dir)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def cmd_release(args: argparse.Namespace) -> int:
    from course_tools.grading.nbgrader_io import LeakError, assignments, generate_student_version

    names = args.assignments or assignments(args.course_dir)
    failed = 0
    for name in names:
        try:
            if args.exchange is not None:
                from course_tools.grading.exchange import release_to_exchange

                print(f"released {release_to_exchange(args.course_dir, name, args.exchange, course_id=args.course_id)}")
                continue
            for path in generate_student_version(args.course_dir, name):
                print(f"released {path}")
        except (LeakError, RuntimeError) as exc:
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


def cmd_bench_class(args: argparse.Namespace) -> int:
    from course_tools.grading.bench_class import run_bench_class

    return run_bench_class(n=args.n, jobs=args.jobs, assignment=args.assignment, unsafe=args.unsafe)


def collect_rules() -> str:
    """``collect``'s rules, its module docstring, read from the source: importing the module would
    import nbformat (about 2 s) for every ``course`` command, ``course lab`` included."""
    import ast

    source = Path(__file__).resolve().parent / "grading" / "collect.py"
    return ast.get_docstring(ast.parse(source.read_text(encoding="utf-8")), clean=False) or ""


def cmd_collect(args: argparse.Namespace) -> int:
    if args.exchange is not None:
        if args.source is not None:
            print("course collect: give either SOURCE or --exchange ROOT, not both", file=sys.stderr)
            return 2
        from course_tools.grading.exchange import run_collect

        return run_collect(args.exchange, args.assignment, args.course_dir, course_id=args.course_id,
                           force=args.force, dry_run=args.dry_run)
    if args.source is None:
        print("course collect: give SOURCE (a folder or a zip) or --exchange ROOT", file=sys.stderr)
        return 2
    from course_tools.grading.collect import run

    return run(args.source, args.assignment, args.course_dir, force=args.force, dry_run=args.dry_run)


def cmd_feedback(args: argparse.Namespace) -> int:
    from course_tools.grading.feedback import run

    rc = run(args.assignment, args.course_dir, students=args.student)
    if rc == 0 and args.exchange is not None:
        from course_tools.grading.exchange import run_feedback

        rc = run_feedback(args.assignment, args.exchange, args.course_dir, course_id=args.course_id,
                          students=args.student)
    return rc


def cmd_export(args: argparse.Namespace) -> int:
    from course_tools.grading.export import run

    return run(args.csv, args.assignments, args.course_dir)


def cmd_report(args: argparse.Namespace) -> int:
    from course_tools.grading.report import run

    return run(args.assignment, args.course_dir, plots=not args.no_plots)


def cmd_check(args: argparse.Namespace) -> int:
    from course_tools.grading.check import run

    return run(args.notebook, args.course_dir, assignment=args.assignment, html=args.html)


def _exchange(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--exchange", type=Path, default=None, metavar="ROOT", help=help)
    parser.add_argument("--course-id", default="backend-engineering",
                        help="the course's folder in the exchange (default: backend-engineering)")


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

    p = sub.add_parser("hub", help="the course on a local JupyterHub: learners, instructors, nbgrader's exchange")
    p.add_argument("--learners", default=None, help="comma-separated hub users (default: learner1,learner2)")
    p.add_argument("--instructors", default=None, help="comma-separated (default: instructor)")
    p.add_argument("--port", type=int, default=None, help="public port on 127.0.0.1 (default 8000)")
    p.add_argument("--runtime", type=Path, default=None, help="state folder (default: .hub/)")
    p.add_argument("--exchange", type=Path, default=None, help="nbgrader exchange root (default: RUNTIME/exchange)")
    p.add_argument("--course-dir", type=Path, default=None, help="the instructor's course (default: notebooks/assessments)")
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser("release", help="generate student versions (refuses if solutions would leak)")
    p.add_argument("assignments", nargs="*")
    _course_dir(p)
    _exchange(p, "also release to this nbgrader exchange (c.Exchange.root of a JupyterHub), for learners to fetch")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("autograde", help="grade every submitted/*/ASSIGNMENT/ in a sandbox, in parallel")
    p.add_argument("assignment")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks graded at once (default: twice the number of cores: each keeps two processes, "
                        "the clean one and the student's, that mostly wait for each other)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--unsafe", "--no-isolation", dest="unsafe", action="store_true",
                   help="grade even without the bubblewrap jail (rlimits only): only for code you trust")
    _course_dir(p)
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("bench", help="grading throughput: plain sequential nbgrader vs course autograde (default --jobs)")
    p.add_argument("--n", type=int, default=40, help="synthetic submissions (default 40)")
    p.add_argument("--jobs", type=int, default=None, help="course autograde --jobs (default: its default)")
    p.add_argument("--assignment", default=None, help="default: 08_caching if present, else the test fixture")
    p.add_argument("--course-dir", type=Path, default=None,
                   help="course root holding source/ (default: notebooks/assessments, else the test fixture)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-class", help="a whole class: course autograde on N generated submissions, "
                                           "wall time and peak memory of every process it starts")
    p.add_argument("--n", type=int, default=500, help="generated submissions (default 500)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--assignment", default=None, help="default: 08_caching")
    p.add_argument("--unsafe", action="store_true", help="grade without the jail (machines without it)")
    p.set_defaults(func=cmd_bench_class)

    p = sub.add_parser("collect", help="import submissions (folder or LMS zip) into submitted/<student>/<assignment>/",
                       description=collect_rules(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, nargs="?", help="a folder of per-student notebooks, or a .zip")
    p.add_argument("assignment")
    _exchange(p, "instead of SOURCE: each learner's latest submission from this nbgrader exchange's inbound/")
    p.add_argument("--force", action="store_true", help="replace an existing, different submission")
    p.add_argument("--dry-run", action="store_true", help="show what would be imported, write nothing")
    _course_dir(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("feedback", help="per-student HTML feedback under feedback/<student>/<assignment>/")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    _course_dir(p)
    _exchange(p, "also return it to this nbgrader exchange, where each learner can fetch only their own")
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
