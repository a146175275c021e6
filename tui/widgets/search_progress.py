"""The bar shown while ``c`` records new iterations to find a NaN/Inf (escape cancels)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from ..nonfinite import search_progress_text


class SearchProgress(Horizontal):
    """A progress bar over the iterations the search may record, and what it has seen."""

    def compose(self):
        yield ProgressBar(show_eta=False, id="search-bar")
        yield Label("", id="search-label")

    def start(self, limit: int) -> None:
        self.query_one(ProgressBar).update(total=limit, progress=0)
        self.query_one(Label).update(Text(search_progress_text(0, limit, None)))
        self.display = True

    def advance(self, done: int, limit: int, loss: float | None) -> None:
        self.query_one(ProgressBar).update(progress=done)
        self.query_one(Label).update(Text(search_progress_text(done, limit, loss)))
