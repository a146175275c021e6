"""gather, scatter and sort: ops that move elements along one dim by an index.

All three turn "the element at coordinate ``index[p]`` along ``dim``, at ``p``'s own
coordinates along the other dims" into flat row-major positions with
``shape.positions_along`` (kernels on the index's device, so GPU indices never travel to
the host), then call one flat kernel: ``gather``, ``scatter`` / ``scatter_add`` /
``scatter_multiply``, or ``sort`` on rows.
"""

import math

import numpy as np

from numbanet.autograd.function import KernelFunction
from numbanet.ops.shape import positions_along
from numbanet.shapes import inverse_permutation


class Gather(KernelFunction):
    """out[i][j] = a[index[i][j]][j] (dim 0), a[i][index[i][j]] (dim 1), ...: out has
    index's shape

    Gradient: the upstream gradient scatter-added back to the positions read
    (an element read twice gets both gradients)
    """

    @staticmethod
    def forward(ctx, a, dim, index):
        kernels = ctx.kernels
        positions = positions_along(kernels, tuple(a.shape), dim, index)
        ctx.input_shape = tuple(a.shape)
        ctx.save_for_backward(positions)
        ctx.mark_for_trace(dim=dim)
        source = kernels.reshape(kernels.contiguous(a), (-1,))
        return kernels.gather(source, positions)

    @staticmethod
    def backward(ctx, grad):
        from numbanet.creation import zeros

        (positions,) = ctx.saved_tensors
        full = zeros((math.prod(ctx.input_shape),), dtype=grad.dtype, device=grad.device)
        flat = full.scatter_add(0, positions.reshape(-1), grad.reshape(-1))
        return flat.reshape(ctx.input_shape), None, None


class Scatter(KernelFunction):
    """out = a copy of a with out[i][index[i][j]] = src[i][j] (dim 1; likewise for other
    dims), src a tensor or one number; with reduce='add' the values are added there, with
    reduce='multiply' multiplied in

    Gradient: d out/d a = 1 where nothing was written (0 at the written positions; all 1
    with reduce='add'); d out/d src = the upstream gradient gathered at index
    """

    @staticmethod
    def forward(ctx, a, dim, index, source, reduce):
        kernels = ctx.kernels
        shape = tuple(a.shape)
        positions = kernels.reshape(positions_along(kernels, shape, dim, index), (-1,))
        if isinstance(source, int | float | bool):
            values = kernels.full(tuple(index.shape), source, a.dtype)
        else:
            corner = tuple(slice(0, extent) for extent in index.shape)  # src may be larger
            values = kernels.contiguous(kernels.basic_index(source, corner))
            ctx.source_shape = tuple(source.shape)
        out = kernels.empty(shape, a.dtype)
        kernels.copy_into(out, a)
        flat_out = kernels.reshape(out, (-1,))
        flat_values = kernels.reshape(values, (-1,))
        if reduce == "add":
            kernels.scatter_add(flat_out, positions, flat_values)
        elif reduce == "multiply":
            kernels.scatter_multiply(flat_out, positions, flat_values)
        else:
            kernels.scatter(flat_out, positions, flat_values)
        ctx.dim, ctx.reduce = dim, reduce
        ctx.save_for_backward(index)
        ctx.mark_for_trace(dim=dim, reduce=reduce)
        return out

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        if ctx.reduce == "multiply":
            raise RuntimeError("the derivative of scatter with reduce='multiply' is not "
                               "implemented (as in PyTorch): use scatter_reduce in PyTorch "
                               "or compute the product with differentiable ops")
        grad_a = None
        if ctx.needs_input_grad[0]:
            grad_a = grad if ctx.reduce == "add" else Scatter.apply(grad, ctx.dim, index,
                                                                    0, None)
        grad_source = None
        if len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]:
            grad_source = Gather.apply(grad, ctx.dim, index)
            if tuple(grad_source.shape) != ctx.source_shape:  # src larger than index
                from numbanet.creation import zeros

                padded = zeros(ctx.source_shape, dtype=grad.dtype, device=grad.device)
                padded[tuple(slice(0, n) for n in grad_source.shape)] = grad_source
                grad_source = padded
        return grad_a, None, None, grad_source, None


class Sort(KernelFunction):
    """values, indices = a sorted along dim (stably: equal values keep their order; NaN
    counts as the largest value), and where each value was

    Gradient: the upstream gradient of each value goes back to the position it came from
    """

    @staticmethod
    def forward(ctx, a, dim, descending):
        kernels = ctx.kernels
        shape = tuple(a.shape)
        ctx.input_shape, ctx.dim = shape, dim
        ctx.mark_for_trace(dim=dim, descending=descending)
        if not shape:  # a 0-d tensor is its own sorted order
            values = kernels.empty((), a.dtype)
            kernels.copy_into(values, a)
            indices = kernels.full((), 0, np.int64)
            ctx.save_for_backward(indices)
            return values, indices
        axes = tuple(axis for axis in range(len(shape)) if axis != dim) + (dim,)
        moved_shape = tuple(shape[axis] for axis in axes)
        rows = math.prod(moved_shape[:-1])
        moved = kernels.contiguous(kernels.permute(a, axes))
        values, indices = kernels.sort(kernels.reshape(moved, (rows, shape[dim])), descending)
        back = inverse_permutation(axes)
        values = kernels.contiguous(kernels.permute(kernels.reshape(values, moved_shape), back))
        indices = kernels.contiguous(
            kernels.permute(kernels.reshape(indices, moved_shape), back))
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices=None):
        from numbanet.creation import zeros

        (indices,) = ctx.saved_tensors
        grad = zeros(ctx.input_shape, dtype=grad_values.dtype, device=grad_values.device)
        if not ctx.input_shape:
            return grad_values, None, None
        return grad.scatter_add(ctx.dim, indices, grad_values), None, None
