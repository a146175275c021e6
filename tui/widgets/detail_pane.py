"""The detail pane: everything the trace recorded about the current node.

What it shows depends on the kind of node:

- a **forward** (or loss) op: its inputs and outputs — shape, dtype, device and values —
  the tensors it saved for backward, and the gradients its backward twin computed later;
- a **backward** node: the upstream gradient that arrived, the gradients it passed down to
  each input of the forward op, and the saved tensors it used;
- an **AccumulateGrad** node: each gradient contribution reaching the leaf, and the sum;
- an **optimizer** step: each parameter before, the update, and after.

Small tensors are shown in full; large ones as statistics and a histogram of unicode bars.
"""

from __future__ import annotations

import math
import textwrap

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from numbanet.trace import MODULE_TYPES, Event, TensorRecord, Trace

from ..nonfinite import is_nonfinite, offending_lines
from ..tensor_text import (
    describe,
    flat_values,
    format_number,
    histogram_bars,
    histogram_range,
    statistics_text,
    values_text,
)
from ..theme import phase_style
from ..update_rules import worked_updates
from .chain_rule_pane import formula_paragraphs
from .update_rule_view import worked_rule


def origin_text(record: TensorRecord, trace: Trace) -> str:
    """Where a tensor came from: a parameter's name, the node that made it, or its role."""
    if record.name:
        return f"parameter {record.name}" if record.role != "gradient" else record.name
    if record.producer_node_id is not None:
        try:
            producer = trace.event(record.producer_node_id)
            return f"from #{trace.events.index(producer)} {producer.op}"
        except KeyError:
            return f"from node {record.producer_node_id}"
    return record.role


def destination_text(forward_input: TensorRecord, trace: Trace) -> str:
    """Where the gradient of a forward input goes next: its producer, or the leaf itself."""
    if forward_input.name:
        return f"goes to parameter {forward_input.name}"
    if forward_input.producer_node_id is not None:
        return f"goes back to the node that made this input: {origin_text(forward_input, trace)}"
    return f"goes to the {forward_input.role} tensor"


class ValuesView:
    """A small tensor's values, wrapped by numpy to the width the pane has when drawn
    (so rows break between numbers, and again on every resize)."""

    INDENT = 4

    def __init__(self, record: TensorRecord):
        self.record = record

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = values_text(self.record, max(24, options.max_width - self.INDENT))
        yield Text(textwrap.indent(text, " " * self.INDENT))


def tensor_block(label: str, record: TensorRecord | None, note: str = "") -> RenderableType:
    """A tensor as a heading line and its values (small) or statistics and histogram (large)."""
    if record is None:
        return Text.assemble(("  " + label, "bold"), ("  none (no gradient flows here)", "dim"))
    heading = Text.assemble(("  " + label, "bold"), "  ", describe(record),
                            (f"  {note}" if note else "", "dim"))
    if record.values is not None:
        body = ValuesView(record)
    else:
        low, high = histogram_range(record)
        body = Text.assemble(
            "    ", statistics_text(record), "\n    ",
            (f"{format_number(low)} ", "dim"), (histogram_bars(record), "cyan"),
            (f" {format_number(high)}", "dim"), ("  histogram", "dim"))
    return Group(heading, body)


def section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def event_heading(index: int, event: Event, trace: Trace) -> Text:
    """``#12 MmBackward0  backward  in Net.fc1 (Linear)``."""
    kind = trace.metadata.get(MODULE_TYPES, {}).get(event.module_path)
    where = f"  in {event.module_path}" + (f" ({kind})" if kind else "") \
        if event.module_path else "  (outside any module)"
    return Text.assemble((f"#{index} {event.op}", "bold reverse"), "  ",
                         (event.phase, phase_style(event.phase)), where)


def forward_sections(event: Event, trace: Trace, backward: Event | None) -> list:
    """Inputs, outputs, saved tensors and — from the backward twin — gradients."""
    parts: list = [section("Inputs")]
    parts += [tensor_block(f"input {i}", record,
                           origin_text(record, trace) if record is not None else "")
              for i, record in enumerate(event.inputs) if record is not None]
    parts.append(section("Outputs"))
    parts += [tensor_block(f"output {i}", record) for i, record in enumerate(event.outputs)]
    if event.saved:
        parts.append(section("Saved for backward"))
        parts += [tensor_block(f"saved {i}", record) for i, record in enumerate(event.saved)]
    if backward is not None:
        where = f"computed by #{trace.events.index(backward)} {backward.op}"
        parts.append(section(f"Gradients ({where})"))
        parts += [tensor_block("∂L/∂output", record) for record in backward.inputs]
        parts += [tensor_block(f"∂L/∂input {i}", record)
                  for i, record in enumerate(backward.outputs)
                  if i < len(event.inputs) and event.inputs[i] is not None]
    return parts


def backward_sections(event: Event, trace: Trace, forward: Event | None) -> list:
    """The upstream gradient, the gradients passed down, and the saved tensors used."""
    parts: list = []
    if forward is not None:
        parts.append(Text(f"differentiates #{trace.events.index(forward)} {forward.op} "
                          "(its forward op)", style="italic"))
    parts.append(section("Upstream gradient arriving (∂L/∂output)"))
    parts += [tensor_block(f"∂L/∂output {i}", record) for i, record in enumerate(event.inputs)]
    parts.append(section("Gradients passed down (∂L/∂input)"))
    for i, record in enumerate(event.outputs):
        note = ""
        if forward is not None and i < len(forward.inputs) and forward.inputs[i] is not None:
            note = destination_text(forward.inputs[i], trace)
        parts.append(tensor_block(f"∂L/∂input {i}", record, note))
    if event.saved:
        parts.append(section("Saved tensors used"))
        parts += [tensor_block(f"saved {i}", record) for i, record in enumerate(event.saved)]
    return parts


def accumulate_sections(event: Event, trace: Trace) -> list:
    """Each contribution to a leaf's gradient, and the gradient it ends up with."""
    leaf = event.attributes.get("parameter", "the leaf tensor")
    parts: list = [section(f"Gradient contributions reaching {leaf}")]
    for contribution in event.contributions:
        sender = ("the seed of backward()" if contribution.from_node_id is None
                  else origin_text_of_node(contribution.from_node_id, trace))
        parts.append(tensor_block("contribution", contribution.gradient, f"from {sender}"))
    parts.append(section("Accumulated gradient (.grad)"))
    parts += [tensor_block(".grad", record) for record in event.outputs]
    return parts


def origin_text_of_node(node_id: int, trace: Trace) -> str:
    try:
        sender = trace.event(node_id)
    except KeyError:
        return f"node {node_id}"
    return f"#{trace.events.index(sender)} {sender.op}"


def optimizer_sections(event: Event, trace: Trace | None = None) -> list:
    """Per parameter, a table of before, gradient, update and after (after = before + update),
    and the optimizer's documented rule worked on one element (when the trace has it)."""
    parts: list = [section("Parameters updated (after = before + update)")]
    worked = {work.parameter: work for work in worked_updates(trace.metadata)} \
        if trace is not None else {}
    for update in event.updates:
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
        table.add_column(Text(update.name), style="bold", min_width=10)  # literal: no markup
        for statistic in ("mean", "std", "min", "max"):
            table.add_column(statistic, justify="right")
        for label, record in (("before", update.before), ("gradient", update.gradient),
                              ("update", update.update), ("after", update.after)):
            if record is not None:
                table.add_row(label, *(format_number(record.stats.get(statistic, math.nan))
                                       for statistic in ("mean", "std", "min", "max")))
        parts += [Text(""), Padding(table, (0, 0, 0, 2))]
        if update.name in worked:
            parts += worked_rule(worked[update.name])
            continue
        example = update_example(update.before, update.update, update.after)
        if example:
            parts.append(Text(f"    {example}", style="italic"))
    return parts


def update_example(before: TensorRecord, update: TensorRecord, after: TensorRecord) -> str:
    """``first element: 0.5 + (-0.02) = 0.48`` with six digits, so a small step shows."""
    values = [flat_values(record) for record in (before, update, after)]
    if not (before.shape == update.shape == after.shape) or not all(values):
        return ""
    first = [record_values[0] for record_values in values]  # flat element 0 is always kept
    return f"first element: {first[0]:.6g} + ({first[1]:.6g}) = {first[2]:.6g}"


class DetailPane(VerticalScroll):
    """A scrolling pane describing the current node; call :meth:`show` to change it."""

    def compose(self):
        yield Static(id="detail-body")

    def show(self, index: int, event: Event, trace: Trace,
             forward: Event | None, backward: Event | None) -> None:
        """Describe ``event``, the node at ``index`` of ``trace``.

        ``forward`` is the forward op a backward node differentiates; ``backward`` the
        backward node of a forward op (either may be None).
        """
        parts: list = [event_heading(index, event, trace)]
        if event.source:
            parts.append(Text(event.source, style="dim"))
        if event.attributes:
            parts.append(Text("  ".join(f"{key}={value}" for key, value
                                        in event.attributes.items()), style="dim"))
        if any(is_nonfinite(record) for record in event.outputs):
            produced = not any(is_nonfinite(record) for record in event.inputs)
            parts.append(section("NaN/Inf " + ("produced here" if produced
                                               else "in the output (an input held some)")))
            parts += [Text(f"  {line}", style="red") for line in offending_lines(event)]
        if event.formula and event.phase != "backward":  # backward: the chain-rule pane
            parts.append(section("Formula (from the op's docstring)"))
            parts += [Text(f"  {paragraph}", style="italic")
                      for paragraph in formula_paragraphs(event.formula)]
        if event.phase == "optimizer":
            parts += optimizer_sections(event, trace)
        elif event.op == "AccumulateGrad":
            parts += accumulate_sections(event, trace)
        elif event.phase == "backward":
            parts += backward_sections(event, trace, forward)
        else:
            parts += forward_sections(event, trace, backward)
        self.query_one("#detail-body", Static).update(Group(*parts))
        self.scroll_home(animate=False)
