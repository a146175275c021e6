"""Views on the CPU: new shapes and strides over the same memory, no element copied.

A view changes only the *metadata* of an array — its shape, its strides (how many bytes to
step along each axis) and its offset. numpy implements exactly this, so the CPU backend uses
numpy's views; the CUDA backend builds the same metadata over device memory by hand.
"""

import numpy as np


def reshape(array, shape):
    """Same elements in a new shape: a view when the strides allow it, else a copy."""
    return array.reshape(shape)


def permute(array, axes):
    """Axes reordered (``transpose``): only the strides are shuffled."""
    return array.transpose(axes)


def broadcast_to(array, shape):
    """A read-only view where size-1 axes are repeated by giving them stride 0."""
    return np.broadcast_to(array, shape)


def basic_index(array, key):
    """``array[key]`` for ints, slices, ``None`` and ``...``: always a view.

    numpy returns a *copy* (a scalar) when ints select a single element; adding ``...``
    to the key makes it return a 0-d view instead, so writes through it reach ``array``.
    """
    key = key if isinstance(key, tuple) else (key,)
    if not any(part is Ellipsis for part in key):
        key = key + (Ellipsis,)
    return array[key]
