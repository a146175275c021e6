"""The convolution kernels' two patch layouts (numbanet/kernels/cpu/conv.py).

Patches of ``ROWS_LAYOUT_MIN_PATCH`` numbers or more are handled as channels-last rows:
the input gradient builds their gradients as rows and adds them onto channels-last pixels
in runs, the weight gradient reads them in place from kernel-row windows, laid out a
chunk of output rows at a time. Shorter patches are gathered as columns. The forward pass
gathers columns too, except for stride 1 with patches longer than the output channels and
wide enough images, where the columns are shifted runs of the image (the last three
cases). These cases put patches over every edge (padding wider than the kernel, strides
longer than it, one channel with a wide kernel) on both sides of the threshold, and check
the forward pass and both gradients against the definition, one output position at a
time in float64.
"""

import numpy as np
import pytest

from numbanet.kernels.cpu import conv

RNG = np.random.default_rng(16)


def definition(x, weight, grad_y, stride, padding):
    """(y, grad_x, grad_weight) of ``y = conv2d(x, weight)`` for the upstream ``grad_y``."""
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    out_h, out_w = grad_y.shape[2:]
    y = np.zeros(grad_y.shape)
    grad_padded = np.zeros(padded.shape)
    grad_weight = np.zeros(weight.shape)
    for i in range(out_h):
        for j in range(out_w):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            patch = padded[:, :, rows, cols]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight)
            grad_padded[:, :, rows, cols] += np.einsum("no,ochw->nchw", grad_y[:, :, i, j],
                                                       weight)
            grad_weight += np.einsum("nchw,no->ochw", patch, grad_y[:, :, i, j])
    grad_x = grad_padded[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    return y, grad_x, grad_weight


SEVERAL_WINDOW_CHUNKS = ((1, 48, 39, 39), (3, 48, 3, 3), (1, 1), (1, 1))
CASES = [  # x shape, weight shape, stride, padding
    ((2, 32, 10, 9), (5, 32, 3, 3), (1, 1), (0, 0)),  # the seed CNN's second layer, small
    ((2, 32, 7, 8), (6, 32, 3, 3), (1, 1), (1, 1)),  # padding: runs cut at both sides
    ((2, 1, 12, 11), (4, 1, 7, 7), (2, 1), (3, 4)),  # one channel, 49-number patches
    ((1, 8, 6, 6), (3, 8, 3, 3), (4, 4), (5, 5)),  # padding wider than the kernel
    ((2, 4, 9, 10), (7, 4, 4, 2), (3, 5), (2, 0)),  # strides longer than the kernel
    ((2, 3, 8, 8), (2, 3, 3, 3), (2, 2), (1, 1)),  # 27 numbers: columns, just below
    SEVERAL_WINDOW_CHUNKS,  # and the forward over shifted image rows, padded
    ((2, 16, 9, 17), (5, 16, 3, 3), (1, 1), (0, 0)),  # forward over shifted image rows
    ((2, 8, 7, 20), (3, 8, 2, 3), (1, 1), (1, 2)),  # the same, padded, kh != kw
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, weight_shape, stride, padding", CASES)
def test_both_layouts_match_the_definition(dtype, x_shape, weight_shape, stride, padding):
    x = RNG.standard_normal(x_shape).astype(dtype)
    weight = RNG.standard_normal(weight_shape).astype(dtype)
    bias = RNG.standard_normal(weight_shape[0]).astype(dtype)
    y = conv.conv2d_forward(x, weight, bias, stride, padding)
    grad_y = RNG.standard_normal(y.shape).astype(dtype)
    expected_y, expected_grad_x, expected_grad_weight = definition(
        x.astype(np.float64), weight.astype(np.float64), grad_y.astype(np.float64), stride,
        padding)
    tolerance = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10}
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected_y + bias.reshape(1, -1, 1, 1), **tolerance)
    grad_x = conv.conv2d_input_grad(grad_y, weight, x_shape, stride, padding)
    assert grad_x.dtype == dtype and grad_x.shape == x_shape
    np.testing.assert_allclose(grad_x, expected_grad_x, **tolerance)
    grad_weight = conv.conv2d_weight_grad(grad_y, x, weight_shape, stride, padding)
    assert grad_weight.dtype == dtype and grad_weight.shape == weight_shape
    np.testing.assert_allclose(grad_weight, expected_grad_weight, **tolerance)


def test_the_cases_cover_both_layouts():
    sizes = [int(np.prod(weight_shape[1:])) for _, weight_shape, _, _ in CASES]
    assert min(sizes) < conv.ROWS_LAYOUT_MIN_PATCH <= max(sizes)


def test_a_case_lays_out_its_windows_in_several_ragged_chunks():
    """The weight gradient's windows hold whole output rows, ``WINDOW_CHUNK_BYTES`` at
    most: ``SEVERAL_WINDOW_CHUNKS`` needs several, each ending in a partial block of 4
    positions, in float32 and float64."""
    x_shape, (_, _, kernel_h, kernel_w), _, (pad_h, pad_w) = SEVERAL_WINDOW_CHUNKS
    _, channels, height, width = x_shape
    out_h, out_w = height + 2 * pad_h - kernel_h + 1, width + 2 * pad_w - kernel_w + 1
    for itemsize in (4, 8):
        row_bytes = (out_w - 1 + kernel_w) * kernel_h * channels * itemsize
        chunk_rows = conv.WINDOW_CHUNK_BYTES // row_bytes
        assert 1 < chunk_rows < out_h and chunk_rows * out_w % 4 != 0


@pytest.mark.torch
def test_seed_cnn_shapes_match_torch_across_threads():
    """The seed CNN's 32 -> 64 convolution at batch 8: the parallel path (one worker per
    core) against PyTorch's kernels."""
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((8, 32, 26, 26)).astype(np.float32)
    weight = RNG.standard_normal((64, 32, 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(64).astype(np.float32)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, torch.tensor(bias))
    grad_y = RNG.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(grad_y))
    scale = {"rtol": 1e-4, "atol": 1e-3}
    np.testing.assert_allclose(conv.conv2d_forward(x, weight, bias), ty.detach().numpy(),
                               **scale)
    np.testing.assert_allclose(conv.conv2d_input_grad(grad_y, weight, x.shape),
                               tx.grad.numpy(), **scale)
    np.testing.assert_allclose(conv.conv2d_weight_grad(grad_y, x, weight.shape),
                               tw.grad.numpy(), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("channels_in", [1, 32])  # the columns and the rows layouts
def test_workers_on_threads_match_one_worker(channels_in):
    """Two workers, run at once on two threads (nogil kernels on OnThreads' pool), give
    the one-worker results: the forward pass and the input gradient bit for bit (each
    image is one worker's), the weight gradient up to the order its two partial sums
    are added in."""
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    x = RNG.standard_normal((8, channels_in, 14, 14)).astype(np.float32)
    weight = RNG.standard_normal((64, channels_in, 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(64).astype(np.float32)
    grad_y = RNG.standard_normal((8, 64, 12, 12)).astype(np.float32)
    threads = numba.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            numba.set_num_threads(count)
            assert conv._workers(grad_y.size * weight[0].size, len(x)) == count  # split
            results.append((conv.conv2d_forward(x, weight, bias),
                            conv.conv2d_input_grad(grad_y, weight, x.shape),
                            conv.conv2d_weight_grad(grad_y, x, weight.shape)))
    finally:
        numba.set_num_threads(threads)
    (y1, gx1, gw1), (y2, gx2, gw2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_allclose(gw1, gw2, rtol=1e-5, atol=1e-4)
