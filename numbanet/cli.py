"""The ``numbanet`` command.

::

    numbanet graph LESSON.py -o graph.svg [--view forward|backward|both] [--depth N]
    numbanet graph train.py --iteration 3 -o graph.svg   # a PyTorch script: its loop's 4th step
    numbanet graph --demo -o graph.svg     # the built-in two-spirals lesson
    numbanet graph trace.json -o graph.svg # a trace saved earlier (Trace.save, the stepper)
    numbanet graph --demo --no-legend --focus 2.weight --gradient-width   # for a slide
    numbanet export LESSON.py -o step.html # one iteration as an HTML page that replays it
    numbanet doctor                        # what works here, what does not, how to fix it
    numbanet step [LESSON.py] [...]        # step through one iteration in the terminal
    numbanet run [-n N] SCRIPT.py [ARGS]   # a PyTorch script on numbanet; -n N: N processes
    numbanet exercise check EX.toml --answers A.json   # score predictions (exercises)
    numbanet warmup                        # compile the tutorials' kernels once, cached

``graph`` runs one training iteration of the lesson under :func:`numbanet.trace.record`
(see :mod:`numbanet.lesson`) and draws it with :func:`numbanet.viz.draw`. The first run
compiles Numba kernels, which takes a while; the command says so instead of looking frozen.
Exit status: 0 done, 1 rendering failed, 2 bad input (no lesson, a broken lesson, a graph
too large to draw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _say(message: str) -> None:
    """A progress line on stderr. In a terminal it first clears the line, which may hold
    the live "compiling kernels" counter."""
    clear = "\r\x1b[K" if sys.stderr.isatty() else ""
    print(f"{clear}numbanet: {message}", file=sys.stderr, flush=True)


def _graph_parser(subparsers) -> None:
    from numbanet.viz import DEFAULT_MAX_NODES, VIEWS

    parser = subparsers.add_parser(
        "graph", help="draw the computation graph of one training iteration (SVG/PNG/DOT)",
        description="Record one training iteration of a lesson and draw its forward and "
                    "backward graph.")
    parser.add_argument("lesson", nargs="?", type=Path,
                        help="a lesson file (.py, see numbanet.lesson) or a saved trace "
                             "(.json)")
    parser.add_argument("--demo", action="store_true",
                        help="the built-in lesson (a small MLP on two spirals) instead of "
                             "a file")
    parser.add_argument("-o", "--output", type=Path, default=Path("graph.svg"),
                        help="output file; .svg, .png (needs system Graphviz), .dot or .gv "
                             "(default: graph.svg)")
    parser.add_argument("--view", choices=VIEWS, default="both",
                        help="forward graph, backward graph, or both side by side "
                             "(default: both)")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="keep N levels of module boxes and draw deeper modules as one "
                             "node each (0: the whole model as one node)")
    parser.add_argument("--iteration", type=int, default=0, metavar="I",
                        help="which iteration's batch to record (default 0)")
    parser.add_argument("--highlight", type=int, default=None, metavar="NODE_ID",
                        help="draw trace node NODE_ID with a thick red border")
    parser.add_argument("--no-saved", action="store_true",
                        help="leave out the tensors saved for backward")
    parser.add_argument("--no-legend", action="store_true",
                        help="leave out the legend (for slides)")
    parser.add_argument("--links", action="store_true",
                        help="with --view both: a dashed line from each forward op to its "
                             "backward op, the two drawn level")
    parser.add_argument("--expand", action="store_true",
                        help="draw each nn.Linear as the ops it runs (transpose, matmul, "
                             "add) instead of one node")
    parser.add_argument("--focus", default=None, metavar="PARAM",
                        help="keep only the paths from parameter PARAM (e.g. 0.weight) to "
                             "the loss")
    parser.add_argument("--gradient-width", action="store_true",
                        help="draw gradient arrows as thick as the gradients are large")
    parser.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                        help=f"refuse graphs with more nodes (default {DEFAULT_MAX_NODES})")
    parser.add_argument("--renderer", choices=("auto", "dot", "wasm"), default=None,
                        help="system Graphviz (dot) or Graphviz compiled to WebAssembly "
                             "(wasm); default: dot when installed")
    parser.add_argument("--save-trace", type=Path, default=None, metavar="FILE.json",
                        help="also save the recorded trace as JSON")
    parser.set_defaults(handler=run_graph)


def _record_lesson(path: Path | None, iteration: int):
    """Load the lesson and record one iteration, telling the user while Numba compiles."""
    from numbanet import compile_progress
    from numbanet.lesson import (
        LessonError,
        is_lesson_file,
        lesson_failure,
        load_lesson,
        record_iteration,
    )

    compile_progress.ensure_writable_cache()
    compiled: list[str] = []
    live = sys.stderr.isatty()  # a terminal: one line, rewritten per kernel

    def on_compile(stage: str, name: str) -> None:
        if stage != "start":
            return
        compiled.append(name)
        if live:
            print(f"\rnumbanet: compiling kernels (first run only)... {len(compiled)}: "
                  f"{name[:40]:<40}", end="", file=sys.stderr, flush=True)
        elif len(compiled) == 1:
            _say("compiling kernels (first run only; cached afterwards)...")

    start = time.perf_counter()
    with compile_progress.report_compilation(on_compile):
        if path is not None and path.is_file() and not is_lesson_file(path):
            _say(f"running {path.name} to iteration {iteration} of its training loop")
            trace = _record_script_iteration(path, iteration)
        else:
            _say(f"loading lesson {path.name if path else 'two spirals (built in)'}")
            lesson = load_lesson(path)
            _say(f"recording iteration {iteration}: forward, loss, backward, optimizer step")
            try:
                trace = record_iteration(lesson, iteration)
            except LessonError:
                raise
            except Exception as error:  # the lesson's model, loss or optimizer raised
                raise lesson_failure(error, path, f"recording iteration {iteration}") \
                    from error
    if compiled:
        _say(f"compiled {len(compiled)} kernels in {time.perf_counter() - start:.1f} s "
             "(cached for next time)")
    _say(f"recorded {len(trace.events)} events; loss {trace.metadata.get('loss', 0.0):.4g}")
    return trace


def _record_script_iteration(path: Path, iteration: int):
    """Iteration ``iteration`` of an ordinary training script's own loop (a PyTorch script
    runs unchanged; see :mod:`numbanet.script_trace`); the script stops there."""
    from numbanet.lesson import LessonError
    from numbanet.script_trace import ScriptError, ScriptSession

    session = ScriptSession(path, [], iteration)
    try:
        return session.record_next()
    except ScriptError as error:
        raise LessonError(str(error)) from error
    finally:
        session.close()


def _output_folder_exists(command: str, output: Path) -> bool:
    """Check ``-o``'s folder before recording (which may take a while), saying so if not."""
    folder = output.parent
    if folder.is_dir():
        return True
    print(f"numbanet {command}: error: cannot write {output}: the folder {folder} does not "
          f"exist (create it with: mkdir -p {folder})", file=sys.stderr)
    return False


def run_graph(arguments: argparse.Namespace) -> int:
    """``numbanet graph``: record (or load) a trace, draw it, write the file."""
    from numbanet.lesson import LessonError
    from numbanet.trace import Trace
    from numbanet.viz import RenderingError, describe_renderer, draw, save

    if (arguments.lesson is None) == (not arguments.demo):
        print("numbanet graph: error: name a lesson file (or a trace .json), or pass --demo "
              "for the built-in lesson", file=sys.stderr)
        return 2
    if not _output_folder_exists("graph", arguments.output):
        return 2
    try:
        if arguments.lesson is not None and arguments.lesson.suffix.lower() == ".json":
            trace = Trace.load(arguments.lesson)
            _say(f"loaded {len(trace.events)} events from {arguments.lesson}")
        else:
            trace = _record_lesson(None if arguments.demo else arguments.lesson,
                                   arguments.iteration)
        if arguments.save_trace:
            trace.save(arguments.save_trace)
            _say(f"saved the trace to {arguments.save_trace}")
        graph = draw(trace, view=arguments.view, depth=arguments.depth,
                     highlight=arguments.highlight, max_nodes=arguments.max_nodes,
                     show_saved=not arguments.no_saved, legend=not arguments.no_legend,
                     links=arguments.links, expand=arguments.expand,
                     focus=arguments.focus, gradient_width=arguments.gradient_width)
    except (LessonError, ValueError, OSError) as error:
        print(f"numbanet graph: error: {error}", file=sys.stderr)
        return 2
    try:
        if arguments.output.suffix.lower() in (".svg", ".png"):
            _say(f"rendering {graph.node_count} nodes with {describe_renderer(arguments.renderer)}")
        save(graph, arguments.output, renderer=arguments.renderer)
    except (RenderingError, ValueError) as error:
        print(f"numbanet graph: error: {error}", file=sys.stderr)
        return 1
    _say(f"wrote {arguments.output}")
    return 0


def _export_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write one training iteration as an HTML page that replays it",
        description="Record one iteration of a lesson (or load a saved trace) and write a "
                    "single self-contained HTML file (no server, works offline) that replays "
                    "it: the graph with the current node highlighted; keys n/p (next, "
                    "previous), ]/[ (next, previous phase).")
    parser.add_argument("lesson", nargs="?", type=Path,
                        help="a lesson file (.py) or a saved trace (.json)")
    parser.add_argument("--demo", action="store_true",
                        help="the built-in lesson (a small MLP on two spirals)")
    parser.add_argument("-o", "--output", type=Path, default=Path("step.html"),
                        help="output .html file (default: step.html)")
    parser.add_argument("--iteration", type=int, default=0, metavar="I",
                        help="which iteration's batch to record (default 0)")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="draw modules deeper than N levels as one node each")
    parser.add_argument("--renderer", choices=("auto", "dot", "wasm"), default=None,
                        help="Graphviz used to lay the graph out (default: dot when "
                             "installed, else the built-in WebAssembly one)")
    parser.add_argument("--kernel-lens", metavar="NODE", action="append", default=[],
                        help="also show, at node NODE (its index in the trace, or an op "
                             "name such as Matmul), which GPU thread wrote each element of "
                             "its kernel's output (re-run in the CUDA simulator; repeatable)")
    parser.set_defaults(handler=run_export)


def _load_or_record(arguments: argparse.Namespace):
    """The trace a ``graph`` or ``export`` command works on: a .json file, else a lesson."""
    from numbanet.trace import Trace

    if arguments.lesson is not None and arguments.lesson.suffix.lower() == ".json":
        trace = Trace.load(arguments.lesson)
        _say(f"loaded {len(trace.events)} events from {arguments.lesson}")
        return trace
    return _record_lesson(None if arguments.demo else arguments.lesson, arguments.iteration)


def run_export(arguments: argparse.Namespace) -> int:
    """``numbanet export``: record (or load) a trace, write the HTML replay."""
    from numbanet.lesson import LessonError
    from numbanet.viz import RenderingError, replay_html

    if (arguments.lesson is None) == (not arguments.demo):
        print("numbanet export: error: name a lesson file (or a trace .json), or pass "
              "--demo for the built-in lesson", file=sys.stderr)
        return 2
    if not _output_folder_exists("export", arguments.output):
        return 2
    try:
        trace = _load_or_record(arguments)
        _attach_kernel_lenses(trace, arguments.kernel_lens)
        page = replay_html(trace, title=f"numbanet: {arguments.lesson or 'two spirals'}",
                           renderer=arguments.renderer, depth=arguments.depth)
        arguments.output.write_text(page, encoding="utf-8")
    except (LessonError, ValueError, OSError) as error:
        print(f"numbanet export: error: {error}", file=sys.stderr)
        return 2
    except RenderingError as error:
        print(f"numbanet export: error: {error}", file=sys.stderr)
        return 1
    _say(f"wrote {arguments.output} ({len(page) // 1024} KiB, one self-contained file: open "
         "it in a browser; keys n / p step, ] / [ jump a phase)")
    return 0


def _attach_kernel_lenses(trace, nodes: list[str]) -> None:
    """Record the kernel lens of each node named by ``--kernel-lens`` into the trace."""
    from numbanet import kernel_lens
    from numbanet.tui.headless import find_node

    for node in nodes:
        try:
            event = trace.events[find_node(trace, node)]
            _say(f"kernel lens: re-running {event.op}'s kernel thread by thread…")
            kernel_lens.attach(trace, kernel_lens.record(event))
        except (LookupError, kernel_lens.NoLens) as error:
            raise ValueError(f"--kernel-lens {node}: {error}") from error


def _doctor_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check Python, Numba, CUDA, the kernel cache and Graphviz",
        description="Check every part numbanet needs and say how to fix what is broken.")
    parser.set_defaults(handler=lambda arguments: _run_doctor())


def _run_doctor() -> int:
    from numbanet.doctor import main as doctor_main

    return doctor_main()


# ---- numbanet step: owned by the stepper (numbanet.tui) ------------------------------------
def _step_parser(subparsers) -> None:
    """List ``step`` in ``numbanet --help``; :func:`main` hands its arguments over before
    argparse sees them (the stepper parses its own options: ``numbanet step --help``)."""
    subparsers.add_parser("step", add_help=False,
                          help="step through one training iteration in the terminal "
                               "(numbanet step --help)")


def run_step(argv: list[str]) -> int:
    """``numbanet step ARGS``: ``numbanet.tui.main(ARGS)``, imported only when used, so
    ``numbanet graph`` and ``numbanet doctor`` work without Textual."""
    from numbanet import tui

    return tui.main(argv) or 0
# ---- end of numbanet step -------------------------------------------------------------------


def _exercise_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "exercise", help="score a student's predictions for an exercise (TOML)",
        description="Exercises (TOML, see numbanet/lessons/spirals_exercise.toml) ask for "
                    "the shape, value or gradient of nodes of one recorded iteration. "
                    "'check' records the iteration and scores a JSON file of answers "
                    "(question id -> prediction); 'numbanet step --exercise' asks them in "
                    "the terminal.")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="score ANSWERS.json and print the score",
                               description="Record the exercise's iteration and score each "
                                           "answer: right, wrong, or within the tolerance.")
    check.add_argument("exercise", nargs="?", type=Path, default=None,
                       help="the exercise file (default: the built-in spirals exercise)")
    check.add_argument("--answers", type=Path, required=True, metavar="ANSWERS.json",
                       help='{"question id": prediction, ...}')
    check.set_defaults(handler=run_exercise_check)


def run_exercise_check(arguments: argparse.Namespace) -> int:
    """``numbanet exercise check``: one line per question, then ``score R/N``. Exit status
    0 when every answer is right, 1 when some are wrong, 2 for a broken file."""
    import json

    from numbanet.lesson import LessonError
    from numbanet.tui import exercise

    try:
        loaded = exercise.load_exercise(arguments.exercise or exercise.BUILTIN_EXERCISE)
        answers = json.loads(arguments.answers.read_text(encoding="utf-8"))
        if not isinstance(answers, dict):
            raise ValueError(f"{arguments.answers.name} must hold a JSON object: "
                             '{"question id": prediction}')
        _say(f"recording iteration {loaded.iteration} of {loaded.title} (seed {loaded.seed})")
        results = exercise.check(loaded, exercise.record_exercise(loaded), answers)
    except (exercise.ExerciseError, LessonError, ValueError, OSError) as error:
        print(f"numbanet exercise: error: {error}", file=sys.stderr)
        return 2
    print("\n".join(exercise.report(results)))
    return 0 if all(result.correct for result in results) else 1


def _run_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a PyTorch script on numbanet (import torch gives numbanet); with "
                    "-n N as N processes of one data-parallel job (through mpiexec)",
        description="Run SCRIPT.py, an unmodified PyTorch script: `import torch` and "
                    "`import torchvision` give numbanet. A PyTorch name numbanet lacks ends "
                    "the run with one line naming it and the script's line. With -n N, "
                    "start N copies as one MPI job (mpiexec); an exception on any rank ends "
                    "the whole job with a non-zero status.")
    parser.add_argument("-n", "--nproc", type=int, default=1, metavar="N",
                        help="number of processes (default 1: run here, no MPI)")
    parser.add_argument("script", help="the Python script to run")
    parser.add_argument("arguments", nargs=argparse.REMAINDER,
                        help="arguments passed to the script")
    parser.set_defaults(handler=run_script)


def run_script(arguments: argparse.Namespace) -> int:
    """``numbanet run``: see :mod:`numbanet.runner` and :mod:`numbanet.distributed.launch`."""
    from numbanet.runner import run_script as run_on_numbanet

    try:
        return run_on_numbanet(arguments.script, arguments.arguments, arguments.nproc)
    except (ValueError, FileNotFoundError) as error:
        print(f"numbanet run: error: {error}", file=sys.stderr)
        return 2


def _warmup_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "warmup", help="compile the kernels the tutorials and lessons use, once (cached)",
        description="Run small pieces of tutorial code so that Numba compiles their kernels "
                    "now, with a progress bar, and later runs load them from its cache.")
    parser.add_argument("--jobs", type=int, default=None,
                        help="processes compiling at once (default: 2 where there are 2 "
                             "cores; Numba compiles one kernel at a time per process)")
    parser.set_defaults(handler=run_warmup)


def run_warmup(arguments: argparse.Namespace) -> int:
    """``numbanet warmup``: see :mod:`numbanet.warmup`."""
    from numbanet.warmup import DEFAULT_JOBS, warm_up

    jobs = DEFAULT_JOBS if arguments.jobs is None else arguments.jobs
    if jobs < 1:
        raise SystemExit(f"numbanet warmup: --jobs must be at least 1, got {jobs}")
    warm_up(jobs=jobs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numbanet",
        description="numbanet: PyTorch's API on Numba kernels you can read, and tools to "
                    "watch a training iteration.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _graph_parser(subparsers)
    _export_parser(subparsers)
    _step_parser(subparsers)
    _doctor_parser(subparsers)
    _exercise_parser(subparsers)
    _run_parser(subparsers)
    _warmup_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``numbanet`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["step"]:
        return run_step(argv[1:])
    arguments = build_parser().parse_args(argv)
    return arguments.handler(arguments) or 0


if __name__ == "__main__":
    sys.exit(main())
