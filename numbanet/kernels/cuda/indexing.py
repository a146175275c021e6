"""Gather and scatter-add through flat (row-major) indices.

Both take positions in ``array.ravel()`` order, whatever the array's strides: thread ``t``
turns each flat position into a memory offset with ``strided.storage_offset``.

A position outside ``[0, size)`` raises ``IndexError``, as on the CPU (the op layer has
already turned negative indices into positive ones) — but later than on the CPU. A kernel
launch returns at once and the GPU works through its queue while Python goes on; reading a
result back waits for that queue to drain. A check that read its verdict back at once would
put such a wait into every gather, scatter and loss, several per training step, for an
answer that is almost always "no bad index". So :func:`check_in_range` only *launches* its
check: a kernel that adds the number of bad positions to one counter in GPU memory. The
counter is read when data is copied to the host anyway (``memory.to_host``: ``loss.item()``,
``print(x)``, ``x.cpu()``), or after ``UNREAD_CHECKS_LIMIT`` checks at the latest, and a bad
position raises its ``IndexError`` there (PyTorch reports a bad index on the GPU the same
way, from a later call: "device-side assert triggered"). Meanwhile the kernels skip the
positions out of range, so nothing outside an array is ever read or written.

``scatter_add`` may hit the same position from several threads (repeated indices, as in
the backward pass of indexing); ``cuda.atomic.add`` makes each read-add-write indivisible
so no contribution is lost — the GPU counterpart of ``numpy.add.at``.
"""

import math
from collections.abc import Callable

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import (
    DeviceArray,
    coalesce_axes,
    element_strides,
    flat_view,
    grid_stride_launch,
    storage_window,
)
from numbanet.kernels.cuda.memory import astype, contiguous, empty, fill, full
from numbanet.kernels.cuda.strided import storage_offset
from numbanet.kernels.cuda.views import broadcast_to
from numbanet.kernels.launch import launch

UNREAD_CHECKS_LIMIT = 64  # checks whose verdict may wait on the GPU (each holds its positions)

_bad_position_count = None  # int64[1] in GPU memory, allocated by the first check
_unread_checks: list = []  # (positions, size, message) counted on the GPU, not yet read back


@cuda.jit(cache=True)
def count_out_of_range_kernel(count, positions, size):
    """count[0] += how many positions lie outside [0, size); thread t checks t, t + T, ..."""
    for i in range(cuda.grid(1), positions.size, cuda.gridsize(1)):
        if positions[i] < 0 or positions[i] >= size:
            cuda.atomic.add(count, 0, 1)


@cuda.jit(cache=True)
def gather_kernel(out, source, source_shape, source_strides, flat_index, size):
    """out[i] = source.ravel()[flat_index[i]] (0 for a position outside [0, size), which
    check_in_range reports); thread t takes i = t, t + T, t + 2T, ..."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        position = flat_index[i]
        if 0 <= position < size:
            out[i] = source[storage_offset(position, source_shape, source_strides)]
        else:
            out[i] = 0


@cuda.jit(cache=True)
def scatter_add_kernel(
    destination, destination_shape, destination_strides, flat_index, values, size,
):
    """destination.ravel()[flat_index[i]] += values[i], atomically (nothing for a position
    outside [0, size), which check_in_range reports); thread t takes i = t, t + T, ..."""
    for i in range(cuda.grid(1), flat_index.size, cuda.gridsize(1)):
        position = flat_index[i]
        if 0 <= position < size:
            at = storage_offset(position, destination_shape, destination_strides)
            cuda.atomic.add(destination, at, values[i])


def check_in_range(positions: DeviceArray, size: int, message: Callable[..., str]) -> None:
    """Count on the GPU the int64 ``positions`` outside ``[0, size)``, without waiting for
    the answer: :func:`raise_unread_index_errors` (called by every copy to the host) raises
    ``IndexError(message(bad_value, where, how_many))`` for them."""
    global _bad_position_count
    flat = flat_view(contiguous(positions))
    if flat.size == 0:
        return
    if _bad_position_count is None:
        _bad_position_count = full((1,), 0, np.int64)
    blocks, threads = grid_stride_launch(flat.size)
    launch(count_out_of_range_kernel, _bad_position_count, flat, size, grid=blocks,
           block=threads)
    _unread_checks.append((flat, size, message))
    if len(_unread_checks) >= UNREAD_CHECKS_LIMIT:
        raise_unread_index_errors()


def raise_unread_index_errors() -> None:
    """Read the bad-position counter back (the host waits for the GPU here) and raise the
    ``IndexError`` of the first check that found a bad position, if any did."""
    if not _unread_checks:
        return
    checks = _unread_checks.copy()
    _unread_checks.clear()
    if not int(_bad_position_count.copy_to_host()[0]):
        return
    fill(_bad_position_count, 0)
    for flat, size, message in checks:
        values = flat.copy_to_host()
        bad = np.flatnonzero((values < 0) | (values >= size))
        if bad.size:
            raise IndexError(message(int(values[bad[0]]), int(bad[0]), int(bad.size)) +
                             "\n  (found on the GPU by an earlier operation and reported at "
                             "this first copy of GPU data to the host since then)")
    raise IndexError("an index was out of range in an earlier GPU operation (its positions "
                     "have changed since, so it can no longer be named)")


def _out_of_bounds(size: int) -> Callable[..., str]:
    return lambda bad, where, how_many: (
        f"index {bad} is out of bounds for a tensor of {size} elements "
        f"({how_many} indices out of range in total)")


def gather(source: DeviceArray, flat_index: DeviceArray) -> DeviceArray:
    """``source.ravel()[flat_index]``: an array shaped like ``flat_index``."""
    out = empty(tuple(flat_index.shape), source.dtype)
    if out.size == 0:
        return out
    size = math.prod(source.shape)
    check_in_range(flat_index, size, _out_of_bounds(size))
    shape, (strides,) = coalesce_axes(tuple(source.shape), element_strides(source))
    blocks, threads = grid_stride_launch(out.size)
    launch(
        gather_kernel, flat_view(out), storage_window(source), shape, strides,
        flat_view(contiguous(flat_index)), size, grid=blocks, block=threads,
    )
    return out


def scatter_add(destination: DeviceArray, flat_index: DeviceArray, values) -> None:
    """``destination.ravel()[flat_index] += values`` with repeated indices accumulating;
    ``values`` broadcast to ``flat_index``'s shape and converted to destination's dtype."""
    if flat_index.size == 0:
        return
    check_in_range(flat_index, destination.size, _out_of_bounds(destination.size))
    values = broadcast_to(values, tuple(flat_index.shape))
    values = contiguous(values) if values.dtype == destination.dtype else astype(
        values, destination.dtype)
    shape, (strides,) = coalesce_axes(tuple(destination.shape), element_strides(destination))
    blocks, threads = grid_stride_launch(flat_index.size)
    launch(
        scatter_add_kernel, storage_window(destination), shape, strides,
        flat_view(contiguous(flat_index)), flat_view(values), destination.size,
        grid=blocks, block=threads,
    )
