"""Allocating, filling, converting and moving GPU arrays.

``cuda.device_array`` reserves memory without touching it; ``cuda.to_device`` and
``copy_to_host`` are the only host <-> GPU transfers. Everything else here is a kernel:
filling, counting (``arange``), and copying one layout or dtype into another — a copy is the
elementwise *identity* launched by ``strided.run_elementwise``, which also handles
broadcasting and arbitrary strides.
"""

import math
from numbers import Number

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import (
    DeviceArray,
    coalesce_axes,
    element_strides,
    flat_view,
    grid_stride_launch,
    is_c_contiguous,
    storage_window,
)
from numbanet.kernels.cuda.strided import copy_of, identity, run_elementwise, storage_offset
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def fill_contiguous_kernel(out, value):
    """out[i] = value for a flat array; thread t takes i = t, t + T, t + 2T, ... (T threads)."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@cuda.jit(cache=True)
def fill_strided_kernel(out, out_strides, shape, size, value):
    """Every element of a strided view becomes ``value``.

    ``out`` is the view's storage window; thread t takes flat positions t, t + T, ... and
    writes at the memory offset :func:`storage_offset` computes for each.
    """
    for linear in range(cuda.grid(1), size, cuda.gridsize(1)):
        out[storage_offset(linear, shape, out_strides)] = value


@cuda.jit(cache=True)
def arange_kernel(out, start, step):
    """out[i] = start + i * step; thread t takes i = t, t + T, t + 2T, ..."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = start + i * step


def empty(shape: tuple[int, ...], dtype) -> DeviceArray:
    """A new C-contiguous array whose values are whatever the memory held."""
    return cuda.device_array(tuple(int(extent) for extent in shape), np.dtype(dtype))


def full(shape: tuple[int, ...], value, dtype=None) -> DeviceArray:
    """A new array with every element equal to ``value`` (dtype inferred like numpy if None)."""
    out = empty(shape, np.asarray(value).dtype if dtype is None else dtype)
    fill(out, value)
    return out


def arange(start, stop, step=1, dtype=None) -> DeviceArray:
    """``start, start + step, ...`` up to but excluding ``stop``, like ``numpy.arange``."""
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    dtype = np.result_type(start, stop, step) if dtype is None else np.dtype(dtype)
    out = empty((max(0, math.ceil((stop - start) / step)),), dtype)
    if out.size:
        blocks, threads = grid_stride_launch(out.size)
        launch(arange_kernel, out, start, step, grid=blocks, block=threads)
    return out


def from_host(array) -> DeviceArray:
    """A GPU copy of a numpy array (or anything ``numpy.asarray`` accepts)."""
    return cuda.to_device(np.asarray(array, order="C"))


def to_host(array: DeviceArray) -> np.ndarray:
    """A numpy copy of ``array`` (a strided view is packed on the GPU first). The host waits
    for the GPU here anyway, so index checks still on the GPU are read back first."""
    from numbanet.kernels.cuda.indexing import raise_unread_index_errors  # imports this module

    raise_unread_index_errors()
    return contiguous(array).copy_to_host()


def astype(array: DeviceArray, dtype) -> DeviceArray:
    """A new C-contiguous array with ``array``'s values converted to ``dtype`` (C casting
    rules: floats truncate toward zero into integers, nonzero becomes True)."""
    out = empty(tuple(array.shape), dtype)
    run_elementwise(identity, out, [array])
    return out


def contiguous(array: DeviceArray) -> DeviceArray:
    """``array`` itself when it is packed row-major, else a packed copy."""
    return array if is_c_contiguous(array) else copy_of(array)


def copy_into(destination: DeviceArray, source) -> None:
    """``destination[...] = source``: source (array or number) broadcast to destination's
    shape and converted to its dtype; destination may be any view."""
    if isinstance(source, Number):
        fill(destination, source)
        return
    run_elementwise(identity, destination, [source])


def fill(array: DeviceArray, value) -> None:
    """Every element of ``array`` (any view) becomes ``value``."""
    if array.size == 0:
        return
    blocks, threads = grid_stride_launch(array.size)
    if is_c_contiguous(array):
        launch(fill_contiguous_kernel, flat_view(array), value, grid=blocks, block=threads)
        return
    shape, (strides,) = coalesce_axes(tuple(array.shape), element_strides(array))
    launch(
        fill_strided_kernel, storage_window(array), strides, shape, array.size, value,
        grid=blocks, block=threads,
    )

