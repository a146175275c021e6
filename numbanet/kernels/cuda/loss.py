"""Negative log-likelihood: pick each row's log-probability of its target class.

``loss_i = -log_probs[i, target_i] * w_i`` (``w_i`` the class weight of the target, 1
without weights, 0 for a row whose target is ``ignore_index``); its gradient with respect
to ``log_probs`` is ``-w_i`` at ``(i, target_i)`` and 0 elsewhere (times the upstream
gradient of row ``i``, divided by ``sum_i w_i`` for the mean). Summing the losses belongs
to the caller (``numbanet/ops``).

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
def nll_loss_rows_kernel(losses, safe_targets, row_weights, log_probs, targets, weight,
                         weighted, ignore_index):
    """losses[i] = -log_probs[i, t_i] * w_i, with w_i = weight[t_i] (1 when not
    ``weighted``); a row whose target is ``ignore_index`` gets loss and weight 0 and safe
    target 0, a target that is no class index a NaN loss (``safe_targets`` keeps it, for
    the range check). Thread t takes rows t, t + T, t + 2T, ..."""
    for row in range(cuda.grid(1), losses.size, cuda.gridsize(1)):
        target = targets[row]
        if target == ignore_index:
            losses[row] = 0
            safe_targets[row] = 0
            row_weights[row] = 0
        elif 0 <= target < log_probs.shape[1]:
            w = weight[target] if weighted else losses.dtype.type(1)
            losses[row] = -log_probs[row, target] * w
            safe_targets[row] = target
            row_weights[row] = w
        else:
            losses[row] = math.nan
            safe_targets[row] = target
            row_weights[row] = 0


@cuda.jit(cache=True)
def nll_loss_backward_kernel(grad_log_probs, grad, safe_targets, row_weights, weight_sum,
                             mean):
    """grad_log_probs[i, c] = -(grad_i * w_i) (divided by sum_i w_i for the mean, by 1 when
    that sum is 0) if c == t_i, else 0.

    One thread per element of the (rows, classes) output, grid-stride, so every element is
    written exactly once (no separate zero fill). ``grad``: one value per row (a single
    shared one comes broadcast, with stride 0).
    """
    classes = grad_log_probs.shape[1]
    for linear in range(cuda.grid(1), grad_log_probs.size, cuda.gridsize(1)):
        row, column = linear // classes, linear % classes
        if safe_targets[row] == column:
            scaled = grad[row] * row_weights[row]
            if mean and weight_sum[0] != 0:
                scaled = scaled / weight_sum[0]
            grad_log_probs[row, column] = -scaled
        else:
            grad_log_probs[row, column] = 0


def nll_loss_rows(log_probs: DeviceArray, targets: DeviceArray, weight: DeviceArray | None,
                  ignore_index: int) -> tuple[DeviceArray, DeviceArray, DeviceArray]:
    """``(losses, safe_targets, row_weights)`` of a 2-D array and int64 targets, as on the
    CPU; a target that is no class index is reported at the next copy to the host."""
    if log_probs.ndim != 2 or targets.shape[0] != log_probs.shape[0]:
        raise ValueError(f"nll_loss: log-probabilities of shape {tuple(log_probs.shape)} "
                         f"need one target per row, got {targets.shape[0]}")
    rows, classes = log_probs.shape
    losses = empty((rows,), log_probs.dtype)
    row_weights = empty((rows,), log_probs.dtype)
    safe_targets = empty((rows,), np.int64)
    weighted = weight is not None  # else the kernel reads no weight: row_weights stands in
    weight = weight if weighted else row_weights
    if rows:
        blocks, threads = grid_stride_launch(rows)
        launch(nll_loss_rows_kernel, losses, safe_targets, row_weights, log_probs, targets,
               weight, weighted, ignore_index, grid=blocks, block=threads)
    check_in_range(safe_targets, classes, lambda bad, where, _: (
        f"Target {bad} is out of bounds: class indices must lie in [0, {classes}) for "
        f"{classes} classes (sample {where})"))
    return losses, safe_targets, row_weights


def nll_loss_backward(grad: DeviceArray, safe_targets: DeviceArray, row_weights: DeviceArray,
                      weight_sum: DeviceArray | None, num_classes: int, dtype) -> DeviceArray:
    """d loss / d log_probs: ``(rows, num_classes)`` zeros with ``-grad_i * w_i`` (divided
    by ``weight_sum`` when given) at each row's target; ``grad`` may be a single value
    shared by all rows."""
    rows = safe_targets.shape[0]
    grad_log_probs = empty((rows, num_classes), np.dtype(dtype))
    mean = weight_sum is not None
    if grad_log_probs.size:
        blocks, threads = grid_stride_launch(grad_log_probs.size)
        launch(nll_loss_backward_kernel, grad_log_probs, broadcast_to(grad, (rows,)),
               safe_targets, row_weights, broadcast_to(weight_sum, (1,)) if mean else row_weights,
               mean, grid=blocks, block=threads)
    return grad_log_probs
