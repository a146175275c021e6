"""What if (``w``): type a change, see the iteration recorded again, every node new − old.

:class:`WhatIfPrompt` asks for the change (``weight 2.weight[3, 5] +0.01``, ``input [0, 1]
-0.5`` or ``lr 0.5``); the app records in a worker (:meth:`TraceSource.what_if`) and shows
:class:`WhatIfScreen`: the loss before and after, for a weight the first-order prediction
ε × ∂L/∂w beside the measured Δloss, and a table of every node's change.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..whatif import WhatIf, parse_change, summary

EXAMPLES = ("weight 0.weight[3, 1] +0.01     add ε to one element of a parameter\n"
            "input [0, 1] -0.5               add δ to one element of the batch's inputs\n"
            "lr 0.5                          record the iteration with this learning rate")


class WhatIfPrompt(ModalScreen[str | None]):
    """Ask for one change; dismissed with the text typed (None: cancelled)."""

    DEFAULT_CSS = """
    WhatIfPrompt { align: center middle; }
    #whatif-dialog { width: 90; max-width: 95%; height: auto; border: thick $primary;
                     background: $surface; padding: 1 2; }
    #whatif-examples { color: $text-muted; margin: 1 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, parameters: list[str]):
        """``parameters``: suggestions such as ``0.weight[5, 1]``."""
        super().__init__()
        self.parameters = parameters

    def compose(self) -> ComposeResult:
        with Vertical(id="whatif-dialog"):
            yield Label("What if… (the iteration shown is recorded again, as it was and "
                        "changed)")
            yield Static(EXAMPLES + "\nparameters, each at its element of largest gradient: "
                         + ", ".join(self.parameters), id="whatif-examples")
            first = self.parameters[0] if self.parameters else "0.weight[3, 1]"
            yield Input(placeholder=f"weight {first} +0.01", id="whatif-input")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        try:
            parse_change(message.value)
        except ValueError as error:
            self.notify(str(error), title="Not a change", severity="error")
            return
        self.dismiss(message.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


def differences_table(result: WhatIf) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    for column, justify in (("#", "right"), ("phase", "left"), ("op", "left"),
                            ("mean new − old", "right"), ("largest |new − old|", "right")):
        table.add_column(column, justify=justify)
    for difference in result.differences:
        style = "" if difference.largest > 0 else "dim"
        table.add_row(str(difference.index), difference.phase, difference.op,
                      f"{difference.mean:+.4g}", f"{difference.largest:.4g}"
                      + ("" if difference.exact else " (of the means)"), style=style)
    return table


class WhatIfScreen(ModalScreen[None]):
    """The outcome of one change."""

    DEFAULT_CSS = """
    WhatIfScreen { align: center middle; }
    #whatif-result { width: 110; max-width: 95%; height: 90%; border: thick $primary;
                     background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,q,w", "dismiss(None)", "Close")]

    def __init__(self, result: WhatIf):
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        lines = summary(self.result)
        with VerticalScroll(id="whatif-result"):
            yield Static(Text(lines[0], style="bold"))
            yield Static(Text("\n".join(lines[1:])), id="whatif-summary")
            yield Static(Text("\nEvery node, new − old (dim: unchanged)", style="bold"))
            yield Static(differences_table(self.result), id="whatif-table")
