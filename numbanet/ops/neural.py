"""Neural-network operations: softmax, losses, convolution, pooling, dropout.

Each Function's docstring states its forward formula and, on the ``Gradient:`` line, the
backward rule. The work is done by the backend kernels named in
``numbanet/kernels/contract.py`` (``log_softmax``, ``nll_loss_rows``, ``conv2d_forward``,
...); these Functions only arrange the arrays for them, so one class serves the CPU and the
GPU. Backward rules call kernels directly too, so a trace shows exactly which kernels each
backward node ran.

The softmax kernels work on the rows of a 2-D array. An op along another ``dim`` moves that
dim last and flattens the others into rows (:func:`rows_along`), then moves it back.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from numbanet.autograd.function import Function
from numbanet.errors import op_error
from numbanet.random import default_generator


class RowLayout(NamedTuple):
    """How an n-D array was turned into rows: which dim, the axis order, the moved shape."""

    dim: int
    axes: tuple[int, ...]
    moved_shape: tuple[int, ...]


def rows_along(backend, data, dim: int) -> tuple:
    """``data`` as a C-contiguous 2-D array whose rows run along ``dim``, and its layout.

    For a ``(N, C)`` array and ``dim=1`` this is the array itself; for ``(N, C, H, W)`` and
    ``dim=1`` it is the ``(N*H*W, C)`` array of every pixel's channel vector.
    """
    shape = tuple(data.shape) or (1,)  # a 0-d tensor is one row of one element
    axes = tuple(axis for axis in range(len(shape)) if axis != dim) + (dim,)
    moved = backend.reshape(data, shape) if axes == tuple(range(len(shape))) else \
        backend.permute(data, axes)
    moved_shape = tuple(moved.shape)
    rows = backend.reshape(backend.contiguous(moved), (-1, shape[dim]))
    return rows, RowLayout(dim, axes, moved_shape)


def from_rows(backend, rows, layout: RowLayout, shape: tuple):
    """Undo :func:`rows_along`: the rows back in an array of ``shape``."""
    moved = backend.reshape(rows, layout.moved_shape)
    if layout.axes != tuple(range(len(layout.axes))):
        inverse = tuple(int(axis) for axis in np.argsort(layout.axes))
        moved = backend.contiguous(backend.permute(moved, inverse))
    return backend.reshape(moved, tuple(shape))


class LogSoftmax(Function):
    """out = x - log(sum_j e^x_j) along dim, computed as (x - m) - log(sum_j e^(x_j - m))
    with m = max_j x_j, so that no exponential can overflow

    Gradient: d loss/d x = grad - e^out * sum_j grad_j   (e^out is softmax(x))
    """

    @staticmethod
    def forward(ctx, x, dim):
        backend = x._backend
        rows, ctx.layout = rows_along(backend, x._data, dim)
        out_rows = backend.log_softmax(rows)
        ctx.save_for_backward(ctx.wrap(out_rows))
        ctx.mark_for_trace(dim=dim)
        return from_rows(backend, out_rows, ctx.layout, x.shape)

    @staticmethod
    def backward(ctx, grad):
        (out_rows,) = ctx.saved_tensors
        backend = grad._backend
        grad_rows, _ = rows_along(backend, grad._data, ctx.layout.dim)
        grad_x = backend.log_softmax_backward(grad_rows, out_rows._data)
        return ctx.wrap(from_rows(backend, grad_x, ctx.layout, grad.shape)), None


class Softmax(Function):
    """out_i = e^x_i / sum_j e^x_j along dim (with the row maximum subtracted first, which
    leaves the ratio unchanged and keeps e^x from overflowing)

    Gradient: d loss/d x_i = out_i * (grad_i - sum_j grad_j * out_j)
    """

    @staticmethod
    def forward(ctx, x, dim):
        backend = x._backend
        rows, ctx.layout = rows_along(backend, x._data, dim)
        out_rows = backend.softmax(rows)
        ctx.save_for_backward(ctx.wrap(out_rows))
        ctx.mark_for_trace(dim=dim)
        return from_rows(backend, out_rows, ctx.layout, x.shape)

    @staticmethod
    def backward(ctx, grad):
        (out_rows,) = ctx.saved_tensors
        backend = grad._backend
        grad_rows, _ = rows_along(backend, grad._data, ctx.layout.dim)
        grad_x = backend.softmax_backward(grad_rows, out_rows._data)
        return ctx.wrap(from_rows(backend, grad_x, ctx.layout, grad.shape)), None


# ---- negative log-likelihood, shared by NLLLoss and CrossEntropy ---------------------------


def _device_scalar(backend, value, dtype):
    """A 0-d array of ``value`` made on the device by a fill kernel (no copy from the host)."""
    return backend.full((), value, dtype)


def _weighted_targets(backend, targets, weight, ignore_index: int, dtype):
    """(targets safe to index with, per-row weights w_i).

    w_i = weight[t_i] (1 without class weights) and 0 where t_i == ignore_index. Ignored
    rows get target 0 so that no kernel reads outside its row; their weight 0 removes them
    from the loss, its gradient and the mean's denominator.
    """
    kept = backend.ne(targets, _device_scalar(backend, ignore_index, np.int64))
    safe_targets = backend.where(kept, targets, _device_scalar(backend, 0, np.int64))
    row_weights = backend.astype(kept, dtype)
    if weight is not None:
        row_weights = backend.mul(row_weights, backend.gather(weight, safe_targets))
    return safe_targets, row_weights


def _check_targets(backend, safe_targets, num_classes: int, op: str) -> None:
    """Class indices must lie in [0, num_classes): a kernel would read outside the row.

    Checked here, with your line in the message, when the targets are in host memory. On
    the GPU reading them back would stall every step; the loss kernels check them there
    instead and report a bad one at the next copy to the host (``loss.item()``).
    """
    if safe_targets.shape[0] == 0 or not isinstance(safe_targets, np.ndarray):
        return
    lowest = int(backend.to_host(backend.min(safe_targets, 0, False)[0]))
    highest = int(backend.to_host(backend.max(safe_targets, 0, False)[0]))
    if lowest < 0 or highest >= num_classes:
        bad = lowest if lowest < 0 else highest
        raise op_error(IndexError, op, f"Target {bad} is out of bounds. Targets must be class "
                       f"indices in [0, {num_classes - 1}] for an input with {num_classes} "
                       "classes: check the number of outputs of your last layer and your "
                       "labels")


def _nll_forward(ctx, log_probs, targets, weight, ignore_index, reduction, op):
    """The loss from 2-D log-probabilities; stores on ctx what the backward needs."""
    backend = targets._backend
    num_classes = log_probs.shape[1]
    safe_targets, row_weights = _weighted_targets(
        backend, targets._data, None if weight is None else weight._data, ignore_index,
        log_probs.dtype)
    _check_targets(backend, safe_targets, num_classes, op)
    losses = backend.mul(backend.nll_loss_rows(log_probs, safe_targets), row_weights)
    ctx.reduction, ctx.num_classes = reduction, num_classes
    ctx.mark_for_trace(reduction=reduction, ignore_index=ignore_index)
    saved = (ctx.wrap(safe_targets), ctx.wrap(row_weights))
    if reduction == "none":
        return losses, saved
    total = backend.sum(losses, (0,), False)
    if reduction == "sum":
        return total, saved
    weight_sum = backend.sum(row_weights, (0,), False)
    return backend.div(total, weight_sum), saved + (ctx.wrap(weight_sum),)


def _nll_backward(ctx, grad, safe_targets, row_weights, weight_sum, dtype):
    """d loss/d log_probs: -w_i * grad (/ sum w for the mean) at each row's target, else 0."""
    backend = grad._backend
    grad_rows = backend.mul(grad._data, row_weights._data)
    if ctx.reduction == "mean":
        grad_rows = backend.div(grad_rows, weight_sum._data)
    return backend.nll_loss_backward(grad_rows, safe_targets._data, ctx.num_classes, dtype)


class NLLLoss(Function):
    """loss_i = -w_i * log_probs[i, t_i], with w_i = weight[t_i] (1 without weights) and 0
    where t_i == ignore_index; out = sum_i loss_i / sum_i w_i (mean), sum_i loss_i (sum) or
    the vector loss (none)

    Gradient: d out/d log_probs[i, c] = -w_i (divided by sum_i w_i for the mean) where
    c == t_i, else 0
    """

    @staticmethod
    def forward(ctx, log_probs, targets, weight, ignore_index, reduction):
        backend = log_probs._backend
        out, saved = _nll_forward(ctx, backend.contiguous(log_probs._data), targets, weight,
                                  ignore_index, reduction, "nll_loss")
        ctx.dtype = log_probs._data.dtype
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        safe_targets, row_weights, *weight_sum = ctx.saved_tensors
        grad_log_probs = _nll_backward(ctx, grad, safe_targets, row_weights,
                                       weight_sum[0] if weight_sum else None, ctx.dtype)
        return ctx.wrap(grad_log_probs), None, None, None, None


class CrossEntropy(Function):
    """loss_i = -w_i * log softmax(x_i)[t_i] = w_i * (log sum_j e^x_ij - x_i,t_i): log_softmax
    and the negative log-likelihood in one node; w_i and the reductions as in NLLLoss

    Gradient: d out/d x_ij = w_i * (softmax(x_i)_j - [j == t_i]) (divided by sum_i w_i for
    the mean): the predicted probabilities minus the one-hot target
    """

    @staticmethod
    def forward(ctx, logits, targets, weight, ignore_index, reduction):
        backend = logits._backend
        log_probs = backend.log_softmax(backend.contiguous(logits._data))
        out, saved = _nll_forward(ctx, log_probs, targets, weight, ignore_index, reduction,
                                  "cross_entropy")
        ctx.save_for_backward(ctx.wrap(log_probs), *saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        log_probs, safe_targets, row_weights, *weight_sum = ctx.saved_tensors
        grad_log_probs = _nll_backward(ctx, grad, safe_targets, row_weights,
                                       weight_sum[0] if weight_sum else None,
                                       log_probs._data.dtype)
        grad_logits = grad._backend.log_softmax_backward(grad_log_probs, log_probs._data)
        return ctx.wrap(grad_logits), None, None, None, None


# ---- convolution, pooling, dropout ---------------------------------------------------------


class Conv2d(Function):
    """out[n, o, i, j] = bias[o] + sum over c, p, q of
    weight[o, c, p, q] * x_pad[n, c, i*sh + p, j*sw + q]   (x_pad: x with `padding` zeros
    around it; s: the stride)

    Gradient: d loss/d x_pad[n, c, i*sh + p, j*sw + q] += grad[n, o, i, j] * weight[o, c, p, q]
    (every output hands its gradient back to the inputs it read, through the same weights);
    d loss/d weight[o, c, p, q] = sum over n, i, j of grad[n, o, i, j] * x_pad[n, c, i*sh + p,
    j*sw + q]; d loss/d bias[o] = sum over n, i, j of grad[n, o, i, j]
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        backend = x._backend
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        ctx.mark_for_trace(stride=list(stride), padding=list(padding))
        return backend.conv2d_forward(
            backend.contiguous(x._data), backend.contiguous(weight._data),
            None if bias is None else backend.contiguous(bias._data), stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        backend = grad._backend
        grad_y = backend.contiguous(grad._data)
        needs = ctx.needs_input_grad
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            grad_x = ctx.wrap(backend.conv2d_input_grad(
                grad_y, backend.contiguous(weight._data), tuple(x.shape), ctx.stride,
                ctx.padding))
        if needs[1]:
            grad_weight = ctx.wrap(backend.conv2d_weight_grad(
                grad_y, backend.contiguous(x._data), tuple(weight.shape), ctx.stride,
                ctx.padding))
        if needs[2]:
            grad_bias = ctx.wrap(backend.sum(grad_y, (0, 2, 3), False))
        return grad_x, grad_weight, grad_bias, None, None


class MaxPool2d(Function):
    """out[n, c, i, j] = max over p < kh, q < kw of x_pad[n, c, i*sh + p, j*sw + q]
    (x_pad: x with `padding` cells of -inf around it); indices[n, c, i, j] = h * W + w, where
    in its (H, W) plane that maximum was found

    Gradient: d loss/d x[n, c, h, w] = the sum of grad[n, c, i, j] over the windows whose
    maximum was x[n, c, h, w]; every other input gets 0 (max passes the gradient to the winner)
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        backend = x._backend
        out, indices = backend.max_pool2d_forward(
            backend.contiguous(x._data), kernel_size, stride, padding)
        ctx.input_shape = tuple(x.shape)
        ctx.save_for_backward(ctx.wrap(indices))
        ctx.mark_for_trace(kernel_size=list(kernel_size), stride=list(stride),
                           padding=list(padding))
        return out, indices

    @staticmethod
    def backward(ctx, grad, grad_indices=None):
        (indices,) = ctx.saved_tensors
        backend = grad._backend
        grad_x = backend.max_pool2d_backward(backend.contiguous(grad._data), indices._data,
                                             ctx.input_shape)
        return ctx.wrap(grad_x), None, None, None


class Dropout(Function):
    """out = x * mask, mask = 1/(1-p) with probability 1-p, else 0 (for dropout2d one mask
    value per (sample, channel), broadcast over the plane); scaling the kept values by
    1/(1-p) keeps the expected value of out equal to x

    Gradient: d out/d x = mask (dropped positions pass no gradient back)
    """

    @staticmethod
    def forward(ctx, x, p, mask_shape):
        backend = x._backend
        seed = default_generator().next_seed()  # numbanet.manual_seed makes masks repeat
        mask = backend.dropout_mask(tuple(mask_shape), 1.0 - p, x._data.dtype, seed)
        ctx.save_for_backward(ctx.wrap(mask))
        ctx.mark_for_trace(p=p, seed=seed)
        return backend.mul(x._data, mask)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return ctx.wrap(grad._backend.mul(grad._data, mask._data)), None, None
