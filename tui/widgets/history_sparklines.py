"""Loss and gradient norm across the recorded iterations, as two sparklines.

One training iteration tells you how backpropagation works; several tell you whether the
network learns. Each press of ``N`` records another iteration and adds a bar: a loss that
falls and a gradient norm that settles mean the optimizer is doing its job; a gradient norm
that explodes is the moment to set a NaN breakpoint.

A diverging run reaches ``inf`` and ``nan``, which a bar cannot show (its height would be
infinite, or undefined): the bars plot the finite values only, and the printed value of a
non-finite one says so, in red, with how many iterations were not finite.
"""

from __future__ import annotations

import math

from rich.text import Text
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
            finite = [value for value in series if math.isfinite(value)]
            self.query_one(f"#{key}-sparkline", Sparkline).data = finite
            value = traces[current].metadata.get(key) if traces else None
            text = Text("-" if value is None else format_number(float(value)))
            if value is not None and not math.isfinite(float(value)):
                text.stylize("bold red")
            if len(finite) < len(series):
                text.append(f" ({len(series) - len(finite)} not finite)", style="red")
            if key == "loss":
                text.append(f"  (iteration {current}; {len(traces)} recorded)")
            self.query_one(f"#{key}-value", Label).update(text)
