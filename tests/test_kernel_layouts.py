"""The CPU matmul and conv kernels on the operand layouts a training step hands them.

A linear layer's backward multiplies a transposed view (``grad.T @ x``), and the
outer-product kernel (:func:`numbanet.kernels.cpu.matmul.multiply_rows`) reads such views in
place, splits C into blocks of rows and columns, and finishes ragged edges (rows or sums
not a multiple of 4) separately: every one of those paths is checked against numpy here,
and the convolutions built on it against PyTorch when it is installed.
"""

from importlib import import_module

import numba
import numpy as np
import pytest

matmul = import_module("numbanet.kernels.cpu.matmul")
conv = import_module("numbanet.kernels.cpu.conv")

TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, m", [(1, 1, 1), (5, 3, 7), (64, 64, 784), (9, 10, 33),
                                     (130, 6, 1030)])
def test_outer_product_path_with_a_transposed_left_operand(dtype, n, k, m):
    """``grad.T @ x``: A a transposed view, B row-major; ragged rows and sums (column
    chunks: tests/test_matmul_vector_width.py)."""
    a = random((k, n), dtype).T
    b = random((k, m), dtype, seed=1)
    np.testing.assert_allclose(matmul.matmul(a, b), a @ b, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outer_product_path_with_a_stepped_left_operand(dtype):
    big = random((20, 30), dtype)
    a = big[1::2, ::3]  # (10, 10), neither row nor column contiguous
    b = random((10, 13), dtype, seed=1)
    np.testing.assert_allclose(matmul.matmul(a, b), a @ b, **TOLERANCE[dtype])


def test_outer_product_kernel_writes_only_its_block():
    a = random((10, 7), np.float32)
    b = random((7, 12), np.float32, seed=1)
    c = np.full((10, 12), 5.0, np.float32)
    matmul.multiply_rows(a, b, c, 2, 9, 3, 11)
    expected = np.full((10, 12), 5.0, np.float32)
    expected[2:9, 3:11] += a[2:9] @ b[:, 3:11]
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_outer_product_path_splits_rows_and_columns_across_threads():
    previous = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        for n, k, m in [(64, 64, 784), (130, 6, 1030), (6, 200, 300)]:
            a = random((k, n), np.float32).T
            b = random((k, m), np.float32, seed=1)
            np.testing.assert_allclose(matmul.matmul(a, b), a @ b, **TOLERANCE[np.float32])
        a3 = random((3, 9, 40), np.float32)
        b3 = random((3, 40, 200), np.float32, seed=1)
        np.testing.assert_allclose(matmul.matmul(a3, b3), a3 @ b3, **TOLERANCE[np.float32])
    finally:
        numba.set_num_threads(previous)


CONV_CASES = [  # (x shape, weight shape, stride, padding): the seed CNN's two layers, then more
    ((2, 1, 28, 28), (32, 1, 3, 3), 1, 0),
    ((2, 32, 26, 26), (64, 32, 3, 3), 1, 0),
    ((2, 3, 11, 9), (5, 3, 3, 2), (2, 1), (1, 0)),
    ((1, 6, 7, 7), (7, 6, 5, 5), 1, 2),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv_kernels_match_pytorch(x_shape, w_shape, stride, padding):
    torch = pytest.importorskip("torch")
    x = random(x_shape, np.float32)
    weight = random(w_shape, np.float32, seed=1) * 0.1
    bias = random(w_shape[:1], np.float32, seed=2)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(weight).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, torch.from_numpy(bias), stride, padding)
    grad_y = random(tuple(ty.shape), np.float32, seed=3)
    ty.backward(torch.from_numpy(grad_y))
    np.testing.assert_allclose(conv.conv2d_forward(x, weight, bias, stride, padding),
                               ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(conv.conv2d_input_grad(grad_y, weight, x_shape, stride,
                                                      padding),
                               tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(conv.conv2d_weight_grad(grad_y, x, w_shape, stride, padding),
                               tw.grad.numpy(), rtol=1e-3, atol=1e-3)
