"""Gather and scatter-add through flat indices: the kernels behind advanced indexing.

Indexing ``x[rows, cols]`` with integer arrays picks arbitrary elements. The op layer turns
every such index into one *flat* position in ``x.ravel()`` (``rows * x.shape[1] + cols``),
so one pair of kernels serves every number of dimensions:

- forward, :func:`gather`: ``out[i] = source.ravel()[flat_index[i]]``;
- backward, :func:`scatter_add`: ``destination.ravel()[flat_index[i]] += values[i]``: the
  gradient flows back to the position each value was read from. An element picked twice
  receives both gradients, which is why this is ``+=`` and not ``=``.

An index outside ``[0, source.size)`` raises ``IndexError`` (it is never wrapped around:
the op layer has already turned negative indices into positive ones).
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 16  # indices below which one thread is faster


@njit(cache=True, error_model="numpy")
def gather_flat(source, flat_index, out):
    """``out[i] = source[flat_index[i]]`` for 1-D arrays; returns how many were invalid."""
    invalid = 0
    size = source.size
    for i in range(flat_index.size):
        position = flat_index[i]
        if 0 <= position < size:
            out[i] = source[position]
        else:
            invalid += 1
    return invalid


@njit(cache=True, parallel=True, error_model="numpy")
def gather_flat_parallel(source, flat_index, out):
    """:func:`gather_flat` with the indices split across cores (no two write the same
    ``out[i]``, so the threads never collide)."""
    invalid = 0
    size = source.size
    for i in prange(flat_index.size):
        position = flat_index[i]
        if 0 <= position < size:
            out[i] = source[position]
        else:
            invalid += 1
    return invalid


@njit(cache=True, error_model="numpy")
def scatter_add_flat(destination, flat_index, values):
    """``destination[flat_index[i]] += values[i]`` for 1-D arrays.

    Returns the number of invalid indices; when there are any, nothing is written. One
    thread on purpose: two indices may name the same element, and two threads adding into
    one element at once would lose one of the additions. Run in order, repeated indices
    simply accumulate.
    """
    invalid = 0
    size = destination.size
    for i in range(flat_index.size):
        if not 0 <= flat_index[i] < size:
            invalid += 1
    if invalid == 0:
        for i in range(flat_index.size):
            destination[flat_index[i]] += values[i]
    return invalid


def _check(invalid: int, flat_index: np.ndarray, size: int) -> None:
    if invalid:
        bad = flat_index[(flat_index < 0) | (flat_index >= size)].ravel()[0]
        raise IndexError(f"index {bad} is out of bounds for a tensor of {size} elements "
                         f"({invalid} indices out of range in total)")


def gather(source: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """``out[i] = source.ravel()[flat_index[i]]``; the result has ``flat_index``'s shape."""
    flat_source = np.ascontiguousarray(source).reshape(-1)
    indices = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    out = np.empty(indices.size, dtype=source.dtype)
    kernel = gather_flat_parallel if indices.size >= PARALLEL_THRESHOLD else gather_flat
    _check(launch(kernel, flat_source, indices, out), indices, flat_source.size)
    return out.reshape(np.shape(flat_index))


def scatter_add(destination: np.ndarray, flat_index: np.ndarray, values: np.ndarray) -> None:
    """``destination.ravel()[flat_index[i]] += values[i]`` in place; repeated indices add up.

    Flat positions count in row-major order whatever the destination's strides: a
    non-contiguous destination is updated through a contiguous copy that is written back.
    ``values`` is broadcast to ``flat_index``'s shape and converted to the destination's
    dtype. On an invalid index nothing is written.
    """
    indices = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    flat_values = np.ascontiguousarray(
        np.broadcast_to(values, np.shape(flat_index)), dtype=destination.dtype).reshape(-1)
    contiguous = destination.flags.c_contiguous
    work = destination if contiguous else np.ascontiguousarray(destination)
    flat_destination = work.reshape(-1)
    _check(launch(scatter_add_flat, flat_destination, indices, flat_values), indices,
           flat_destination.size)
    if not contiguous:
        destination[...] = work
