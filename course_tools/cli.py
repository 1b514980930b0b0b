"""The ``course`` command: a thin layer over plain functions in ``course_tools``.

Each subcommand parses its arguments and calls one function; no logic lives here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_tools.grading.nbgrader_io import COURSE_DIR


def _course_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                        help="nbgrader course root holding source/ (default: notebooks/assessments of this checkout)")


def cmd_lab(args: argparse.Namespace) -> int:
    from course_tools.lab import run_lab

    return run_lab(args.root, args.port, args.token, release=not args.no_release)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Backend Engineering course: lessons and grading.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lab", help="build student versions and open the course in JupyterLab")
    p.add_argument("--root", type=Path, default=None, help="folder to serve (default: notebooks/)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--token", default=None)
    p.add_argument("--no-release", action="store_true", help="do not rebuild the student versions")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("release", help="generate student versions (refuses if solutions would leak)")
    p.add_argument("assignments", nargs="*")
    _course_dir(p)
    p.set_defaults(func=cmd_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
