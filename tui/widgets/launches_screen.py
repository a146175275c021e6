"""The captured-step screen (``j``): the iteration as ``numbanet.compile`` replays it.

A modal over the stepper. At the top, what the eager iteration was (its Python-level nodes,
phase by phase) beside what the capture kept (kernel calls, and how many of them a replay
runs); below, the flat list itself — one row per kernel call with its phase, the backend
function, the Numba kernels it launched, their time while the capture ran and the arrays
it read and wrote. The capture runs in a worker (it runs the step twice); until it is in,
the screen says so. A step that cannot be captured shows the reason instead of a list.
The rows and texts come from :mod:`numbanet.tui.launches`; this widget only lays them out.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from numbanet.jit import StepCapture
from numbanet.trace import Trace

from .. import launches
from ..theme import phase_style


class LaunchesScreen(ModalScreen[None]):
    """Shows the captured step of ``trace``'s iteration; ``capture`` None: still running
    (call :meth:`show` when it is in). Escape, j or q closes it."""

    BINDINGS = [Binding("escape,j,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    LaunchesScreen {
        align: center middle;
    }
    #launches-dialog {
        width: 100%;
        height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    #launches-heading {
        height: 1;
    }
    #launches-top {
        height: auto;
        margin: 0 0 1 0;
    }
    #launches-summary {
        width: 1fr;
        padding: 0 2 0 0;
    }
    #launches-comparison {
        width: auto;
    }
    #launches-table {
        height: 1fr;
    }
    """

    def __init__(self, trace: Trace, iteration: int, capture: StepCapture | None = None,
                 show_timings: bool = True):
        super().__init__()
        self.trace = trace
        self.iteration = iteration
        self.capture = capture
        self.show_timings = show_timings  # False: no µs column (snapshot tests)

    def compose(self) -> ComposeResult:
        with Vertical(id="launches-dialog"):
            yield Static(id="launches-heading")
            with Horizontal(id="launches-top"):
                yield Static(id="launches-summary")
                yield Static(id="launches-comparison")
            yield DataTable(id="launches-table", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        dialog = self.query_one("#launches-dialog")
        dialog.border_title = "Captured step"
        dialog.border_subtitle = "↑↓ · ←→ columns · enter: whole row · esc"
        if self.capture is None:
            self.query_one("#launches-heading", Static).update(
                Text(f"Capturing the step of iteration {self.iteration}…", style="bold"))
            self.query_one("#launches-summary", Static).update(Text(
                "numbanet.compile runs the lesson's step eagerly once, then records the "
                "kernel calls of a second run; the lesson is put back as it was afterwards."))
            self.query_one(DataTable).display = False
        else:
            self.show(self.capture)

    def show(self, capture: StepCapture) -> None:
        """Lay out ``capture`` (the worker calls this when the capture is in)."""
        self.capture = capture
        self.query_one("#launches-heading", Static).update(Text.assemble(
            (f"Iteration {capture.iteration} as a JIT runs it", "bold"), "  ",
            (capture.lesson, "dim"), no_wrap=True, overflow="ellipsis"))
        self.query_one("#launches-summary", Static).update(
            Text(launches.summary(self.trace, capture),
                 style="bold red" if capture.refused else ""))
        table = self.query_one(DataTable)
        if capture.refused:
            table.display = False
            self.query_one("#launches-dialog").border_subtitle = "esc closes"
            return
        self.query_one("#launches-comparison", Static).update(self._comparison(capture))
        table.clear(columns=True)
        columns = launches.HEADER if self.show_timings else tuple(
            column for column in launches.HEADER if column != "µs")
        table.add_columns(*columns)
        for row in launches.rows(capture, self.show_timings):
            cells = [Text(str(row.index), justify="right"),
                     Text(row.phase, style=phase_style(row.phase)), Text(row.call),
                     Text(row.kernels, style="dim" if row.kernels == "-" else "")]
            if self.show_timings:
                cells.append(Text(row.microseconds, justify="right"))
            cells += [Text(row.arrays), Text(row.replay, style="dim")]
            table.add_row(*cells)
        table.fixed_columns = 3  # #, phase and call stay put while ←→ scroll the rest
        table.display = True
        table.focus()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        """Enter on a row: the whole launch in a note (a narrow terminal cuts the row)."""
        if self.capture is None or not self.capture.launches:
            return
        row = launches.rows(self.capture, self.show_timings)[message.cursor_row]
        time = f"  ·  {row.microseconds} µs" if row.microseconds else ""
        self.notify(f"{row.phase}  ·  {row.call}{time}\nkernels: {row.kernels}\n"
                    f"arrays: {row.arrays or '-'}\nreplay: {row.replay}",
                    title=f"Launch #{row.index}", timeout=8, markup=False)

    def _comparison(self, capture: StepCapture) -> Table:
        grid = Table(box=None, padding=(0, 1), show_edge=False)
        grid.add_column("phase")
        grid.add_column("eager nodes", justify="right")
        grid.add_column("captured (run)", justify="right")
        for phase, nodes, calls in launches.comparison(self.trace, capture):
            grid.add_row(Text(phase, style=phase_style(phase) or "bold"), nodes,
                         calls.replace(" run)", ")"))
        return grid
