"""The stepper (Textual, driven by its Pilot) on ``examples/lesson_quantized.py``: the int8
nodes are there, and the node pane shows their scales, zero points and integer dtypes."""

from pathlib import Path

from test_tui import SIZE, pane_text, run_app_test

from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

LESSON = Path(__file__).resolve().parent.parent / "examples" / "lesson_quantized.py"


@run_app_test
async def test_the_stepper_shows_scales_zero_points_and_integers():
    app = StepperApp(TraceSource(LESSON), show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        ops = [event.op for event in app.stepper.events]
        assert ops.count("Int8LinearAccumulate") == 2 and "Quantize" in ops
        app.stepper.breakpoints = []
        await pilot.press("b", *"Int8LinearAccumulate", "enter", "c")
        detail = pane_text(app, "#detail")
        assert "Int8LinearAccumulate" in detail
        assert "x_scale=" in detail and "weight_zero_point=" in detail
        assert "int32" in detail and "quint8" in detail and "qint8" in detail
        await pilot.press("b", *"clear", "enter", "b", *"Requantize", "enter", "c")
        detail = pane_text(app, "#detail")
        assert "output_scale=" in detail and "zero_point=" in detail and "relu=True" in detail
