"""Random numbers for initialisation, shuffling and dropout, seeded by ``manual_seed``.

All randomness on the host comes from one numpy ``Generator`` so that
``numbanet.manual_seed(0)`` makes weight init, DataLoader shuffling and dropout masks
reproducible, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import numpy as np


class Generator:
    """A seedable source of random numbers, like ``torch.Generator``."""

    def __init__(self, device=None):
        self.numpy = np.random.default_rng()
        self._seed: int | None = None

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def next_seed(self) -> int:
        """A fresh 63-bit seed for a kernel that draws its own numbers (dropout)."""
        return int(self.numpy.integers(0, 2**63 - 1))


_default = Generator()


def default_generator() -> Generator:
    return _default


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (init, shuffling, dropout) and return it."""
    return _default.manual_seed(seed)


def initial_seed() -> int | None:
    return _default.initial_seed()


def numpy_generator(generator: Generator | None = None) -> np.random.Generator:
    return (generator or _default).numpy
