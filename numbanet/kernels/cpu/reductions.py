"""Reductions — sum, max, min over chosen axes — as Numba kernels.

Every reduction is brought to one shape first: ``(outer, reduced, inner)``. The axes to
reduce are moved together (a view, or a copy when they are scattered), so the kernel reads
``x[o, r, i]`` and writes ``out[o, i]``:

- summing the rows of a ``(64, 10)`` matrix is ``(64, 10, 1)`` — inner = 1,
- summing a bias gradient over the batch, ``(64, 128)`` along axis 0, is ``(1, 64, 128)``:
  the kernel adds whole rows into one accumulator row, reading memory in order.

Sums of float32 accumulate in float64 so a million small terms do not lose their digits;
sums of integers and booleans accumulate in int64, exactly (``[2**53, 1, 1]`` sums to
``2**53 + 2``, which float64 cannot hold). The kernels take a ``zero`` of the accumulator's
dtype and start every running sum from it.
"""

import math

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 20  # below this, starting threads costs more than it saves


@njit(cache=True, inline="always", error_model="numpy")
def sum_of_run(values, zero):
    """The sum of a 1-D run of values, in eight running totals (each takes every eighth
    value) added pairwise at the end.

    Each addition into one running total must wait for the previous one to finish (a few
    cycles); additions into different totals do not wait for each other, so the CPU
    overlaps eight at a time. A conv layer's bias gradient (runs of 576 values, one per
    channel and image) took 2.2x as long with a single total. (Eight totals kept in a small
    array instead of eight variables were 1.7x slower: loaded and stored at every step.)
    """
    size = values.size
    in_eights = size - size % 8
    t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = zero
    for r in range(0, in_eights, 8):
        t0 += values[r]
        t1 += values[r + 1]
        t2 += values[r + 2]
        t3 += values[r + 3]
        t4 += values[r + 4]
        t5 += values[r + 5]
        t6 += values[r + 6]
        t7 += values[r + 7]
    total = ((t0 + t1) + (t2 + t3)) + ((t4 + t5) + (t6 + t7))
    for r in range(in_eights, size):
        total += values[r]
    return total


@njit(cache=True, error_model="numpy")
def sum_middle(x, zero, out):
    """``out[o, i] = sum over r of x[o, r, i]``, accumulating in ``zero``'s dtype.

    With ``inner == 1`` each output sums one contiguous run (:func:`sum_of_run`); else
    whole rows ``x[o, r, :]`` are added into an accumulator row, reading memory in order.
    """
    outer, reduced, inner = x.shape
    if inner == 1:
        for o in range(outer):
            out[o, 0] = sum_of_run(x[o, :, 0], zero)
        return
    accumulator = np.full(inner, zero)
    for o in range(outer):
        accumulator[:] = zero
        for r in range(reduced):
            for i in range(inner):
                accumulator[i] += x[o, r, i]
        for i in range(inner):
            out[o, i] = accumulator[i]


@njit(cache=True, parallel=True, error_model="numpy")
def sum_middle_parallel(x, zero, out):
    """:func:`sum_middle` with the outer rows split across cores."""
    outer, reduced, inner = x.shape
    for o in prange(outer):
        for i in range(inner):
            out[o, i] = sum_of_run(x[o, :, i], zero)


@njit(cache=True, error_model="numpy")
def sum_flat_chunks(x, zero, partial):
    """Sum of a flat array in ``len(partial)`` chunks (whole-tensor ``sum()``)."""
    chunks = partial.size
    size = x.size
    step = (size + chunks - 1) // chunks
    for c in range(chunks):
        total = zero
        end = (c + 1) * step if (c + 1) * step < size else size
        for i in range(c * step, end):
            total += x[i]
        partial[c] = total


@njit(cache=True, parallel=True, error_model="numpy")
def sum_flat_chunks_parallel(x, zero, partial):
    """:func:`sum_flat_chunks`, one chunk per thread."""
    chunks = partial.size
    size = x.size
    step = (size + chunks - 1) // chunks
    for c in prange(chunks):
        total = zero
        end = (c + 1) * step if (c + 1) * step < size else size
        for i in range(c * step, end):
            total += x[i]
        partial[c] = total


@njit(cache=True, error_model="numpy")
def extreme_middle(x, find_max, values, indices):
    """For each ``(o, i)``: the largest (or smallest) ``x[o, r, i]`` over r, and its r.

    The first occurrence wins ties; a NaN wins over any number, as in PyTorch.
    """
    outer, reduced, inner = x.shape
    for o in range(outer):
        for i in range(inner):
            best = x[o, 0, i]
            best_index = 0
            for r in range(1, reduced):
                value = x[o, r, i]
                if best != best:  # NaN already found: it stays
                    break
                better = value > best if find_max else value < best
                if better or value != value:
                    best = value
                    best_index = r
            values[o, i] = best
            indices[o, i] = best_index


def _to_outer_reduced_inner(array, axes):
    """View (or copy) ``array`` as ``(outer, reduced, inner)`` for the given axes."""
    ndim = array.ndim
    axes = sorted(axes)
    consecutive = axes == list(range(axes[0], axes[-1] + 1))
    if not consecutive:  # bring the reduced axes to the end, then inner = 1
        kept = [a for a in range(ndim) if a not in axes]
        array = np.ascontiguousarray(array.transpose(kept + axes))
        axes = list(range(len(kept), ndim))
    shape = array.shape
    outer = math.prod(shape[: axes[0]])
    reduced = math.prod(shape[axes[0] : axes[-1] + 1])
    inner = math.prod(shape[axes[-1] + 1 :])
    return array.reshape(outer, reduced, inner)


def _result_shape(shape, axes, keepdim):
    if keepdim:
        return tuple(1 if a in axes else n for a, n in enumerate(shape))
    return tuple(n for a, n in enumerate(shape) if a not in axes)


def sum(array, axes, keepdim):  # noqa: A001 - the contract's name
    """Sum over ``axes`` (a tuple of non-negative ints; every axis when empty)."""
    axes = tuple(axes) if axes else tuple(range(array.ndim))
    exact = array.dtype.kind in "biu"
    result_dtype = np.dtype(np.int64) if exact else array.dtype
    zero = np.int64(0) if exact else np.float64(0)  # the accumulator's type
    if array.ndim == 0:
        return array.astype(result_dtype)
    shape = _result_shape(array.shape, axes, keepdim)
    if len(axes) == array.ndim:  # everything: chunked partial sums, then add the chunks
        flat = array.ravel()  # a view when contiguous, else a contiguous copy
        parallel = flat.size >= PARALLEL_THRESHOLD
        partial = np.zeros(8 if parallel else 1, dtype=zero.dtype)
        launch(sum_flat_chunks_parallel if parallel else sum_flat_chunks, flat, zero, partial)
        total = np.array(partial.sum() if parallel else partial[0], dtype=result_dtype)
        return total.reshape(shape) if shape else total
    # Scattered axes, e.g. (0, 2, 3) for a conv bias gradient: reduce one consecutive run
    # at a time, last run first (keeping dims, so earlier axis numbers stay valid) — no
    # transposed copy of the whole array. Intermediate sums stay in the accumulator's type.
    runs = _consecutive_runs(sorted(axes))
    partial = array
    for index, run in enumerate(reversed(runs)):
        last = index == len(runs) - 1
        partial = _sum_run(partial, run, zero, result_dtype if last else zero.dtype)
    return partial.reshape(shape)


def _consecutive_runs(axes: list[int]) -> list[tuple[int, ...]]:
    """``[0, 2, 3]`` -> ``[(0,), (2, 3)]``."""
    runs = [[axes[0]]]
    for axis in axes[1:]:
        if axis == runs[-1][-1] + 1:
            runs[-1].append(axis)
        else:
            runs.append([axis])
    return [tuple(run) for run in runs]


def _sum_run(array, run: tuple[int, ...], zero, dtype):
    """Sum over one run of consecutive axes, keeping them as size-1 axes."""
    x3 = _to_outer_reduced_inner(array, run)
    out = np.empty((x3.shape[0], x3.shape[2]), dtype=dtype)
    if x3.shape[0] >= 64 and x3.size >= PARALLEL_THRESHOLD:
        launch(sum_middle_parallel, x3, zero, out)
    else:
        launch(sum_middle, x3, zero, out)
    return out.reshape(_result_shape(array.shape, run, True))


def _extreme(array, axis, keepdim, find_max):
    if array.ndim and array.shape[axis] == 0:
        name = "max" if find_max else "min"
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    if array.ndim == 0:
        return array.copy(), np.zeros((), dtype=np.int64)
    x3 = _to_outer_reduced_inner(array, (axis,))
    values = np.empty((x3.shape[0], x3.shape[2]), dtype=array.dtype)
    indices = np.empty((x3.shape[0], x3.shape[2]), dtype=np.int64)
    launch(extreme_middle, x3, find_max, values, indices)
    shape = _result_shape(array.shape, (axis,), keepdim)
    return values.reshape(shape), indices.reshape(shape)


def max(array, axis, keepdim):  # noqa: A001 - the contract's name
    """Largest value along ``axis`` and the index of its first occurrence."""
    return _extreme(array, axis, keepdim, True)


def min(array, axis, keepdim):  # noqa: A001 - the contract's name
    """Smallest value along ``axis`` and the index of its first occurrence."""
    return _extreme(array, axis, keepdim, False)
