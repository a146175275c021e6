"""The timeline: every node of the iteration in execution order, one row each.

The highlighted row is the stepper's current node. Moving the row cursor (arrow keys,
mouse) moves the stepper there, and the stepper's moves move the cursor — the app keeps
the two in step through :class:`Timeline.NodeChosen`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from numbanet.trace import Trace

from ..tensor_text import output_shape_text
from ..theme import phase_style
from .chain_rule_pane import backward_schedule


def short_module_path(path: str) -> str:
    """``Net.fc1`` -> ``fc1``: every layer of one model shares the root, so the table drops
    it (the module tree shows whole paths); a lone root such as ``CrossEntropyLoss`` stays."""
    return path.partition(".")[2] or path or "-"


class Timeline(DataTable):
    """A table of the nodes of one recorded iteration: #, phase, op, output shape, module.

    A backward node's phase carries its step in the backward schedule (``backward 3``):
    the engine's topological order, in which a node waits for every gradient reaching it."""

    @dataclass
    class NodeChosen(Message):
        """The user moved the row cursor to the node at ``index``."""

        index: int

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._shown_index: int | None = None

    def on_mount(self) -> None:
        self.add_columns("#", "phase", "op", "output", "module")

    def show_trace(self, trace: Trace) -> None:
        """Fill the table with ``trace``'s events."""
        self.clear()
        self._shown_index = None
        schedule = backward_schedule(trace)  # backward nodes: their step in the schedule
        for index, event in enumerate(trace.events):
            phase = f"{event.phase} {schedule[index]}" if index in schedule else event.phase
            self.add_row(
                Text(str(index), justify="right"),
                Text(phase, style=phase_style(event.phase)),
                Text(event.op),  # Text, not str: a name with "[/]" is not Rich markup
                output_shape_text(event),
                Text(short_module_path(event.module_path)),
            )

    def show_position(self, index: int) -> None:
        """Put the cursor on row ``index`` (and scroll it into view)."""
        self._shown_index = index
        self.move_cursor(row=index)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        message.stop()
        # Highlights arrive as messages, after the fact: one that no longer matches the
        # cursor is stale, and one that matches show_position's row was not the user.
        if message.cursor_row == self.cursor_row != self._shown_index:
            self._shown_index = message.cursor_row
            self.post_message(self.NodeChosen(message.cursor_row))
