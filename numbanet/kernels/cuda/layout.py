"""Where an array's elements sit in GPU memory: shapes, strides, views and launch sizes.

A device array is three things: the address of its element ``[0, 0, ...]``, a shape, and one
*stride* per axis — how far to step in memory to move one index along that axis. numba's
``DeviceNDArray`` keeps strides in bytes; everything in this backend works in *elements*
(bytes divided by the item size), so a C-contiguous ``(2, 3)`` array has strides ``(3, 1)``.

Element ``[i, j, k]`` lives at ``i * strides[0] + j * strides[1] + k * strides[2]`` elements
past element ``[0, 0, 0]``. Views — a transpose, a slice, a broadcast — change only the
address, shape and strides; the memory is shared, nothing is copied. Kernels that accept
arbitrary views receive a flat 1-D *storage window* (the memory from element ``[0, ...]`` to
the last element the view can reach) plus the view's strides, and do the multiply-add above
themselves (see ``strided.py``).

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) a device array is a ``FakeCUDAArray``
wrapping a numpy array; :func:`make_view` builds the same view there over the same host
memory, so the stride arithmetic is exercised on both paths.
"""

import math
from typing import Any

import numpy as np
from numba import config

from numbanet.kernels.broadcasting import broadcast_strides as stretched_strides

SIMULATED = bool(config.ENABLE_CUDASIM)

if SIMULATED:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

DeviceArray = Any
"""A numba ``DeviceNDArray`` (a ``FakeCUDAArray`` under the simulator)."""

THREADS_PER_BLOCK = 256  # a multiple of the 32-thread warp; enough warps to hide latency
MAX_BLOCKS = 4096  # grid-stride loops let a capped grid cover any size


def element_strides(a: DeviceArray) -> tuple[int, ...]:
    """The strides of ``a`` counted in elements rather than bytes."""
    itemsize = a.dtype.itemsize
    return tuple(int(stride) // itemsize for stride in a.strides)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous (row-major) array of ``shape``."""
    strides = []
    step = 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def broadcast_strides(a: DeviceArray, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides that make ``a`` read as if broadcast to ``shape`` (numpy's rules:
    missing leading axes and size-1 axes that must stretch get stride 0, so every index
    along them reads the same element; see :mod:`numbanet.kernels.broadcasting`)."""
    return stretched_strides(tuple(a.shape), element_strides(a), tuple(shape))


def is_c_contiguous(a: DeviceArray) -> bool:
    """True when ``a``'s elements are packed in row-major order (size-1 axes ignored)."""
    if a.size == 0:
        return True
    expected = 1
    for extent, stride in zip(reversed(a.shape), reversed(element_strides(a)), strict=True):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


def memory_span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """How many elements, from element ``[0, ...]`` on, a view of this layout can reach."""
    if math.prod(shape) == 0:
        return 0
    return 1 + sum((extent - 1) * stride for extent, stride in zip(shape, strides, strict=True))


def make_view(
    a: DeviceArray, shape: tuple[int, ...], strides: tuple[int, ...], offset: int = 0
) -> DeviceArray:
    """A new array over ``a``'s memory, without copying.

    Its element ``[0, ...]`` is the element ``offset`` elements past ``a``'s element
    ``[0, ...]``; ``shape`` and ``strides`` (in elements, none negative) describe the rest.
    The caller guarantees the view stays inside memory ``a`` can reach.
    """
    shape = tuple(int(extent) for extent in shape)
    strides = tuple(int(stride) for stride in strides)
    itemsize = a.dtype.itemsize
    byte_strides = tuple(stride * itemsize for stride in strides)
    span = memory_span(shape, strides)
    if SIMULATED:
        host = a._ary
        address = host.__array_interface__["data"][0] + offset * itemsize
        interface = {
            "data": (address, False),
            "shape": shape,
            "strides": byte_strides,
            "typestr": host.dtype.str,
            "version": 3,
        }
        return FakeCUDAArray(np.asarray(_HostWindow(host, interface)))
    if span == 0:
        return DeviceNDArray(shape, byte_strides, a.dtype)
    memory = a.gpu_data.view(offset * itemsize, (offset + span) * itemsize)
    return DeviceNDArray(shape, byte_strides, a.dtype, gpu_data=memory)


class _HostWindow:
    """Presents part of a numpy array's memory through the array interface (simulator)."""

    def __init__(self, owner: np.ndarray, interface: dict):
        self.owner = owner  # keeps the memory alive as long as the view
        self.__array_interface__ = interface


def storage_window(a: DeviceArray) -> DeviceArray:
    """A 1-D contiguous view of all the memory ``a`` can reach, starting at ``a[0, ...]``.

    A kernel reads element ``[i, j, ...]`` of ``a`` as ``window[i * s0 + j * s1 + ...]``
    with ``s`` = :func:`element_strides` of ``a``.
    """
    return make_view(a, (memory_span(a.shape, element_strides(a)),), (1,))


def flat_view(a: DeviceArray) -> DeviceArray:
    """The C-contiguous array ``a`` seen as 1-D (a view; ``a`` itself when already 1-D)."""
    if a.ndim == 1 and element_strides(a) == (1,):
        return a
    return make_view(a, (a.size,), (1,))


def device_address(a: DeviceArray) -> int:
    """The address of ``a``'s element ``[0, ...]`` (host memory under the simulator)."""
    if SIMULATED:
        return a._ary.__array_interface__["data"][0]
    return a.device_ctypes_pointer.value or 0


def may_overlap(a: DeviceArray, b: DeviceArray) -> bool:
    """True when the memory ranges ``a`` and ``b`` can reach intersect."""
    if a.size == 0 or b.size == 0:
        return False
    a_start, b_start = device_address(a), device_address(b)
    a_end = a_start + memory_span(a.shape, element_strides(a)) * a.dtype.itemsize
    b_end = b_start + memory_span(b.shape, element_strides(b)) * b.dtype.itemsize
    return a_start < b_end and b_start < a_end


def same_layout(a: DeviceArray, b: DeviceArray) -> bool:
    """True when ``a`` and ``b`` are the very same elements in the same order."""
    return (
        device_address(a) == device_address(b)
        and tuple(a.shape) == tuple(b.shape)
        and tuple(a.strides) == tuple(b.strides)
        and a.dtype == b.dtype
    )


def coalesce_axes(
    shape: tuple[int, ...], *strides_per_array: tuple[int, ...]
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge neighbouring axes that every array steps through as one, and drop size-1 axes.

    A contiguous ``(64, 3, 28, 28)`` array plus a scalar (all strides 0) becomes one axis of
    150528 elements, so a strided kernel does one division per element instead of four.
    Axis ``i`` merges into axis ``i + 1`` when, for every array,
    ``strides[i] == shape[i + 1] * strides[i + 1]``. Always returns at least one axis.
    """
    kept = [axis for axis, extent in enumerate(shape) if extent != 1]
    merged_shape: list[int] = []
    merged_strides: list[list[int]] = [[] for _ in strides_per_array]
    for axis in kept:
        extent = shape[axis]
        if merged_shape and all(
            strides[-1] == extent * array_strides[axis]
            for strides, array_strides in zip(merged_strides, strides_per_array, strict=True)
        ):
            merged_shape[-1] *= extent
            for strides, array_strides in zip(merged_strides, strides_per_array, strict=True):
                strides[-1] = array_strides[axis]
            continue
        merged_shape.append(extent)
        for strides, array_strides in zip(merged_strides, strides_per_array, strict=True):
            strides.append(array_strides[axis])
    if not merged_shape:
        return (1,), [(0,) for _ in strides_per_array]
    return tuple(merged_shape), [tuple(strides) for strides in merged_strides]


def grid_stride_launch(size: int) -> tuple[int, int]:
    """(blocks, threads per block) for a grid-stride loop over ``size`` items.

    Small jobs get one small block (a multiple of the 32-thread warp), large ones at most
    :data:`MAX_BLOCKS` blocks whose threads each loop over several items.
    """
    threads = min(THREADS_PER_BLOCK, 32 * math.ceil(size / 32))
    blocks = min(MAX_BLOCKS, math.ceil(size / threads))
    return blocks, threads
