"""The gradient checks stored in a trace, read for the lens (``v``) and ``--headless``.

While an iteration is recorded with gradient checks (``numbanet.trace.record(gradcheck=
True)``), every backward node is compared with finite differences of its forward, and each
parameter's whole gradient with differences of the loss (the *path* mode). The results are
plain data in the trace (see :mod:`numbanet.autograd.node_check` for how they are
computed):

- ``Event.gradcheck`` of a backward event: ``status`` (pass, fail, skipped), ``max_error``,
  ``tolerance``, ``reason`` (why skipped) and ``inputs``: per input that received a
  gradient, its ``elements`` (index, analytic, numeric, relative error) and, for a large
  input, ``direction`` (the same along one random direction);
- ``trace.metadata["gradcheck_parameters"]``: ``{parameter name: result}`` in that format.

This module turns them into rows and sentences, without Textual, so the lens and the
headless printer say the same thing and tests need no terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numbanet.trace import Event, Trace

from .tensor_text import format_number

PATHS_KEY = "gradcheck_parameters"


@dataclass(frozen=True)
class Row:
    """One checked element (or the random direction) of one input."""

    input_label: str  # "input 0", "hidden.weight"
    where: str  # "[0, 1]" or "direction v"
    analytic: float
    numeric: float
    error: float
    passed: bool


def has_checks(trace: Trace) -> bool:
    """Whether ``trace`` was recorded with gradient checks."""
    return PATHS_KEY in trace.metadata or any(e.gradcheck for e in trace.events)


def error_text(value: float | None) -> str:
    """A relative error as ``3.3e-01`` (always in exponent form: errors span 1e-12 to 1)."""
    return "-" if value is None else f"{value:.1e}"


def verdict(result: dict | None) -> str:
    """``pass``, ``FAIL`` or ``skipped`` (``-`` for a node that was not checked)."""
    if not result:
        return "-"
    return {"pass": "pass", "fail": "FAIL"}.get(result["status"], "skipped")


def rows(result: dict) -> list[Row]:
    """Every checked element of every input, then each input's random direction."""
    table = []
    tolerance = result["tolerance"]
    for item in result["inputs"]:
        label = item.get("name") or f"input {item['input']}"
        for element in item["elements"]:
            where = "[" + ", ".join(str(i) for i in element["index"]) + "]"
            table.append(Row(label, where, element["analytic"], element["numeric"],
                             element["error"], element["error"] <= tolerance))
        if item.get("direction"):
            direction = item["direction"]
            table.append(Row(label, "direction v", direction["analytic"], direction["numeric"],
                             direction["error"], direction["error"] <= tolerance))
    return table


def summary(result: dict | None) -> str:
    """One sentence: the verdict, the largest relative error and the tolerance."""
    if not result:
        return "not checked (no forward op to re-run: a leaf, or recorded without checks)"
    if result["status"] == "skipped":
        return f"skipped: {result['reason']}"
    checked = sum(len(item["elements"]) for item in result["inputs"])
    return (f"{verdict(result)}: largest relative error {error_text(result['max_error'])} "
            f"({'≤' if result['status'] == 'pass' else '>'} tolerance "
            f"{error_text(result['tolerance'])}) over {checked} element"
            f"{'s' if checked != 1 else ''}")


def parameter_result(trace: Trace, event: Event) -> dict | None:
    """The path-mode result of the parameter an ``AccumulateGrad`` event fills."""
    name = event.attributes.get("parameter")
    return trace.metadata.get(PATHS_KEY, {}).get(name) if name else None


def checked_nodes(trace: Trace) -> list[tuple[int, Event]]:
    """(index, event) of every backward node that carries a check, in execution order."""
    return [(index, event) for index, event in enumerate(trace.events) if event.gradcheck]


def node_line(index: int, event: Event) -> str:
    """The headless line of one checked node: index, op, module, error, verdict."""
    result = event.gradcheck
    reason = f"  ({result['reason']})" if result["status"] == "skipped" else ""
    return (f"{index:>4}  {event.op:<24} {event.module_path or '-':<16} "
            f"max rel error {error_text(result['max_error']):>8}  {verdict(result)}{reason}")


def parameter_lines(trace: Trace) -> list[str]:
    """The headless lines of the path mode: one per parameter."""
    return [f"      path  {name:<37} max rel error {error_text(result['max_error']):>8}  "
            f"{verdict(result)}" + (f"  ({result['reason']})"
                                    if result["status"] == "skipped" else "")
            for name, result in trace.metadata.get(PATHS_KEY, {}).items()]


def first_failure(trace: Trace) -> tuple[int, Event] | None:
    """The first backward node (in execution order) whose check failed."""
    return next(((index, event) for index, event in checked_nodes(trace)
                 if event.gradcheck["status"] == "fail"), None)


def failure_sentence(iteration: int, index: int, event: Event, forward: Event | None) -> str:
    """``first failing node: iteration 0, #21 LecunTanhBackward in Net (the backward of
    LecunTanh at lesson.py:52: ...): relative error 3.3e-01 > 1.0e-03``."""
    result = event.gradcheck
    origin = ""
    if forward is not None:
        origin = f" (the backward of {forward.op}" + (
            f" at {forward.source}" if forward.source else "") + ")"
    return (f"first failing node: iteration {iteration}, #{index} {event.op} in "
            f"{event.module_path or '(no module)'}{origin}: relative error "
            f"{error_text(result['max_error'])} > {error_text(result['tolerance'])}")


def number_text(value: float) -> str:
    """A gradient value with enough digits to see a factor off: 7 significant digits."""
    return f"{value:.7g}" if math.isfinite(value) else format_number(value)


@dataclass(frozen=True)
class LensTarget:
    """What the lens shows for the node under the cursor."""

    heading: str  # "#21 LecunTanhBackward (Net)"
    mode: str  # "node" | "path" | "none"
    result: dict | None
    explanation: str  # what was compared, in one sentence


def lens_target(trace: Trace, index: int, event: Event, backward: Event | None) -> LensTarget:
    """The check to show at ``event``: its own (a backward node), its backward node's (a
    forward op), or its parameter's path check (an ``AccumulateGrad``)."""
    where = f" ({event.module_path})" if event.module_path else ""
    if event.op == "AccumulateGrad":
        name = event.attributes.get("parameter", "this leaf")
        return LensTarget(
            f"#{index} {event.op}: {name}", "path", parameter_result(trace, event),
            f"path mode: the whole gradient ∂L/∂{name}, through every node between it and "
            "the loss, against central differences of the loss (float64 copy of the model)")
    if event.phase in ("forward", "loss") and backward is not None:
        event, index = backward, trace.events.index(backward)
        where = f" ({event.module_path})" if event.module_path else ""
    if event.phase == "backward":
        return LensTarget(
            f"#{index} {event.op}{where}", "node", event.gradcheck,
            "this node's backward rule (run in float64 on the recorded inputs and upstream "
            "gradient g) against central differences of its forward: Σ_j g[j]·(y(x+ε)[j] − "
            "y(x−ε)[j]) / 2ε for each checked input element")
    return LensTarget(f"#{index} {event.op}{where}", "none", None,
                      "no gradient flows through this node: nothing to check")
