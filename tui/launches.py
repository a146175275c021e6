"""The captured step (key ``j``): one iteration as a JIT runs it, a flat list of kernel calls.

The stepper shows an iteration as a JIT's *input*: Python-level nodes, each a forward op
that built Tensors and an autograd node, a backward node, the optimizer's update.
``numbanet.compile`` turns the same step into its *output*: the kernel calls those nodes
made, in order, on fixed arrays — no Tensor objects, no autograd graph, no op dispatch
(see :mod:`numbanet.jit.capture`). This module puts the two side by side, as plain data
and text: the app's screen (``widgets/launches_screen.py``) and ``numbanet step --headless
--launches`` both read it, and neither needs Textual here.

The capture itself is :func:`numbanet.jit.capture_lesson_step`; each row below is one
entry of the compiled step's ``.launches``, unchanged.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from dataclasses import dataclass

from numbanet.jit import StepCapture, capture_lesson_step
from numbanet.trace import Trace

from .recorder import TraceSource
from .stepper import PHASES

_DESCRIBED = re.compile(r"\([^)]*\) \w+")  # one "(16, 2) float32" of a launch's output
FREE_REPLAYS = ("view (no kernel)", "allocated once")  # entries a replay does not run


@dataclass
class LaunchRow:
    """One captured kernel call as the view shows it."""

    index: int
    phase: str
    call: str  # the backend function: "matmul", "SGD.step", "_check_targets"
    kernels: str  # "batched_matmul", "sgd_kernel ×6", "-" for none
    arrays: str  # "(16, 2), (2, 16) → (16, 16) float32"
    microseconds: str  # "11.4" or "" (no kernel timed)
    replay: str  # how a replay runs it


def capture_step(source: TraceSource | None, iteration: int) -> StepCapture:
    """Capture the step of ``source``'s lesson on the batch of ``iteration``, or a
    :class:`StepCapture` whose ``refused`` says why there is nothing to capture. Errors of
    the lesson's own code come back as the refusal too: the view must never crash."""
    title = source.title if source is not None else "this trace"
    if source is None or source.replays_saved_trace:
        return StepCapture(title, iteration, refused=(
            "a saved trace has no model to run again, so there is no step to capture: "
            "open the lesson file instead (numbanet step LESSON.py)"))
    if source.is_script:
        return StepCapture(title, iteration, refused=(
            "a training script runs its own loop, so there is no step function to "
            "compile; a lesson (model, criterion, optimizer, batch) has one — or wrap your "
            "step in torch.compile and print its .listing()"))
    if source.lesson is None:
        return StepCapture(title, iteration, refused="the lesson is not loaded yet: "
                           "record an iteration first")
    try:
        return capture_lesson_step(source.lesson, iteration)
    except Exception as error:  # the lesson's model, loss or optimizer raised
        return StepCapture(title, iteration,
                           refused=f"the step raised {type(error).__name__}: {error}")


def kernels_text(kernels: list[str]) -> str:
    """``["sgd_kernel"] * 6`` -> ``sgd_kernel ×6``; repeats counted, first-seen order."""
    if not kernels:
        return "-"
    return ", ".join(name if count == 1 else f"{name} ×{count}"
                     for name, count in Counter(kernels).items())


def arrays_text(inputs: list[str], output: str) -> str:
    """What a call read and wrote, its dtype said once when all agree:
    ``(16, 2), (2, 16) → (16, 16) float32``."""
    outputs = _DESCRIBED.findall(output)  # "(16, 2) float32, () int64": one per array
    dtypes = {text.rpartition(" ")[2] for text in (*inputs, *outputs)}
    suffix = ""
    if len(dtypes) == 1:
        inputs, outputs = ([text.rpartition(" ")[0] for text in texts]
                           for texts in (inputs, outputs))
        suffix = f" {dtypes.pop()}"
    reads, writes = ", ".join(inputs), ", ".join(outputs)
    if writes:
        return f"{reads} → {writes}{suffix}" if reads else f"→ {writes}{suffix}"
    return f"{reads}{suffix}"


def rows(capture: StepCapture, show_timings: bool = True) -> list[LaunchRow]:
    """One :class:`LaunchRow` per entry of ``capture.launches``, in replay order."""
    return [LaunchRow(
        launch["index"], launch["phase"], launch["function"], kernels_text(launch["kernels"]),
        arrays_text(launch["inputs"], launch["output"]),
        f"{launch['seconds'] * 1e6:.1f}" if show_timings and launch["seconds"] is not None
        else "", launch["replay"]) for launch in capture.launches]


def eager_nodes(trace: Trace) -> dict[str, int]:
    """How many Python-level nodes the eager iteration had in each phase."""
    counts = Counter(event.phase for event in trace.events)
    return {phase: counts.get(phase, 0) for phase in (*PHASES, *sorted(set(counts) - set(PHASES)))}


def captured_calls(capture: StepCapture) -> dict[str, tuple[int, int]]:
    """Per phase: (kernel calls captured, of which a replay runs)."""
    counts: dict[str, list[int]] = {phase: [0, 0] for phase in PHASES}
    for launch in capture.launches:
        count = counts.setdefault(launch["phase"], [0, 0])
        count[0] += 1
        count[1] += launch["replay"] not in FREE_REPLAYS
    return {phase: (total, run) for phase, (total, run) in counts.items()}


def comparison(trace: Trace, capture: StepCapture) -> list[tuple[str, str, str]]:
    """``(phase, eager nodes, captured calls)`` rows, then a ``total`` row: what the JIT
    kept of the eager iteration, phase by phase."""
    nodes, calls = eager_nodes(trace), captured_calls(capture)
    table = []
    for phase in dict.fromkeys((*nodes, *calls)):
        node_count, (total, run) = nodes.get(phase, 0), calls.get(phase, (0, 0))
        if node_count or total:
            table.append((phase, str(node_count), f"{total} ({run} run)"))
    runs = sum(run for _, run in calls.values())
    table.append(("total", str(sum(nodes.values())), f"{len(capture.launches)} ({runs} run)"))
    return table


def summary(trace: Trace, capture: StepCapture) -> str:
    """What the eager iteration did, and what the replay does instead (two sentences)."""
    nodes = sum(eager_nodes(trace).values())
    if capture.refused:
        return f"Eager: {nodes} Python-level nodes. Not captured — {capture.refused}"
    runs = sum(run for _, run in captured_calls(capture).values())
    return (f"Eager: {nodes} nodes, each a Python op call (dtype and shape checks, new "
            f"Tensors, an autograd node). Captured: {len(capture.launches)} kernel calls on "
            f"fixed arrays; a replay runs {runs} of them and nothing else.")


HEADER = ("#", "phase", "call", "kernels", "µs", "arrays read → written", "replay")


def text(trace: Trace, capture: StepCapture, show_timings: bool = True) -> str:
    """The whole view as plain text (``numbanet step --headless --launches``)."""
    lines = [f"# captured step of iteration {capture.iteration}: {capture.lesson}",
             textwrap.fill(summary(trace, capture), 100)]
    if capture.refused:
        return "\n".join(lines)
    lines.append("")
    lines.append(f"{'phase':<15}{'eager nodes':>12}   captured calls")
    lines += [f"{phase:<15}{nodes:>12}   {calls}" for phase, nodes, calls in
              comparison(trace, capture)]
    lines.append("")
    table = rows(capture, show_timings)
    call_width = max(len(HEADER[2]), *(len(row.call) for row in table))
    kernel_width = max(len(HEADER[3]), *(len(row.kernels) for row in table))
    array_width = max(len(HEADER[5]), *(len(row.arrays) for row in table))
    lines.append(f"{'#':>4}  {'phase':<9}  {HEADER[2]:<{call_width}}  "
                 f"{HEADER[3]:<{kernel_width}}  {'µs':>7}  {HEADER[5]:<{array_width}}  "
                 f"{HEADER[6]}")
    lines += [f"{row.index:>4}  {row.phase:<9}  {row.call:<{call_width}}  "
              f"{row.kernels:<{kernel_width}}  {row.microseconds:>7}  "
              f"{row.arrays:<{array_width}}  {row.replay}" for row in table]
    return "\n".join(lines)


def record(trace: Trace, capture: StepCapture) -> dict:
    """The view as one JSON-ready dict: the capture's launches as ``.launches`` gives them,
    the eager iteration's nodes per phase, and the refusal if any."""
    return {"type": "launches", **capture.as_dict(), "eager_nodes": eager_nodes(trace)}
