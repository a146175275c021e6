"""``numbanet step --headless --diagnose``: record N iterations, print layer health and the
diagnoses (see :mod:`numbanet.tui.health` for the thresholds), optionally write the figure.

::

    numbanet step --headless --diagnose --iterations 20 my_lesson.py
    numbanet step --headless --diagnose --iterations 20 --figure health.svg   # or .png
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from . import health
from .headless import iteration_line
from .recorder import TraceSource


def run_diagnose(source: TraceSource, iterations: int = 1, stream: TextIO | None = None,
                 figure: str | Path | None = None) -> int:
    """Record ``iterations`` iterations (or load a saved trace), print one header line per
    iteration as it is recorded, then the per-layer table and the diagnoses. Returns the
    exit status: 0, whether or not something was diagnosed."""
    stream = stream or sys.stdout
    traces = source.first_traces() if source.replays_saved_trace else []
    for iteration in range(len(traces) if traces else iterations):
        if not source.replays_saved_trace:
            traces.append(source.record_next())
        stream.write(iteration_line(iteration, traces[iteration]) + "\n")
        stream.flush()
    history = health.healths(traces)
    stream.write("\n".join(health.report(history)) + "\n")
    if figure is not None and history:
        from .health_figure import write_figure

        write_figure(history, Path(figure), f"numbanet: {source.title}")
        stream.write(f"# wrote {figure}\n")
    stream.flush()
    return 0
