"""The banner shown while a lesson is loaded and its first iteration recorded.

The first run of a lesson makes Numba compile every kernel it uses (a second or so each);
later runs load them from the on-disk cache in a moment. Until the first trace arrives the
stepper shows this spinner and says what is happening, so nobody mistakes compilation for
a hang.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import LoadingIndicator, Static

COMPILING_MESSAGE = "compiling kernels (first run only)…"


class RecordingProgress(Vertical):
    """A loading indicator with a message underneath."""

    def __init__(self, iterations: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.iterations = iterations

    def compose(self):
        what = ("one training iteration" if self.iterations == 1
                else f"{self.iterations} training iterations")
        yield LoadingIndicator()
        yield Static(f"Recording {what} — {COMPILING_MESSAGE}", id="progress-message")
        yield Static("", id="progress-detail")

    def set_detail(self, text: str) -> None:
        """A second line, e.g. the kernel being compiled right now."""
        self.query_one("#progress-detail", Static).update(Text(text))

    def show_error(self, text: str) -> None:
        """Replace the spinner by an error (a lesson that failed to load or run)."""
        self.query_one(LoadingIndicator).display = False
        self.query_one("#progress-message", Static).update(Text(text))  # literal text
        self.query_one("#progress-detail", Static).update("press q to quit")
        self.add_class("failed")
