"""Reductions: sum, mean, max, min — and how a gradient flows back through them."""

import math

from numbanet.autograd.function import KernelFunction


class Sum(KernelFunction):
    """out = sum of a over dims (all of them when dims is empty)

    Gradient: d out/d a_i = 1 for every summed element: the upstream gradient is copied
    (broadcast) back over the summed dims
    """

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.input_shape, ctx.dims, ctx.keepdim = tuple(a.shape), dims, keepdim
        ctx.mark_for_trace(dim=list(dims) or None, keepdim=keepdim)
        if dims:  # PyTorch's sum(dim=...) overload
            ctx.torch_name = "SumBackward1"
        return ctx.kernels.sum(a, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        dims = ctx.dims or tuple(range(len(ctx.input_shape)))
        if not ctx.keepdim:  # the summed dims back as size 1, then stretched (views)
            kept_shape = tuple(1 if i in dims else n for i, n in enumerate(ctx.input_shape))
            grad = ctx.fused_kernel("reshape", grad, kept_shape)
        return ctx.fused_kernel("broadcast_to", grad, ctx.input_shape), None, None


class Mean(KernelFunction):
    """out = (sum of a over dims) / n, n the number of elements summed (all of them when
    dims is empty); the mean of no elements is 0 / 0 = nan, as in PyTorch

    Gradient: d out/d a_i = 1/n: the upstream gradient divided by n, copied (broadcast)
    back over the summed dims
    """

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.input_shape, ctx.dims, ctx.keepdim = tuple(a.shape), dims, keepdim
        ctx.count = math.prod(a.shape[d] for d in dims) if dims else math.prod(a.shape)
        ctx.mark_for_trace(dim=list(dims) or None, keepdim=keepdim)
        if dims:  # PyTorch's mean(dim=...) overload
            ctx.torch_name = "MeanBackward1"
        kernels = ctx.kernels
        total = kernels.sum(a, dims, keepdim)
        return kernels.div(total, kernels.full((), ctx.count, total.dtype), out=total)

    @staticmethod
    def backward(ctx, grad):
        spread, _, _ = Sum.backward(ctx, grad)
        return spread / ctx.count, None, None


class MaxAlongDim(KernelFunction):
    """values, indices = max (or min) of a along dim

    Gradient: the upstream gradient goes to the element that was the maximum, 0 elsewhere
    """

    torch_name = "MaxBackward0"

    @staticmethod
    def forward(ctx, a, dim, keepdim, find_max):
        kernel = ctx.kernels.max if find_max else ctx.kernels.min
        if not find_max:
            ctx.torch_name = "MinBackward0"
        values, indices = kernel(a, dim, keepdim)
        ctx.input_shape, ctx.dim, ctx.keepdim = tuple(a.shape), dim, keepdim
        ctx.save_for_backward(indices)
        ctx.mark_for_trace(dim=dim, keepdim=keepdim)
        return values, indices

    @classmethod
    def op_name(cls) -> str:
        return "MaxAlongDim"

    @staticmethod
    def backward(ctx, grad_values, grad_indices=None):
        from numbanet.creation import zeros

        (indices,) = ctx.saved_tensors
        if not ctx.keepdim:
            grad_values = grad_values.unsqueeze(ctx.dim)
            indices = indices.unsqueeze(ctx.dim)
        grad = zeros(ctx.input_shape, dtype=grad_values.dtype, device=grad_values.device)
        return grad.scatter_add(ctx.dim, indices, grad_values), None, None, None


class Max(KernelFunction):
    """out = the largest element of a, a 0-d tensor (``x.max()``)

    Gradient: the upstream gradient split evenly among the elements equal to out (all of
    it to a unique maximum), as in PyTorch
    """

    torch_name = "MaxBackward1"

    find_max = True

    @staticmethod
    def forward(ctx, a):
        kernels = ctx.kernels
        flat = kernels.reshape(kernels.contiguous(a), (-1,))
        values, _ = (kernels.max if ctx.function.find_max else kernels.min)(flat, 0, False)
        ctx.save_for_backward(a, values)
        return values

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        ties = (a == out).to(dtype=grad.dtype)
        return grad * ties / ties.sum()


class Min(Max):
    """out = the smallest element of a, a 0-d tensor (``x.min()``)

    Gradient: the upstream gradient split evenly among the elements equal to out (all of
    it to a unique minimum), as in PyTorch
    """

    find_max = False
    torch_name = "MinBackward1"
