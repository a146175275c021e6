"""A picture of the kernel lens (``t``) on the tiled matmul, compared with an approved SVG.

The lens is recorded once (the helper process re-runs the CUDA matmul kernel thread by
thread in the simulator, about 20 s) and handed to the screen, so the picture does not wait
on the recording. The matmul's inputs have 128 elements each, more than a trace keeps, so
the lens shows its made-up example values (deterministic). After an intended change of the
screen — or of the matmul kernel's source lines — run ``pytest tests/snapshots
--snapshot-update`` and look at the SVG.
"""

import pytest

import numbanet as torch
from numbanet import kernel_lens, trace
from numbanet.tui.app import StepperApp
from numbanet.tui.widgets.kernel_lens import KernelLensScreen

TERMINAL = (150, 45)


@pytest.fixture(scope="module")
def matmul_lens():
    a = torch.arange(128, dtype=torch.float32).reshape(16, 8) / 8
    b = torch.arange(128, dtype=torch.float32).reshape(8, 16) / 16
    with trace.record() as recorded:
        a @ b
    for event in recorded.events:
        event.source = ""
    return recorded, kernel_lens.record(recorded.events[0])


def test_kernel_lens_on_the_tiled_matmul(snap_compare, matmul_lens):
    recorded, lens = matmul_lens

    async def open_lens(pilot):
        pilot.app.push_screen(KernelLensScreen(recorded.events[0], lens=lens))
        await pilot.pause()

    app = StepperApp(traces=[recorded], show_timings=False)
    # element [5, 9]: row 5 belongs to threadIdx.y 1, column 9 to threadIdx.x 2
    keys = ["down"] * 5 + ["right"] * 9
    assert snap_compare(app, press=keys, terminal_size=TERMINAL, run_before=open_lens)


def test_s_shows_which_thread_copied_each_element_into_the_tiles(matmul_lens):
    import asyncio

    recorded, lens = matmul_lens

    async def run():
        app = StepperApp(traces=[recorded], show_timings=False)
        async with app.run_test(size=TERMINAL) as pilot:
            await pilot.pause()
            app.push_screen(KernelLensScreen(recorded.events[0], lens=lens))
            await pilot.pause()
            await pilot.press("s")
            text = app.screen.details_plain
            assert "a [1, 16, 8]:" in text and "b [1, 8, 16]:" in text
            # a is copied in row-major slots: a[r, kk] by thread 8 r + kk; row 2 of a
            rows = text.split("a [1, 16, 8]:")[1].splitlines()
            assert rows[3].split() == [str(8 * 2 + kk) for kk in range(8)]
            await pilot.press("s")
            assert "It read" in app.screen.details_plain

    asyncio.run(run())
