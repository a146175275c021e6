"""Heat maps of the current node's small tensors (``m``): coloured grids beside the numbers.

Each tensor of at most 32 × 32 — inputs and outputs kept whole, the module output,
parameter and gradient the probe kept — is drawn as a grid of two-character cells, blue
below 0, white at 0, red above, with its legend (``−limit … 0 … +limit``). The colours and
which tensors are drawn come from :mod:`numbanet.viz.heatmap`.
"""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from numbanet.trace import Event, Trace
from numbanet.viz.heatmap import colour, event_grids, limit_of

LEGEND_STEPS = 11


def _cell(value: float, limit: float, width: int = 2) -> Text:
    red, green, blue = colour(value, limit)
    return Text(" " * width, style=Style(bgcolor=f"rgb({red},{green},{blue})"))


def heat_map(label: str, matrix: list[list[float]]) -> Group:
    """A label with the shape, the grid and its legend."""
    limit = limit_of(matrix)
    heading = Text.assemble((label, "bold"), f"  {len(matrix)} × {len(matrix[0])}",
                            ("  (a vector: one row)" if len(matrix) == 1 else "", "dim"))
    rows = [Text("  ").append_text(Text("").join(_cell(v, limit) for v in row))
            for row in matrix]
    legend = Text.assemble(f"  {-limit:.3g} ")
    for step in range(LEGEND_STEPS):
        legend.append_text(_cell(-limit + 2 * limit * step / (LEGEND_STEPS - 1), limit))
    legend.append(f" {limit:.3g}   (white: 0; yellow: NaN or inf)")
    return Group(heading, *rows, legend, Text(""))


class HeatMapScreen(ModalScreen[None]):
    """The heat maps of one event."""

    DEFAULT_CSS = """
    HeatMapScreen { align: center middle; }
    #heatmap-dialog { width: 100; max-width: 95%; height: 90%; border: thick $primary;
                      background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,m,q", "dismiss(None)", "Close")]

    def __init__(self, index: int, event: Event, trace: Trace):
        super().__init__()
        self.grids = event_grids(event, trace)
        self.title_text = f"#{index} {event.op}"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="heatmap-dialog"):
            yield Static(Text.assemble((f"Heat maps of {self.title_text}", "bold"),
                                       ("   blue < 0 < red, one scale per map", "dim")))
            if not self.grids:
                yield Static("No tensor of this node is small enough to draw (at most 32 × "
                             "32, kept whole by the trace or the probe).", id="heatmap-none")
            for number, (label, matrix) in enumerate(self.grids):
                yield Static(heat_map(label, matrix), id=f"heatmap-{number}")
