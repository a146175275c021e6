"""Sums, maxima and minima along axes, with shared-memory tree reductions.

Every reduction is turned into the same picture: move the reduced axes to the end, so the
array reads as ``rows x columns`` — one row per output element, its columns the elements
that collapse into it. No data moves for this; the kernel simply gets two (shape, strides)
pairs, one for the kept axes (which row) and one for the reduced axes (which column).

Thread mapping: block ``b`` handles rows ``b, b + G, b + 2G, ...`` (``G`` blocks). Inside a
row, thread ``t`` of ``B`` accumulates columns ``t, t + B, t + 2B, ...`` in a register, then
the block combines its ``B`` partial results in shared memory as a tree: the lower half of
the threads each add the value of a partner in the upper half, the active half halves, and
after ``log2(B)`` steps element 0 holds the row's result (:func:`block_sum`).
"""

import math

import numpy as np
from numba import cuda, int64

from numbanet.kernels.cuda.layout import (
    MAX_BLOCKS,
    DeviceArray,
    coalesce_axes,
    element_strides,
    flat_view,
    storage_window,
)
from numbanet.kernels.cuda.memory import empty
from numbanet.kernels.cuda.strided import storage_offset
from numbanet.kernels.launch import launch

REDUCTION_THREADS = 256  # the largest block; shared arrays are sized for it


@cuda.jit(device=True)
def block_sum(partials, value):
    """The sum of every thread's ``value`` in the block, returned to every thread.

    ``partials`` is a shared array with a slot per thread; ``blockDim.x`` must be a power of
    two. Step by step, thread ``t < half`` adds ``partials[t + half]`` into ``partials[t]``.
    """
    thread = cuda.threadIdx.x
    partials[thread] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if thread < half:
            partials[thread] += partials[thread + half]
        cuda.syncthreads()
        half //= 2
    total = partials[0]
    cuda.syncthreads()  # every thread has read the total before the slots are reused
    return total


@cuda.jit(device=True)
def block_max(partials, value):
    """The largest ``value`` in the block (NaN wins), returned to every thread; the same
    tree as :func:`block_sum`."""
    thread = cuda.threadIdx.x
    partials[thread] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if thread < half:
            other = partials[thread + half]
            if other > partials[thread] or other != other:
                partials[thread] = other
        cuda.syncthreads()
        half //= 2
    largest = partials[0]
    cuda.syncthreads()
    return largest


@cuda.jit(device=True)
def first_extreme(value, index, other_value, other_index, find_maximum):
    """Of two candidates (value, index), the larger (or smaller) value; on a tie the smaller
    index, so the result is the *first* extreme. NaN beats every number, as in numpy.
    Index -1 marks "no candidate yet"."""
    if other_index < 0:
        return value, index
    if index < 0:
        return other_value, other_index
    value_is_nan = value != value
    other_is_nan = other_value != other_value
    if value_is_nan or other_is_nan:
        if value_is_nan and other_is_nan:
            return (value, index) if index < other_index else (other_value, other_index)
        return (value, index) if value_is_nan else (other_value, other_index)
    if other_value == value:
        return (value, index) if index < other_index else (other_value, other_index)
    other_wins = other_value > value if find_maximum else other_value < value
    return (other_value, other_index) if other_wins else (value, index)


@cuda.jit(cache=True)
def sum_rows_kernel(
    out, source, kept_shape, kept_strides, reduced_shape, reduced_strides, columns, zero
):
    """out[row] = sum of the row's ``columns`` elements.

    ``source`` is the input's storage window; the row's first element sits at the offset of
    ``row`` in (kept_shape, kept_strides) and column ``c`` adds the offset of ``c`` in
    (reduced_shape, reduced_strides). ``zero`` arrives in the output's dtype so the running
    sum has that dtype. Block per row, thread per column stride, tree in shared memory.
    """
    partials = cuda.shared.array(REDUCTION_THREADS, dtype=out.dtype)
    for row in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
        row_start = storage_offset(row, kept_shape, kept_strides)
        partial = zero
        for column in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            partial += source[row_start + storage_offset(column, reduced_shape, reduced_strides)]
        total = block_sum(partials, partial)
        if cuda.threadIdx.x == 0:
            out[row] = total


@cuda.jit(cache=True)
def extreme_rows_kernel(
    values, indices, source, kept_shape, kept_strides, reduced_shape, reduced_strides,
    columns, find_maximum,
):
    """values[row], indices[row] = the row's maximum (or minimum) and its first column.

    Same layout and mapping as :func:`sum_rows_kernel`; each thread keeps its best
    (value, column) pair, then the block's pairs meet in a shared-memory tree where
    :func:`first_extreme` decides each match.
    """
    best_values = cuda.shared.array(REDUCTION_THREADS, dtype=source.dtype)
    best_columns = cuda.shared.array(REDUCTION_THREADS, dtype=int64)
    thread = cuda.threadIdx.x
    for row in range(cuda.blockIdx.x, values.size, cuda.gridDim.x):
        row_start = storage_offset(row, kept_shape, kept_strides)
        best = source[row_start]  # any element of the row: gives `best` its type
        best_column = -1
        for column in range(thread, columns, cuda.blockDim.x):
            value = source[row_start + storage_offset(column, reduced_shape, reduced_strides)]
            best, best_column = first_extreme(best, best_column, value, column, find_maximum)
        best_values[thread] = best
        best_columns[thread] = best_column
        cuda.syncthreads()
        half = cuda.blockDim.x // 2
        while half > 0:
            if thread < half:
                best_values[thread], best_columns[thread] = first_extreme(
                    best_values[thread], best_columns[thread],
                    best_values[thread + half], best_columns[thread + half], find_maximum,
                )
            cuda.syncthreads()
            half //= 2
        if thread == 0:
            values[row] = best_values[0]
            indices[row] = best_columns[0]


def sum(array: DeviceArray, axes: tuple[int, ...], keepdim: bool = False) -> DeviceArray:
    """The sum over ``axes`` — over every axis when ``axes`` is empty, as in PyTorch.
    Booleans and integers sum to int64, floats keep their dtype."""
    axes = _normalized_axes(array, axes) if axes else tuple(range(array.ndim))
    dtype = np.dtype(np.int64) if array.dtype.kind in "biu" else array.dtype
    out = empty(_reduced_shape(array, axes, keepdim), dtype)
    if out.size == 0:
        return out
    layout = _rows_and_columns(array, axes)
    launch(
        sum_rows_kernel, flat_view(out), storage_window(array), *layout, dtype.type(0),
        grid=row_blocks(out.size), block=reduction_threads(layout[-1]),
    )
    return out


def max(array: DeviceArray, axis: int | None, keepdim: bool = False):
    """(largest values, int64 index of the first largest) along ``axis``; ``axis=None``
    reduces everything and indexes the flattened array. NaN counts as largest."""
    return _extreme(array, axis, keepdim, find_maximum=True)


def min(array: DeviceArray, axis: int | None, keepdim: bool = False):
    """(smallest values, int64 index of the first smallest) along ``axis``; NaN counts as
    smallest (it propagates, as in numpy and PyTorch)."""
    return _extreme(array, axis, keepdim, find_maximum=False)


def _extreme(array: DeviceArray, axis, keepdim: bool, find_maximum: bool):
    name = "max" if find_maximum else "min"
    if array.size == 0 and (axis is None or array.ndim == 0):
        raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                         "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
    axes = tuple(range(array.ndim)) if axis is None or array.ndim == 0 else (
        _normalized_axes(array, (axis,)))
    if any(array.shape[each] == 0 for each in axes):
        raise IndexError(f"{name}(): Expected reduction dim {axes[0]} to have non-zero size.")
    shape = _reduced_shape(array, axes, keepdim)
    values, indices = empty(shape, array.dtype), empty(shape, np.int64)
    if values.size == 0:  # other dimensions of size 0: an empty result
        return values, indices
    layout = _rows_and_columns(array, axes)
    launch(
        extreme_rows_kernel, flat_view(values), flat_view(indices), storage_window(array),
        *layout, find_maximum, grid=row_blocks(values.size), block=reduction_threads(layout[-1]),
    )
    return values, indices


def _normalized_axes(array: DeviceArray, axes) -> tuple[int, ...]:
    """Axes as sorted non-negative ints (negative ones count from the end)."""
    if any(not -array.ndim <= int(axis) < array.ndim for axis in axes):
        raise IndexError(f"axes {tuple(axes)} out of range for a {array.ndim}-D array")
    normalized = sorted({int(axis) % array.ndim for axis in axes})
    if len(normalized) != len(tuple(axes)):
        raise ValueError(f"repeated axes in {tuple(axes)}")
    return tuple(normalized)


def _reduced_shape(array: DeviceArray, axes: tuple[int, ...], keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if axis in axes else extent for axis, extent in enumerate(array.shape))
    return tuple(extent for axis, extent in enumerate(array.shape) if axis not in axes)


def _rows_and_columns(array: DeviceArray, axes: tuple[int, ...]):
    """(kept shape, kept strides, reduced shape, reduced strides, columns) for the kernels."""
    shape, strides = tuple(array.shape), element_strides(array)
    kept = [axis for axis in range(array.ndim) if axis not in axes]
    kept_shape, (kept_strides,) = coalesce_axes(
        tuple(shape[i] for i in kept), tuple(strides[i] for i in kept)
    )
    reduced_shape, (reduced_strides,) = coalesce_axes(
        tuple(shape[i] for i in axes), tuple(strides[i] for i in axes)
    )
    columns = math.prod(shape[i] for i in axes)
    return kept_shape, kept_strides, reduced_shape, reduced_strides, columns


def reduction_threads(columns: int) -> int:
    """A power-of-two block size (the trees need one): one 32-thread warp at least, no
    wider than the row needs, at most REDUCTION_THREADS."""
    threads = 32
    while threads < columns and threads < REDUCTION_THREADS:
        threads *= 2
    return threads


def row_blocks(rows: int) -> int:
    """One block per row, at most MAX_BLOCKS (the kernels loop over the rest)."""
    return rows if rows < MAX_BLOCKS else MAX_BLOCKS
