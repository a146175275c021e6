"""Pictures of the stepper's main screens, compared with approved SVGs (pytest-textual-snapshot).

After an intended change of the interface — or of what it shows: the built-in lesson, an
op's docstring, the source of the matmul kernel — run
``pytest tests/snapshots --snapshot-update``, look at the new SVGs in
``tests/snapshots/__snapshots__/`` (a browser shows them) and commit them.

The pictures are deterministic: the built-in lesson seeds its random numbers, the app runs
with ``show_timings=False`` (no wall times, no compiled-or-cached, which depend on the
kernel cache), and notifications are cleared before each picture is taken.
"""

import pytest

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

TERMINAL = (130, 40)


@pytest.fixture(scope="module")
def lesson_traces():
    """Two iterations of the built-in lesson, recorded once for all the pictures.

    Each event's source line would name this file and a line number that moves with every
    edit here, so it is blanked.
    """
    traces = TraceSource().first_traces(2)
    for trace in traces:
        for event in trace.events:
            event.source = ""
    return traces


def clear_notifications(pilot):
    pilot.app.clear_notifications()


def picture(snap_compare, traces, keys=()):
    app = StepperApp(traces=traces, show_timings=False)
    return snap_compare(app, press=keys, terminal_size=TERMINAL, run_before=None) if not keys \
        else snap_compare(app, press=[*keys, "_"], terminal_size=TERMINAL,
                          run_before=clear_notifications)


def test_first_forward_node(snap_compare, lesson_traces):
    assert picture(snap_compare, lesson_traces)


def test_backward_node_with_its_chain_rule(snap_compare, lesson_traces):
    assert picture(snap_compare, lesson_traces, ["3", "n"])


def test_kernel_pane_of_a_matmul(snap_compare, lesson_traces):
    assert picture(snap_compare, lesson_traces, ["n", "k"])


def test_optimizer_step(snap_compare, lesson_traces):
    assert picture(snap_compare, lesson_traces, ["4"])


def test_help_screen(snap_compare, lesson_traces):
    assert picture(snap_compare, lesson_traces, ["question_mark"])
