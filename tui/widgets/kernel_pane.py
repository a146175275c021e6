"""The kernel pane: the Numba functions that actually ran for the current node.

Every op ends in one or more kernel launches (``numbanet.kernels.launch``); the trace kept,
for each, the kernel's qualified name, its device, its CUDA grid and block, whether Numba
compiled it during this run or loaded it from the on-disk cache, the wall time, and where
its source lives. The pane shows that record and the kernel's source, highlighted — the
loop that did the arithmetic, not a black box.

A node with no kernel is worth noticing too: ``reshape``, ``transpose`` and friends only
change a tensor's strides, so no arithmetic runs at all.
"""

from __future__ import annotations

import inspect
import linecache
from pathlib import Path

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.containers import VerticalScroll
from textual.widgets import Static

from numbanet.trace import Event, KernelRecord

from .kernel_reading import comparison_view, elementwise_formula, textbook_case

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def kernel_source(record: KernelRecord) -> tuple[str, int] | None:
    """The source of a kernel (decorators included) and its first line number, or None.

    ``inspect.getblock`` reads from the recorded first line to the end of the function's
    indented block, the same way ``inspect.getsource`` does for a live function.
    """
    if not record.source_file or not record.source_line:
        return None
    lines = linecache.getlines(record.source_file)
    if len(lines) < record.source_line:
        return None
    block = inspect.getblock(lines[record.source_line - 1:])
    return "".join(block), record.source_line


def display_path(source_file: str) -> str:
    """A kernel's file relative to the repository (``numbanet/kernels/cpu/matmul.py``)."""
    path = Path(source_file).resolve()
    try:
        return str(path.relative_to(REPOSITORY_ROOT))
    except ValueError:
        return path.name


def launch_text(launches: list[KernelRecord], show_timings: bool) -> Text:
    """One kernel's launch record: device, grid/block, compiled-or-cached, time, count."""
    record = launches[0]
    parts = [f"device {record.device}"]
    if record.grid is not None:
        parts.append(f"grid {record.grid} × block {record.block}")
    if len(launches) > 1:
        parts.append(f"launched {len(launches)} times")
    if show_timings:
        parts.append(record.compilation)
        # a first iteration's time is mostly Numba's work, not the kernel's: say so
        note = {"compiled now": " (includes compiling it)",
                "loaded from cache": " (includes loading it from the cache)"}.get(
                    record.compilation, "")
        parts.append(f"{sum(launch.seconds for launch in launches) * 1e3:.3f} ms{note}")
    return Text("  " + " · ".join(parts), style="dim")


class KernelPane(VerticalScroll):
    """The kernels of the current node with their sources; toggled by the ``k`` key.

    Long source lines wrap (under their line number), so nothing is cut off.
    """

    def __init__(self, show_timings: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.show_timings = show_timings
        self._comparisons: dict = {}  # (op, shapes, options) -> numbanet.textbook.Comparison
        self._parts: list = []
        self._case = None

    def compose(self):
        yield Static(id="kernel-body")

    def show(self, event: Event) -> None:
        """List ``event``'s kernels, each once, with its source."""
        by_name: dict[str, list[KernelRecord]] = {}
        for record in event.kernels:
            by_name.setdefault(record.name, []).append(record)
        if not by_name:
            parts = [Text(f"No kernel ran for {event.op}: a view or bookkeeping op "
                          "(only shapes and strides change), or work done in Python.",
                          style="italic")]
        else:
            formula = elementwise_formula(event)
            parts = [formula, Text("")] if formula is not None else []
            for name, launches in by_name.items():
                parts += [Text(name, style="bold"), launch_text(launches, self.show_timings)]
                source = kernel_source(launches[0])
                if source is None:
                    parts.append(Text("  (source not available)", style="dim"))
                    continue
                code, first_line = source
                parts.append(Text(f"  {display_path(launches[0].source_file)}:{first_line}",
                                  style="dim"))
                parts.append(Syntax(code, "python", line_numbers=True, start_line=first_line,
                                    theme="monokai", word_wrap=True))
        self._parts, self._case = parts, textbook_case(event)
        if self._case is not None:
            key = repr(self._case)
            if key in self._comparisons:
                parts = parts + [comparison_view(self._comparisons[key])]
            elif self.show_timings:
                parts = parts + [Text("\nTiming the textbook kernel on these shapes…",
                                      style="dim")]
                self.measure(self._case)
        self.query_one("#kernel-body", Static).update(Group(*parts))
        self.scroll_home(animate=False)

    @work(thread=True, exclusive=True, group="textbook", exit_on_error=False)
    def measure(self, case) -> None:
        """Time the textbook and the fast kernel off the event loop (the first time also
        compiles the textbook one), then show the comparison if the node is still shown."""
        from numbanet.textbook import compare

        op, shapes, options = case
        comparison = compare(op, *shapes, **options)
        self.app.call_from_thread(self._measured, case, comparison)

    def _measured(self, case, comparison) -> None:
        self._comparisons[repr(case)] = comparison
        if self._case == case:
            self.query_one("#kernel-body", Static).update(
                Group(*self._parts, comparison_view(comparison)))
