"""``numbanet step``: step through one training iteration, node by node, in the terminal.

Usage::

    numbanet step                    # the built-in lesson (two spirals, offline)
    numbanet step my_lesson.py       # your lesson: model, criterion, optimizer, batch()
    numbanet step exported.json      # replay a trace written by the export key
    numbanet step --headless [--json] [--iterations N] [LESSON]   # print, for scripts
    numbanet step --headless --gradcheck LESSON   # check every backward node's gradient

Also ``python -m numbanet.tui``. The app lives in ``app.py``, the navigation it replays
in ``stepper.py`` and the headless printer in ``headless.py``.
"""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numbanet step",
        description="Record one training iteration of a lesson and step through it: "
                    "forward, loss, backward, optimizer.")
    parser.add_argument("lesson", nargs="?", default=None,
                        help="a lesson file (.py) or a saved trace (.json); "
                             "default: the built-in two-spirals lesson")
    parser.add_argument("--headless", action="store_true",
                        help="print one line per node instead of opening the terminal UI")
    parser.add_argument("--json", action="store_true",
                        help="with --headless: print JSON lines")
    parser.add_argument("--iterations", type=int, default=1, metavar="N",
                        help="record N iterations (default 1)")
    parser.add_argument("--gradcheck", action="store_true",
                        help="with --headless: check every backward node against finite "
                             "differences of its forward, print one line per node and exit "
                             "with status 1 when one fails (the terminal UI always records "
                             "the checks, for its lens: key v)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``numbanet step`` with ``argv`` (the arguments after ``step``)."""
    arguments = build_parser().parse_args(argv)
    if arguments.iterations < 1:
        print("numbanet step: --iterations must be at least 1", file=sys.stderr)
        return 2
    from numbanet.lesson import LessonError

    from .recorder import TraceSource

    headless = arguments.headless or arguments.json
    # the terminal UI always records the checks, for its lens (v)
    source = TraceSource(arguments.lesson, gradcheck=arguments.gradcheck or not headless)
    if arguments.lesson is not None and not source.path.is_file():
        print(f"numbanet step: no such file: {arguments.lesson}", file=sys.stderr)
        return 2
    if source.replays_saved_trace:
        try:  # read it now: a damaged file is one line and exit 2, in the app as well
            source.first_traces()
        except ValueError as error:
            print(f"numbanet step: error: {error}", file=sys.stderr)
            return 2
    if headless:
        from .headless import run_headless

        try:
            return run_headless(source, arguments.iterations, as_json=arguments.json)
        except LessonError as error:  # it names the lesson's line; no traceback of ours
            print(f"numbanet step: error: {error}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # piped into `head`, which has seen enough: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    from .app import StepperApp

    app = StepperApp(source, iterations=arguments.iterations)
    app.run()
    return app.return_code or 0  # a crash of the app: Textual printed it, exit non-zero
