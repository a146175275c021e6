"""Shape operations: views (reshape, permute, expand, slicing), copies, indexing, cat.

A *view* shares memory with its input — only shape and strides differ — so its gradient
rule is a pure re-arrangement of the upstream gradient: reshape it back, permute it back,
sum it over the stretched axes. Indexing with integer tensors or masks gathers elements
into new memory; its gradient scatters (adds) the upstream gradient back to where each
element came from, so an element picked twice gets two contributions.
"""

import math

import numpy as np

from numbanet.autograd.function import KernelFunction
from numbanet.shapes import inverse_permutation


class Reshape(KernelFunction):
    """out = a with a new shape (same elements, row-major order)

    Gradient: the upstream gradient reshaped back to a's shape
    """

    torch_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.input_shape = tuple(a.shape)
        ctx.view_of = a
        ctx.mark_for_trace(shape=list(shape))
        return ctx.kernels.reshape(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape), None


class Permute(KernelFunction):
    """out = a with its axes reordered: out.shape[i] = a.shape[axes[i]]

    Gradient: the upstream gradient permuted by the inverse permutation
    """

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        ctx.view_of = a
        ctx.mark_for_trace(dims=list(axes))
        return ctx.kernels.permute(a, axes)

    @staticmethod
    def backward(ctx, grad):
        return ctx.fused_kernel("permute", grad, inverse_permutation(ctx.axes)), None


class Transpose(Permute):
    """out = a with two axes swapped (``a.transpose(d0, d1)``, a view)

    Gradient: the upstream gradient with the same two axes swapped back
    """


class T(Permute):
    """out = a^T: out[j, i] = a[i, j] (``a.t()``, a view)

    Gradient: the upstream gradient transposed back
    """

    torch_name = "TBackward0"


class UnsafeView(Reshape):
    """out = a's copy seen with a new shape (``reshape`` of a tensor whose strides allow no
    view: PyTorch copies it, then views the copy)

    Gradient: the upstream gradient reshaped back to a's shape
    """

    torch_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, shape):
        # Not marked as a view: ``a`` is the fresh copy nobody else holds, so the result
        # owns its memory (an in-place change of it is a plain in-place op).
        ctx.input_shape = tuple(a.shape)
        ctx.mark_for_trace(shape=list(shape))
        return ctx.kernels.reshape(a, shape)


class Unsqueeze(Reshape):
    """out = a with a new axis of size 1 (a view)

    Gradient: the upstream gradient with that axis removed
    """

    torch_name = None


class Squeeze(Reshape):
    """out = a without its size-1 axes (or the one named; a view)

    Gradient: the upstream gradient reshaped back to a's shape
    """

    torch_name = None


class Expand(KernelFunction):
    """out = a repeated along its size-1 axes to a larger shape (a stride-0 view)

    Gradient: the upstream gradient summed over the repeated axes (done by the engine)
    """

    @staticmethod
    def forward(ctx, a, shape):
        ctx.view_of = a
        ctx.mark_for_trace(shape=list(shape))
        return ctx.kernels.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class BasicIndex(KernelFunction):
    """out = a[key] for ints, slices, None and ... (a view)

    Gradient: zeros of a's shape with the upstream gradient written into the selected part
    """

    torch_name = "SliceBackward0"

    @staticmethod
    def forward(ctx, a, key):
        ctx.input_shape, ctx.key = tuple(a.shape), key
        ctx.view_of = a
        ctx.mark_for_trace(index=repr(key))
        if any(isinstance(part, int) for part in (key if isinstance(key, tuple) else (key,))):
            ctx.torch_name = "SelectBackward0"
        return ctx.kernels.basic_index(a, key)

    @staticmethod
    def backward(ctx, grad):
        return BasicIndexBackward.apply(grad, ctx.input_shape, ctx.key), None


class BasicIndexBackward(KernelFunction):
    """out = zeros of shape with out[key] = grad: the gradient of ``a[key]``

    Gradient: out[key] (the upstream gradient of the selected part)
    """

    @staticmethod
    def forward(ctx, grad, shape, key):
        ctx.key = key
        ctx.mark_for_trace(index=repr(key))
        full = ctx.kernels.full(shape, 0, grad.dtype)
        ctx.kernels.copy_into(ctx.kernels.basic_index(full, key), grad)
        return full

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.key], None, None


def flat_positions(shape: tuple, key) -> np.ndarray:
    """Row-major flat positions of the elements ``numpy_array_of(shape)[key]`` selects.

    Coordinates along each axis are stride-0 broadcast views, so numpy only materialises
    arrays the size of the *result*, never of the whole tensor.
    """
    flat = None
    stride = 1
    for axis in reversed(range(len(shape))):
        coordinate = np.arange(shape[axis], dtype=np.int64).reshape(
            (-1,) + (1,) * (len(shape) - axis - 1))
        selected = np.broadcast_to(coordinate, shape)[key] * stride
        flat = selected if flat is None else flat + selected
        stride *= shape[axis]
    if flat is None:  # a 0-d tensor
        flat = np.zeros((), dtype=np.int64)[key]
    return np.ascontiguousarray(flat, dtype=np.int64)


class AdvancedIndex(KernelFunction):
    """out = a[key] where key holds integer tensors or boolean masks (a gather)

    Gradient: the upstream gradient scatter-added back to the gathered positions
    """

    torch_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, a, key):
        kernels = ctx.kernels
        host_positions = flat_positions(tuple(a.shape), key)
        positions = kernels.from_host(host_positions)
        ctx.input_shape = tuple(a.shape)
        ctx.save_for_backward(positions)
        ctx.mark_for_trace(index="advanced", selected=int(host_positions.size))
        source = kernels.reshape(kernels.contiguous(a), (-1,))
        return kernels.gather(source, positions)

    @staticmethod
    def backward(ctx, grad):
        from numbanet.creation import zeros

        (positions,) = ctx.saved_tensors
        full = zeros((math.prod(ctx.input_shape),), dtype=grad.dtype, device=grad.device)
        return full.scatter_add(0, positions, grad.reshape(-1)).reshape(ctx.input_shape), None


def positions_along(kernels, shape: tuple, dim: int, index):
    """Row-major flat positions in an array of ``shape`` of ``a[i][index[i][j]]`` (dim 1),
    ``a[index[i][j]][j]`` (dim 0), ...: ``index`` gives the coordinate along ``dim``, each
    element's own position in ``index`` the others.

    Computed with kernels on ``index``'s device — ``sum over axes of coordinate * stride``,
    the coordinates along the other axes being ``arange`` columns that broadcast — so GPU
    indices never travel to the host and back.
    """
    index = kernels.astype(index, np.int64)
    flat, stride = None, 1
    for axis in reversed(range(len(shape))):
        if axis == dim:
            coordinate = index
        else:
            coordinate = kernels.reshape(kernels.arange(0, index.shape[axis], 1, np.int64),
                                         (-1,) + (1,) * (len(shape) - axis - 1))
        if stride != 1:
            coordinate = kernels.mul(coordinate, kernels.full((), stride, np.int64))
        flat = coordinate if flat is None else kernels.add(flat, coordinate)
        stride *= shape[axis]
    return index if flat is None else flat


class ScatterAdd(KernelFunction):
    """out = a copy of a with source[p] added at a[p with its dim coordinate = index[p]]

    Gradient: d out/d a = 1; d out/d source[p] = upstream[p with dim coordinate index[p]]
    """

    @staticmethod
    def forward(ctx, a, dim, index, source):
        kernels = ctx.kernels
        shape = tuple(a.shape)
        positions = kernels.reshape(positions_along(kernels, shape, dim, index), (-1,))
        ctx.save_for_backward(positions)
        ctx.source_shape = tuple(source.shape)
        out = kernels.empty(shape, a.dtype)
        kernels.copy_into(out, a)
        kernels.scatter_add(kernels.reshape(out, (-1,)), positions, kernels.reshape(
            kernels.contiguous(source), (-1,)))
        return out

    @staticmethod
    def backward(ctx, grad):
        (positions,) = ctx.saved_tensors
        gathered = ctx.fused_kernel("gather", grad.contiguous().reshape(-1), positions)
        return grad, None, None, gathered.reshape(ctx.source_shape)


class Contiguous(KernelFunction):
    """out = a copied into row-major order (a itself when already so)

    Gradient: passes through unchanged
    """

    torch_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.contiguous(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Clone(KernelFunction):
    """out = a copy of a in new memory

    Gradient: passes through unchanged
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.empty(tuple(a.shape), a.dtype)
        ctx.kernels.copy_into(out, a)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cast(KernelFunction):
    """out = a converted to another dtype

    Gradient: the upstream gradient converted back to a's dtype (done by the engine)
    """

    torch_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, numpy_dtype):
        ctx.mark_for_trace(dtype=str(numpy_dtype))
        return ctx.kernels.astype(a, numpy_dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class ToDevice(KernelFunction):
    """out = a copied to another device (host <-> GPU memory)

    Gradient: the upstream gradient copied back to a's device
    """

    torch_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, target):
        from numbanet.kernels import backend_for

        ctx.source_device = ctx.kernels.__name__.rsplit(".", 1)[-1]  # "cpu" or "cuda"
        ctx.mark_for_trace(source=ctx.source_device, target=str(target))
        host = ctx.kernels.to_host(a)
        return backend_for(target.type).from_host(host)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.source_device), None


class Cat(KernelFunction):
    """out = the tensors joined along dim

    Gradient: the upstream gradient sliced back into one piece per input
    """

    @staticmethod
    def forward(ctx, dim, *tensors):
        kernels = ctx.kernels
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        ctx.mark_for_trace(dim=dim)
        shape = list(tensors[0].shape)
        shape[dim] = sum(ctx.sizes)
        out = kernels.empty(tuple(shape), tensors[0].dtype)
        start = 0
        for tensor, size in zip(tensors, ctx.sizes, strict=True):
            key = (slice(None),) * dim + (slice(start, start + size),)
            kernels.copy_into(kernels.basic_index(out, key), tensor)
            start += size
        return out

    @staticmethod
    def backward(ctx, grad):
        pieces, start = [], 0
        for size in ctx.sizes:
            key = (slice(None),) * ctx.dim + (slice(start, start + size),)
            pieces.append(grad[key])
            start += size
        return (None, *pieces)
