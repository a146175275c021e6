"""Gather and scatter-add through flat (row-major) indices.

Both take positions in ``array.ravel()`` order, whatever the array's strides: thread ``t``
turns each flat position into a memory offset with ``strided.storage_offset``.

A position outside ``[0, size)`` raises ``IndexError`` before anything is read or written,
as on the CPU (the op layer has already turned negative indices into positive ones). The
check is a kernel that counts bad positions with an atomic counter; reading that one number
back is the only moment the host waits for the GPU here.

``scatter_add`` may hit the same position from several threads (repeated indices, as in
the backward pass of indexing); ``cuda.atomic.add`` makes each read-add-write indivisible
so no contribution is lost — the GPU counterpart of ``numpy.add.at``.
"""

import math
from collections.abc import Callable

import numpy as np
from numba import cuda

from numbanet.backends.cuda.layout import (
    DeviceArray,
    coalesce_axes,
    element_strides,
    flat_view,
    grid_stride_launch,
    storage_window,
)
from numbanet.backends.cuda.memory import astype, contiguous, empty, full, to_host
from numbanet.backends.cuda.strided import storage_offset
from numbanet.backends.cuda.views import broadcast_to
from numbanet.backends.launch import launch


@cuda.jit(cache=True)
def count_out_of_range_kernel(count, positions, size):
    """count[0] += how many positions lie outside [0, size); thread t checks t, t + T, ..."""
    for i in range(cuda.grid(1), positions.size, cuda.gridsize(1)):
        if positions[i] < 0 or positions[i] >= size:
            cuda.atomic.add(count, 0, 1)


@cuda.jit(cache=True)
def gather_kernel(out, source, source_shape, source_strides, flat_index):
    """out[i] = source.ravel()[flat_index[i]]; thread t takes i = t, t + T, t + 2T, ..."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = source[storage_offset(flat_index[i], source_shape, source_strides)]


@cuda.jit(cache=True)
def scatter_add_kernel(destination, destination_shape, destination_strides, flat_index, values):
    """destination.ravel()[flat_index[i]] += values[i], atomically; thread t takes
    i = t, t + T, t + 2T, ..."""
    for i in range(cuda.grid(1), flat_index.size, cuda.gridsize(1)):
        at = storage_offset(flat_index[i], destination_shape, destination_strides)
        cuda.atomic.add(destination, at, values[i])


def check_in_range(positions: DeviceArray, size: int, message: Callable[..., str]) -> None:
    """Raise ``IndexError(message(bad_value, where, how_many))`` when any of the int64
    ``positions`` lies outside ``[0, size)``."""
    flat = flat_view(contiguous(positions))
    if flat.size == 0:
        return
    count = full((1,), 0, np.int64)
    blocks, threads = grid_stride_launch(flat.size)
    launch(count_out_of_range_kernel, count, flat, size, grid=blocks, block=threads)
    invalid = int(to_host(count)[0])
    if invalid:
        values = to_host(flat)
        where = int(np.flatnonzero((values < 0) | (values >= size))[0])
        raise IndexError(message(int(values[where]), where, invalid))


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
        flat_view(contiguous(flat_index)), grid=blocks, block=threads,
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
        flat_view(contiguous(flat_index)), flat_view(values), grid=blocks, block=threads,
    )
