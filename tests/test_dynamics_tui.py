"""The training-dynamics dashboard (``d``) driven by Textual's Pilot: the per-layer plots,
the diagnoses with their thresholds, Enter jumping to the worst node, the SVG export."""

import asyncio
import functools
import io

import pytest
from dynamics_lessons import write_lesson
from rich.console import Console
from textual.widgets import OptionList, Static

from numbanet.tui import health
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.health_screen import HealthScreen, spark

SIZE = (150, 50)


def run_app_test(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def text_of(static: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


@pytest.fixture(scope="module")
def dead_relu_traces(tmp_path_factory):
    path = write_lesson(tmp_path_factory.mktemp("lesson"), "dead", bias=-5.0, depth=4)
    return TraceSource(path).first_traces(3)


def test_spark_scales_each_series_to_its_own_range():
    assert spark([1.0, 2.0, 3.0]) == "▁▅█"
    assert spark([1e-6, 1e-3, 1.0], log=True) == "▁▅█"
    assert spark([2.0, float("nan"), 2.0]) == "▁·▁"
    assert spark([0.0, 1.0], log=True) == "·▁"


@run_app_test
async def test_the_dashboard_plots_every_layer_and_lists_the_diagnoses(dead_relu_traces,
                                                                       tmp_path):
    app = StepperApp(traces=dead_relu_traces, show_timings=False, export_directory=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = text_of(screen.query_one("#health-table", Static))
        for module in ("Sequential.0", "Sequential.1", "Sequential.8"):
            assert module in table
        assert "dead ReLU fraction" in table and "‖Δw‖/‖w‖" in table
        thresholds = text_of(screen.query_one("#thresholds", Static))
        for kind, rule in health.THRESHOLDS.items():
            assert kind in thresholds and rule in thresholds
        options = screen.query_one("#diagnoses", OptionList)
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        assert any(label.startswith("dead ReLUs: 100% of the units") for label in labels)

        await pilot.press("e")
        await pilot.pause()
        assert (tmp_path / "numbanet-health.svg").read_text().startswith("<svg")

        dead = next(d for d in screen.diagnoses if d.kind == "dead ReLUs")
        options.focus()
        options.highlighted = screen.diagnoses.index(dead)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, HealthScreen)
        event = app.stepper.event
        assert event.phase == "forward" and event.module_path == dead.module
        assert app.stepper.position.index == health.node_index(app.stepper.trace, dead)


@run_app_test
async def test_escape_closes_the_dashboard_where_it_was(dead_relu_traces):
    app = StepperApp(traces=dead_relu_traces, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "d")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HealthScreen)
        assert app.stepper.position.index == 2


@run_app_test
async def test_traces_without_statistics_say_so():
    from tui_traces import synthetic_iteration

    app = StepperApp(traces=[synthetic_iteration()], show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert "No layer statistics" in text_of(app.screen.query_one(Static))
