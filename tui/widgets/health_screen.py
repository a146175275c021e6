"""The training-dynamics dashboard (``d``): layer health over the recorded iterations.

One row per layer, one sparkline per statistic — gradient norm, update-to-weight ratio,
activation mean and std, dead ReLU fraction — then the diagnoses with their thresholds.
Choosing a diagnosis (Enter) closes the dashboard on the worst node of the iteration being
viewed; ``e`` writes the same plots as an SVG figure. The numbers come from
:mod:`numbanet.tui.health`; this screen only lays them out.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from numbanet.trace import Trace

from .. import health

BARS = "▁▂▃▄▅▆▇█"
LOG_METRICS = ("grad_norm", "grad_ratio", "update_ratio")


def spark(values: list[float], log: bool = False) -> str:
    """``▁▃▅█`` for a series: one bar per iteration, scaled to its own min and max (log10
    for norms and ratios); ``·`` where a value is missing or not finite."""
    usable = [(math.log10(v) if log else v) if math.isfinite(v) and (v > 0 or not log)
              else None for v in values]
    finite = [v for v in usable if v is not None]
    if not finite:
        return "·" * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    return "".join("·" if v is None else BARS[0 if span == 0 else
                                              round((v - low) / span * (len(BARS) - 1))]
                   for v in usable)


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3g}"


def health_table(history: list[dict]) -> Table:
    """Rows: layers; columns: each statistic's sparkline and its newest value."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("layer")
    for label in health.METRICS.values():
        table.add_column(label)
    for layer in history[-1]["layers"]:
        module = layer["module"]
        cells = []
        for metric in health.METRICS:
            values = health.series(history, module, metric)
            if all(not math.isfinite(v) for v in values):
                cells.append(Text("-", style="dim"))
                continue
            cells.append(Text.assemble((spark(values, metric in LOG_METRICS), "cyan"), " ",
                                       _number(values[-1])))
        table.add_row(Text.assemble(module, (f" {layer['kind']}", "dim")), *cells)
    return table


def thresholds_text() -> Text:
    text = Text("Thresholds\n", style="bold")
    for kind, rule in health.THRESHOLDS.items():
        text.append(f"  {kind}: ", style="bold")
        text.append(f"{rule}\n")
    return text


class HealthScreen(ModalScreen[health.Diagnosis | None]):
    """The dashboard over ``traces``; dismissed with the diagnosis chosen (or None)."""

    DEFAULT_CSS = """
    HealthScreen { align: center middle; }
    #health-dialog { width: 95%; height: 90%; border: thick $primary; background: $surface;
                     padding: 1 2; }
    #health-table { margin: 1 0; }
    #diagnoses { height: auto; max-height: 8; margin: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape,d,q", "dismiss(None)", "Close"),
                Binding("e", "export_figure", "Export SVG")]

    def __init__(self, traces: list[Trace], export_directory: Path | None = None):
        super().__init__()
        self.history = health.healths(traces)
        self.diagnoses = health.diagnose(self.history)
        self.export_directory = export_directory

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="health-dialog"):
            if not self.history:
                yield Static("No layer statistics in these traces: they are recorded for a "
                             "lesson run by this numbanet, not for a saved trace from an "
                             "older one.")
                return
            losses = health.loss_series(self.history)
            yield Static(Text.assemble(
                (f"Layer health over {len(self.history)} iteration(s)", "bold"),
                "   loss ", (spark(losses), "cyan"), f" {_number(losses[-1])}",
                ("   (N in the stepper records more; e writes an SVG)", "dim")))
            yield Static(health_table(self.history), id="health-table")
            yield Static(Text(f"Diagnoses: {len(self.diagnoses) or 'none'}"
                              + ("  — Enter jumps to the worst node" if self.diagnoses
                                 else ""), style="bold"))
            if self.diagnoses:
                yield OptionList(*(Option(f"{d.kind}: {d.message}", id=str(i))
                                   for i, d in enumerate(self.diagnoses)), id="diagnoses")
            yield Static(thresholds_text(), id="thresholds")

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(self.diagnoses[int(message.option.id)])

    def action_export_figure(self) -> None:
        if not self.history:
            return
        from ..health_figure import health_svg

        path = (self.export_directory or Path.cwd()) / "numbanet-health.svg"
        path.write_text(health_svg(self.history), encoding="utf-8")
        self.notify(f"wrote {path}", title="Export")
