"""The breakpoint prompt (``b``): type where ``c`` (continue) should stop.

Accepted: an op name (``relu``, wildcards like ``*Backward``), ``module fc1``, or ``nan``
for the first node whose output holds a NaN or an infinity. ``clear`` removes every
breakpoint. The app parses the text (``Breakpoint.parse``) and reports mistakes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class BreakpointPrompt(ModalScreen[str | None]):
    """Asks for one breakpoint; dismisses with the text typed, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: list[str], modules: list[str] | None = None):
        super().__init__()
        self.current = current
        self.modules = modules or []  # what "module NAME" can name in this model

    def compose(self) -> ComposeResult:
        with Vertical(id="breakpoint-dialog"):
            yield Static("Stop at: an op (relu, *Backward), module NAME, or nan (nan 60: "
                         "search up to 60 new iterations) — then press c to continue to it. "
                         "'clear' removes all.")
            yield Static(Text("current: " + (", ".join(self.current) or "none")),
                         id="breakpoint-current")
            if self.modules:
                yield Static(Text("modules: " + ", ".join(self.modules)),
                             id="breakpoint-modules")
            yield Input(placeholder="relu   |   module fc1   |   nan   |   clear")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.dismiss(message.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
