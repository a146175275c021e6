"""The chain-rule pane: backpropagation at one node, written with the real numbers.

Every backward node applies the chain rule once. If the forward op computed
``out = f(a, b)`` and the loss is ``L``, then for each input

    ∂L/∂a  =  ∂L/∂out  ×  ∂out/∂a
    (gradient passed down) = (upstream gradient) × (local derivative)

The upstream gradient is what the backward node received; the local derivative is the op's
``Gradient:`` rule (its docstring); the result is what it sends to the node that produced
``a``. For an elementwise op the pane picks one element and shows the multiplication with
its actual values, with the local derivative worked out as result ÷ upstream (only for
elementwise ops: for a matmul or a softmax each output depends on many inputs, and that
quotient would mean nothing).

Where several paths reach the same leaf (a weight used twice, a parameter shared by two
layers) the contributions are *added* — the ``AccumulateGrad`` node — and the pane shows
each one and their sum. For a forward node it points to the backward node that will apply
the rule; for an optimizer step it states the update rule.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from numbanet.trace import SAMPLE_SIZE, Event, TensorRecord, Trace

from ..tensor_text import flat_values, format_number, shape_text, summary_text


def formula_paragraphs(formula: str) -> list[str]:
    """An op docstring's paragraphs, each joined into one line (the terminal re-wraps)."""
    return [" ".join(line.strip() for line in block.splitlines())
            for block in formula.strip().split("\n\n") if block.strip()]


def gradient_rule(formula: str) -> str:
    """The ``Gradient:`` paragraph of an op's docstring (empty when it has none)."""
    for paragraph in formula_paragraphs(formula):
        if paragraph.startswith("Gradient:"):
            return paragraph.removeprefix("Gradient:").strip()
    return ""


def forward_rule(formula: str) -> str:
    """The first paragraph of an op's docstring: its forward formula."""
    paragraphs = formula_paragraphs(formula)
    return paragraphs[0] if paragraphs else ""


def paired_values(first: TensorRecord, second: TensorRecord) -> list[tuple[tuple, float, float]]:
    """``(index, first value, second value)`` at the positions both records kept.

    Two tensors of one shape keep their values at the same flat positions: all of them
    when small, the same evenly spaced sample when large (see ``numbanet.trace``).
    """
    if first.shape != second.shape or first.numel == 0:
        return []
    if first.values is not None and second.values is not None:
        positions = np.arange(first.numel)
    elif first.values is None and second.values is None:
        positions = np.linspace(0, first.numel - 1, SAMPLE_SIZE).astype(np.int64)
    else:
        return []
    shape = tuple(first.shape) or (1,)
    return [(tuple(int(i) for i in np.unravel_index(position, shape)), a, b)
            for position, a, b in zip(positions, flat_values(first), flat_values(second),
                                      strict=False)]


def element_example(upstream: TensorRecord, passed_down: TensorRecord) -> str:
    """``at [0, 1]: upstream 0.2 × local 1 = 0.2``, at the first nonzero upstream element."""
    for index, up, down in paired_values(upstream, passed_down):
        if up != 0 and np.isfinite(up) and np.isfinite(down):
            where = "[" + ", ".join(str(i) for i in index) + "]"
            return (f"at {where}: upstream {format_number(up)} × local "
                    f"{format_number(down / up)} = {format_number(down)}")
    return ""


def broadcast_note(upstream: TensorRecord, passed_down: TensorRecord) -> str:
    """A note when the input was broadcast, so its gradient is a sum over the copies."""
    small, large = passed_down.shape, upstream.shape
    if len(small) > len(large) or passed_down.numel >= upstream.numel:
        return ""
    aligned = large[len(large) - len(small):]
    if all(s in (1, n) for s, n in zip(small, aligned, strict=True)):
        return "summed over the axes this input was broadcast along"
    return ""


def input_name(forward: Event | None, position: int) -> str:
    """A name for the forward op's input ``position``: a parameter's name, else ``input N``."""
    if forward is not None and position < len(forward.inputs):
        record = forward.inputs[position]
        if record is not None and record.name:
            return record.name
    return f"input {position}"


def backward_lines(event: Event, forward: Event | None) -> list[Text]:
    """The chain rule at a backward node: one equation per input that receives a gradient.

    Laid out as::

        ∂L/∂output   [16, 2]                                  (what arrived)
            mean 0 std 0.031 min -0.033 max 0.033
        ∂L/∂input 0  [16, 2]  = ∂L/∂output × ∂output/∂input 0  (what is passed down)
            mean 0 std 0.031 min -0.033 max 0.033
            at [0, 0]: upstream 0.0293 × local 1 = 0.0293     (elementwise ops only)
    """
    upstream = next((record for record in event.inputs if record is not None), None)
    lines = [Text.assemble(("Chain rule", "bold"), "  ∂L/∂input = ∂L/∂output × ∂output/∂input")]
    formula = event.formula or (forward.formula if forward else "")
    if formula:
        lines.append(Text(f"  forward:          {forward_rule(formula)}", style="italic"))
        if gradient_rule(formula):
            lines.append(Text(f"  local derivative: {gradient_rule(formula)}", style="italic"))
    if upstream is None:
        return lines + [Text("  no upstream gradient arrived", style="dim")]
    seed = not upstream.shape and flat_values(upstream) == [1.0]
    # Output element i depends only on input element i (add, relu, dropout, ...): then
    # ∂L/∂a ÷ ∂L/∂out taken element by element *is* the local derivative. The event says so.
    elementwise = event.elementwise or (forward is not None and forward.elementwise)
    names = {position: f"∂L/∂{input_name(forward, position)}"
             for position, record in enumerate(event.outputs) if record is not None}
    width = max([len("∂L/∂output"), *(len(name) for name in names.values())]) + 2
    lines += [Text.assemble(("  " + "∂L/∂output".ljust(width), "bold"), shape_text(upstream),
                            ("   the seed: ∂L/∂L = 1" if seed else "   arrived from above",
                             "dim")),
              Text(f"      {summary_text(upstream)}")]
    for position, name in names.items():
        passed_down = event.outputs[position]
        lines += [Text.assemble(("  " + name.ljust(width), "bold"),
                                f"{shape_text(passed_down)}  = ∂L/∂output × "
                                f"∂output/∂{name.removeprefix('∂L/∂')}"),
                  Text(f"      {summary_text(passed_down)}")]
        example = element_example(upstream, passed_down) if elementwise else ""
        for note in (example, broadcast_note(upstream, passed_down)):
            if note:
                lines.append(Text(f"      {note}", style="green"))
    return lines


def backward_schedule(trace: Trace) -> dict[int, int]:
    """``{event index: step}`` for the backward events: the order the engine ran them in,
    from 0 — a topological order, where a node runs once every gradient reaching it has
    arrived (which is why a fan-in is summed before the node's rule runs)."""
    steps = [index for index, event in enumerate(trace.events) if event.phase == "backward"]
    return {index: step for step, index in enumerate(steps)}


def sender_text(trace: Trace, node_id: int | None) -> str:
    """``#9 MulBackward`` for the event that sent a gradient (``seed`` for backward()'s)."""
    if node_id is None:
        return "seed"
    return next((f"#{i} {e.op}" for i, e in enumerate(trace.events) if e.node_id == node_id),
                f"node {node_id}")


def fan_in_lines(event: Event, trace: Trace) -> list[Text]:
    """At a backward node whose output fed several consumers: each consumer's gradient
    contribution and their sum, the upstream gradient its rule then used."""
    if len(event.contributions) < 2 or event.op == "AccumulateGrad":
        return []
    count = len(event.contributions)
    lines = [Text.assemble(("Fan-in", "bold"), f"  this output was used {count} times: "
                           "∂L/∂output is the sum of the gradients each use sent back "
                           "(added, not assigned)")]
    for contribution in event.contributions:
        lines.append(Text(f"  + from {sender_text(trace, contribution.from_node_id):<22} "
                          f"{shape_text(contribution.gradient)} "
                          f"{summary_text(contribution.gradient)}"))
    total = next((record for record in event.inputs if record is not None), None)
    if total is not None:
        lines.append(Text(f"  = ∂L/∂output {' ' * 15}{shape_text(total)} "
                          f"{summary_text(total)}", style="bold"))
        firsts = [flat_values(c.gradient)[0] for c in event.contributions
                  if c.gradient.shape == total.shape and flat_values(c.gradient)]
        if len(firsts) == count and flat_values(total):
            lines.append(Text(f"      first element: {' + '.join(map(format_number, firsts))}"
                              f" = {format_number(flat_values(total)[0])}", style="green"))
    return lines


def accumulate_lines(event: Event, trace: Trace) -> list[Text]:
    """A fan-in: each gradient contribution, and their sum in ``.grad``."""
    leaf = event.attributes.get("parameter", "this leaf")
    count = len(event.contributions)
    lines = [Text.assemble(("Fan-in", "bold"), f"  {count} gradient"
                           f"{'s' if count != 1 else ''} reach {leaf}; .grad += their sum")]
    for contribution in event.contributions:
        sender = sender_text(trace, contribution.from_node_id)
        lines.append(Text(f"  + from {sender:<22} {shape_text(contribution.gradient)} "
                          f"{summary_text(contribution.gradient)}"))
    total = next((record for record in event.outputs if record is not None), None)
    if total is not None:
        lines.append(Text(f"  = .grad {' ' * 20}{shape_text(total)} {summary_text(total)}",
                          style="bold"))
        firsts = [flat_values(c.gradient)[0] for c in event.contributions
                  if c.gradient.shape == total.shape and flat_values(c.gradient)]
        if len(firsts) == count and count > 1 and total.values is not None:
            addition = " + ".join(format_number(v) for v in firsts)
            lines.append(Text(f"      first element: {addition} = "
                              f"{format_number(flat_values(total)[0])}", style="green"))
    return lines


class ChainRulePane(VerticalScroll):
    """Backpropagation at the current node, with shapes and numbers."""

    def compose(self):
        yield Static(id="chain-rule-body")

    def show(self, event: Event, trace: Trace, forward: Event | None,
             backward: Event | None) -> None:
        """Explain the chain rule for ``event`` (see the module docstring)."""
        if event.op == "AccumulateGrad":
            lines = accumulate_lines(event, trace)
        elif event.phase == "backward":
            lines = backward_lines(event, forward) + fan_in_lines(event, trace)
        elif event.phase == "optimizer":
            rule = ", ".join(f"{k}={v}" for k, v in event.attributes.items())
            lines = [Text.assemble(("Update", "bold"), "  no chain rule here: backward has "
                                   "left each parameter's gradient in .grad, and the "
                                   "optimizer's rule (worked on one element in the Node pane) "
                                   "turns it into a step"),
                     Text(f"  {rule}", style="dim")]
        elif backward is not None:
            index = trace.events.index(backward)
            lines = [Text.assemble(("Chain rule", "bold"), f"  applied later, at #{index} "
                                   f"{backward.op} in the backward pass")]
        else:
            lines = [Text.assemble(("Chain rule", "bold"),
                                   "  no gradient flows through this node "
                                   "(none of its inputs requires grad)")]
        self.query_one("#chain-rule-body", Static).update(Group(*lines))
        self.scroll_home(animate=False)
