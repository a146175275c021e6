"""Allocation, copies and conversions for the CPU backend: storage is a numpy ndarray.

These are memory operations rather than arithmetic, so they use numpy directly: a learner
reading the CPU backend should spend their time on the Numba kernels, not on ``np.empty``.
"""

import numpy as np


def empty(shape, dtype):
    """An uninitialised array of ``shape`` and ``dtype``."""
    return np.empty(shape, dtype=dtype)


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
