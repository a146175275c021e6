"""The stepper at the smallest terminal it promises to work in (80×24) and a large one
(160×50), compared with approved SVGs (pytest-textual-snapshot; see test_tui_snapshots.py
for how to update them).

At 80×24 the header must still say the iteration, node and phase, the footer the main keys
(help, quit, next, back, break, continue, check), and the chain-rule pane takes the module
tree's room. The lesson is the planted-bug one, so the gradient-check lens is pictured too.
"""

from pathlib import Path

import pytest

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL, LARGE = (80, 24), (160, 50)


@pytest.fixture(scope="module")
def bug_traces():
    """One iteration of the planted-bug lesson, with gradient checks (source lines
    blanked: they name this machine's paths)."""
    traces = TraceSource(EXAMPLES / "lesson_custom_function_bug.py",
                         gradcheck=True).first_traces(1)
    for event in traces[0].events:
        event.source = ""
    return traces


def clear_notifications(pilot):
    pilot.app.clear_notifications()


def picture(snap_compare, traces, size, keys):
    app = StepperApp(traces=traces, show_timings=False)
    return snap_compare(app, press=[*keys, "_"], terminal_size=size,
                        run_before=clear_notifications)


# the LecunTanh backward node: 3 backward, then 7 more nodes down the schedule
TO_THE_BUG = ["3", *["n"] * 7]


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_first_node(snap_compare, bug_traces, size):
    assert picture(snap_compare, bug_traces, size, [])


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_fan_in_at_a_backward_node(snap_compare, bug_traces, size):
    assert picture(snap_compare, bug_traces, size, ["3", "n", "n", "n"])


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_gradient_check_lens_on_the_planted_bug(snap_compare, bug_traces, size):
    assert picture(snap_compare, bug_traces, size, [*TO_THE_BUG, "v"])
