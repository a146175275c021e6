"""Sorting rows and scattering values on the GPU (the twins of ``kernels/cpu/sorting.py``).

- :func:`sort`: one thread per row runs the merge sort of :mod:`numbanet.kernels.sorting`
  (the same Python function the CPU compiles, here as a device function) in a double
  buffer in global memory;
- :func:`scatter`: one thread per index writes its value; when two indices name one
  element, which write lands last is up to the GPU's scheduling (as in PyTorch, where the
  result is then unspecified);
- :func:`scatter_multiply`: there is no atomic multiply, so a single thread multiplies in
  order — correct for repeated indices, and as slow as a serial loop.
"""

import numpy as np
from numba import cuda

from numbanet.kernels import sorting
from numbanet.kernels.cuda.indexing import _out_of_bounds, check_in_range
from numbanet.kernels.cuda.layout import (
    DeviceArray,
    coalesce_axes,
    element_strides,
    flat_view,
    grid_stride_launch,
    storage_window,
)
from numbanet.kernels.cuda.memory import astype, contiguous, copy_into, empty
from numbanet.kernels.cuda.strided import storage_offset
from numbanet.kernels.cuda.views import basic_index, broadcast_to
from numbanet.kernels.launch import launch

sort_row = cuda.jit(device=True)(sorting.sort_row)


@cuda.jit
def sort_rows_kernel(work_values, work_indices, descending):
    """Thread t sorts rows t, t + T, ... of ``work_values[0]`` (see sorting.sort_row)."""
    for r in range(cuda.grid(1), work_values.shape[1], cuda.gridsize(1)):
        sort_row(work_values, work_indices, r, descending)


@cuda.jit(cache=True)
def scatter_kernel(destination, destination_shape, destination_strides, flat_index, values,
                   size):
    """destination.ravel()[flat_index[i]] = values[i] (positions outside [0, size) are
    skipped and reported by check_in_range); thread t takes i = t, t + T, ..."""
    for i in range(cuda.grid(1), flat_index.size, cuda.gridsize(1)):
        position = flat_index[i]
        if 0 <= position < size:
            destination[storage_offset(position, destination_shape, destination_strides)] = \
                values[i]


@cuda.jit(cache=True)
def scatter_multiply_kernel(destination, destination_shape, destination_strides, flat_index,
                            values, size):
    """destination.ravel()[flat_index[i]] *= values[i] for every i in order, by one thread."""
    if cuda.grid(1) == 0:
        for i in range(flat_index.size):
            position = flat_index[i]
            if 0 <= position < size:
                at = storage_offset(position, destination_shape, destination_strides)
                destination[at] *= values[i]


def sort(a: DeviceArray, descending: bool) -> tuple[DeviceArray, DeviceArray]:
    """(values, int64 indices): each row of the 2-D array ``a`` stably sorted (NaN
    largest), and where each value came from in its row."""
    rows, n = (int(extent) for extent in a.shape)
    work_values = empty((2, rows, n), a.dtype)
    work_indices = empty((2, rows, n), np.int64)
    half = sorting.passes(n) % 2
    if rows == 0 or n == 0:
        return basic_index(work_values, half), basic_index(work_indices, half)
    copy_into(basic_index(work_values, 0), a)
    blocks, threads = grid_stride_launch(rows)
    launch(sort_rows_kernel, work_values, work_indices, bool(descending), grid=blocks,
           block=threads)
    return basic_index(work_values, half), basic_index(work_indices, half)


def _scatter(kernel, destination: DeviceArray, flat_index: DeviceArray, values,
             serial: bool) -> None:
    if flat_index.size == 0:
        return
    check_in_range(flat_index, destination.size, _out_of_bounds(destination.size))
    values = broadcast_to(values, tuple(flat_index.shape))
    values = contiguous(values) if values.dtype == destination.dtype else astype(
        values, destination.dtype)
    shape, (strides,) = coalesce_axes(tuple(destination.shape), element_strides(destination))
    blocks, threads = (1, 1) if serial else grid_stride_launch(flat_index.size)
    launch(kernel, storage_window(destination), shape, strides,
           flat_view(contiguous(flat_index)), flat_view(values), destination.size,
           grid=blocks, block=threads)


def scatter(destination: DeviceArray, flat_index: DeviceArray, values) -> None:
    """``destination.ravel()[flat_index] = values`` (``values`` broadcast to
    ``flat_index``'s shape and converted to destination's dtype)."""
    _scatter(scatter_kernel, destination, flat_index, values, serial=False)


def scatter_multiply(destination: DeviceArray, flat_index: DeviceArray, values) -> None:
    """``destination.ravel()[flat_index] *= values``, repeated indices multiplying in turn."""
    _scatter(scatter_multiply_kernel, destination, flat_index, values, serial=True)
