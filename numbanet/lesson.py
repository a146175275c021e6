"""Lessons: plain Python files that say what one training iteration does.

The graph renderer (``numbanet graph LESSON.py``) and the stepper (``numbanet step
LESSON.py``) both run a lesson. A lesson file defines, at module level:

``model``
    an ``nn.Module``.
``criterion`` (or ``loss_fn``)
    ``criterion(outputs, targets)`` returns the scalar loss.
``optimizer``
    an optimizer over ``model.parameters()``.
``batch(iteration)``
    returns ``(inputs, targets)`` for iteration 0, 1, 2, ... (or define module-level
    ``inputs`` and ``targets`` used for every iteration).

Optional: ``title`` and ``description`` (shown by the stepper). Anything else in the file —
imports, helper functions, data generation — is ordinary Python. Run with
``import numbanet as torch`` so the file reads as PyTorch. The built-in lesson,
``numbanet/lessons/spirals.py``, is an example to copy.
"""

from __future__ import annotations

import ast
import os
import runpy
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from numbanet import trace as trace_module

BUILTIN_LESSON = Path(__file__).resolve().parent / "lessons" / "spirals.py"


class LessonError(Exception):
    """A lesson file that cannot be run: what is missing and how to fix it."""


def lesson_failure(error: Exception, path: Path | None, doing: str) -> LessonError:
    """A :class:`LessonError` for ``error``, raised while ``doing`` (``"recording iteration
    3"``), that points at the lesson, not at numbanet: the innermost line of the lesson
    file on the traceback, else the step of the iteration that ran (``model(inputs)``, the
    criterion, ``backward``, ``optimizer.step``) — and no traceback of numbanet's insides."""
    path = Path(path).resolve() if path is not None else BUILTIN_LESSON
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if _same_file(frame.filename, path)]
    if own:
        where = f"{path.name}, line {own[-1].lineno}: {own[-1].line}"
    else:
        steps = [frame for frame in frames if _same_file(frame.filename, Path(__file__))
                 and frame.name == "record_iteration"]
        where = f"{path.name}: {doing}" + (f", at {steps[-1].line}" if steps else "")
    message = str(error).split("\n  in your code at ")[0]  # that line is the one above
    return LessonError(f"{where}\n  {type(error).__name__}: {message}")


def lesson_error_text(error: BaseException) -> str:
    """How the tools report an error of a lesson: a LessonError's own text (it names the
    lesson's line), else the error's type and message."""
    return str(error) if isinstance(error, LessonError) else f"{type(error).__name__}: {error}"


def _same_file(filename: str, path: Path) -> bool:
    return os.path.realpath(filename) == os.path.realpath(path)


@dataclass
class Lesson:
    model: object
    criterion: Callable
    optimizer: object
    batch: Callable[[int], tuple]
    title: str
    description: str = ""
    path: Path | None = None
    history: list[dict] = field(default_factory=list)  # one summary per recorded iteration


def is_lesson_file(path: str | Path) -> bool:
    """Whether ``path`` is a lesson rather than an ordinary training script, which
    ``numbanet step`` runs through :mod:`numbanet.script_trace`. Read from the file's
    syntax, without running it: a file importing ``torch``/``torchvision`` is a script; one
    defining ``batch`` (or ``inputs`` and ``targets``) at module level is a lesson; else a
    file that calls ``.backward()`` has its own loop (a script), and anything else is read
    as a lesson (so what it lacks is reported as a lesson's)."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return True  # loading it as a lesson reports the problem
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            modules = ([alias.name for alias in statement.names]
                       if isinstance(statement, ast.Import) else [statement.module or ""])
            if any(module.split(".")[0] in ("torch", "torchvision") for module in modules):
                return False
        elif isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) \
                else [statement.target]
            names.update(node.id for target in targets for node in ast.walk(target)
                         if isinstance(node, ast.Name))
    if "batch" in names or {"inputs", "targets"} <= names:
        return True
    return not any(isinstance(node, ast.Attribute) and node.attr == "backward"
                   for node in ast.walk(tree))


def load_lesson(path: str | Path | None = None) -> Lesson:
    """Run a lesson file (the built-in one when ``path`` is None) and collect its parts."""
    path = Path(path) if path is not None else BUILTIN_LESSON
    if not path.is_file():
        raise LessonError(f"lesson file not found: {path}")
    try:
        namespace = runpy.run_path(str(path), run_name="__lesson__")
    except Exception as error:
        raise lesson_failure(error, path, "running the file") from error
    criterion = namespace.get("criterion", namespace.get("loss_fn"))
    batch = namespace.get("batch")
    if batch is None and "inputs" in namespace and "targets" in namespace:
        fixed = (namespace["inputs"], namespace["targets"])

        def batch(iteration: int) -> tuple:
            return fixed

    missing = [name for name, value in (("model", namespace.get("model")),
                                        ("criterion (or loss_fn)", criterion),
                                        ("optimizer", namespace.get("optimizer")),
                                        ("batch(iteration) or inputs/targets", batch))
               if value is None]
    if missing:
        raise LessonError(
            f"{path.name} does not define {', '.join(missing)}. A lesson defines model, "
            "criterion, optimizer and batch(iteration) -> (inputs, targets); see "
            f"{BUILTIN_LESSON} for an example.")
    return Lesson(
        model=namespace["model"],
        criterion=criterion,
        optimizer=namespace["optimizer"],
        batch=batch,
        title=namespace.get("title", path.stem),
        description=namespace.get("description", ""),
        path=path,
    )


def record_iteration(lesson: Lesson, iteration: int | None = None,
                     gradcheck: bool = False) -> trace_module.Trace:
    """Run one training iteration of ``lesson`` under a trace and return the trace.

    Phases: the model's ops are ``forward``, the criterion's ops ``loss``, then
    ``backward`` nodes and one ``optimizer`` event per ``step()``. ``gradcheck=True``
    checks every backward node against finite differences (``Event.gradcheck``).
    """
    iteration = len(lesson.history) if iteration is None else iteration
    inputs, targets = lesson.batch(iteration)
    start = time.perf_counter()
    if gradcheck:  # path mode first, before the optimizer moves the parameters
        from numbanet.autograd.node_check import check_parameters, random_state

        inputs64, targets64 = (t.double() if t.is_floating_point() else t
                               for t in (inputs, targets))
        paths = check_parameters(
            lesson.model, lambda model: lesson.criterion(model(inputs64), targets64),
            random_state())
    with trace_module.record(model=lesson.model, gradcheck=gradcheck) as trace:
        lesson.optimizer.zero_grad()
        outputs = lesson.model(inputs)
        with trace_module.phase("loss"):
            loss = lesson.criterion(outputs, targets)
        loss.backward()
        lesson.optimizer.step()
    gradient_norm = sum(
        float((p.grad * p.grad).sum().item()) for p in lesson.model.parameters()
        if p.grad is not None) ** 0.5
    summary = {"iteration": iteration, "loss": float(loss.item()),
               "gradient_norm": gradient_norm, "seconds": time.perf_counter() - start}
    lesson.history.append(summary)
    trace.metadata.update(summary, lesson=lesson.title)
    if gradcheck:
        trace.metadata["gradcheck_parameters"] = paths
    return trace
