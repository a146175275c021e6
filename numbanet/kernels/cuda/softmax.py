"""Softmax and log-softmax of each row, and their backward rules, one block per row.

``softmax(x)_j = exp(x_j - max(x)) / sum_k exp(x_k - max(x))``. Subtracting the row's
maximum first changes nothing mathematically and keeps every ``exp`` at most 1, so large
logits cannot overflow. ``log_softmax(x)_j = x_j - max(x) - log(sum_k exp(x_k - max(x)))``.

Thread mapping: block ``b`` handles rows ``b, b + G, ...``; its threads stride across the
row's columns (thread ``t`` takes columns ``t, t + B, ...``), and the row's maximum and sum
are combined across the block with the shared-memory trees of ``reductions.py``.
"""

import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import DeviceArray
from numbanet.kernels.cuda.memory import empty
from numbanet.kernels.cuda.reductions import (
    REDUCTION_THREADS,
    block_max,
    block_sum,
    reduction_threads,
    row_blocks,
)
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def softmax_rows_kernel(out, x, take_log):
    """out[row] = softmax(x[row]), or log_softmax when ``take_log``; x, out 2-D.

    Three passes over the row: its maximum, the sum of exp(x - maximum), then the outputs.
    """
    partials = cuda.shared.array(REDUCTION_THREADS, dtype=out.dtype)
    columns = x.shape[1]
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        largest = -math.inf
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            value = x[row, column]
            if value > largest or value != value:
                largest = value
        row_max = block_max(partials, largest)
        total = 0.0
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            total += math.exp(x[row, column] - row_max)
        row_sum = block_sum(partials, total)
        log_row_sum = math.log(row_sum)
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            shifted = x[row, column] - row_max
            if take_log:
                out[row, column] = shifted - log_row_sum
            else:
                out[row, column] = math.exp(shifted) / row_sum


@cuda.jit(cache=True)
def softmax_backward_rows_kernel(grad_x, grad, output, output_is_log):
    """The gradient of softmax (or log_softmax) with respect to its input, row by row.

    With y = softmax(x) and upstream gradient g: ``g_x = y * (g - sum(g * y))``.
    With y = log_softmax(x): ``g_x = g - exp(y) * sum(g)``. One block-wide sum per row.
    """
    partials = cuda.shared.array(REDUCTION_THREADS, dtype=grad_x.dtype)
    columns = grad.shape[1]
    for row in range(cuda.blockIdx.x, grad.shape[0], cuda.gridDim.x):
        total = 0.0
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            if output_is_log:
                total += grad[row, column]
            else:
                total += grad[row, column] * output[row, column]
        row_sum = block_sum(partials, total)
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            if output_is_log:
                grad_x[row, column] = grad[row, column] - math.exp(output[row, column]) * row_sum
            else:
                grad_x[row, column] = output[row, column] * (grad[row, column] - row_sum)


def softmax(x: DeviceArray) -> DeviceArray:
    """Softmax of each row of the 2-D float array ``x``."""
    return _softmax(x, take_log=False)


def log_softmax(x: DeviceArray) -> DeviceArray:
    """Log-softmax of each row of the 2-D float array ``x``."""
    return _softmax(x, take_log=True)


def softmax_backward(grad: DeviceArray, output: DeviceArray) -> DeviceArray:
    """output * (grad - rowsum(grad * output)), with output = softmax(x)."""
    return _softmax_backward(grad, output, output_is_log=False)


def log_softmax_backward(grad: DeviceArray, output: DeviceArray) -> DeviceArray:
    """grad - exp(output) * rowsum(grad), with output = log_softmax(x)."""
    return _softmax_backward(grad, output, output_is_log=True)


def _softmax(x: DeviceArray, take_log: bool) -> DeviceArray:
    _check_rows(x)
    out = empty(tuple(x.shape), x.dtype)
    if out.size:
        launch(softmax_rows_kernel, out, x, take_log, grid=row_blocks(x.shape[0]),
               block=reduction_threads(x.shape[1]))
    return out


def _softmax_backward(grad: DeviceArray, output: DeviceArray, output_is_log: bool):
    _check_rows(output)
    grad_x = empty(tuple(output.shape), np.result_type(grad.dtype, output.dtype))
    if grad_x.size:
        launch(
            softmax_backward_rows_kernel, grad_x, grad, output, output_is_log,
            grid=row_blocks(output.shape[0]), block=reduction_threads(output.shape[1]),
        )
    return grad_x


def _check_rows(x: DeviceArray) -> None:
    if x.ndim != 2 or x.dtype.kind != "f":
        raise TypeError(f"expected a 2-D float array, got {x.ndim}-D {x.dtype}")

