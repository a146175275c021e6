"""Kernels a student can read (issue 12, part 3): the textbook matmul and direct conv2d
equal the fast kernels; the kernel pane shows the elementwise formula that ran, and for a
matmul both kernels timed on the node's shapes."""

import asyncio
import io

import numpy as np
import pytest
from rich.console import Console
from textual.widgets import Static

from numbanet import textbook
from numbanet.kernels import cpu
from numbanet.kernels.cpu.textbook import textbook_conv2d, textbook_matmul
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.kernel_reading import formula_name, textbook_case


@pytest.mark.parametrize("n, k, m", [(1, 1, 1), (16, 2, 16), (7, 13, 5), (33, 64, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_textbook_matmul_equals_the_fast_one(n, k, m, dtype):
    generator = np.random.default_rng(n * k * m)
    a = generator.standard_normal((n, k)).astype(dtype)
    b = generator.standard_normal((k, m)).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(textbook_matmul(a, b), cpu.matmul(a, b), rtol=tolerance,
                               atol=tolerance)
    np.testing.assert_allclose(textbook_matmul(a, b), a @ b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((1, 1, 5, 5), (1, 1, 3, 3), (1, 1), (0, 0)),
    ((2, 3, 8, 7), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((2, 3, 9, 9), (5, 3, 3, 2), (2, 1), (1, 0)),
    ((1, 16, 6, 6), (8, 16, 3, 3), (2, 2), (2, 2)),  # a long patch: the im2col path
])
def test_textbook_conv2d_equals_the_fast_one(x_shape, w_shape, stride, padding):
    generator = np.random.default_rng(7)
    x = generator.standard_normal(x_shape).astype(np.float32)
    weight = generator.standard_normal(w_shape).astype(np.float32)
    bias = generator.standard_normal(w_shape[0]).astype(np.float32)
    fast = cpu.conv2d_forward(x, weight, bias, stride, padding)
    slow = textbook_conv2d(x, weight, bias, *stride, *padding)
    assert slow.shape == fast.shape
    np.testing.assert_allclose(slow, fast, rtol=1e-4, atol=1e-4)


def test_compare_times_both_and_checks_they_agree():
    result = textbook.compare("matmul", (32, 16), (16, 8), repeats=1)
    assert result.max_difference < 1e-4
    assert result.textbook_seconds > 0 and result.fast_seconds > 0
    assert "for p in range(k):" in result.textbook_source and "registers" in result.why_fast
    conv = textbook.compare("conv2d", (1, 2, 6, 6), (3, 2, 3, 3), padding=(1, 1), repeats=1)
    assert conv.max_difference < 1e-4 and "im2col" in conv.why_fast
    with pytest.raises(ValueError, match=r"needs shapes \(n, k\), \(k, m\)"):
        textbook.compare("matmul", (2, 3), (4, 5))
    with pytest.raises(ValueError, match="no textbook kernel for 'softmax'"):
        textbook.compare("softmax", (2, 3))


def test_a_linear_layers_weight_is_read_transposed():
    from numbanet.trace import Event, KernelRecord, TensorRecord

    def record(shape):
        return TensorRecord(tensor_id=0, shape=shape, dtype="float32", device="cpu",
                            role="input")

    kernel = KernelRecord(name="numbanet.kernels.cpu.matmul.batched_matmul", device="cpu",
                          compilation="", seconds=0.0)
    addmm = Event(node_id=0, phase="forward", op="Addmm", kernels=[kernel],
                  inputs=[record([16]), record([8, 2]), record([16, 2])])
    assert textbook_case(addmm) == ("matmul", ((8, 2), (2, 16)), {})
    backward = Event(node_id=1, phase="backward", op="MmBackward0", kernels=[kernel])
    assert textbook_case(backward) is None


def test_kernel_names_lead_to_their_formula():
    assert formula_name("numbanet.kernels.cpu.elementwise.relu_contiguous") == "relu"
    assert formula_name("numbanet.kernels.cpu.elementwise.add_strided") == "add"
    assert formula_name("numbanet.kernels.cpu.elementwise.add_rows_right") == "add"
    assert formula_name("numbanet.kernels.cpu.elementwise.mul_scalar_right") == "mul"
    assert formula_name("numbanet.kernels.cpu.elementwise.clamp_scalar_bounds") == "clamp"


@pytest.fixture(scope="module")
def spirals_trace():
    return TraceSource().first_traces(1)


def pane_text(app) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one("#kernel-body", Static).content)
    return console.export_text()


def test_the_pane_shows_the_formula_and_both_kernels_timed(spirals_trace):
    trace = spirals_trace[0]
    relu = next(i for i, e in enumerate(trace.events) if e.op.lower().startswith("relu")
                and e.phase == "forward")
    product = next(i for i, e in enumerate(trace.events) if textbook_case(e) is not None)
    op, shapes, _ = textbook_case(trace.events[product])
    assert op == "matmul" and shapes[0][1] == shapes[1][0]

    async def run():
        app = StepperApp(traces=spirals_trace, show_timings=True)
        async with app.run_test(size=(150, 50)) as pilot:
            await pilot.press("k")
            app._go_to_index(relu)
            await pilot.pause()
            text = pane_text(app)
            assert "The formula that ran, for every element i" in text
            assert "out[i] = relu(a[i])" in text and "max(0, a)" in text
            app._go_to_index(product)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = pane_text(app)
            assert "The textbook kernel, beside the fast one" in text
            assert "for p in range(k):" in text
            assert "textbook " in text and " ms" in text and "faster" in text

    asyncio.run(run())
