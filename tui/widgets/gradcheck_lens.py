"""The gradient-check lens (``v``): a node's backward rule against finite differences.

A modal over the stepper. For a backward node it shows, per checked input element, the
gradient its backward rule computed (analytic), the one measured by nudging the input and
re-running the forward (numeric) and their relative error, with the verdict in green or
red; for an ``AccumulateGrad`` node the same for the parameter's whole gradient against
differences of the loss (path mode). The numbers come from the trace (computed while the
iteration was recorded, see :mod:`numbanet.tui.gradcheck`); this widget only lays them out.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from .. import gradcheck
from ..gradcheck import LensTarget


def verdict_style(result: dict | None) -> str:
    if not result:
        return "dim"
    return {"pass": "bold green", "fail": "bold red"}.get(result["status"], "yellow")


class GradcheckLens(ModalScreen[None]):
    """Shows one :class:`~numbanet.tui.gradcheck.LensTarget`; v or escape closes it."""

    BINDINGS = [Binding("escape,v,q", "dismiss", "Close the lens")]

    def __init__(self, target: LensTarget):
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        target, result = self.target, self.target.result
        with Vertical(id="gradcheck-dialog"):
            yield Static(Text.assemble(("Gradient check  ", "bold"), (target.heading, "bold")),
                         id="gradcheck-heading")
            yield Static(Text(gradcheck.summary(result), style=verdict_style(result)),
                         id="gradcheck-verdict")
            yield Static(Text(target.explanation, style="dim italic"),
                         id="gradcheck-explanation")
            table = DataTable(id="gradcheck-table", zebra_stripes=True, cursor_type="row")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("input", "element", "analytic", "numeric", "rel. error", "")
        result = self.target.result
        if not result:
            table.display = False
            return
        for row in gradcheck.rows(result):
            mark = Text("ok", style="green") if row.passed else Text("FAIL", style="bold red")
            table.add_row(Text(row.input_label), Text(row.where),
                          Text(gradcheck.number_text(row.analytic), justify="right"),
                          Text(gradcheck.number_text(row.numeric), justify="right"),
                          Text(gradcheck.error_text(row.error), justify="right",
                               style="" if row.passed else "bold red"), mark)
        table.focus()
