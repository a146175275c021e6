"""The captured step (key ``j``, ``--headless --launches``): a lesson's iteration as the flat
list of kernel calls ``numbanet.compile`` replays, beside the eager iteration's nodes."""

import asyncio
import functools
import io
import json

import numpy as np
import pytest
from rich.console import Console

from numbanet.jit import capture_lesson_step
from numbanet.jit.lesson_step import lesson_step
from numbanet.lesson import load_lesson, record_iteration
from numbanet.trace import Trace
from numbanet.tui import launches
from numbanet.tui.app import StepperApp
from numbanet.tui.headless import run_launches
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.launches_screen import LaunchesScreen

NOT_CAPTURABLE = '''\
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

torch.manual_seed(0)
model = nn.Linear(2, 1)
optimizer = optim.SGD(model.parameters(), lr=0.1)
inputs, targets = torch.randn(4, 2), torch.randn(4, 1)


def criterion(outputs, targets):
    loss = ((outputs - targets) ** 2).mean()
    if loss.item() > 100.0:  # Python control flow on a tensor's value
        loss = loss / 100.0
    return loss
'''


def run_app_test(test):
    """Run an ``async def`` test to completion (as tests/test_tui.py does)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def shown(screen, selector: str) -> str:
    """The text a Static shows now, without colours."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(screen.query_one(selector).content)
    return console.export_text()


def without_times(entries):
    return [{key: value for key, value in entry.items() if key != "seconds"}
            for entry in entries]


@pytest.fixture(scope="module")
def spirals_capture():
    lesson = load_lesson()
    trace = record_iteration(lesson)
    return trace, capture_lesson_step(lesson, 0)


def test_the_list_is_compiled_launches_of_the_lessons_step(spirals_capture):
    trace, capture = spirals_capture
    lesson = load_lesson()  # a fresh copy, compiled by hand as a user would
    compiled = __import__("numbanet").compile(lesson_step(lesson))
    inputs, targets = lesson.batch(0)
    compiled(inputs, targets)
    compiled(inputs, targets)
    assert compiled.replays == 0 and compiled.captures == 1
    assert without_times(capture.launches) == without_times(compiled.launches)
    rows = launches.rows(capture)
    assert [(row.index, row.call, row.phase) for row in rows] == [
        (launch["index"], launch["function"], launch["phase"]) for launch in compiled.launches]
    assert capture.listing == compiled.listing()


def test_each_launch_names_its_phase_kernels_arrays_and_time(spirals_capture):
    trace, capture = spirals_capture
    order = {"forward": 0, "loss": 1, "backward": 2, "optimizer": 3}
    phases = [launch["phase"] for launch in capture.launches]
    assert set(phases) == set(order)
    assert phases == sorted(phases, key=order.get)  # the phases run in this order
    first_matmul = next(launch for launch in capture.launches if launch["function"] == "matmul")
    assert first_matmul["phase"] == "forward"
    assert first_matmul["inputs"] == ["(16, 2) float32", "(2, 16) float32"]
    assert first_matmul["output"] == "(16, 16) float32"
    assert first_matmul["kernels"] and first_matmul["seconds"] > 0
    last = capture.launches[-1]
    assert (last["function"], last["phase"]) == ("SGD.step", "optimizer")
    assert len(last["inputs"]) == 6  # the six parameters it updates
    row = launches.rows(capture)[first_matmul["index"]]
    assert row.arrays == "(16, 2), (2, 16) → (16, 16) float32"
    assert launches.rows(capture)[-1].kernels == "sgd_kernel ×6"
    # the eager side: one node per Python-level op, counted from the stepper's trace
    table = {phase: (nodes, calls) for phase, nodes, calls in
             launches.comparison(trace, capture)}
    assert table["total"][0] == str(len(trace.events))
    assert table["total"][1].startswith(f"{len(capture.launches)} (")
    assert table["loss"][0] == str(len(trace.by_phase("loss")))


def test_arrays_text_keeps_each_dtype_when_they_differ():
    assert launches.arrays_text(["(16,) int64", "() int64"], "(16,) bool") == \
        "(16,) int64, () int64 → (16,) bool"
    assert launches.arrays_text([], "(16, 2) float32, () int64") == \
        "→ (16, 2) float32, () int64"
    assert launches.arrays_text(["(3,) float32"], "") == "(3,) float32"


def test_capturing_leaves_the_lesson_where_it_was():
    import numbanet

    with_capture, plain = load_lesson(), load_lesson()
    record_iteration(with_capture), record_iteration(plain)
    numbanet.manual_seed(5)
    capture_lesson_step(with_capture, 1)
    state_after_capture = numbanet.random.default_generator().numpy.bit_generator.state
    numbanet.manual_seed(5)
    assert state_after_capture == numbanet.random.default_generator().numpy.bit_generator.state
    again, expected = record_iteration(with_capture), record_iteration(plain)
    assert again.metadata["loss"] == expected.metadata["loss"]
    for a, b in zip(with_capture.model.parameters(), plain.model.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
        assert np.array_equal(with_capture.optimizer.state[a]["momentum_buffer"].numpy(),
                              plain.optimizer.state[b]["momentum_buffer"].numpy())


def test_a_step_that_reads_a_value_on_the_host_shows_why_it_is_refused(tmp_path):
    path = tmp_path / "host_read.py"
    path.write_text(NOT_CAPTURABLE)
    source = TraceSource(path)
    trace = source.first_traces()[0]
    capture = launches.capture_step(source, 0)
    assert capture.launches == []
    assert ".item()" in capture.refused and "host_read.py:13" in capture.refused
    assert "if loss.item() > 100.0:" in capture.refused
    assert "Not captured" in launches.text(trace, capture)


def test_headless_launches_prints_one_line_per_kernel_call(capsys):
    assert run_launches(TraceSource()) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("# captured step of iteration 0: Two spirals")
    table = lines[lines.index(next(line for line in lines if line.strip().startswith("#  "))) + 1:]
    assert len(table) == 29 and "SGD.step" in table[-1] and "optimizer" in table[-1]
    assert "total" in out and "eager nodes" in out


def test_headless_launches_json_and_a_refusal(tmp_path, capsys):
    assert run_launches(TraceSource(), as_json=True) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["type"] == "launches" and record["refused"] is None
    assert record["launches"][-1]["function"] == "SGD.step"
    assert sum(record["eager_nodes"].values()) > 0
    path = tmp_path / "host_read.py"
    path.write_text(NOT_CAPTURABLE)
    assert run_launches(TraceSource(path)) == 1
    assert "cannot be captured" in capsys.readouterr().out


def test_the_cli_flag_runs_it(capsys):
    from numbanet.tui import main

    assert main(["--headless", "--launches"]) == 0
    assert "SGD.step" in capsys.readouterr().out


async def wait_for_capture(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@run_app_test
async def test_j_opens_the_captured_step_and_escape_closes_it():
    app = StepperApp(TraceSource(), show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_capture(pilot)
        assert not app.stepper.is_empty
        lesson = app.source.lesson
        before = [p.detach().numpy().copy() for p in lesson.model.parameters()]
        await pilot.press("j")
        await wait_for_capture(pilot)
        screen = app.screen
        assert isinstance(screen, LaunchesScreen) and screen.capture is not None
        table = screen.query_one("#launches-table")
        assert table.row_count == len(screen.capture.launches) == 29
        assert [str(cell) for cell in table.get_row_at(table.row_count - 1)][:3] == [
            "28", "optimizer", "SGD.step"]
        assert "µs" not in [str(column.label) for column in table.columns.values()]
        assert not app.recording
        await pilot.press("down", "down", "enter")  # the whole row, as a note
        await pilot.pause()
        note = list(app._notifications)[-1]
        assert note.title == "Launch #2" and "kernels: add_rows_right" in note.message
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LaunchesScreen)
        after = [p.detach().numpy() for p in lesson.model.parameters()]
        assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        await pilot.press("j")  # the second time: from the cache, at once
        await pilot.pause()
        assert isinstance(app.screen, LaunchesScreen) and app.screen.capture is not None


@run_app_test
async def test_the_palette_opens_the_captured_step():
    app = StepperApp(TraceSource(), show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_capture(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"captured step")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for_capture(pilot)
        assert isinstance(app.screen, LaunchesScreen) and app.screen.capture is not None


@run_app_test
async def test_a_refused_capture_and_a_saved_trace_show_the_reason(tmp_path):
    path = tmp_path / "host_read.py"
    path.write_text(NOT_CAPTURABLE)
    app = StepperApp(TraceSource(path), show_timings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_capture(pilot)
        await pilot.press("j")
        await wait_for_capture(pilot)
        screen = app.screen
        assert isinstance(screen, LaunchesScreen)
        summary = shown(screen, "#launches-summary")
        assert "cannot be captured" in summary and "loss.item()" in summary
        assert not screen.query_one("#launches-table").display
        await pilot.press("escape")
        await pilot.press("n")  # the stepper carries on
        await pilot.pause()
        assert app.stepper.position.index == 1
    trace = TraceSource().first_traces()[0]
    saved = Trace.from_dict(trace.to_dict())
    app = StepperApp(traces=[saved], show_timings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("j")
        await wait_for_capture(pilot)
        assert "saved trace" in shown(app.screen, "#launches-summary")


def test_a_training_script_has_no_step_to_capture(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("import torch\nfor step in range(3):\n    loss.backward()\n")
    capture = launches.capture_step(TraceSource(path), 0)  # nothing runs: no step function
    assert capture.launches == [] and "runs its own loop" in capture.refused


@run_app_test
async def test_an_open_shape_question_keeps_the_shapes_hidden():
    from numbanet.tui.exercise import BUILTIN_EXERCISE, load_exercise

    exercise = load_exercise(BUILTIN_EXERCISE)
    traces = TraceSource(seed=exercise.seed).first_traces(1)
    app = StepperApp(traces=traces, show_timings=False, exercise=exercise)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # the exercise's questions come first
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        assert not isinstance(app.screen, LaunchesScreen)
        assert "shape questions first" in list(app._notifications)[-1].message
