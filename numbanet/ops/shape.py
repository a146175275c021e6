"""Shape operations: views (reshape, permute, expand, slicing), copies, indexing, cat.

A *view* shares memory with its input — only shape and strides differ — so its gradient
rule is a pure re-arrangement of the upstream gradient: reshape it back, permute it back,
sum it over the stretched axes. Indexing with integer tensors or masks gathers elements
into new memory; its gradient scatters (adds) the upstream gradient back to where each
element came from, so an element picked twice gets two contributions.
"""

import math

import numpy as np

from numbanet.autograd.function import Function


class Reshape(Function):
    """out = a with a new shape (same elements, row-major order)

    Gradient: the upstream gradient reshaped back to a's shape
    """

    @staticmethod
    def forward(ctx, a, shape):
        ctx.input_shape = a.shape
        ctx.view_of = a
        ctx.mark_for_trace(shape=list(shape))
        return a._backend.reshape(a._data, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape), None


class Permute(Function):
    """out = a with its axes reordered: out.shape[i] = a.shape[axes[i]]

    Gradient: the upstream gradient permuted by the inverse permutation
    """

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        ctx.view_of = a
        ctx.mark_for_trace(dims=list(axes))
        return a._backend.permute(a._data, axes)

    @staticmethod
    def backward(ctx, grad):
        inverse = tuple(int(i) for i in np.argsort(ctx.axes))
        return grad.permute(*inverse), None


class Expand(Function):
    """out = a repeated along its size-1 axes to a larger shape (a stride-0 view)

    Gradient: the upstream gradient summed over the repeated axes (done by the engine)
    """

    @staticmethod
    def forward(ctx, a, shape):
        ctx.view_of = a
        ctx.mark_for_trace(shape=list(shape))
        return a._backend.broadcast_to(a._data, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class BasicIndex(Function):
    """out = a[key] for ints, slices, None and ... (a view)

    Gradient: zeros of a's shape with the upstream gradient written into the selected part
    """

    @staticmethod
    def forward(ctx, a, key):
        ctx.input_shape, ctx.key = a.shape, key
        ctx.view_of = a
        ctx.mark_for_trace(index=repr(key))
        return a._backend.basic_index(a._data, key)

    @staticmethod
    def backward(ctx, grad):
        from numbanet.tensor import zeros

        full = zeros(ctx.input_shape, dtype=grad.dtype, device=grad.device)
        full._backend.copy_into(full._backend.basic_index(full._data, ctx.key), grad._data)
        return full, None


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


class AdvancedIndex(Function):
    """out = a[key] where key holds integer tensors or boolean masks (a gather)

    Gradient: the upstream gradient scatter-added back to the gathered positions
    """

    @staticmethod
    def forward(ctx, a, key):
        backend = a._backend
        positions = flat_positions(a.shape, key)
        ctx.input_shape = a.shape
        ctx.positions = backend.from_host(positions)
        ctx.mark_for_trace(index="advanced", selected=int(positions.size))
        source = backend.reshape(backend.contiguous(a._data), (-1,))
        return backend.gather(source, ctx.positions)

    @staticmethod
    def backward(ctx, grad):
        from numbanet.tensor import zeros

        backend = grad._backend
        full = zeros((math.prod(ctx.input_shape),), dtype=grad.dtype, device=grad.device)
        backend.scatter_add(full._data, ctx.positions, backend.contiguous(grad._data))
        return full.reshape(ctx.input_shape), None


def positions_along(backend, shape: tuple, dim: int, index):
    """Row-major flat positions in an array of ``shape`` of ``a[i][index[i][j]]`` (dim 1),
    ``a[index[i][j]][j]`` (dim 0), ...: ``index`` gives the coordinate along ``dim``, each
    element's own position in ``index`` the others.

    Computed with kernels on ``index``'s device — ``sum over axes of coordinate * stride``,
    the coordinates along the other axes being ``arange`` columns that broadcast — so GPU
    indices never travel to the host and back.
    """
    index = backend.astype(index, np.int64)
    flat, stride = None, 1
    for axis in reversed(range(len(shape))):
        if axis == dim:
            coordinate = index
        else:
            coordinate = backend.reshape(backend.arange(0, index.shape[axis], 1, np.int64),
                                         (-1,) + (1,) * (len(shape) - axis - 1))
        if stride != 1:
            coordinate = backend.mul(coordinate, backend.full((), stride, np.int64))
        flat = coordinate if flat is None else backend.add(flat, coordinate)
        stride *= shape[axis]
    return index if flat is None else flat


class ScatterAdd(Function):
    """out = a copy of a with source[p] added at a[p with its dim coordinate = index[p]]

    Gradient: d out/d a = 1; d out/d source[p] = upstream[p with dim coordinate index[p]]
    """

    @staticmethod
    def forward(ctx, a, dim, index, source):
        backend = a._backend
        shape = a.shape
        ctx.positions = backend.reshape(positions_along(backend, shape, dim, index._data), (-1,))
        ctx.source_shape = source.shape
        out = backend.empty(shape, a._data.dtype)
        backend.copy_into(out, a._data)
        backend.scatter_add(backend.reshape(out, (-1,)), ctx.positions, backend.reshape(
            backend.contiguous(source._data), (-1,)))
        return out

    @staticmethod
    def backward(ctx, grad):
        backend = grad._backend
        flat = backend.reshape(backend.contiguous(grad._data), (-1,))
        grad_source = backend.reshape(backend.gather(flat, ctx.positions), ctx.source_shape)
        return grad, None, None, ctx.wrap(grad_source)


class Contiguous(Function):
    """out = a copied into row-major order (a itself when already so)

    Gradient: passes through unchanged
    """

    @staticmethod
    def forward(ctx, a):
        return a._backend.contiguous(a._data)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Clone(Function):
    """out = a copy of a in new memory

    Gradient: passes through unchanged
    """

    @staticmethod
    def forward(ctx, a):
        backend = a._backend
        out = backend.empty(a.shape, a._data.dtype)
        backend.copy_into(out, a._data)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cast(Function):
    """out = a converted to another dtype

    Gradient: the upstream gradient converted back to a's dtype (done by the engine)
    """

    @staticmethod
    def forward(ctx, a, numpy_dtype):
        ctx.mark_for_trace(dtype=str(numpy_dtype))
        return a._backend.astype(a._data, numpy_dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class ToDevice(Function):
    """out = a copied to another device (host <-> GPU memory)

    Gradient: the upstream gradient copied back to a's device
    """

    @staticmethod
    def forward(ctx, a, target):
        from numbanet.kernels import backend_for

        ctx.source_device = a.device
        ctx.mark_for_trace(source=str(a.device), target=str(target))
        host = a._backend.to_host(a._data)
        return backend_for(target.type).from_host(host)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.source_device), None


class Cat(Function):
    """out = the tensors joined along dim

    Gradient: the upstream gradient sliced back into one piece per input
    """

    @staticmethod
    def forward(ctx, dim, *tensors):
        backend = tensors[0]._backend
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        ctx.mark_for_trace(dim=dim)
        shape = list(tensors[0].shape)
        shape[dim] = sum(ctx.sizes)
        out = backend.empty(tuple(shape), tensors[0]._data.dtype)
        start = 0
        for tensor, size in zip(tensors, ctx.sizes, strict=True):
            key = (slice(None),) * dim + (slice(start, start + size),)
            backend.copy_into(backend.basic_index(out, key), tensor._data)
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
