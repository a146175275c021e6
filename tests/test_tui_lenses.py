"""The stepper's lenses and its never-crash promises, driven by Textual's Pilot.

- the gradient-check lens (``v``) on the planted-bug lesson: exactly the custom
  Function's backward fails, every other node passes; the path mode at AccumulateGrad;
- ``c`` with a ``nan`` breakpoint on the diverging lesson: new iterations are recorded
  (bounded, with progress, cancellable) until the first node that produced a NaN/Inf;
- non-finite history and values, markup in names, a damaged trace file: no crash.
Plus the pure logic behind them (``tui/gradcheck.py``, ``tui/nonfinite.py``).
"""

import json
import math
import threading
from pathlib import Path

import pytest
from test_tui import SIZE, pane_text, run_app_test
from textual.widgets import DataTable
from tui_traces import synthetic_iteration

from numbanet.trace import Trace
from numbanet.tui import gradcheck, main, nonfinite
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.stepper import Breakpoint
from numbanet.tui.widgets.gradcheck_lens import GradcheckLens
from numbanet.tui.widgets.search_progress import SearchProgress
from numbanet.tui.widgets.timeline import Timeline

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def wait_for_traces(app, pilot, timeout: float = 300.0):
    waited = 0.0
    while app.stepper.is_empty or app.recording:
        await pilot.pause(0.1)
        waited += 0.1
        assert waited < timeout, "recording did not finish"


def go_to_op(app, prefix: str) -> None:
    index = next(i for i, e in enumerate(app.stepper.events) if e.op.startswith(prefix))
    app._go_to_index(index)


def lens_text(app, selector: str) -> str:
    """The text of a Static in the lens (a modal: the active screen, not the app's)."""
    return str(app.screen.query_one(selector).content)


def lens_table(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


# ---- the gradient-check lens -----------------------------------------------------------------
@run_app_test
async def test_the_lens_flags_exactly_the_planted_bug():
    source = TraceSource(EXAMPLES / "lesson_custom_function_bug.py", gradcheck=True)
    app = StepperApp(source, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_traces(app, pilot)
        go_to_op(app, "LecunTanhBackward")
        await pilot.press("v")
        assert isinstance(app.screen, GradcheckLens)
        assert lens_text(app, "#gradcheck-verdict").startswith("FAIL: largest relative error")
        rows = lens_table(app)
        assert rows and all(row[-1] == "FAIL" for row in rows)
        assert all(float(row[4]) > 1e-2 for row in rows)
        analytic, numeric = float(rows[0][2]), float(rows[0][3])
        assert analytic == pytest.approx(1.5 * numeric, rel=1e-5)  # the missing 2/3
        await pilot.press("escape")
        assert not isinstance(app.screen, GradcheckLens)
        # every other backward node passes, by far
        for _, event in gradcheck.checked_nodes(app.stepper.trace):
            if event.op != "LecunTanhBackward":
                assert event.gradcheck["status"] == "pass"
                assert event.gradcheck["max_error"] < 1e-6, event.op
        go_to_op(app, "AddmmBackward")
        await pilot.press("v")
        assert lens_text(app, "#gradcheck-verdict").startswith("pass")
        assert all(row[-1] == "ok" for row in lens_table(app))
        await pilot.press("v")  # v closes it too
        # path mode at a parameter's AccumulateGrad: below the bug, the whole gradient is off
        index = next(i for i, e in enumerate(app.stepper.events)
                     if e.attributes.get("parameter") == "hidden.weight")
        app._go_to_index(index)
        await pilot.press("v")
        assert "path mode" in lens_text(app, "#gradcheck-explanation")
        assert lens_text(app, "#gradcheck-verdict").startswith("FAIL")
        assert lens_table(app)[0][0] == "hidden.weight"


@run_app_test
async def test_the_lens_at_a_forward_node_shows_its_backward_check_and_says_when_none():
    trace = synthetic_iteration()
    trace.events[7].gradcheck = {"status": "pass", "max_error": 2e-10, "tolerance": 1e-3,
                                 "epsilon": 1e-6, "reason": "", "inputs": [
                                     {"input": 0, "name": None, "shape": [1, 2], "numel": 2,
                                      "elements": [{"index": [0, 1], "analytic": 0.5,
                                                    "numeric": 0.5, "error": 2e-10}],
                                      "direction": None, "max_error": 2e-10}]}
    app = StepperApp(traces=[trace, synthetic_iteration(0.4)], show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        app._go_to_index(6)  # NllLoss, in the loss phase: its backward is node 7
        await pilot.press("v")
        assert "#7 NllLossBackward" in lens_text(app, "#gradcheck-heading")
        assert lens_table(app) == [["input 0", "[0, 1]", "0.5", "0.5", "2.0e-10", "ok"]]
        await pilot.press("escape", "N", "v")  # iteration 1 was recorded without checks
        assert not isinstance(app.screen, GradcheckLens)
        assert any("without gradient checks" in n.message for n in app._notifications)


# ---- c with a nan breakpoint --------------------------------------------------------------------
@run_app_test
async def test_c_with_nan_finds_the_first_non_finite_op_of_the_diverging_lesson():
    source = TraceSource(EXAMPLES / "lesson_diverging.py")
    app = StepperApp(source, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_traces(app, pilot)
        await pilot.press("b", *"nan 40", "enter")
        assert app.search_limit == 40
        await pilot.press("c")
        await wait_for_traces(app, pilot)
        await pilot.pause()
        assert not app.query_one(SearchProgress).display
        traces, position = app.stepper.traces, app.stepper.position
        assert 2 <= len(traces) <= 41  # found within the bound
        event = app.stepper.event
        assert nonfinite.is_nonfinite(next(r for r in event.outputs if r is not None))
        # the first one: every earlier node of every earlier iteration is finite
        earlier = [e for t in traces[:position.iteration] for e in t.events]
        earlier += traces[position.iteration].events[:position.index]
        assert not any(nonfinite.is_nonfinite(r) for e in earlier for r in e.outputs)
        assert position.iteration == len(traces) - 1  # and the search stopped there
        detail = pane_text(app, "#detail")
        assert "NaN/Inf produced here" in detail and "= inf" in detail
        assert any("first NaN/Inf" in n.message for n in app._notifications)
        await pilot.press("N")  # inf in the loss history: no crash
        await wait_for_traces(app, pilot)
        assert "not finite" in str(app.query_one("#loss-value").content)


class EndlessFiniteSource(TraceSource):
    """Finite iterations forever, each waiting for the test to let it through."""

    def __init__(self):
        super().__init__(None)
        self.gate = threading.Semaphore(0)

    def first_traces(self, iterations: int = 1) -> list[Trace]:
        return [synthetic_iteration()]

    def record_next(self) -> Trace:
        self.gate.acquire(timeout=30)
        return synthetic_iteration(0.3)


@run_app_test
async def test_the_search_shows_progress_and_escape_cancels_it():
    source = EndlessFiniteSource()
    app = StepperApp(source, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_traces(app, pilot)
        await pilot.press("b", *"nan", "enter", "c")
        assert app.query_one(SearchProgress).display
        source.gate.release(2)
        while len(app.stepper.traces) < 3:
            await pilot.pause(0.05)
        await pilot.pause()
        assert "2 of 50 new iterations" in str(app.query_one("#search-label").content)
        await pilot.press("escape")
        source.gate.release(1)  # the iteration being recorded finishes, then it stops
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.stepper.traces) == 4 and not app.recording
        assert not app.query_one(SearchProgress).display
        assert any("cancelled after 3 new iterations" in n.message for n in app._notifications)


def test_split_search_limit_and_first_nonfinite():
    assert nonfinite.split_search_limit("nan 60") == ("nan", 60)
    assert nonfinite.split_search_limit("relu") == ("relu", None)
    with pytest.raises(ValueError, match="whole number"):
        nonfinite.split_search_limit("nan lots")
    assert nonfinite.first_nonfinite(synthetic_iteration()) is None
    trace = synthetic_iteration(with_nan=True)
    assert nonfinite.first_nonfinite(trace) == 2  # Relu's output holds the NaN
    lines = nonfinite.offending_lines(trace.events[2])
    assert lines[0] == "output 0 [1, 2]: 1 NaN of 2 values"
    assert lines[1] == "  output 0[0, 1] = nan  from input 0 = -0.5"
    assert lines[-1].startswith("input 0: finite")


# ---- never crash -----------------------------------------------------------------------------
def non_finite_iteration(loss: float) -> Trace:
    """The synthetic iteration with every value of every tensor NaN or inf."""
    trace = synthetic_iteration(loss)
    trace.metadata["gradient_norm"] = float("inf")
    records = [r for e in trace.events for r in [*e.inputs, *e.outputs, *e.saved] if r]
    records += [getattr(u, part) for e in trace.events for u in e.updates
                for part in ("before", "gradient", "update", "after")]
    for record in records:
        record.values = _poison(record.values)
        record.stats.update(min=math.nan, max=math.nan, mean=math.nan, std=math.nan,
                            nan=record.numel, inf=0)
    return trace


def _poison(values):
    if isinstance(values, list):
        return [_poison(v) for v in values]
    return math.nan if values is not None else None


@run_app_test
async def test_non_finite_history_and_values_never_crash_the_app():
    traces = [synthetic_iteration(0.5), non_finite_iteration(float("inf")),
              non_finite_iteration(float("nan"))]
    app = StepperApp(traces=traces, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("N", "N", "k")
        for _ in range(len(traces[2].events)):
            await pilot.press("n")
        await pilot.pause()
        loss = str(app.query_one("#loss-value").content)
        assert loss.startswith("nan") and "(2 not finite)" in loss
        assert str(app.query_one("#gradient_norm-value").content).startswith("inf")
        assert app.return_code is None  # still running


@run_app_test
async def test_names_with_markup_are_shown_literally():
    trace = synthetic_iteration()
    trace.events[1].op = "[/]Add[link=https://example.com]"
    trace.events[2].module_path = "Net.[bold]act[/bold]"
    trace.events[13].updates[0].name = "[/]fc1.weight"
    trace.metadata["lesson"] = "[red]title"
    app = StepperApp(traces=[trace], show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        assert str(timeline.get_row_at(1)[2]) == "[/]Add[link=https://example.com]"
        assert str(timeline.get_row_at(2)[4]) == "[bold]act[/bold]"
        for _ in range(len(trace.events)):
            await pilot.press("n")
        await pilot.pause()
        assert "[/]fc1.weight" in pane_text(app, "#detail")
        app._go_to_index(1)
        await pilot.pause()
        assert "[/]Add[link=https://example.com]" in pane_text(app, "#detail")
        await pilot.press("b", *"[/]x", "enter")
        assert app.stepper.breakpoints[-1].pattern == "[/]x"
        assert app.return_code is None


def test_a_damaged_trace_file_is_one_error_line_and_exit_2(tmp_path, capsys):
    cut = tmp_path / "cut.json"
    synthetic_iteration().save(cut)
    cut.write_text(cut.read_text()[:200])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "numbanet-trace", "events": [{"op": "x"}],
                                 "parameter_names": {}}))
    for path, reason in ((cut, "invalid JSON at line"), (wrong, "a damaged one")):
        for options in (["--headless"], []):  # the app too: it does not start
            assert main([*options, str(path)]) == 2
            error = capsys.readouterr().err
            assert error.count("\n") == 1 and error.startswith("numbanet step: error: ")
            assert reason in error


def test_a_failing_lesson_reports_its_own_line(tmp_path, capsys):
    lesson = tmp_path / "shapes.py"
    lesson.write_text("import numbanet as torch\nimport numbanet.nn as nn\n"
                      "import numbanet.optim as optim\n"
                      "class Net(nn.Module):\n"
                      "    def __init__(self):\n"
                      "        super().__init__()\n"
                      "        self.fc = nn.Linear(3, 1)\n"
                      "    def forward(self, x):\n"
                      "        return self.fc(x * 2)\n"
                      "model = Net()\ncriterion = nn.MSELoss()\n"
                      "optimizer = optim.SGD(model.parameters(), lr=0.1)\n"
                      "inputs, targets = torch.ones(4, 2), torch.ones(4, 1)\n")
    assert main(["--headless", str(lesson)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("numbanet step: error: shapes.py, line 9: return self.fc(x * 2)")
    assert "mat1 and mat2 shapes cannot be multiplied" in error
    assert "Traceback" not in error and "sys.exit" not in error


# ---- the pure model of the lens ----------------------------------------------------------------
def test_lens_target_rows_and_summary():
    trace = synthetic_iteration()
    result = {"status": "fail", "max_error": 0.5, "tolerance": 1e-3, "epsilon": 1e-6,
              "reason": "", "inputs": [{"input": 1, "name": "fc1.weight", "shape": [2, 2],
                                        "numel": 4, "max_error": 0.5, "elements": [
                                            {"index": [0, 0], "analytic": 2.0, "numeric": 1.0,
                                             "error": 0.5}],
                                        "direction": {"analytic": 1.0, "numeric": 1.0,
                                                      "error": 0.0}}]}
    trace.events[9].gradcheck = result
    target = gradcheck.lens_target(trace, 3, trace.events[3], trace.events[9])
    assert target.mode == "node" and target.heading == "#9 MmBackward0 (Net.fc2)"
    assert gradcheck.rows(result) == [
        gradcheck.Row("fc1.weight", "[0, 0]", 2.0, 1.0, 0.5, False),
        gradcheck.Row("fc1.weight", "direction v", 1.0, 1.0, 0.0, True)]
    assert gradcheck.summary(result) == ("FAIL: largest relative error 5.0e-01 (> tolerance "
                                         "1.0e-03) over 1 element")
    assert gradcheck.first_failure(trace) == (9, trace.events[9])
    skipped = {"status": "skipped", "reason": "no upstream gradient reached this node"}
    assert gradcheck.summary(skipped) == "skipped: no upstream gradient reached this node"
    assert gradcheck.lens_target(trace, 13, trace.events[13], None).mode == "none"
    assert Breakpoint.parse("nan").kind == "nonfinite"


def test_a_crash_of_the_app_is_a_non_zero_exit(monkeypatch):
    def crashed(app):  # as Textual leaves an app whose handler raised
        app._return_code = 1

    monkeypatch.setattr(StepperApp, "run", crashed)
    assert main([str(EXAMPLES / "lesson_linear_regression.py")]) == 1


@run_app_test
async def test_an_exception_in_the_app_sets_its_return_code(monkeypatch):
    app = StepperApp(traces=[synthetic_iteration()], show_timings=False)

    def broken(*args):
        raise ValueError("cannot convert float NaN to integer")

    with pytest.raises(ValueError):
        async with app.run_test(size=SIZE) as pilot:
            monkeypatch.setattr(app.query_one("#detail"), "show", broken)
            await pilot.press("n")
    assert app.return_code == 1


def test_first_kernel_times_say_they_include_compiling_or_loading():
    from numbanet.trace import KernelRecord
    from numbanet.tui.widgets.kernel_pane import launch_text

    def text(compilation):
        record = KernelRecord("k", "cpu", compilation, 0.5)
        return str(launch_text([record], show_timings=True))

    assert text("compiled now").endswith("500.000 ms (includes compiling it)")
    assert text("loaded from cache").endswith("(includes loading it from the cache)")
    assert text("already in memory").endswith("500.000 ms")


@run_app_test
async def test_a_module_breakpoint_is_checked_against_the_model():
    app = StepperApp(traces=[synthetic_iteration()], show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        assert "modules: fc1, act, fc2" in lens_text(app, "#breakpoint-modules")
        await pilot.press(*"module fc3", "enter")
        assert not app.stepper.breakpoints
        error = next(n.message for n in app._notifications if "fc3" in n.message)
        assert error == "no module 'fc3' ran in this model; its modules: fc1, act, fc2"
        await pilot.press("b", *"module fc2", "enter")
        assert app.stepper.breakpoints == [Breakpoint("module", "fc2")]


@run_app_test
async def test_the_lesson_description_is_shown_and_the_header_keeps_the_position():
    source = TraceSource(EXAMPLES / "lesson_linear_regression.py")
    app = StepperApp(source, show_timings=False)
    told = []  # every notification, kept (the app's own list drops expired ones)
    notify = app.notify
    app.notify = lambda message, **options: told.append(message) or notify(message, **options)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_traces(app, pilot)
        assert any(message.startswith("Eight points on the line") for message in told)
        header = str(app.format_title(app.title, app.sub_title))
        assert header.startswith("iteration 0 (1 recorded) · node #0 of ")
        assert app.screen.has_class("-compact")  # 80x24: the module tree gives way
        assert app.query_one("#modules").styles.display == "none"
        await pilot.press("question_mark")
        assert "Eight points on the line" in str(app.screen.query_one(
            "#help-dialog").query("Static").first().content)


SQUARED_ERROR_BY_HAND = """
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

torch.manual_seed(0)
inputs = torch.linspace(-1.0, 1.0, 8).reshape(8, 1)
targets = 3.0 * inputs + 2.0
model = nn.Linear(1, 1)
optimizer = optim.SGD(model.parameters(), lr=0.1)


def criterion(predictions, targets):
    difference = predictions - targets
    return (difference * difference).mean()
"""


def test_fan_in_is_explained_and_no_stray_add_appears_in_backward(tmp_path):
    from numbanet.tui.widgets.chain_rule_pane import backward_schedule, fan_in_lines

    lesson = tmp_path / "lesson_squared_error.py"
    lesson.write_text(SQUARED_ERROR_BY_HAND)
    trace = TraceSource(lesson).record_next()
    phases = [event.phase for event in trace.events]
    first, last = phases.index("backward"), len(phases) - 1 - phases[::-1].index("backward")
    # the engine's gradient sums are no forward events between the backward nodes
    assert set(phases[first:last + 1]) == {"backward"}
    sub = next(e for e in trace.events if e.phase == "backward" and e.op.startswith("Sub"))
    assert len(sub.contributions) == 2  # (ŷ - y) is squared: used twice by Mul
    total = sub.inputs[0].values
    parts = [c.gradient.values for c in sub.contributions]
    assert [row[0] for row in total] == pytest.approx(
        [a[0] + b[0] for a, b in zip(*parts, strict=True)])
    lines = [line.plain for line in fan_in_lines(sub, trace)]
    assert lines[0].startswith("Fan-in  this output was used 2 times")
    assert sum(line.startswith("  + from #") for line in lines) == 2
    assert lines[-1].startswith("      first element: ")
    schedule = backward_schedule(trace)
    assert sorted(schedule.values()) == list(range(last - first + 1))
    assert schedule[trace.events.index(sub)] == trace.events.index(sub) - first
