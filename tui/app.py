"""``numbanet step``: a debugger for one training iteration, in the terminal.

The app records an iteration of a lesson — forward, loss, backward, optimizer — and lets
you replay it node by node. It is put together from three pieces:

- a :class:`~numbanet.tui.stepper.Stepper`, the cursor over the recorded traces (all the
  navigation logic lives there, and is tested without a terminal);
- the widgets in ``widgets/`` (timeline, module tree, detail, chain-rule and kernel panes,
  sparklines), each told what to show by :meth:`StepperApp.show_current`;
- Textual workers (``@work(thread=True)``) that record iterations and export graphs, so
  the interface keeps answering keys while Numba compiles.

Every key is a ``Binding`` to an ``action_*`` method; the help screen and the command
palette list the same bindings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Static

from numbanet.lesson import lesson_error_text
from numbanet.trace import Trace

from . import gradcheck, nonfinite
from .commands import StepperCommands
from .exercise import Exercise, Session
from .health import Diagnosis, node_index
from .recorder import TraceSource
from .stepper import PHASES, Breakpoint, Position, Stepper
from .whatif import parse_change
from .widgets.breakpoint_prompt import BreakpointPrompt
from .widgets.chain_rule_pane import ChainRulePane
from .widgets.detail_pane import DetailPane
from .widgets.exercise_screen import ExerciseScreen
from .widgets.gradcheck_lens import GradcheckLens
from .widgets.health_screen import HealthScreen
from .widgets.heatmap_screen import HeatMapScreen
from .widgets.help_screen import HelpScreen
from .widgets.history_sparklines import HistorySparklines
from .widgets.kernel_pane import KernelPane
from .widgets.module_tree import ModuleTree
from .widgets.recording_progress import RecordingProgress
from .widgets.search_progress import SearchProgress
from .widgets.timeline import Timeline
from .widgets.whatif_screen import WhatIfPrompt, WhatIfScreen


def _navigation(key: str, action: str, description: str, tooltip: str, show: bool = True):
    """A key that works whatever panel has focus (``priority``), shown in the footer."""
    return Binding(key, action, description, show=show, priority=True, tooltip=tooltip)


class StepperApp(App):
    """Replay recorded training iterations node by node.

    ``source`` says where traces come from (a lesson file, the built-in lesson, or a saved
    trace). ``traces`` replays the given ones instead, with no lesson to record more
    (unless a ``source`` is given as well). ``iterations`` is how
    many to record before the first node is shown. ``show_timings=False`` hides wall times
    and compiled-or-cached, which change from run to run (for snapshot tests).
    ``export_directory`` is where the export key writes (the current directory by default).
    """

    TITLE = "numbanet step"
    CSS_PATH = "numbanet.tcss"
    COMMANDS = App.COMMANDS | {StepperCommands}

    # the footer shows them in this order, as far as the terminal is wide: at 80 columns,
    # the keys a first session needs (help, quit, step, break, continue, check) come first
    BINDINGS = [
        _navigation("question_mark", "help", "Help", "all keys and panels"),
        _navigation("q", "quit", "Quit", "quit"),
        _navigation("n,right", "next_node", "Next", "next node (into the next phase at its "
                    "end, into the next iteration after the optimizer)"),
        _navigation("p,left", "previous_node", "Back", "previous node (a replay: nothing "
                    "runs again)"),
        _navigation("i", "step_into", "Into", "step into the next module call (skips the "
                    "rest of this one, unlike n)", show=False),
        _navigation("o", "step_out", "Out", "step out: to the first node after this "
                    "module's call returns", show=False),
        _navigation("b", "set_breakpoint", "Break", "set a breakpoint: op name, "
                    "'module NAME' or 'nan'"),
        _navigation("c", "continue", "Continue", "run to the next breakpoint (with a 'nan' "
                    "breakpoint: records new iterations until one holds a NaN/Inf)"),
        _navigation("escape", "cancel_search", "Cancel", "stop the search for a NaN/Inf",
                    show=False),
        _navigation("v", "gradcheck_lens", "Check", "gradient check at this node: its "
                    "backward rule against finite differences of its forward (at an "
                    "AccumulateGrad: the parameter's whole gradient against the loss)"),
        _navigation("N", "next_iteration", "Next iter", "next iteration (records one more "
                    "when at the newest)"),
        _navigation("P", "previous_iteration", "Prev iter", "previous recorded iteration",
                    show=False),
        _navigation("g,home", "first_node", "First", "first node of this iteration",
                    show=False),
        _navigation("G,end", "last_node", "Last", "last node of this iteration", show=False),
        _navigation("backspace", "go_back", "Go back", "back to where you were before the "
                    "last jump", show=False),
        _navigation("R", "restart", "Restart", "reload the lesson file and record from a "
                    "fresh model", show=False),
        _navigation("k", "toggle_kernel", "Kernel", "show or hide the kernel pane",
                    show=False),
        _navigation("t", "kernel_lens", "Threads", "kernel lens: which GPU thread read and "
                    "wrote which element (the node's CUDA kernel, re-run in the simulator)",
                    show=False),
        # (the footer keeps the keys above, so that they fit 80 columns; ? lists all)
        _navigation("1", "phase('forward')", "Forward", "jump to the first forward node",
                    show=False),
        _navigation("2", "phase('loss')", "Loss", "jump to the first node of the loss",
                    show=False),
        _navigation("3", "phase('backward')", "Backward", "jump to the first backward node",
                    show=False),
        _navigation("4", "phase('optimizer')", "Optimizer", "jump to the optimizer step",
                    show=False),
        _navigation("e", "export", "Export", "write the graph SVG (current node "
                    "highlighted) and the trace JSON to the current directory", show=False),
        _navigation("d", "dashboard", "Dashboard", "layer health over the iterations and "
                    "the diagnoses (vanishing/exploding gradients, dead ReLUs, learning "
                    "rate); Enter on one jumps to its worst node", show=False),
        _navigation("x", "exercise", "Exercise", "the exercise's questions: type a "
                    "prediction, then see the answer (numbanet step --exercise)",
                    show=False),
        _navigation("w", "what_if", "What if", "change a weight element, an input element "
                    "or the learning rate and record this iteration again: every node new "
                    "− old, and Δloss beside ε × ∂L/∂w", show=False),
        _navigation("m", "heat_map", "Heat map", "the current node's small tensors (up to "
                    "32 × 32) as heat maps: blue < 0 < red", show=False),
        _navigation("j", "launches", "Captured step", "this iteration as a JIT runs it: "
                    "numbanet.compile's flat list of kernel calls (phase, kernels, arrays, "
                    "time) beside the eager nodes it replaces", show=False),
    ]

    def __init__(self, source: TraceSource | None = None, *, traces: list[Trace] | None = None,
                 iterations: int = 1, show_timings: bool = True,
                 export_directory: str | Path | None = None, exercise: Exercise | None = None):
        super().__init__()
        self.exercise = exercise  # predict-then-reveal questions (numbanet step --exercise)
        self.session: Session | None = None
        self.source = source if source is not None or traces is not None else TraceSource()
        self.stepper = Stepper()
        self.initial_traces = traces
        self.iterations = max(1, iterations, exercise.iteration + 1 if exercise else 1)
        self.show_timings = show_timings
        self.export_directory = Path(export_directory) if export_directory else None
        self.recording = False
        self.search_limit = nonfinite.DEFAULT_SEARCH_LIMIT  # "nan N" in the prompt sets it
        self._cancel_search = threading.Event()
        self._captures: dict[int, tuple] = {}  # iteration -> (lesson, its captured step)

    @property
    def can_record(self) -> bool:
        """Whether there is a lesson to run more iterations of."""
        return self.source is not None and not self.source.replays_saved_trace

    # ---- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")  # no icon glyph a font may lack
        yield RecordingProgress(self.iterations, id="progress")
        with Horizontal(id="body"):
            with Vertical(id="navigation"):
                yield Timeline(id="timeline")
                yield ModuleTree(id="modules")
            with Vertical(id="inspection"):
                yield DetailPane(id="detail")
                yield ChainRulePane(id="chain-rule")
                yield KernelPane(show_timings=self.show_timings, id="kernel")
        yield HistorySparklines(id="history")
        yield SearchProgress(id="search")
        yield Footer(compact=True)

    PANEL_TITLES = {"#timeline": "Timeline", "#modules": "Modules", "#detail": "Node",
                    "#chain-rule": "Chain rule", "#kernel": "Kernel (k hides)"}

    COMPACT_BELOW = (100, 30)  # columns, rows: narrower or lower is a "compact" terminal

    def format_title(self, title: str, sub_title: str):
        """The header: where you are (iteration, node, phase) first, so a narrow terminal
        cuts the lesson's title, never the position."""
        return super().format_title(sub_title, title) if sub_title else \
            super().format_title(title, sub_title)

    def on_resize(self, event) -> None:
        """In a small terminal the module tree gives its room to the panes that explain
        the node (the chain rule first); ``?`` still lists every panel."""
        width, height = self.COMPACT_BELOW
        self.screen.set_class(event.size.width < width or event.size.height < height,
                              "-compact")

    def on_mount(self) -> None:
        width, height = self.COMPACT_BELOW
        self.screen.set_class(self.size.width < width or self.size.height < height,
                              "-compact")
        for selector, title in self.PANEL_TITLES.items():
            self.query_one(selector).border_title = title
        self.query_one("#body").display = False
        self.query_one("#history").display = False
        if self.initial_traces is not None:
            self.traces_ready(self.initial_traces)
        else:
            self.recording = True
            self.record_first_iterations()

    # ---- workers: recording off the event loop ------------------------------------------
    @work(thread=True, exclusive=True, group="recording", exit_on_error=False)
    def record_first_iterations(self) -> None:
        """Load the lesson and record the first iteration(s), reporting compilations."""
        from numbanet.compile_progress import report_compilation

        progress = self.query_one(RecordingProgress)

        def on_compile(stage: str, kernel_name: str) -> None:
            if stage == "start":
                self.call_from_thread(progress.set_detail, f"compiling {kernel_name}")

        try:
            with report_compilation(on_compile):
                traces = self.source.first_traces(self.iterations)
        except Exception as error:  # a broken lesson: say why, keep the app up
            self.call_from_thread(progress.show_error, lesson_error_text(error))
            return
        finally:
            self.recording = False
        self.call_from_thread(self.traces_ready, traces)

    @work(thread=True, exclusive=True, group="recording", exit_on_error=False)
    def record_another_iteration(self) -> None:
        """Record one more iteration of the lesson and move to it."""
        try:
            trace = self.source.record_next()
        except Exception as error:
            self.call_from_thread(self.notify, lesson_error_text(error),
                                  title="Recording failed", severity="error", markup=False)
            return
        finally:
            self.recording = False
        self.call_from_thread(self.iteration_recorded, trace)

    @work(thread=True, group="export", exit_on_error=False)
    def export_current(self, trace: Trace, iteration: int, index: int, node_id: int) -> None:
        """Write the trace JSON, then the graph SVG with node ``node_id`` highlighted."""
        directory = self.export_directory or Path.cwd()
        stem = f"numbanet-iteration{iteration}-node{index}"  # numbered as on screen
        written, problems = [], []
        trace_path = directory / f"numbanet-iteration{iteration}.json"
        trace.save(trace_path)
        written.append(trace_path.name)
        try:
            from numbanet import viz

            graph = viz.draw(trace, view="both", highlight=node_id)
            svg_path = directory / f"{stem}.svg"
            viz.save(graph, svg_path)
            written.insert(0, svg_path.name)
        except Exception as error:  # the trace is written even when the graph is not
            problems.append(f"graph not written: {type(error).__name__}: {error}")
        self.call_from_thread(self.notify, "\n".join(
            [f"wrote {' and '.join(written)} in {directory}"] + problems),
            title="Export", severity="warning" if problems else "information", markup=False)

    # ---- arriving traces ---------------------------------------------------------------------
    def traces_ready(self, traces: list[Trace]) -> None:
        """The first traces are in: hide the progress banner and show the first node."""
        self.stepper.reset(traces)
        self.query_one(RecordingProgress).display = False
        self.query_one("#body").display = True
        self.query_one("#history").display = True
        if self.source is not None:
            self.title = self.source.title
        elif traces:
            self.title = traces[0].metadata.get("lesson", "numbanet step")
        description = self.source.description if self.source is not None else ""
        if description:  # what the lesson is about, once (? shows it again)
            self.notify(description, title=self.title, timeout=10, markup=False)
        if self.exercise is not None and self.session is None:
            self.session = Session(self.exercise, traces[self.exercise.iteration])
        self.show_iteration()
        self.query_one(Timeline).focus()
        if self.session is not None:
            self.action_exercise()

    def iteration_recorded(self, trace: Trace) -> None:
        self.stepper.add_trace(trace)
        self.stepper.next_iteration()
        self.show_iteration()
        self.notify(f"recorded iteration {len(self.stepper.traces) - 1}: "
                    f"loss {trace.metadata.get('loss', float('nan')):.4g}", timeout=3,
                    markup=False)

    # ---- showing the current node -------------------------------------------------------------
    def show_iteration(self) -> None:
        """Refill the timeline and module tree for the current iteration."""
        trace = self.stepper.trace
        self.query_one(Timeline).show_trace(trace)
        self.query_one(ModuleTree).show_trace(
            trace, f"iteration {self.stepper.position.iteration}")
        self.query_one(HistorySparklines).show_history(self.stepper.traces,
                                                       self.stepper.position.iteration)
        self.show_current()

    def show_current(self) -> None:
        """Point every panel at the stepper's current node."""
        stepper = self.stepper
        index, event, trace = stepper.position.index, stepper.event, stepper.trace
        forward = stepper.forward_event_of(event)
        backward = stepper.backward_event_of(event) if event.phase in ("forward", "loss") \
            else None
        self.query_one(Timeline).show_position(index)
        self.query_one(ModuleTree).show_position(index)
        self.query_one(DetailPane).show(index, event, trace, forward, backward)
        self.query_one(ChainRulePane).show(event, trace, forward, backward)
        kernel_pane = self.query_one(KernelPane)
        if kernel_pane.display:
            kernel_pane.show(event)
        self._hide_unanswered(index)
        breakpoints = ", ".join(b.describe() for b in stepper.breakpoints)
        # numbered from 0 everywhere: timeline, headless, exports, lesson.batch(iteration)
        self.sub_title = (f"iteration {stepper.position.iteration} ({len(stepper.traces)} "
                          f"recorded) · node #{index} of {len(trace.events)} · {event.phase}"
                          + (f" · breakpoints: {breakpoints}" if breakpoints else ""))

    def _move(self, move: Callable[[], object], otherwise: str):
        """Run one stepper move and show where it went — refilling the lists when it changed
        iteration — or tell the user why nothing moved. Returns what the move returned."""
        iteration = self.stepper.position.iteration
        result = move()
        if not result:
            self.notify(otherwise, timeout=3)
        elif self.stepper.position.iteration != iteration:
            self.show_iteration()
        else:
            self.show_current()
        return result

    # ---- which keys work now ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys pass through to dialogs; navigation waits until a trace is recorded."""
        if isinstance(self.screen, ModalScreen):
            return False  # let the dialog's input have the letters and arrows
        if action in ("quit", "help", "command_palette"):
            return True
        if self.stepper.is_empty:
            return None  # shown greyed out in the footer
        if action == "restart" and not self.can_record:
            return None  # a saved trace has no lesson file to read again
        return True

    # ---- actions: one per binding --------------------------------------------------------------
    def action_next_node(self) -> None:
        self._move(self.stepper.next, "last node of the newest iteration — N records another")

    def action_previous_node(self) -> None:
        self._move(self.stepper.previous, "this is the first node")

    def action_phase(self, phase: str) -> None:
        assert phase in PHASES
        self._move(lambda: self.stepper.jump_to_phase(phase),
                   f"this iteration has no {phase} node")

    def action_step_into(self) -> None:
        self._move(self.stepper.step_into, "no module call after this node in this iteration")

    def action_step_out(self) -> None:
        self._move(self.stepper.step_out,
                   "not inside a module call, or nothing runs after it in this iteration")

    def action_first_node(self) -> None:
        self._move(self.stepper.first, "already at the first node")

    def action_last_node(self) -> None:
        self._move(self.stepper.last, "already at the last node")

    def action_go_back(self) -> None:
        self._move(self.stepper.go_back, "no earlier jump to go back from")

    def action_set_breakpoint(self) -> None:
        current = [b.describe() for b in self.stepper.breakpoints]
        self.push_screen(BreakpointPrompt(current, self.module_names()),
                         self._breakpoint_entered)

    def module_names(self) -> list[str]:
        """The model's modules as a ``module NAME`` breakpoint names them (``fc1``)."""
        names = []
        for trace in self.stepper.traces[:1]:
            for event in trace.events:
                name = event.module_path.partition(".")[2]
                if name and name not in names:
                    names.append(name)
        return names

    def _breakpoint_entered(self, text: str | None) -> None:
        if text is None:
            return
        if text.lower() == "clear":
            self.stepper.breakpoints.clear()
            self.notify("breakpoints cleared", timeout=3)
        else:
            try:
                text, limit = nonfinite.split_search_limit(text)
                breakpoint = Breakpoint.parse(text)
            except ValueError as error:
                self.notify(str(error), title="Breakpoint not set", severity="error",
                            markup=False)
                return
            if limit is not None:
                self.search_limit = limit
            modules = self.module_names()
            if breakpoint.kind == "module" and not any(
                    breakpoint.matches(event) for trace in self.stepper.traces
                    for event in trace.events):
                self.notify(f"no module {breakpoint.pattern!r} ran in this model; its modules: "
                            + (", ".join(modules) or "none"), title="Breakpoint not set",
                            severity="error", markup=False)
                return
            self.stepper.breakpoints.append(breakpoint)
            extra = (f" (c records up to {self.search_limit} new iterations to find one)"
                     if breakpoint.kind == "nonfinite" and self.can_record else "")
            self.notify(f"breakpoint: {breakpoint.describe()} — press c to run to it{extra}",
                        timeout=4, markup=False)
        self.show_current()

    def action_continue(self) -> None:
        if not self.stepper.breakpoints:
            self.action_set_breakpoint()
            return
        searching = (any(b.kind == "nonfinite" for b in self.stepper.breakpoints)
                     and self.can_record)
        hit = self.stepper.run_to_breakpoint()
        if hit is None and searching:
            if self.recording:
                self.notify("still recording…", timeout=3)
                return
            self.recording = True
            self._cancel_search.clear()
            self.query_one(SearchProgress).start(self.search_limit)
            self.search_for_nonfinite(self.search_limit)
        elif hit is None:
            self.notify("no breakpoint matches after this node in the recorded iterations "
                        "(N records another)", timeout=3)
        else:
            self.show_iteration()
            if hit.kind == "nonfinite":
                self._announce_nonfinite()
            else:
                self.notify(f"stopped at breakpoint {hit.describe()}", timeout=3,
                            markup=False)

    @work(thread=True, exclusive=True, group="recording", exit_on_error=False)
    def search_for_nonfinite(self, limit: int) -> None:
        """Record up to ``limit`` new iterations, stopping after one that holds a NaN/Inf
        (or when escape sets the cancel flag)."""
        found, done = False, 0
        try:
            while done < limit and not found and not self._cancel_search.is_set():
                trace = self.source.record_next()
                done += 1
                found = nonfinite.first_nonfinite(trace) is not None
                self.call_from_thread(self._search_recorded, trace, done, limit)
        except Exception as error:
            self.call_from_thread(self.notify, lesson_error_text(error),
                                  title="Recording failed", severity="error", markup=False)
        finally:
            self.recording = False
            self.call_from_thread(self._search_finished, found, done)

    def _search_recorded(self, trace, done: int, limit: int) -> None:
        self.stepper.add_trace(trace)
        self.query_one(SearchProgress).advance(done, limit, trace.metadata.get("loss"))
        self.query_one(HistorySparklines).show_history(self.stepper.traces,
                                                       self.stepper.position.iteration)

    def _search_finished(self, found: bool, done: int) -> None:
        self.query_one(SearchProgress).display = False
        if found and self.stepper.run_to_breakpoint() is not None:
            self.show_iteration()
            self._announce_nonfinite()
        elif self._cancel_search.is_set():
            self.notify(f"search cancelled after {done} new iterations, all finite",
                        timeout=4)
        else:
            self.notify(f"no NaN/Inf in {done} new iterations (type 'nan N' at b to search "
                        "longer)", timeout=5)

    def _announce_nonfinite(self) -> None:
        event = self.stepper.event
        self.notify(f"first NaN/Inf: iteration {self.stepper.position.iteration}, "
                    f"#{self.stepper.position.index} {event.op} produced it (Node pane: the "
                    "offending elements)", title="Stopped", timeout=6, markup=False)

    def action_cancel_search(self) -> None:
        if self.query_one(SearchProgress).display:
            self._cancel_search.set()

    def action_next_iteration(self) -> None:
        if self.stepper.next_iteration():
            self.show_iteration()
        elif not self.can_record:
            self.notify("this is the last recorded iteration, and there is no lesson to run "
                        "again (a saved trace)", timeout=4)
        elif self.recording:
            self.notify("still recording the previous iteration…", timeout=3)
        else:
            self.notify(f"recording iteration {len(self.stepper.traces)}…", timeout=3)
            self.recording = True  # set here, not in the worker: a second N must see it
            self.record_another_iteration()

    def action_previous_iteration(self) -> None:
        self._move(self.stepper.previous_iteration, "this is the first iteration")

    def action_restart(self) -> None:
        """Read the lesson file again and record from a fresh model (history cleared)."""
        if self.recording:
            self.notify("still recording…", timeout=3)
            return
        self.source.restart()
        self.stepper.reset([])
        self.query_one("#body").display = False
        self.query_one("#history").display = False
        self.query_one(RecordingProgress).display = True
        self.recording = True
        self.record_first_iterations()

    def action_toggle_kernel(self) -> None:
        kernel_pane = self.query_one(KernelPane)
        kernel_pane.display = not kernel_pane.display
        if kernel_pane.display:
            kernel_pane.show(self.stepper.event)

    def action_kernel_lens(self) -> None:
        from numbanet import kernel_lens

        from .widgets.kernel_lens import KernelLensScreen

        if not kernel_lens.has_lens(self.stepper.event):
            self.notify(f"{self.stepper.event.op}: no kernel with a CUDA twin the lens can "
                        "re-run (views, bookkeeping and some fused kernels have none)",
                        timeout=4)
            return
        self.push_screen(KernelLensScreen(self.stepper.event))

    def action_export(self) -> None:
        position = self.stepper.position
        self.export_current(self.stepper.trace, position.iteration, position.index,
                            self.stepper.event.node_id)

    def action_gradcheck_lens(self) -> None:
        stepper = self.stepper
        if not gradcheck.has_checks(stepper.trace):
            self.notify("this iteration was recorded without gradient checks", timeout=4)
            return
        event = stepper.event
        backward = stepper.backward_event_of(event) if event.phase in ("forward", "loss") \
            else None
        self.push_screen(GradcheckLens(gradcheck.lens_target(
            stepper.trace, stepper.position.index, event, backward)))
    def action_dashboard(self) -> None:
        self.push_screen(HealthScreen(self.stepper.traces, self.export_directory),
                         self._diagnosis_chosen)

    def _diagnosis_chosen(self, diagnosis: Diagnosis | None) -> None:
        if diagnosis is None:
            return
        index = node_index(self.stepper.trace, diagnosis)
        if index is not None:
            self._go_to_index(index)
        self.notify(diagnosis.describe(), title=diagnosis.kind, timeout=8)

    def action_exercise(self) -> None:
        if self.session is None:
            self.notify("no exercise: start with numbanet step --exercise EX.toml", timeout=4)
            return
        self.push_screen(ExerciseScreen(self.session), lambda _: self.show_iteration())

    def _hide_unanswered(self, index: int) -> None:
        """Exercise mode: a node asked about shows nothing until its question is answered;
        while a shape question is open the timeline hides every output shape."""
        session = self.session
        if session is None or self.stepper.trace is not session.trace:
            return
        if any(q.ask == "shape" and q.id not in session.results
               for q in session.exercise.questions):
            timeline = self.query_one(Timeline)
            for row in range(timeline.row_count):
                timeline.update_cell_at(Coordinate(row, 3), "?")
        questions = session.unanswered_at(index)
        if questions:
            hidden = Text.assemble(("hidden until you predict", "bold"), " — press x: ",
                                   "; ".join(q.target() for q in questions))
            self.query_one("#detail-body", Static).update(hidden)
            self.query_one("#chain-rule-body", Static).update(hidden)

    def action_heat_map(self) -> None:
        self.push_screen(HeatMapScreen(self.stepper.position.index, self.stepper.event,
                                       self.stepper.trace))

    def action_what_if(self) -> None:
        if not self.can_record or self.recording:
            self.notify("what-if records the iteration again: it needs a lesson (not a "
                        "saved trace) and no recording under way", timeout=4)
            return
        example = self.stepper.trace.metadata.get("optimizer_example") or {}
        names = [f"{entry['name']}{entry['index']}" if "index" in entry else entry["name"]
                 for entry in example.get("parameters", [])]  # each at its largest gradient
        self.push_screen(WhatIfPrompt(names), self._what_if_entered)

    def _what_if_entered(self, text: str | None) -> None:
        if text:
            self.notify(f"recording iteration {self.stepper.position.iteration + 1} again: "
                        f"{text}", timeout=3)
            self.recording = True
            self.record_what_if(self.stepper.position.iteration, parse_change(text))

    @work(thread=True, exclusive=True, group="recording", exit_on_error=False)
    def record_what_if(self, iteration: int, change) -> None:
        try:
            result = self.source.what_if(iteration, change)
        except Exception as error:
            self.call_from_thread(self.notify, f"{type(error).__name__}: {error}",
                                  title="What if failed", severity="error")
            return
        finally:
            self.recording = False
        self.call_from_thread(self.push_screen, WhatIfScreen(result))

    def action_launches(self) -> None:
        """Open the captured step of this iteration (capturing it first, in a worker)."""
        from .widgets.launches_screen import LaunchesScreen

        trace = self.stepper.trace
        session = self.session
        if session is not None and trace is session.trace and any(
                q.ask == "shape" and q.id not in session.results
                for q in session.exercise.questions):
            self.notify("the captured step lists every array's shape: answer the exercise's "
                        "shape questions first (x)", timeout=4)
            return
        iteration = trace.metadata.get("iteration", self.stepper.position.iteration)
        lesson = self.source.lesson if self.source is not None else None
        cached = self._captures.get(iteration)
        capture = cached[1] if cached is not None and cached[0] is lesson else None
        if capture is None and self.recording:
            self.notify("still recording… (the capture runs the lesson's step too)",
                        timeout=3)
            return
        screen = LaunchesScreen(trace, iteration, capture, show_timings=self.show_timings)
        self.push_screen(screen)
        if capture is None:
            self.recording = True  # no N or what-if while the capture runs the lesson
            self.capture_step(screen, iteration, lesson)

    @work(thread=True, group="capture", exit_on_error=False)
    def capture_step(self, screen, iteration: int, lesson) -> None:
        from . import launches

        try:
            capture = launches.capture_step(self.source, iteration)
        finally:
            self.recording = False
        if capture.refused is None:
            self._captures[iteration] = (lesson, capture)
        self.call_from_thread(self._capture_ready, screen, capture)

    def _capture_ready(self, screen, capture) -> None:
        if screen.is_attached:  # not closed while the capture ran
            screen.show(capture)

    def action_help(self) -> None:
        lesson = (self.title, self.source.description if self.source is not None else "")
        self.push_screen(HelpScreen(self.BINDINGS, lesson))

    # ---- the panels' own navigation -------------------------------------------------------------
    def on_timeline_node_chosen(self, message: Timeline.NodeChosen) -> None:
        self._go_to_index(message.index)

    def on_module_tree_node_chosen(self, message: ModuleTree.NodeChosen) -> None:
        self._go_to_index(message.index)

    def _go_to_index(self, index: int) -> None:
        if self.stepper.is_empty or index == self.stepper.position.index:
            return
        if self.stepper.go_to(Position(self.stepper.position.iteration, index)):
            self.show_current()
