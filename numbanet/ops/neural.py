"""Neural-network operations: softmax, losses, convolution, pooling, dropout.

Each Function's docstring states its forward formula and, on the ``Gradient:`` line, the
backward rule. The work is done by the backend kernels named in
``numbanet/kernels/contract.py`` (``log_softmax``, ``nll_loss_rows``, ``conv2d_forward``,
...); these Functions only arrange the arrays for them (``ctx.kernels`` is the input's
device's kernel module), so one class serves the CPU and the GPU. Backward rules work on
Tensors and run each fused gradient kernel (``conv2d_input_grad``, ``softmax_backward``)
through ``ctx.fused_kernel``, so a trace shows exactly which kernels each backward node
ran.

The softmax kernels work on the rows of a 2-D array. An op along another ``dim`` moves that
dim last and flattens the others into rows (:func:`rows_along`), then moves it back.
"""

from __future__ import annotations

from typing import NamedTuple

from numbanet.autograd.function import KernelFunction
from numbanet.errors import op_error
from numbanet.random import default_generator
from numbanet.shapes import inverse_permutation


class RowLayout(NamedTuple):
    """How an n-D array was turned into rows: which dim, the axis order, the moved shape."""

    dim: int
    axes: tuple[int, ...]
    moved_shape: tuple[int, ...]


def rows_along(kernels, data, dim: int) -> tuple:
    """``data`` as a C-contiguous 2-D array whose rows run along ``dim``, and its layout.

    For a ``(N, C)`` array and ``dim=1`` this is the array itself; for ``(N, C, H, W)`` and
    ``dim=1`` it is the ``(N*H*W, C)`` array of every pixel's channel vector.
    """
    shape = tuple(data.shape) or (1,)  # a 0-d tensor is one row of one element
    axes = tuple(axis for axis in range(len(shape)) if axis != dim) + (dim,)
    moved = kernels.reshape(data, shape) if axes == tuple(range(len(shape))) else \
        kernels.permute(data, axes)
    moved_shape = tuple(moved.shape)
    rows = kernels.reshape(kernels.contiguous(moved), (-1, shape[dim]))
    return rows, RowLayout(dim, axes, moved_shape)


def from_rows(kernels, rows, layout: RowLayout, shape: tuple):
    """Undo :func:`rows_along`: the rows back in an array of ``shape``."""
    moved = kernels.reshape(rows, layout.moved_shape)
    if layout.axes != tuple(range(len(layout.axes))):
        moved = kernels.contiguous(kernels.permute(moved, inverse_permutation(layout.axes)))
    return kernels.reshape(moved, tuple(shape))


def rows_of(tensor, layout: RowLayout):
    """:func:`rows_along` for a Tensor (a backward rule's upstream gradient or saved output),
    with the layout the forward found."""
    if layout.axes != tuple(range(len(layout.axes))):
        tensor = tensor.permute(*layout.axes)
    rows = tensor.contiguous()
    return rows if rows.dim() == 2 else rows.reshape(-1, layout.moved_shape[-1])


def tensor_from_rows(rows, layout: RowLayout, shape: tuple):
    """:func:`from_rows` for a Tensor."""
    moved = rows.reshape(layout.moved_shape)
    if layout.axes != tuple(range(len(layout.axes))):
        moved = moved.permute(*inverse_permutation(layout.axes))
    return moved.reshape(shape)


class LogSoftmax(KernelFunction):
    """out = x - log(sum_j e^x_j) along dim, computed as (x - m) - log(sum_j e^(x_j - m))
    with m = max_j x_j, so that no exponential can overflow

    Gradient: d loss/d x = grad - e^out * sum_j grad_j   (e^out is softmax(x))
    """

    @staticmethod
    def forward(ctx, x, dim):
        rows, ctx.layout = rows_along(ctx.kernels, x, dim)
        ctx.shape = tuple(x.shape)
        out = from_rows(ctx.kernels, ctx.kernels.log_softmax(rows), ctx.layout, ctx.shape)
        ctx.save_for_backward(out)
        ctx.mark_for_trace(dim=dim)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        grad_rows = ctx.fused_kernel("log_softmax_backward", rows_of(grad, ctx.layout),
                                     rows_of(out, ctx.layout))
        return tensor_from_rows(grad_rows, ctx.layout, ctx.shape), None


class Softmax(KernelFunction):
    """out_i = e^x_i / sum_j e^x_j along dim (with the row maximum subtracted first, which
    leaves the ratio unchanged and keeps e^x from overflowing)

    Gradient: d loss/d x_i = out_i * (grad_i - sum_j grad_j * out_j)
    """

    @staticmethod
    def forward(ctx, x, dim):
        rows, ctx.layout = rows_along(ctx.kernels, x, dim)
        ctx.shape = tuple(x.shape)
        out = from_rows(ctx.kernels, ctx.kernels.softmax(rows), ctx.layout, ctx.shape)
        ctx.save_for_backward(out)
        ctx.mark_for_trace(dim=dim)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        grad_rows = ctx.fused_kernel("softmax_backward", rows_of(grad, ctx.layout),
                                     rows_of(out, ctx.layout))
        return tensor_from_rows(grad_rows, ctx.layout, ctx.shape), None


# ---- negative log-likelihood, shared by NLLLoss and CrossEntropy ---------------------------


def _nll_forward(ctx, log_probs, targets, weight, ignore_index, reduction, op):
    """The loss from 2-D log-probabilities; stores on ctx what the backward needs and
    returns it with the loss: (safe targets, row weights[, their sum for the mean]).

    One kernel (``nll_loss_rows``) reads each row's target once: it picks the row's loss
    ``-log_probs[i, t_i] * w_i`` and its weight ``w_i`` (``weight[t_i]``, 1 without class
    weights, 0 where ``t_i == ignore_index``) and checks that ``t_i`` is a class index.
    On the CPU a bad target raises here, with your line in the message. On the GPU
    reading the verdict back would stall every step; the kernel gives the row a NaN loss
    and the error is raised at the next copy to the host (``loss.item()``).
    """
    kernels = ctx.kernels
    num_classes = log_probs.shape[1]
    try:
        losses, safe_targets, row_weights = kernels.nll_loss_rows(log_probs, targets, weight,
                                                                  ignore_index)
    except IndexError as error:
        raise op_error(IndexError, op, f"{error}: check the number of outputs of your last "
                       "layer and your labels") from None
    ctx.num_classes, ctx.dtype = num_classes, log_probs.dtype
    ctx.mark_for_trace(reduction=reduction, ignore_index=ignore_index)
    saved = (safe_targets, row_weights)
    if reduction == "none":
        return losses, saved
    total = kernels.sum(losses, (0,), False)
    if reduction == "sum":
        return total, saved
    weight_sum = kernels.sum(row_weights, (0,), False)
    return kernels.div(total, weight_sum), saved + (weight_sum,)


def _nll_backward(ctx, grad, safe_targets, row_weights, weight_sum):
    """d loss/d log_probs: -w_i * grad (/ sum w for the mean) at each row's target, else 0.

    Every row ignored: sum w = 0 and the mean is 0/0 = nan, but no row contributes, so
    each gradient is 0 (as in PyTorch): the kernel divides those zeros by 1 instead."""
    return ctx.fused_kernel("nll_loss_backward", grad, safe_targets, row_weights, weight_sum,
                            ctx.num_classes, ctx.dtype)


class NLLLoss(KernelFunction):
    """loss_i = -w_i * log_probs[i, t_i], with w_i = weight[t_i] (1 without weights) and 0
    where t_i == ignore_index; out = sum_i loss_i / sum_i w_i (mean), sum_i loss_i (sum) or
    the vector loss (none)

    Gradient: d out/d log_probs[i, c] = -w_i (divided by sum_i w_i for the mean) where
    c == t_i, else 0
    """

    torch_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, log_probs, targets, weight, ignore_index, reduction):
        out, saved = _nll_forward(ctx, ctx.kernels.contiguous(log_probs), targets, weight,
                                  ignore_index, reduction, "nll_loss")
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        safe_targets, row_weights, *weight_sum = ctx.saved_tensors
        grad_log_probs = _nll_backward(ctx, grad, safe_targets, row_weights,
                                       weight_sum[0] if weight_sum else None)
        return grad_log_probs, None, None, None, None


class MseLoss(KernelFunction):
    """loss = mean over all elements of (input - target)^2 (reduction "mean"), their sum
    ("sum"), or each (input - target)^2 kept ("none")

    Gradient: d loss/d input = 2 (input - target) / n times the upstream gradient, n the
    number of elements for "mean" (1 otherwise); d loss/d target is its negative
    """

    @staticmethod
    def forward(ctx, input, target, reduction):  # noqa: A002 - PyTorch's argument name
        kernels = ctx.kernels
        difference = kernels.sub(input, target)
        ctx.save_for_backward(difference)
        # (no elements: no gradient to scale)
        ctx.scale = 2.0 / difference.size if reduction == "mean" and difference.size else 2.0
        ctx.mark_for_trace(reduction=reduction)
        squared = kernels.mul(difference, difference)
        if reduction == "none":
            return squared
        total = kernels.sum(squared, (), False)
        if reduction == "mean":  # of no elements: 0 / 0 = nan, as in PyTorch
            kernels.div(total, kernels.full((), difference.size, total.dtype), out=total)
        return total

    @staticmethod
    def backward(ctx, grad):
        (difference,) = ctx.saved_tensors
        grad_input = difference * ctx.scale * grad
        needs = ctx.needs_input_grad
        return (grad_input if needs[0] else None), (-grad_input if needs[1] else None), None


class CrossEntropy(KernelFunction):
    """loss_i = -w_i * log softmax(x_i)[t_i] = w_i * (log sum_j e^x_ij - x_i,t_i): log_softmax
    and the negative log-likelihood in one node; w_i and the reductions as in NLLLoss

    Gradient: d out/d x_ij = w_i * (softmax(x_i)_j - [j == t_i]) (divided by sum_i w_i for
    the mean): the predicted probabilities minus the one-hot target
    """

    torch_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, logits, targets, weight, ignore_index, reduction):
        log_probs = ctx.kernels.log_softmax(ctx.kernels.contiguous(logits))
        out, saved = _nll_forward(ctx, log_probs, targets, weight, ignore_index, reduction,
                                  "cross_entropy")
        ctx.save_for_backward(log_probs, *saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        log_probs, safe_targets, row_weights, *weight_sum = ctx.saved_tensors
        grad_log_probs = _nll_backward(ctx, grad, safe_targets, row_weights,
                                       weight_sum[0] if weight_sum else None)
        grad_logits = ctx.fused_kernel("log_softmax_backward", grad_log_probs, log_probs)
        return grad_logits, None, None, None, None


# ---- convolution, pooling, dropout ---------------------------------------------------------


class Conv2d(KernelFunction):
    """out[n, o, i, j] = bias[o] + sum over c, p, q of
    weight[o, c, p, q] * x_pad[n, c, i*sh + p, j*sw + q]   (x_pad: x with `padding` zeros
    around it; s: the stride)

    Gradient: d loss/d x_pad[n, c, i*sh + p, j*sw + q] += grad[n, o, i, j] * weight[o, c, p, q]
    (every output hands its gradient back to the inputs it read, through the same weights);
    d loss/d weight[o, c, p, q] = sum over n, i, j of grad[n, o, i, j] * x_pad[n, c, i*sh + p,
    j*sw + q]; d loss/d bias[o] = sum over n, i, j of grad[n, o, i, j]
    """

    torch_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        kernels = ctx.kernels
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        ctx.mark_for_trace(stride=list(stride), padding=list(padding))
        return kernels.conv2d_forward(
            kernels.contiguous(x), kernels.contiguous(weight),
            None if bias is None else kernels.contiguous(bias), stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_y = grad.contiguous()
        needs = ctx.needs_input_grad
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            grad_x = ctx.fused_kernel("conv2d_input_grad", grad_y, weight.contiguous(),
                                      tuple(x.shape), ctx.stride, ctx.padding)
        if needs[1]:
            grad_weight = ctx.fused_kernel("conv2d_weight_grad", grad_y, x.contiguous(),
                                           tuple(weight.shape), ctx.stride, ctx.padding)
        if needs[2]:
            grad_bias = grad_y.sum(dim=(0, 2, 3))
        return grad_x, grad_weight, grad_bias, None, None


class MaxPool2d(KernelFunction):
    """out[n, c, i, j] = max over p < kh, q < kw of x_pad[n, c, i*sh + p, j*sw + q]
    (x_pad: x with `padding` cells of -inf around it); indices[n, c, i, j] = h * W + w, where
    in its (H, W) plane that maximum was found

    Gradient: d loss/d x[n, c, h, w] = the sum of grad[n, c, i, j] over the windows whose
    maximum was x[n, c, h, w]; every other input gets 0 (max passes the gradient to the winner)
    """

    torch_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        out, indices = ctx.kernels.max_pool2d_forward(
            ctx.kernels.contiguous(x), kernel_size, stride, padding)
        ctx.input_shape = tuple(x.shape)
        ctx.save_for_backward(indices)
        ctx.mark_for_trace(kernel_size=list(kernel_size), stride=list(stride),
                           padding=list(padding))
        return out, indices

    @staticmethod
    def backward(ctx, grad, grad_indices=None):
        (indices,) = ctx.saved_tensors
        grad_x = ctx.fused_kernel("max_pool2d_backward", grad.contiguous(), indices,
                                  ctx.input_shape)
        return grad_x, None, None, None


class Dropout(KernelFunction):
    """out = x * mask, mask = 1/(1-p) with probability 1-p, else 0 (for dropout2d one mask
    value per (sample, channel), broadcast over the plane); scaling the kept values by
    1/(1-p) keeps the expected value of out equal to x

    Gradient: d out/d x = mask (dropped positions pass no gradient back)
    """

    torch_name = "NativeDropoutBackward0"

    elementwise = True

    @staticmethod
    def forward(ctx, x, p, mask_shape):
        seed = default_generator().next_seed()  # numbanet.manual_seed makes masks repeat
        mask = ctx.kernels.dropout_mask(tuple(mask_shape), 1.0 - p, x.dtype, seed)
        ctx.save_for_backward(mask)
        ctx.mark_for_trace(p=p, seed=seed)
        return ctx.kernels.mul(x, mask)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None
