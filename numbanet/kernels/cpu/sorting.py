"""Sorting rows and scattering values: the kernels behind ``sort``, ``argsort``, ``topk``
and ``scatter``.

- :func:`sort`: every row of a 2-D array stably sorted, with each value's original
  position (the merge sort of :mod:`numbanet.kernels.sorting`, one row per thread);
- :func:`scatter`: ``destination.ravel()[flat_index[i]] = values[i]``, in order, so when
  two indices name one element the later value stays (PyTorch leaves that case
  unspecified);
- :func:`scatter_multiply`: ``destination.ravel()[flat_index[i]] *= values[i]``.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels import sorting
from numbanet.kernels.cpu.indexing import _check
from numbanet.kernels.launch import launch

sort_row = njit(cache=True, error_model="numpy")(sorting.sort_row)


@njit(cache=True, parallel=True, error_model="numpy")
def sort_rows_kernel(work_values, work_indices, descending):
    """Sort each row ``work_values[0, r]`` into half ``passes(n) % 2`` (rows in parallel:
    each thread touches only its own row of the double buffer)."""
    for r in prange(work_values.shape[1]):
        sort_row(work_values, work_indices, r, descending)


@njit(cache=True, error_model="numpy")
def scatter_flat(destination, flat_index, values, multiply):
    """``destination[flat_index[i]] = values[i]`` (or ``*=`` with ``multiply``) for 1-D
    arrays, in order; returns the number of invalid indices (then nothing is written)."""
    invalid = 0
    size = destination.size
    for i in range(flat_index.size):
        if not 0 <= flat_index[i] < size:
            invalid += 1
    if invalid == 0:
        for i in range(flat_index.size):
            if multiply:
                destination[flat_index[i]] *= values[i]
            else:
                destination[flat_index[i]] = values[i]
    return invalid


def sort(a: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """(values, int64 indices): each row of the 2-D array ``a`` stably sorted (NaN largest),
    and where each value came from in its row."""
    rows, n = a.shape
    work_values = np.empty((2, rows, n), dtype=a.dtype)
    work_values[0] = a
    work_indices = np.empty((2, rows, n), dtype=np.int64)
    launch(sort_rows_kernel, work_values, work_indices, bool(descending))
    half = sorting.passes(n) % 2
    return work_values[half], work_indices[half]


def _scatter(destination, flat_index, values, multiply: bool) -> None:
    indices = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    flat_values = np.ascontiguousarray(
        np.broadcast_to(values, np.shape(flat_index)), dtype=destination.dtype).reshape(-1)
    contiguous = destination.flags.c_contiguous
    work = destination if contiguous else np.ascontiguousarray(destination)
    flat_destination = work.reshape(-1)
    _check(launch(scatter_flat, flat_destination, indices, flat_values, multiply), indices,
           flat_destination.size)
    if not contiguous:
        destination[...] = work


def scatter(destination: np.ndarray, flat_index: np.ndarray, values: np.ndarray) -> None:
    """``destination.ravel()[flat_index[i]] = values[i]`` in place (row-major positions,
    ``values`` broadcast to ``flat_index``'s shape and converted); the last write to an
    element stays. On an invalid index nothing is written."""
    _scatter(destination, flat_index, values, False)


def scatter_multiply(destination: np.ndarray, flat_index: np.ndarray,
                     values: np.ndarray) -> None:
    """``destination.ravel()[flat_index[i]] *= values[i]`` in place; repeated indices
    multiply in turn."""
    _scatter(destination, flat_index, values, True)
