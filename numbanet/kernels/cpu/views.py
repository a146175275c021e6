"""Views on the CPU: new shapes and strides over the same memory, no element copied.

A view changes only the *metadata* of an array — its shape, its strides (how many bytes to
step along each axis) and its offset. numpy implements exactly this, so the CPU backend uses
numpy's views; the CUDA backend builds the same metadata over device memory by hand.
"""

import numpy as np

from numbanet.kernels.broadcasting import broadcast_strides


def reshape(array, shape):
    """Same elements in a new shape: a view when the strides allow it, else a copy."""
    return array.reshape(shape)


def permute(array, axes):
    """Axes reordered (``transpose``): only the strides are shuffled."""
    return array.transpose(axes)


def broadcast_to(array, shape):
    """A read-only view where size-1 axes are repeated by giving them stride 0.

    For a C-contiguous array (a bias, a gradient being spread back over summed axes) the
    view is built from the strides directly: 1 us, where ``np.broadcast_to``, which checks
    and handles every case, takes 4-5 us, once per bias add in a training step."""
    if not (array.flags.c_contiguous and array.size):
        return np.broadcast_to(array, shape)
    shape = tuple(shape)
    strides = broadcast_strides(array.shape, array.strides, shape)
    view = np.ndarray(shape, array.dtype, array, 0, strides)
    view.flags.writeable = False
    return view


def basic_index(array, key):
    """``array[key]`` for ints, slices, ``None`` and ``...``: always a view.

    numpy returns a *copy* (a scalar) when ints select a single element; adding ``...``
    to the key makes it return a 0-d view instead, so writes through it reach ``array``.
    """
    key = key if isinstance(key, tuple) else (key,)
    if not any(part is Ellipsis for part in key):
        key = key + (Ellipsis,)
    return array[key]
