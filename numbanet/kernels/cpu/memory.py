"""Allocation, copies and conversions for the CPU backend: storage is a numpy ndarray.

These are memory operations rather than arithmetic, so they use numpy directly: a learner
reading the CPU backend should spend their time on the Numba kernels, not on ``np.empty``.
"""

import math

import numpy as np

CACHE_LINE_BYTES = 64



def empty(shape, dtype):
    """An uninitialised array of ``shape`` and ``dtype``."""
    return np.empty(shape, dtype=dtype)


def empty_aligned(shape: tuple[int, ...], dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose first element starts a cache line.

    numpy promises 16 bytes of alignment, so where an array starts is luck; a kernel that
    stores 64-byte vectors into its rows writes two cache lines per vector when it starts
    mid-line (the convolution's output, a large matmul's C). Found by over-allocating
    bytes and cutting the view at the first line's start.
    """
    size = math.prod(shape) * np.dtype(dtype).itemsize
    buffer = np.empty(size + CACHE_LINE_BYTES, dtype=np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE_BYTES  # bytes to the next line's start
    return buffer[start : start + size].view(dtype).reshape(shape)


def full(shape, value, dtype):
    """An array of ``shape`` filled with ``value``."""
    return np.full(shape, value, dtype=dtype)


def arange(start, stop, step, dtype):
    """``start, start + step, ...`` up to (not including) ``stop``."""
    return np.arange(start, stop, step, dtype=dtype)


def from_host(array):
    """A copy of a host (numpy) array: the CPU *is* the host."""
    return np.array(array, copy=True)


def to_host(array):
    """The array itself: it already lives on the host."""
    return array


def astype(array, dtype):
    """A new array with every element converted to ``dtype``."""
    return array.astype(dtype)


def contiguous(array):
    """``array`` in row-major (C) order: itself if it already is, else a copy."""
    return np.ascontiguousarray(array)


def copy_into(destination, source) -> None:
    """``destination[...] = source``, broadcasting ``source`` to the destination's shape."""
    np.copyto(destination, source, casting="unsafe")


def fill(array, value) -> None:
    """Set every element of ``array`` to ``value``."""
    array.fill(value)
