"""Where a NaN or an infinity first appears, and the search for it over new iterations.

A diverging run goes wrong long before anyone looks: the loss is finite for twenty
iterations, then ``inf``, then ``nan`` everywhere. With a ``nan`` breakpoint, ``c`` in the
stepper keeps recording new iterations — at most a number the user sets, with progress,
cancellable — until one holds a non-finite value, then stops at the *first* node of that
iteration whose output does. Nodes run in execution order, so that node produced it: its
inputs were finite (else an earlier node would have been first).

This module holds the logic without Textual: reading the breakpoint's limit
(``nan 60``), finding the first non-finite node, and naming the offending elements and
the input values at the same positions.
"""

from __future__ import annotations

import math

import numpy as np

from numbanet.trace import Event, TensorRecord, Trace

from .stepper import Breakpoint
from .tensor_text import flat_values, format_number

DEFAULT_SEARCH_LIMIT = 50  # new iterations ``c`` records at most while looking for a NaN
ELEMENTS_SHOWN = 4


def split_search_limit(text: str) -> tuple[str, int | None]:
    """``"nan 60"`` -> ``("nan", 60)``: a NaN breakpoint may say how many new iterations
    ``c`` may record to find one. Anything else comes back unchanged, with None."""
    words = text.split()
    if len(words) == 2 and words[0].lower() in ("nan", "inf", "nonfinite"):
        if not words[1].isdigit() or int(words[1]) < 1:
            raise ValueError(f"'{words[0]} N' needs a whole number of iterations N ≥ 1, "
                             f"not {words[1]!r}")
        return words[0], int(words[1])
    return text, None


def is_nonfinite(record: TensorRecord | None) -> bool:
    return record is not None and bool(record.stats.get("nan") or record.stats.get("inf"))


def first_nonfinite(trace: Trace) -> int | None:
    """The index of the first event with a NaN/Inf in an output, or None."""
    breakpoint = Breakpoint("nonfinite")
    return next((index for index, event in enumerate(trace.events)
                 if breakpoint.matches(event)), None)


def _positions(record: TensorRecord) -> list[tuple[int, float]]:
    """(flat position, value) of the non-finite values a record kept (all of a small
    tensor; the evenly spaced sample of a large one)."""
    values = flat_values(record)
    if record.values is not None:
        positions = range(len(values))
    else:
        positions = np.linspace(0, max(record.numel - 1, 0), len(values)).astype(np.int64)
    return [(int(p), v) for p, v in zip(positions, values, strict=False)
            if not math.isfinite(v)]


def _index_text(flat: int, shape: list[int]) -> str:
    if not shape:
        return "[]"
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, tuple(shape))) + "]"


def offending_lines(event: Event) -> list[str]:
    """Sentences naming the non-finite output elements of ``event`` and, for an
    elementwise op whose inputs have the output's shape, the input values there."""
    lines = []
    for number, output in enumerate(event.outputs):
        if not is_nonfinite(output):
            continue
        counts = " and ".join(f"{output.stats[key]} {label}" for key, label in
                              (("nan", "NaN"), ("inf", "Inf")) if output.stats.get(key))
        label = output.name or f"output {number}"
        lines.append(f"{label} {'[' + ', '.join(map(str, output.shape)) + ']'}: {counts} "
                     f"of {output.numel} values")
        for flat, value in _positions(output)[:ELEMENTS_SHOWN]:
            inputs = []
            if event.elementwise:
                for position, record in enumerate(event.inputs):
                    if record is not None and record.shape == output.shape and \
                            record.values is not None:
                        inputs.append(f"input {position} = "
                                      f"{format_number(flat_values(record)[flat])}")
            lines.append(f"  {label}{_index_text(flat, output.shape)} = {format_number(value)}"
                         + (f"  from {', '.join(inputs)}" if inputs else ""))
        if output.values is None:
            lines.append("  (a large tensor: positions from the recorded sample)")
    for number, record in enumerate(event.inputs):
        if record is not None:
            state = "holds NaN/Inf" if is_nonfinite(record) else "finite"
            lines.append(f"input {number}: {state}, min {format_number(record.stats['min'])}"
                         f" max {format_number(record.stats['max'])}")
    return lines


def search_progress_text(done: int, limit: int, loss: float | None) -> str:
    """``searching for a NaN/Inf: 7 of 50 new iterations, loss 1.2e+30 — escape cancels``."""
    latest = "" if loss is None else f", loss {format_number(float(loss))}"
    return (f"searching for a NaN/Inf: {done} of {limit} new iterations recorded{latest}"
            " — escape cancels")
