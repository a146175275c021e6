"""The kernel lens screen (``t``): which GPU thread wrote which element of the output.

The node's CUDA kernel is re-run thread by thread under numba's CUDA simulator (in a helper
process, see :mod:`numbanet.kernel_lens`), every element access logged. The screen shows:

- the **output grid**: one cell per output element, holding the number of the thread that
  wrote it, coloured by that thread (``b``: by its block instead); ``·`` marks an element
  nobody wrote, a red ``✗`` one written by several threads — a race;
- for the **selected element** (arrow keys), the thread that wrote it and every element
  that thread read before writing it, with the values — the global reads that fed it and,
  for the tiled matmul, the shared-memory tile elements;
- with ``enter``, the **selected thread**'s accesses in the order it made them, with the
  ``syncthreads`` barriers between them, and the tile elements it loaded for its block;
- the lens's **facts**: races, elements never written, out-of-range accesses, global reads
  per output, reads the shared tiles saved, shared memory step by step;
- with ``s``, the **shared-memory tiles** (the tiled matmul): each input element in its
  matrix, marked with the thread of the block that copied it into shared memory;
- with ``c``, the same for the CPU kernel's ``prange`` loop where it has one: which
  iteration (each may run on another core) wrote which element.
"""

from __future__ import annotations

import math

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from numbanet import kernel_lens
from numbanet.trace import Event

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#3182bd"]
READS_SHOWN = 24  # reads listed for one element; the rest are counted
ACCESSES_SHOWN = 80  # accesses listed for one thread


def cell_style(number: int) -> Style:
    return Style(color="white", bgcolor=PALETTE[number % len(PALETTE)])


def place_text(launch: dict, row: list) -> str:
    """``a[5, 0]``: the element an access touched, in its array's own shape."""
    info = launch["arrays"][row[kernel_lens.ARRAY]]
    index = row[kernel_lens.INDEX]
    if isinstance(index, list):
        return f"{row[kernel_lens.ARRAY]}{index} OUTSIDE the array"
    if len(info["shape"]) > 1:
        return f"{row[kernel_lens.ARRAY]}{list(_unravel(index, info['shape']))}"
    return f"{row[kernel_lens.ARRAY]}[{index}]"


def access_text(launch: dict, row: list) -> str:
    """``read  a[5, 0] = 0.625  line 95``: one access (``(shared)`` for shared memory)."""
    value = row[kernel_lens.VALUE]
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    arrow = "read " if row[kernel_lens.KIND] == "r" else "write"
    memory = " (shared)" if launch["arrays"][row[kernel_lens.ARRAY]]["memory"] == "shared" \
        else ""
    return f"{arrow} {place_text(launch, row)}{memory} = {shown}  line {row[kernel_lens.LINE]}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _unravel(index: int, shape: list[int]) -> tuple[int, ...]:
    coordinates = []
    for extent in reversed(shape):
        index, coordinate = divmod(index, extent)
        coordinates.append(coordinate)
    return tuple(reversed(coordinates))


class KernelLensScreen(ModalScreen[None]):
    """The lens on ``event``'s kernel, over the whole window (modal, so the stepper's
    arrow keys move the lens's cursor instead of the stepper). ``lens`` (a recorded
    :class:`KernelLens`) skips the recording, as tests and a replayed lens do."""

    BINDINGS = [
        Binding("escape,q,t", "dismiss", "Close lens"),
        Binding("enter", "toggle_thread", "Thread's accesses"),
        Binding("b", "toggle_colour", "Colour by block/thread"),
        Binding("s", "toggle_tiles", "Shared tiles"),
        Binding("c", "switch_device", "GPU threads / CPU prange loop"),
    ]

    DEFAULT_CSS = """
    KernelLensScreen #lens-body { height: 1fr; }
    KernelLensScreen #lens-grid { width: auto; max-width: 60%; height: 1fr;
                                  border: round $primary 50%; }
    KernelLensScreen #lens-side { width: 1fr; height: 1fr; border: round $secondary 50%;
                                  padding: 0 1; }
    KernelLensScreen #lens-header { height: auto; padding: 0 1; }
    """

    def __init__(self, event: Event, lens: kernel_lens.KernelLens | None = None):
        super().__init__()
        self.event = event
        self.lens = lens
        self.colour_by_block = False
        self.show_thread = False
        self.show_tiles = False
        self.selected: tuple[int, int] = (0, 0)
        self.details_plain = ""
        self.grid: list[list[int]] = []
        self.shared: dict = {}
        self.loaders: dict = {}
        self.findings: list[Text] = []
        self.device = "cuda" if lens is None else lens.request.get("device", "cuda")

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Kernel lens — node {self.event.node_id} {self.event.op}: "
                          "recording every thread in the CUDA simulator…", style="bold"),
                     id="lens-header")
        with Horizontal(id="lens-body"):
            yield DataTable(id="lens-grid", cursor_type="cell", zebra_stripes=False)
            with VerticalScroll(id="lens-side"):
                yield Static(id="lens-details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#lens-grid").border_title = "Output: writer thread"
        self.query_one("#lens-grid").border_subtitle = ("arrows: element · enter: thread ·"
                                                        " s: tiles · b: blocks · c: CPU")
        self.query_one("#lens-side").border_title = "Element"
        if self.lens is None:
            self.record_lens()
        else:
            self.lens_ready(self.lens)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def record_lens(self) -> None:
        try:
            lens = kernel_lens.record(self.event, device=self.device)
        except Exception as error:  # no lens for this node, or the helper failed: say why
            self.app.call_from_thread(self.lens_failed, f"{type(error).__name__}: {error}")
            return
        self.app.call_from_thread(self.lens_ready, lens)

    def lens_failed(self, message: str) -> None:
        self.query_one("#lens-header", Static).update(Text(message, style="bold red"))

    def lens_ready(self, lens: kernel_lens.KernelLens) -> None:
        self.lens = lens
        launch = lens.launch
        # computed once: each walks every access (tens of thousands for the matmul)
        self.grid = lens.output_grid()
        self.shared = kernel_lens.shared_writes(launch)
        self.loaders = kernel_lens.tile_loaders(launch)
        self.findings = [Text(line) for line in kernel_lens.findings(lens)]
        self.query_one("#lens-header", Static).update(Text.assemble(
            (f"Kernel lens — node {self.event.node_id} {self.event.op}: "
             f"{launch['kernel'].rsplit('.', 1)[-1]}", "bold"),
            f"  grid {launch['grid']} × block {launch['block']}\n",
            (lens.request["note"], "italic" if lens.request.get("example") else "")))
        self.query_one("#lens-grid").border_title = (
            f"Output {lens.output}: writer " + ("iteration (CPU prange loop)" if lens.is_loop
                                               else "thread (GPU)"))
        self.fill_grid()
        self.show_selection()

    # ---- the grid ------------------------------------------------------------------------
    def fill_grid(self) -> None:
        table = self.query_one("#lens-grid", DataTable)
        table.clear(columns=True)
        grid = self.grid
        width = max(len(str(max((n for row in grid for n in row), default=0))), 2)
        table.add_columns(*(str(column).rjust(width) for column in range(len(grid[0]))))
        per_block = kernel_lens.threads_per_block(self.lens.launch)
        for number, row in enumerate(grid):
            table.add_row(*(self.cell(thread, width, per_block) for thread in row),
                          label=str(number))
        table.move_cursor(row=self.selected[0], column=self.selected[1])

    def cell(self, thread: int, width: int, per_block: int) -> Text:
        if thread == -1:
            return Text("·".rjust(width), style="dim")
        if thread == -2:
            return Text("✗".rjust(width), style="bold white on red")
        colour = thread // per_block if self.colour_by_block else thread
        return Text(str(thread).rjust(width), style=cell_style(colour))

    def on_data_table_cell_highlighted(self, message: DataTable.CellHighlighted) -> None:
        self.selected = (message.coordinate.row, message.coordinate.column)
        self.show_selection()

    def on_data_table_cell_selected(self, message: DataTable.CellSelected) -> None:
        """Enter on a cell: switch between the element's reads and its thread's accesses."""
        self.action_toggle_thread()

    # ---- the side pane -----------------------------------------------------------------------
    def selected_index(self) -> int:
        columns = len(self.grid[0])
        return self.selected[0] * columns + self.selected[1]

    def show_selection(self) -> None:
        if self.lens is None:
            return
        launch, index = self.lens.launch, self.selected_index()
        story = kernel_lens.element_story(launch, self.lens.output, index)
        side = self.query_one("#lens-side")
        parts: list = []
        place = list(_unravel(index, self.lens.request["output_shape"] or [1]))
        if not story["writers"]:
            parts.append(Text(f"{self.lens.output}{place}: no thread wrote this element",
                              style="bold"))
        else:
            writer = story["writers"][-1]
            worker = "iteration" if self.lens.is_loop else "thread"
            parts.append(Text(f"{self.lens.output}{place} = {story['value']:.6g}  written by "
                              f"{kernel_lens.worker_name(self.lens, writer)}"
                              + ("" if self.lens.is_loop else f" (thread {writer})"),
                              style="bold"))
            if len(story["writers"]) > 1:
                parts.append(Text(f"RACE: written by {worker}s {story['writers']}; the last "
                                  "write wins, and which is last depends on timing",
                                  style="bold red"))
            if self.show_tiles and self.loaders:
                side.border_title = "Shared tiles: which thread copied each input element"
                parts += self.tile_lines(writer)
            elif self.show_thread:
                side.border_title = f"{worker.title()} {writer}: every access, in order"
                parts += self.thread_lines(writer)
            else:
                side.border_title = f"Element: what its {worker} read before writing it"
                parts += self.read_lines(story["reads"])
        parts += [Text(""), Text("What the lens found", style="bold underline"),
                  *self.findings]
        self.details_plain = "\n".join(part.plain for part in parts)  # what tests read
        self.query_one("#lens-details", Static).update(Group(*parts))

    def read_lines(self, reads: list[list]) -> list[Text]:
        launch = self.lens.launch
        global_reads = [r for r in reads if launch["arrays"][r[kernel_lens.ARRAY]]["memory"]
                        == "global"]
        shared_reads = [r for r in reads if r not in global_reads]
        lines = [Text(f"It read {_count(len(global_reads), 'global element')}"
                      + (f" and {_count(len(shared_reads), 'shared one')}" if shared_reads
                         else "")
                      + " before writing it:")]
        for row in (global_reads + shared_reads)[:READS_SHOWN]:
            line = "  " + access_text(launch, row)
            shared = launch["arrays"][row[kernel_lens.ARRAY]]["memory"] == "shared"
            origin = kernel_lens.shared_origin(launch, row, self.shared) if shared else None
            if origin is not None:
                line += f"  ← stored by thread {origin['thread']}"
                line += (f" from {place_text(launch, origin['source'])}"
                         if origin["source"] is not None else " without a global read")
            lines.append(Text(line))
        hidden = len(reads) - READS_SHOWN
        if hidden > 0:
            lines.append(Text(f"  … and {hidden} more (enter lists the thread's accesses)",
                              style="dim"))
        return lines

    def tile_lines(self, writer: int) -> list[Text]:
        """Each input that was staged in shared memory, as a grid of the threads (of the
        writer's block) that copied each element; the writer's own copies reversed."""
        launch = self.lens.launch
        per_block = kernel_lens.threads_per_block(launch)
        block = writer // per_block
        lines = [Text(f"Block {block}: every thread copies a few elements into shared "
                      "memory, then (after syncthreads) all of them read the tile. "
                      f"Reversed: the ones thread {writer} copied.")]
        for array, elements in self.loaders.items():
            shape = launch["arrays"][array]["shape"]
            columns, size = (shape[-1] if shape else 1), math.prod(shape)
            width = len(str(max(t for ts in elements.values() for t in ts)))
            lines.append(Text(f"{array} {shape}:", style="bold"))
            for start in range(0, size, columns):
                line = Text("  ")
                for index in range(start, start + columns):
                    copiers = [t for t in elements.get(index, []) if t // per_block == block]
                    if not copiers:
                        line.append("·".rjust(width) + " ", style="dim")
                        continue
                    style = cell_style(copiers[0])
                    if writer in copiers:
                        style += Style(reverse=True, bold=True)
                    label = str(copiers[0]) + ("+" if len(copiers) > 1 else "")
                    line.append(label.rjust(width), style=style)
                    line.append(" ")
                lines.append(line)
        return lines

    def thread_lines(self, writer: int) -> list[Text]:
        launch = self.lens.launch
        barriers = {(b, s): line for b, s, line in launch.get("barriers", [])}
        accesses = kernel_lens.thread_accesses(launch, writer)
        lines, step = [], 0
        for row in accesses[:ACCESSES_SHOWN]:
            while row[kernel_lens.STEP] > step:
                block = row[kernel_lens.BLOCK]
                lines.append(Text(f"  ── syncthreads (line {barriers.get((block, step), '?')})"
                                  " ──", style="yellow"))
                step += 1
            lines.append(Text("  " + access_text(launch, row)))
        if len(accesses) > ACCESSES_SHOWN:
            lines.append(Text(f"  … {len(accesses) - ACCESSES_SHOWN} more", style="dim"))
        loads = [row for row in accesses if row[kernel_lens.KIND] == "w"
                 and launch["arrays"][row[kernel_lens.ARRAY]]["memory"] == "shared"]
        if loads:
            lines.append(Text(f"It loaded {len(loads)} shared tile elements for its whole "
                              "block: " + ", ".join(
                                  f"{r[kernel_lens.ARRAY]}[{r[kernel_lens.INDEX]}]"
                                  for r in loads[:12]) + (" …" if len(loads) > 12 else "")))
        return lines

    # ---- actions ---------------------------------------------------------------------------
    def action_toggle_thread(self) -> None:
        self.show_thread, self.show_tiles = not self.show_thread, False
        self.show_selection()

    def action_toggle_tiles(self) -> None:
        if self.lens is not None and not self.loaders:
            self.notify("this kernel stages nothing in shared memory", timeout=3)
            return
        self.show_tiles, self.show_thread = not self.show_tiles, False
        self.show_selection()

    def action_switch_device(self) -> None:
        """Between the CUDA kernel's threads and the CPU kernel's prange loop."""
        self.device = "cpu" if self.device == "cuda" else "cuda"
        self.lens = None
        self.query_one("#lens-header", Static).update(Text(
            f"Kernel lens — node {self.event.node_id} {self.event.op}: recording the "
            + ("CPU kernel's prange loop, iteration by iteration…" if self.device == "cpu"
               else "CUDA kernel, every thread in the simulator…"), style="bold"))
        self.record_lens()

    def action_toggle_colour(self) -> None:
        if self.lens is None:
            return
        self.colour_by_block = not self.colour_by_block
        self.fill_grid()
        self.notify("coloured by " + ("block" if self.colour_by_block else "thread"),
                    timeout=2)
