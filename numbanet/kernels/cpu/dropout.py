"""The random mask of dropout: each element kept with probability ``p_keep``, else zeroed.

``mask[i] = 1 / p_keep`` with probability ``p_keep``, else ``0``; dropout is then
``x * mask``. Dividing the kept values by ``p_keep`` ("inverted dropout") keeps the
expected value of every element unchanged, ``E[x * mask] = x``, so evaluation mode can
simply skip the mask.

Random numbers and reproducibility. Inside ``@njit`` code, ``np.random`` is Numba's own
generator (a Mersenne Twister), not numpy's, and each thread has its own state; calling
``np.random.seed`` inside the kernel seeds the state of the thread that runs it. To make a
mask depend only on ``seed`` — not on the thread count or on which thread ran which
part — the mask is cut into fixed blocks of :data:`BLOCK` elements, and each block
re-seeds the generator with ``(seed, block number)`` before drawing. Serial and parallel
runs therefore give the same mask for the same seed, and every call with the same seed
gives the same mask.
"""

import math

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

BLOCK = 1 << 16  # elements drawn from one seeding of the generator
SEED_STRIDE = 0x9E3779B1  # spreads the seeds of consecutive blocks (2**32 / golden ratio)


@njit(cache=True, inline="always", error_model="numpy")
def fill_block(mask, block, keep_probability, kept_value, seed):
    """Draw block number ``block`` of the flat ``mask`` from its own seeding."""
    np.random.seed((seed + block * SEED_STRIDE) & 0xFFFFFFFF)
    zero = kept_value * 0
    for i in range(block * BLOCK, min(mask.size, (block + 1) * BLOCK)):
        mask[i] = kept_value if np.random.random() < keep_probability else zero


@njit(cache=True, error_model="numpy")
def dropout_mask_blocks(mask, keep_probability, kept_value, seed):
    """Fill the flat ``mask`` block by block on one thread."""
    for block in range((mask.size + BLOCK - 1) // BLOCK):
        fill_block(mask, block, keep_probability, kept_value, seed)


@njit(cache=True, parallel=True, error_model="numpy")
def dropout_mask_blocks_parallel(mask, keep_probability, kept_value, seed):
    """:func:`dropout_mask_blocks` with the blocks split across cores (same result)."""
    for block in prange((mask.size + BLOCK - 1) // BLOCK):
        fill_block(mask, block, keep_probability, kept_value, seed)


def dropout_mask(shape: tuple[int, ...], keep_probability: float, dtype,
                 seed: int) -> np.ndarray:
    """A mask of ``shape`` whose elements are ``1 / keep_probability`` (kept) or 0.

    The same ``seed`` always gives the same mask. ``keep_probability`` lies in ``[0, 1]``;
    0 (dropout with ``p = 1``) drops everything, as in PyTorch.
    """
    if not 0 <= keep_probability <= 1:
        raise ValueError(f"dropout: keep probability must be in [0, 1], got "
                         f"{keep_probability} (the drop probability p must be in [0, 1])")
    dtype = np.dtype(dtype)
    mask = np.zeros(math.prod(shape), dtype=dtype)
    if keep_probability > 0 and mask.size:
        kernel = dropout_mask_blocks_parallel if mask.size > BLOCK else dropout_mask_blocks
        launch(kernel, mask, keep_probability, dtype.type(1 / keep_probability),
               seed % 2**32)
    return mask.reshape(shape)
