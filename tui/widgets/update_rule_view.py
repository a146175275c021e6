"""The optimizer pane's worked rule: PyTorch's documented update of one element, with its
numbers (see :mod:`numbanet.tui.update_rules`), as rich text for the detail pane."""

from __future__ import annotations

from rich.text import Text

from ..update_rules import SYMBOLS, WorkedUpdate, n


def worked_rule(work: WorkedUpdate) -> list[Text]:
    """A heading, the symbols, one line per step of the algorithm — ``rule = numbers =
    value`` — then before → after and whether the kernel wrote the same number."""
    where = f"[{', '.join(str(i) for i in work.index)}]" if work.index else "(a scalar)"
    parts = [Text.assemble(("    torch.optim." + work.optimizer, "bold"),
                           f" as documented, on element {where} of {work.parameter} "
                           "(its gradient is not 0):")]
    if work.optimizer in SYMBOLS:
        parts.append(Text(f"      {SYMBOLS[work.optimizer]}", style="dim"))
    for line in work.lines:
        parts.append(Text.assemble(
            "      ", (line.rule, "italic"),
            (f"  = {line.numbers}" if line.numbers and line.value is not None
             and line.numbers != n(line.value) else "", "dim"),
            ("" if line.value is None else f"  = {n(line.value)}", "bold")))
    verdict = "=" if work.agrees else "≠"
    parts.append(Text.assemble(
        "    before → after: ", (f"{n(work.before)} → {n(work.computed)}", "bold"),
        f"   (the kernel wrote {n(work.recorded)} {verdict} this rule)",
        style="" if work.agrees else "red"))
    return parts
