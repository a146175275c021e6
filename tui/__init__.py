"""``numbanet step``: step through one training iteration, node by node, in the terminal.

Usage::

    numbanet step                    # the built-in lesson (two spirals, offline)
    numbanet step my_lesson.py       # your lesson: model, criterion, optimizer, batch()
    numbanet step exported.json      # replay a trace written by the export key
    numbanet step train.py --iteration 3 [-- ARGS]  # a PyTorch script: its loop's iteration 3
    numbanet step --headless [--json] [--iterations N] [LESSON]   # print, for scripts
    numbanet step --headless --kernel-lens NODE [LESSON]   # which GPU thread wrote what
    numbanet step --headless --gradcheck LESSON   # check every backward node's gradient
    numbanet step --headless --launches [LESSON]  # the step as a JIT captures it: kernel calls
    numbanet step --headless --diagnose --iterations N [--figure F.svg] [LESSON]  # health
    numbanet step --exercise [EX.toml]  # predict, then reveal (a teacher's questions)

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
    parser.add_argument("--kernel-lens", metavar="NODE", default=None,
                        help="with --headless: re-run NODE's CUDA kernel thread by thread "
                             "in the simulator and print what each thread read and wrote "
                             "(NODE: the index printed by --headless, or an op name such as "
                             "Matmul for its first node)")
    parser.add_argument("--iteration", type=int, default=0, metavar="K",
                        help="a training script (not a lesson): start at iteration K of its "
                             "own loop (default 0); the script's arguments go after --")
    parser.add_argument("--gradcheck", action="store_true",
                        help="with --headless: check every backward node against finite "
                             "differences of its forward, print one line per node and exit "
                             "with status 1 when one fails (the terminal UI always records "
                             "the checks, for its lens: key v)")
    parser.add_argument("--launches", action="store_true",
                        help="with --headless: capture the lesson's step with numbanet.compile "
                             "and print its flat list of kernel calls (phase, kernels, arrays, "
                             "time) beside the eager iteration's node counts; exit status 1 "
                             "when the step cannot be captured (the reason is printed)")
    parser.add_argument("--diagnose", action="store_true",
                        help="with --headless: print each layer's health over the iterations "
                             "(gradient norm, update/weight ratio, activations, dead ReLUs) "
                             "and the diagnoses, with their thresholds")
    parser.add_argument("--figure", default=None, metavar="FILE.svg",
                        help="with --diagnose: also draw the layer health as a figure "
                             "(.svg or .png)")
    parser.add_argument("--exercise", nargs="?", const="builtin", default=None,
                        metavar="EX.toml",
                        help="predict, then reveal: ask an exercise's questions (default: the "
                             "built-in spirals exercise); its lesson and seed replace LESSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``numbanet step`` with ``argv`` (the arguments after ``step``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)  # after --: the script's own
    arguments = build_parser().parse_args(argv[:split])
    script_arguments = argv[split + 1:]
    if arguments.iterations < 1 or arguments.iteration < 0:
        print("numbanet step: --iterations must be at least 1, --iteration at least 0",
              file=sys.stderr)
        return 2
    from numbanet.lesson import LessonError

    from .recorder import TraceSource

    exercise = None
    if arguments.exercise is not None:
        from .exercise import BUILTIN_EXERCISE, ExerciseError, load_exercise

        try:
            exercise = load_exercise(BUILTIN_EXERCISE if arguments.exercise == "builtin"
                                     else arguments.exercise)
        except ExerciseError as error:
            print(f"numbanet step: {error}", file=sys.stderr)
            return 2
        arguments.lesson = exercise.lesson
    headless = (arguments.headless or arguments.json or arguments.kernel_lens is not None
                or arguments.launches)
    # the terminal UI always records the checks, for its lens (v)
    source = TraceSource(arguments.lesson, arguments.iteration, script_arguments,
                         gradcheck=arguments.gradcheck or not (headless or arguments.diagnose),
                         seed=exercise.seed if exercise else None)
    if arguments.lesson is not None and not source.path.is_file():
        print(f"numbanet step: no such file: {arguments.lesson}", file=sys.stderr)
        return 2
    if source.replays_saved_trace:
        try:  # read it now: a damaged file is one line and exit 2, in the app as well
            source.first_traces()
        except ValueError as error:
            print(f"numbanet step: error: {error}", file=sys.stderr)
            return 2
    if arguments.diagnose:
        from .diagnose import run_diagnose

        if arguments.figure and not arguments.figure.lower().endswith((".svg", ".png")):
            print(f"numbanet step: --figure must name a .svg or .png file, not "
                  f"{arguments.figure}", file=sys.stderr)
            return 2

        try:
            return run_diagnose(source, arguments.iterations, figure=arguments.figure)
        except LessonError as error:
            print(f"numbanet step: error: {error}", file=sys.stderr)
            return 1
    if headless:
        from .headless import run_headless, run_kernel_lens, run_launches

        try:
            if arguments.kernel_lens is not None:
                return run_kernel_lens(source, arguments.kernel_lens, as_json=arguments.json)
            if arguments.launches:
                return run_launches(source, as_json=arguments.json)
            return run_headless(source, arguments.iterations, as_json=arguments.json)
        except LessonError as error:  # it names the lesson's line; no traceback of ours
            print(f"numbanet step: error: {error}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # piped into `head`, which has seen enough: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        finally:
            source.restart()  # a training script waits in its loop for more: end it
    from .app import StepperApp

    app = StepperApp(source, iterations=arguments.iterations, exercise=exercise)
    app.run()
    return app.return_code or 0  # a crash of the app: Textual printed it, exit non-zero
