"""What if: change one weight element, one input element or the learning rate, record the
same iteration again, and compare every node, new − old.

A change is typed in the stepper (``w``) as one line::

    weight 2.weight[3, 5] +0.01     # add ε = 0.01 to one element of a parameter
    input [0, 1] -0.5               # add -0.5 to one element of the batch's inputs
    lr 0.5                          # record the iteration with this learning rate

:meth:`numbanet.tui.recorder.TraceSource.what_if` records the iteration twice from the
state it started in — as it was (old) and changed (new) — so the two differ only by the
change. For a weight, the loss should change by about ``ε × ∂L/∂w`` (the first-order
Taylor term): the gradient *is* the answer to "what if this weight were a little larger?".
:func:`first_order` puts the two numbers side by side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from numbanet.trace import TensorRecord, Trace

_CHANGE = re.compile(r"^\s*(?P<kind>weight|input|lr)\s+(?P<rest>.*)$")
_ELEMENT = re.compile(r"^(?P<name>[\w.]*)\s*\[(?P<index>[\d,\s]+)\]\s*(?P<amount>[-+]?[\d.eE+-]+)$")


@dataclass
class Change:
    """One change: ``kind`` weight | input | lr; ``name`` the parameter (weights);
    ``index`` the element; ``amount`` ε added to it, or the new learning rate."""

    kind: str
    amount: float
    name: str = ""
    index: tuple[int, ...] = ()

    def describe(self) -> str:
        if self.kind == "lr":
            return f"learning rate = {self.amount:g}"
        where = f"{self.name}[{', '.join(map(str, self.index))}]" if self.kind == "weight" \
            else f"inputs[{', '.join(map(str, self.index))}]"
        return f"{where} += {self.amount:g}"


def parse_change(text: str) -> Change:
    """Read ``weight NAME[i, j] ±ε``, ``input [i, j] ±δ`` or ``lr VALUE``."""
    match = _CHANGE.match(text)
    if not match:
        raise ValueError("type 'weight 0.weight[3, 1] +0.01', 'input [0, 1] -0.5' or 'lr 0.5'")
    kind, rest = match["kind"], match["rest"].strip()
    if kind == "lr":
        try:
            value = float(rest)
        except ValueError as error:
            raise ValueError(f"lr needs a number, not {rest!r}") from error
        if not value >= 0:
            raise ValueError(f"Invalid learning rate: {value}")
        return Change("lr", value)
    element = _ELEMENT.match(rest)
    if not element:
        raise ValueError(f"{kind}: write the element and the amount, e.g. "
                         + ("'0.weight[3, 1] +0.01'" if kind == "weight" else "'[0, 1] -0.5'"))
    if kind == "weight" and not element["name"]:
        raise ValueError("weight: name the parameter, e.g. 0.weight[3, 1] +0.01")
    index = tuple(int(part) for part in element["index"].replace(",", " ").split())
    return Change(kind, float(element["amount"]), element["name"], index)


@dataclass
class NodeDifference:
    """New − old at one node of the iteration (its main output)."""

    index: int
    op: str
    phase: str
    mean: float  # mean of new − old (exact for small tensors; else of the means)
    largest: float  # largest |new − old| (small tensors), else |Δ mean|
    exact: bool  # whether whole values were compared


@dataclass
class WhatIf:
    """The result of one change: both recordings and what the change did."""

    change: Change
    old: Trace
    new: Trace
    gradient: float | None = None  # ∂L/∂w of the changed weight element, before the change
    differences: list[NodeDifference] = field(default_factory=list)

    @property
    def loss_change(self) -> float:
        return self.new.metadata["loss"] - self.old.metadata["loss"]


def _main_output(event) -> TensorRecord | None:
    outputs = [record for record in event.outputs if record is not None]
    return outputs[0] if outputs else None


def _flat(values) -> list[float]:
    if isinstance(values, list):
        return [item for value in values for item in _flat(value)]
    return [float(values)]


def compare(old: Trace, new: Trace) -> list[NodeDifference]:
    """New − old for every node both recordings have (the same ops, in the same order)."""
    found = []
    for index, (before, after) in enumerate(zip(old.events, new.events, strict=False)):
        if before.op != after.op:
            break  # the change took another path (it should not): stop comparing
        a, b = _main_output(before), _main_output(after)
        if a is None or b is None:
            continue
        if a.values is not None and b.values is not None and a.shape == b.shape:
            deltas = [y - x for x, y in zip(_flat(a.values), _flat(b.values), strict=True)]
            finite = [d for d in deltas if math.isfinite(d)] or [math.nan]
            found.append(NodeDifference(index, before.op, before.phase,
                                        sum(finite) / len(finite),
                                        max(abs(d) for d in finite), True))
        else:
            delta = b.stats.get("mean", math.nan) - a.stats.get("mean", math.nan)
            found.append(NodeDifference(index, before.op, before.phase, delta, abs(delta),
                                        False))
    return found


def first_order(result: WhatIf) -> tuple[float, float] | None:
    """(Δloss measured, ε × ∂L/∂w predicted) for a weight change; None otherwise."""
    if result.change.kind != "weight" or result.gradient is None:
        return None
    return result.loss_change, result.change.amount * result.gradient


def summary(result: WhatIf) -> list[str]:
    """The lines the what-if screen and the tests read."""
    old, new = result.old.metadata["loss"], result.new.metadata["loss"]
    lines = [f"change: {result.change.describe()}",
             f"loss: {old:.6g} → {new:.6g}  (Δloss = {result.loss_change:+.4g})"]
    pair = first_order(result)
    if pair is not None:
        measured, predicted = pair
        lines.append(f"first order: ε × ∂L/∂w = {result.change.amount:g} × "
                     f"{result.gradient:.6g} = {predicted:+.4g}  vs  Δloss {measured:+.4g}"
                     + (f"  ({abs(measured - predicted) / abs(predicted):.1%} apart)"
                        if predicted else ""))
    changed = [d for d in result.differences if d.largest > 0]
    lines.append(f"{len(changed)} of {len(result.differences)} nodes changed")
    return lines
