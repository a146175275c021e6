"""Loss and gradient norm across the recorded iterations, as two sparklines.

One training iteration tells you how backpropagation works; several tell you whether the
network learns. Each press of ``N`` records another iteration and adds a bar: a loss that
falls and a gradient norm that settles mean the optimizer is doing its job; a gradient norm
that explodes is the moment to set a NaN breakpoint.
"""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

from numbanet.trace import Trace

from ..tensor_text import format_number


class HistorySparklines(Horizontal):
    """``loss ▇▅▃▂ 0.41   ‖grad‖ ▂▅▃▂ 0.93`` for the iterations recorded so far."""

    SERIES = (("loss", "loss"), ("gradient_norm", "‖grad‖"))

    def compose(self):
        for key, label in self.SERIES:
            yield Label(label, classes="history-label")
            yield Sparkline([], id=f"{key}-sparkline")
            yield Label("", id=f"{key}-value", classes="history-value")

    def show_history(self, traces: list[Trace], current: int) -> None:
        """Plot every iteration's summary; the values printed are the current iteration's."""
        for key, _ in self.SERIES:
            series = [float(trace.metadata[key]) for trace in traces if key in trace.metadata]
            self.query_one(f"#{key}-sparkline", Sparkline).data = series
            value = traces[current].metadata.get(key) if traces else None
            text = "-" if value is None else format_number(float(value))
            self.query_one(f"#{key}-value", Label).update(
                f"{text}  (iteration {current + 1} of {len(traces)})" if key == "loss" else text)
