"""Look, don't read (issue 12, part 5): small tensors as diverging heat maps, in the
stepper (``m``) and in the HTML replay."""

import asyncio
import json
import math
import re

import pytest
from textual.widgets import Static

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.heatmap_screen import HeatMapScreen
from numbanet.viz import replay_html
from numbanet.viz.heatmap import as_matrix, colour, event_grids, hex_colour, limit_of


def test_colours_diverge_around_zero_on_a_symmetric_scale():
    assert colour(0.0, 2.0) == (255, 255, 255)
    assert colour(2.0, 2.0) == (255, 0, 0) and colour(-2.0, 2.0) == (0, 0, 255)
    assert colour(1.0, 2.0) == (255, 128, 128) and colour(-1.0, 2.0) == (128, 128, 255)
    assert colour(5.0, 2.0) == (255, 0, 0)  # clipped
    assert colour(math.nan, 1.0) == (255, 215, 0) == colour(math.inf, 1.0)
    assert hex_colour(-2.0, 2.0) == "#0000ff"
    assert limit_of([[0.0, -3.0], [2.0, math.nan]]) == 3.0 and limit_of([[0.0]]) == 1.0


def test_shapes_become_grids_up_to_32_by_32():
    assert as_matrix([1.0, 2.0, 3.0], [3]) == [[1.0, 2.0, 3.0]]
    assert as_matrix([[1, 2], [3, 4]], [2, 2]) == [[1.0, 2.0], [3.0, 4.0]]
    assert as_matrix([[[1, 2]], [[3, 4]]], [2, 1, 2]) == [[1.0, 2.0], [3.0, 4.0]]
    assert as_matrix(0.5, []) is None
    assert as_matrix([[0.0] * 33] * 2, [2, 33]) is None
    assert as_matrix([[0.0] * 32] * 32, [32, 32]) is not None


@pytest.fixture(scope="module")
def spirals_trace():
    return TraceSource().first_traces(1)[0]


def test_the_probe_keeps_grids_of_outputs_parameters_and_gradients(spirals_trace):
    grids = spirals_trace.metadata["grids"]
    assert len(grids["output Sequential.0"]) == 16 and len(grids["output Sequential.0"][0]) == 16
    assert len(grids["parameter 0.weight"]) == 16 and len(grids["gradient 2.weight"][0]) == 16
    accumulate = next(e for e in spirals_trace.events
                      if e.attributes.get("parameter") == "2.weight")
    labels = [label for label, _ in event_grids(accumulate, spirals_trace)]
    assert labels[:2] == ["parameter 2.weight", "gradient 2.weight"]
    relu = [e for e in spirals_trace.events
            if e.module_path == "Sequential.1" and e.phase == "forward"][-1]
    assert [label for label, _ in event_grids(relu, spirals_trace)] == ["output Sequential.1"]


def test_the_stepper_draws_the_current_nodes_heat_maps(spirals_trace):
    async def run():
        app = StepperApp(traces=[spirals_trace], show_timings=False)
        async with app.run_test(size=(140, 50)) as pilot:
            relu = max(i for i, e in enumerate(spirals_trace.events)
                       if e.module_path == "Sequential.1" and e.phase == "forward")
            app._go_to_index(relu)
            await pilot.press("m")
            await pilot.pause()
            assert isinstance(app.screen, HeatMapScreen)
            content = app.screen.query_one("#heatmap-0", Static).content
            assert "output Sequential.1" in str(content.renderables[0])
            assert len(content.renderables) == 1 + 16 + 2  # heading, rows, legend, gap
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HeatMapScreen)

    asyncio.run(run())


def test_the_html_replay_carries_the_heat_maps(spirals_trace):
    page = replay_html(spirals_trace)
    data = json.loads(re.search(r'id="trace-data">(.*?)</script>', page, re.S).group(1))
    maps = [m for step in data["steps"] for m in step["heatmaps"]]
    assert any(m["label"] == "output Sequential.0" and len(m["rows"]) == 16 for m in maps)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for m in maps for row in m["rows"] for c in row)
    assert 'id="heatmaps"' in page and "insertCell" in page
