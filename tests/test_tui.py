"""The stepper app driven by Textual's Pilot: keys, panes, breakpoints, workers, export.

Each test is a coroutine run by :func:`run_app_test` (``asyncio.run``), so no pytest
plugin for async tests is needed.
"""

import asyncio
import functools
import io
import json
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import LoadingIndicator, Sparkline, Static
from tui_traces import synthetic_iteration

from numbanet.trace import Trace
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.stepper import PHASES, Position
from numbanet.tui.widgets.help_screen import HelpScreen
from numbanet.tui.widgets.kernel_pane import KernelPane
from numbanet.tui.widgets.module_tree import ModuleTree
from numbanet.tui.widgets.recording_progress import COMPILING_MESSAGE, RecordingProgress

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIZE = (140, 45)


def run_app_test(test):
    """Run an ``async def`` test to completion (pytest still sees its fixtures)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def synthetic_app(**options) -> StepperApp:
    """The app on two hand-made iterations (the second one produces a NaN)."""
    traces = [synthetic_iteration(0.5), synthetic_iteration(0.4, with_nan=True)]
    return StepperApp(traces=traces, show_timings=False, **options)


def pane_text(app: StepperApp, selector: str) -> str:
    """The text a pane shows now (its Rich content, printed without colours)."""
    widget = app.query_one(selector)
    static = widget if isinstance(widget, Static) else widget.query_one(Static)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


class SlowSource(TraceSource):
    """Hands out synthetic iterations; the first waits until the test releases it."""

    def __init__(self):
        super().__init__(None)
        self.release = threading.Event()
        self.recorded = 0

    @property
    def title(self) -> str:
        return "slow synthetic lesson"

    def first_traces(self, iterations: int = 1) -> list[Trace]:
        self.release.wait(timeout=30)
        return [self.record_next() for _ in range(iterations)]

    def record_next(self) -> Trace:
        self.recorded += 1
        return synthetic_iteration(loss_value=1.0 / self.recorded)


@run_app_test
async def test_the_first_node_is_shown():
    app = synthetic_app()
    async with app.run_test(size=SIZE):
        assert app.stepper.position == Position(0, 0)
        assert "#0 Matmul" in pane_text(app, "#detail")
        assert "node #0 of 14" in app.sub_title and "forward" in app.sub_title


@run_app_test
async def test_next_key_walks_through_all_four_phases_in_order():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        phases = [app.stepper.phase]
        for _ in range(13):
            await pilot.press("n")
            phases.append(app.stepper.phase)
        assert list(dict.fromkeys(phases)) == list(PHASES)
        assert app.stepper.event.op == "SGD.step"


@pytest.mark.parametrize("key, phase, index", [("1", "forward", 0), ("2", "loss", 5),
                                               ("3", "backward", 7), ("4", "optimizer", 13)])
@run_app_test
async def test_phase_keys_jump_to_the_start_of_each_phase(key, phase, index):
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right", key)
        assert app.stepper.phase == phase and app.stepper.position.index == index
        assert f"#{index} " in pane_text(app, "#detail")


@run_app_test
async def test_detail_and_chain_rule_show_the_backward_nodes_shapes_and_gradients():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "n", "n", "n")
        detail = pane_text(app, "#detail")
        assert "#10 ReluBackward0" in detail and "differentiates #2 Relu" in detail
        assert "∂L/∂output 0  [1, 2] float32 cpu" in detail
        assert "[[ 0.2 -0.4]]" in detail  # the upstream gradient
        assert "[[0.2 0. ]]" in detail  # the gradient passed down: zero where relu was off
        chain = pane_text(app, "#chain-rule")
        assert "local derivative: d out/d x = 1 if x > 0 else 0" in chain
        assert "at [0, 0]: upstream 0.2 × local 1 = 0.2" in chain


@run_app_test
async def test_a_forward_node_shows_the_gradients_of_its_backward_twin():
    app = synthetic_app()
    async with app.run_test(size=SIZE):
        detail = pane_text(app, "#detail")
        assert "Gradients (computed by #11 MmBackward0)" in detail
        assert "parameter fc1.weight" in detail
        assert "applied later, at #11 MmBackward0" in pane_text(app, "#chain-rule")


@run_app_test
async def test_accumulate_grad_shows_each_contribution_and_the_sum():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "p")
        chain = pane_text(app, "#chain-rule")
        assert "2 gradients reach" in chain
        assert "+ from #11 MmBackward0" in chain and "+ from #9 MmBackward0" in chain
        assert "first element: 0.1 + 0.1 = 0.2" in chain


@run_app_test
async def test_the_optimizer_node_shows_before_update_after():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        detail = pane_text(app, "#detail")
        assert "fc1.weight" in detail and "lr=0.1" in detail
        assert "first element: 0.5 + (-0.02) = 0.48" in detail


@run_app_test
async def test_step_back_restores_the_previous_node():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n")
        assert "#2 Relu" in pane_text(app, "#detail")
        await pilot.press("p")
        assert app.stepper.position == Position(0, 1)
        assert "#1 Add" in pane_text(app, "#detail")
        await pilot.press("4", "backspace")  # back from a jump
        assert app.stepper.position == Position(0, 1)


@run_app_test
async def test_step_out_of_a_module_and_into_the_next():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        assert app.stepper.event.module_path == "Net.act"
        await pilot.press("o")
        assert app.stepper.event.module_path == "Net.fc2"
        await pilot.press("i")  # the rest of Net.fc2's call is skipped: the loss is next
        assert app.stepper.position.index == 5


@run_app_test
async def test_breakpoints_stop_where_they_should():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b", *"relu*", "enter", "c")
        assert app.stepper.event.op == "Relu"
        await pilot.press("c")
        assert app.stepper.event.op == "ReluBackward0"
        assert "breakpoints: op relu*" in app.sub_title
        await pilot.press("b", *"clear", "enter", "b", *"nan", "enter", "c")
        assert app.stepper.position == Position(1, 2)  # the second iteration's NaN
        assert "#2 Relu" in pane_text(app, "#detail")
        await pilot.press("b", *"module", "enter")  # a mistake: no breakpoint added
        assert [b.describe() for b in app.stepper.breakpoints] == ["NaN/Inf"]


@run_app_test
async def test_moving_in_the_timeline_or_the_module_tree_moves_the_stepper():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.stepper.position.index == 2
        tree = app.query_one(ModuleTree)
        leaf = tree._leaves[13]
        tree.select_node(leaf)
        await pilot.pause()
        assert app.stepper.event.op == "SGD.step"


@run_app_test
async def test_kernel_pane_shows_the_kernel_and_its_source():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        assert not app.query_one(KernelPane).display
        await pilot.press("k")
        assert app.query_one(KernelPane).display
        text = pane_text(app, "#kernel")
        assert "numbanet.kernels.cpu.matmul.matmul" in text and "device cpu" in text
        assert "tui/stepper.py:1" in text
        assert "ms" not in text  # timings hidden for deterministic output
        await pilot.press("n")
        assert "No kernel ran for Add" in pane_text(app, "#kernel")
        await pilot.press("k")
        assert not app.query_one(KernelPane).display


@run_app_test
async def test_help_screen_lists_the_keys():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("n")  # keys go to the help screen, not to the stepper
        assert app.stepper.position.index == 0
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@run_app_test
async def test_the_command_palette_runs_the_same_actions():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Optimizer")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.stepper.phase == "optimizer"


@run_app_test
async def test_export_writes_the_trace_and_the_graph(tmp_path):
    app = synthetic_app(export_directory=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        trace = Trace.load(tmp_path / "numbanet-iteration0.json")
        assert len(trace.events) == 14
        svg = tmp_path / "numbanet-iteration0-node7.svg"
        assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
        messages = [notification.message for notification in app._notifications]
        assert any("numbanet-iteration0-node7.svg" in message for message in messages)


@run_app_test
async def test_a_progress_indicator_shows_while_recording():
    source = SlowSource()
    app = StepperApp(source, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        progress = app.query_one(RecordingProgress)
        assert progress.display and progress.query_one(LoadingIndicator).display
        assert COMPILING_MESSAGE in pane_text(app, "#progress-message")
        assert not app.query_one("#body").display
        await pilot.press("n")  # nothing to step through yet: ignored
        source.release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not progress.display and app.query_one("#body").display
        assert app.title == "slow synthetic lesson"
        assert "#0 Matmul" in pane_text(app, "#detail")


@run_app_test
async def test_next_iteration_records_in_a_worker_and_keeps_the_history():
    source = SlowSource()
    source.release.set()
    app = StepperApp(source, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.stepper.traces) == 2 and app.stepper.position == Position(1, 0)
        assert list(app.query_one("#loss-sparkline", Sparkline).data) == [1.0, 0.5]
        await pilot.press("P")
        assert app.stepper.position == Position(0, 0)
        await pilot.press("R")  # restart: a fresh recording, history cleared
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.stepper.traces) == 1


@run_app_test
async def test_a_broken_lesson_shows_its_error(tmp_path):
    lesson = tmp_path / "broken.py"
    lesson.write_text("model = None\n")
    app = StepperApp(TraceSource(lesson))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "does not define" in pane_text(app, "#progress-message")
        assert not app.query_one(LoadingIndicator).display


@run_app_test
async def test_a_saved_trace_replays_without_a_lesson(tmp_path):
    path = tmp_path / "saved.json"
    synthetic_iteration().save(path)
    app = StepperApp(TraceSource(path), show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.title == "synthetic"
        assert app.check_action("restart", ()) is None
        await pilot.press("N")
        assert len(app.stepper.traces) == 1


@run_app_test
async def test_the_built_in_lesson_records_in_a_worker_and_shows_real_kernels():
    app = StepperApp(show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.stepper.trace.metadata["lesson"].startswith("Two spirals")
        assert {event.phase for event in app.stepper.events} == set(PHASES)
        app.stepper.breakpoints = []
        await pilot.press("b", *"Addmm", "enter", "c", "k")
        kernel = pane_text(app, "#kernel")
        assert "matmul" in kernel and "def " in kernel
        await pilot.press("b", *"clear", "enter", "b", *"AddmmBackward0", "enter", "c")
        chain = pane_text(app, "#chain-rule")
        assert "summed over the axes this input was broadcast along" in chain


def test_json_written_by_export_is_a_trace_file(tmp_path):
    trace = synthetic_iteration()
    trace.save(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["format"] == "numbanet-trace"


@pytest.mark.cuda
@run_app_test
async def test_kernel_pane_shows_a_cuda_launch_configuration():
    import numbanet
    from numbanet import trace as tracing

    if not numbanet.cuda.is_available():
        pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")

    inputs = numbanet.randn(4, 3).to("cuda")
    weight = numbanet.randn(3, 2).to("cuda").requires_grad_()
    with tracing.record() as trace:
        (inputs @ weight).relu().sum().backward()
    app = StepperApp(traces=[trace], show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        kernel = pane_text(app, "#kernel")
        assert "device cuda" in kernel and "grid [1, 1, 1] × block [16, 16]" in kernel
        assert "def matmul_kernel" in kernel
        assert "cuda" in pane_text(app, "#detail")
