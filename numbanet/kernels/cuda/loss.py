"""Negative log-likelihood: pick each row's log-probability of its target class.

``loss_i = -log_probs[i, target_i]``; its gradient with respect to ``log_probs`` is
``-1`` at ``(i, target_i)`` and 0 elsewhere (times the upstream gradient of row ``i``).
Averaging over rows and class weights belong to the caller (``numbanet/ops``).

A target outside ``[0, classes)`` raises ``IndexError`` at the next copy to the host (see
``indexing.check_in_range``); until then the kernels give its row a NaN loss and no gradient.
"""

import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.indexing import check_in_range
from numbanet.kernels.cuda.layout import DeviceArray, grid_stride_launch
from numbanet.kernels.cuda.memory import empty
from numbanet.kernels.cuda.views import broadcast_to
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def nll_loss_rows_kernel(losses, log_probs, targets):
    """losses[i] = -log_probs[i, targets[i]] (NaN for a target that is no class index);
    thread t takes rows t, t + T, t + 2T, ..."""
    for row in range(cuda.grid(1), losses.size, cuda.gridsize(1)):
        target = targets[row]
        if 0 <= target < log_probs.shape[1]:
            losses[row] = -log_probs[row, target]
        else:
            losses[row] = math.nan


@cuda.jit(cache=True)
def nll_loss_backward_kernel(grad_log_probs, grad_rows, targets):
    """grad_log_probs[i, c] = -grad_rows[i] if c == targets[i] else 0.

    One thread per element of the (rows, classes) output, grid-stride, so every element is
    written exactly once (no separate zero fill).
    """
    classes = grad_log_probs.shape[1]
    for linear in range(cuda.grid(1), grad_log_probs.size, cuda.gridsize(1)):
        row, column = linear // classes, linear % classes
        grad_log_probs[row, column] = -grad_rows[row] if targets[row] == column else 0


def nll_loss_rows(log_probs: DeviceArray, targets: DeviceArray) -> DeviceArray:
    """Per-row loss ``-log_probs[i, targets[i]]`` of a 2-D array and int64 targets."""
    if log_probs.ndim != 2 or targets.shape[0] != log_probs.shape[0]:
        raise ValueError(f"nll_loss: log-probabilities of shape {tuple(log_probs.shape)} "
                         f"need one target per row, got {targets.shape[0]}")
    _check_targets(targets, log_probs.shape[1])
    losses = empty((log_probs.shape[0],), log_probs.dtype)
    if losses.size:
        blocks, threads = grid_stride_launch(losses.size)
        launch(nll_loss_rows_kernel, losses, log_probs, targets, grid=blocks, block=threads)
    return losses


def nll_loss_backward(
    grad_rows: DeviceArray, targets: DeviceArray, num_classes: int, dtype
) -> DeviceArray:
    """d loss / d log_probs: ``(rows, num_classes)`` zeros with ``-grad_rows[i]`` at each
    row's target; ``grad_rows`` may be a single value shared by all rows."""
    _check_targets(targets, num_classes)
    rows = targets.shape[0]
    grad_log_probs = empty((rows, num_classes), np.dtype(dtype))
    if grad_log_probs.size:
        blocks, threads = grid_stride_launch(grad_log_probs.size)
        launch(
            nll_loss_backward_kernel, grad_log_probs, broadcast_to(grad_rows, (rows,)), targets,
            grid=blocks, block=threads,
        )
    return grad_log_probs


def _check_targets(targets: DeviceArray, classes: int) -> None:
    """IndexError, worded as on the CPU, when a target is no class index."""
    check_in_range(targets, classes, lambda bad, where, _: (
        f"Target {bad} is out of bounds: class indices must lie in [0, {classes}) for "
        f"{classes} classes (sample {where})"))
