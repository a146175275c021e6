"""Pictures of the training-dynamics dashboard (issue 12), compared with approved SVGs.

The lesson is written here: a 4-layer ReLU MLP whose biases are −5, so most units are dead
and the dashboard has a diagnosis to show. ``pytest tests/snapshots --snapshot-update``
after an intended change (see test_tui_snapshots.py).
"""

import pytest

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

TERMINAL = (150, 45)

LESSON = '''\
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Dead ReLUs: a 4-layer MLP whose biases start at -5"
torch.manual_seed(0)
layers = []
for index in range(4):
    linear = nn.Linear(8 if index == 0 else 16, 16)
    nn.init.constant_(linear.bias, -5.0)
    layers += [linear, nn.ReLU()]
model = nn.Sequential(*layers, nn.Linear(16, 2))
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(32, 8)
targets = (inputs[:, 0] > 0).long()
'''


@pytest.fixture(scope="module")
def dead_relu_traces(tmp_path_factory):
    path = tmp_path_factory.mktemp("lesson") / "dead_relus.py"
    path.write_text(LESSON)
    traces = TraceSource(path).first_traces(4)
    for trace in traces:
        for event in trace.events:
            event.source = ""
    return traces


def test_dashboard(snap_compare, dead_relu_traces):
    app = StepperApp(traces=dead_relu_traces, show_timings=False)
    assert snap_compare(app, press=["d", "_"], terminal_size=TERMINAL,
                        run_before=lambda pilot: pilot.app.clear_notifications())


def test_exercise_screen(snap_compare):
    """The built-in spirals exercise with one wrong and one right prediction typed."""
    from numbanet.tui.exercise import BUILTIN_EXERCISE, load_exercise

    exercise = load_exercise(BUILTIN_EXERCISE)
    traces = TraceSource(seed=exercise.seed).first_traces(1)
    for event in traces[0].events:
        event.source = ""

    async def predict(pilot):
        await pilot.pause()
        pilot.app.screen.query_one("#prediction-0").focus()
        await pilot.press(*"16, 2", "enter")
        await pilot.press(*"0.69", "enter")
        await pilot.pause()
        pilot.app.clear_notifications()

    app = StepperApp(traces=traces, show_timings=False, exercise=exercise)
    assert snap_compare(app, terminal_size=TERMINAL, run_before=predict)
