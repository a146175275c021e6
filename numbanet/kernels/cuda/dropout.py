"""Dropout masks from numba's parallel random number generator.

Each GPU thread owns one *xoroshiro128+* generator state. ``create_xoroshiro128p_states``
seeds them on the host from one seed, spacing the states 2**64 draws apart along the same
random sequence, so no two threads ever draw the same numbers. A thread then draws a
uniform number in [0, 1) for each element it handles and keeps the element when the number
is below the keep probability.

Kept elements are scaled by ``1 / keep_probability`` ("inverted dropout"), so the expected
value of ``x * mask`` is ``x`` and evaluation needs no rescaling.
"""

import math

import numpy as np
from numba import cuda
from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_uniform_float32

from numbanet.kernels.cuda.layout import (
    THREADS_PER_BLOCK,
    DeviceArray,
    flat_view,
    grid_stride_launch,
)
from numbanet.kernels.cuda.memory import empty
from numbanet.kernels.launch import launch

MAX_GENERATORS = 16 * THREADS_PER_BLOCK  # states are seeded on the host: keep them few


@cuda.jit(cache=True)
def dropout_mask_kernel(mask, states, keep_probability, scale):
    """mask[i] = scale with probability keep_probability, else 0.

    Thread t uses generator states[t] for i = t, t + T, t + 2T, ... (T threads in the grid).
    """
    thread = cuda.grid(1)
    for i in range(thread, mask.size, cuda.gridsize(1)):
        if xoroshiro128p_uniform_float32(states, thread) < keep_probability:
            mask[i] = scale
        else:
            mask[i] = 0


def dropout_mask(
    shape: tuple[int, ...], keep_probability: float, dtype, seed: int
) -> DeviceArray:
    """An array of 0 and ``1 / keep_probability`` (each kept with ``keep_probability``); the
    same seed and shape always give the same mask."""
    if not 0.0 <= keep_probability <= 1.0:
        raise ValueError(f"keep probability must be in [0, 1], got {keep_probability}")
    mask = empty(shape, dtype)
    size = math.prod(mask.shape)
    if size == 0:
        return mask
    blocks, threads = grid_stride_launch(size)
    blocks = min(blocks, MAX_GENERATORS // threads)
    states = create_xoroshiro128p_states(blocks * threads, seed=seed % 2**64)
    scale = 1.0 / keep_probability if keep_probability > 0 else 0.0
    launch(
        dropout_mask_kernel, flat_view(mask), states, np.float32(keep_probability),
        mask.dtype.type(scale), grid=blocks, block=threads,
    )
    return mask
