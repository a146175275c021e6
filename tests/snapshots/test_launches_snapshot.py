"""Pictures of the captured step (``j``) at the smallest terminal the stepper promises
(80×24) and a large one (160×50), compared with approved SVGs (pytest-textual-snapshot;
``pytest tests/snapshots --snapshot-update`` after an intended change, then look at them).

The app records the built-in lesson (seeded), then ``j`` captures its step in a worker;
the picture is taken once the capture is in. ``show_timings=False`` drops the µs column,
which changes from run to run.
"""

import pytest

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.launches_screen import LaunchesScreen

SMALL, LARGE = (80, 24), (160, 50)


async def open_captured_step(pilot):
    await pilot.app.workers.wait_for_complete()  # the first iteration is recorded
    await pilot.pause()
    await pilot.press("j")
    await pilot.app.workers.wait_for_complete()  # the capture is in
    await pilot.pause()
    assert isinstance(pilot.app.screen, LaunchesScreen) and pilot.app.screen.capture
    pilot.app.clear_notifications()


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_captured_step_of_the_built_in_lesson(snap_compare, size):
    app = StepperApp(TraceSource(), show_timings=False)
    assert snap_compare(app, terminal_size=size, run_before=open_captured_step)
