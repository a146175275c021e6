"""The help screen (``?``): every key of the stepper, and what the panels show."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANELS = """\
Timeline      every node of the iteration in execution order (arrow keys move along it)
Modules       the model's modules; each lists the nodes that ran inside it
Detail        inputs, outputs, saved tensors and gradients of the current node
Chain rule    upstream gradient × local derivative = gradient passed down, with numbers
Kernel (k)    the Numba function that ran, its source, device, launch and timing
History       loss and gradient norm over the recorded iterations
Check (v)     the gradient check of the node: its backward against finite differences"""


class HelpScreen(ModalScreen[None]):
    """A modal listing ``bindings`` (the app's keys) and the panels."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def __init__(self, bindings: list[Binding], lesson: tuple[str, str] = ("", "")):
        super().__init__()
        self.key_bindings = bindings
        self.lesson = lesson  # (title, description) of the lesson being stepped through

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold cyan")
        keys.add_column()
        for binding in self.key_bindings:
            keys.add_row(" ".join(_key_label(key) for key in binding.key.split(",")),
                         binding.tooltip or binding.description)
        with VerticalScroll(id="help-dialog"):
            title, description = self.lesson
            if description:
                yield Static(Text.assemble((title, "bold"), "\n", description, "\n"))
            yield Static(Text("numbanet step — keys", style="bold"))
            yield Static(keys)
            yield Static(Text("\nPanels", style="bold"))
            yield Static(Text(PANELS))
            yield Static(Text("\nctrl+p opens the command palette with the same actions. "
                              "Escape closes this help.", style="dim"))


def _key_label(key: str) -> str:
    """How a key name reads to a person: ``question_mark`` -> ``?``."""
    return {"question_mark": "?", "right": "→", "left": "←", "backspace": "⌫"}.get(key, key)
