"""The optimizer pane's worked rule: PyTorch's documented update of one element, with its
numbers (see :mod:`numbanet.tui.update_rules`), as rich renderables for the detail pane."""

from __future__ import annotations

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..update_rules import SYMBOLS, WorkedUpdate, n


def worked_rule(work: WorkedUpdate) -> list:
    """Heading, the symbols, one row per rule line (rule = numbers = value), then
    before → after and whether the kernel wrote the same number."""
    where = f"[{', '.join(str(i) for i in work.index)}]" if work.index else "(a scalar)"
    heading = Text.assemble(
        ("    torch.optim." + work.optimizer, "bold"),
        f" as documented, on element {where} of {work.parameter} (gradient ≠ 0):")
    table = Table(box=None, padding=(0, 1), show_header=False, show_edge=False)
    table.add_column(style="italic")
    table.add_column(style="dim")
    table.add_column(justify="right")
    for line in work.lines:
        table.add_row(line.rule, f"= {line.numbers}" if line.numbers else "",
                      "" if line.value is None else f"= {n(line.value)}")
    verdict = "=" if work.agrees else "≠"
    summary = Text.assemble(
        "    before → after: ", (f"{n(work.before)} → {n(work.computed)}", "bold"),
        f"   (the kernel wrote {n(work.recorded)} {verdict} this rule)",
        style="" if work.agrees else "red")
    parts: list = [heading]
    if work.optimizer in SYMBOLS:
        parts.append(Text(f"      {SYMBOLS[work.optimizer]}", style="dim"))
    return parts + [Padding(table, (0, 0, 0, 6)), summary]
