"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches, as in PyTorch.

One epoch, step by step:

1. the order: ``0, 1, ..., N-1``, or with ``shuffle=True`` a fresh random permutation drawn
   from ``generator`` (or the default generator, so ``numbanet.manual_seed`` makes every
   epoch's order reproducible), or the indices a ``sampler`` yields (a
   ``DistributedSampler`` gives each process its share);
2. the order is cut into consecutive batches of ``batch_size`` indices; with
   ``drop_last=True`` a final, smaller batch is left out;
3. each batch of indices becomes one batch of data: the dataset's ``get_batch(indices)``
   when it has one and collation is the default (the fast path: one array operation per
   batch, see ``dataset.py``), otherwise ``collate_fn([dataset[i] for i in indices])``.

Loading happens in the calling process. ``num_workers`` and ``pin_memory`` are accepted so
that PyTorch code runs unchanged; the batch fast path is what makes worker processes
unnecessary for the datasets numbanet ships.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from numbanet.random import Generator, numpy_generator
from numbanet.utils.data.collate import default_collate


class DataLoader:
    """Batches of ``dataset``: ``for images, labels in DataLoader(data, batch_size=64): ...``"""

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        sampler=None,
        *,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        generator: Generator | None = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.sampler = sampler  # yields the epoch's indices (e.g. a DistributedSampler)
        self.num_workers = num_workers  # accepted for PyTorch code; loading stays in-process
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.pin_memory = pin_memory  # accepted for PyTorch code; no effect
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        """Number of batches per epoch."""
        size = len(self.sampler) if self.sampler is not None else len(self.dataset)
        full_batches, remainder = divmod(size, self.batch_size)
        return full_batches + (1 if remainder and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Any]:
        order = self._epoch_order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._fetch(order[start : start + self.batch_size])

    def _epoch_order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        size = len(self.dataset)
        if self.shuffle:
            return numpy_generator(self.generator).permutation(size)
        return np.arange(size, dtype=np.int64)

    def _fetch(self, indices: np.ndarray) -> Any:
        if self.collate_fn is default_collate and hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        return self.collate_fn([self.dataset[int(index)] for index in indices])
