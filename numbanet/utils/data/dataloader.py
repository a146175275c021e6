"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches, as in PyTorch.

One epoch, step by step:

1. the order: a **sampler** yields dataset indices (see ``sampler.py``). By default
   ``SequentialSampler`` (``0, 1, ..., N-1``), or with ``shuffle=True`` a ``RandomSampler``
   whose permutation comes from ``generator`` (or the default generator, so
   ``numbanet.manual_seed`` makes every epoch's order reproducible); ``sampler=`` sets your own
   (a ``DistributedSampler`` gives each process its share);
2. a ``BatchSampler`` cuts the indices into consecutive batches of ``batch_size``; with
   ``drop_last=True`` a final, smaller batch is left out. ``batch_sampler=`` replaces this
   step (and then ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last`` must be left
   alone); ``batch_size=None`` skips it: each index gives one item, converted by
   ``default_convert`` (numpy arrays become tensors) instead of collated;
3. each batch of indices becomes one batch of data: the dataset's ``get_batch(indices)``
   when it has one and collation is the default (the fast path: one array operation per
   batch, see ``dataset.py``), otherwise ``collate_fn(dataset.__getitems__(indices))`` when
   the dataset defines PyTorch's ``__getitems__``, else ``collate_fn([dataset[i] for i in
   indices])``.

An ``IterableDataset`` has no indices: the loader takes its items in the order it yields
them, ``batch_size`` at a time, and refuses ``shuffle``, ``sampler`` and ``batch_sampler``.

Loading happens in the calling process. ``num_workers`` and ``pin_memory`` are accepted so
that PyTorch code runs unchanged; the batch fast path is what makes worker processes
unnecessary for the datasets numbanet ships.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from numbanet.random import Generator
from numbanet.utils.data.collate import default_collate, default_convert
from numbanet.utils.data.dataset import IterableDataset
from numbanet.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


class DataLoader:
    """Batches of ``dataset``: ``for images, labels in DataLoader(data, batch_size=64): ...``"""

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler | Iterable | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:  # a stream has no indices to choose among
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(
                        f"DataLoader with IterableDataset: expected unspecified {name} option, "
                        f"but got {name}={value}"
                    )
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive "
                "with drop_last"
            )
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else (
                SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and self._iterable and not _is_positive_int(batch_size):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        # Worker-process options: accepted so PyTorch code runs; loading stays in-process.
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        """Whether items are grouped into batches (False for ``batch_size=None``)."""
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    def __len__(self) -> int:
        """Number of batches per epoch (items, with ``batch_size=None``)."""
        if self._iterable:  # len(dataset) raises TypeError when the stream has no length
            length = len(self.dataset)
            if self.batch_size is None:
                return length
            full_batches, remainder = divmod(length, self.batch_size)
            return full_batches + (1 if remainder and not self.drop_last else 0)
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iterate_stream()
        elif self._auto_collation:
            for indices in self.batch_sampler:
                yield self._fetch(indices)
        else:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])

    def _iterate_stream(self) -> Iterator[Any]:
        items = iter(self.dataset)
        if self.batch_size is None:
            for item in items:
                yield self.collate_fn(item)
            return
        while batch := list(itertools.islice(items, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield self.collate_fn(batch)

    def _fetch(self, indices: list) -> Any:
        if self.collate_fn is default_collate and hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(np.asarray(indices, dtype=np.int64))
        if getattr(self.dataset, "__getitems__", None):  # PyTorch's batched item protocol
            return self.collate_fn(self.dataset.__getitems__(indices))
        # Indices go to the dataset as the sampler gave them: any key a dataset accepts.
        return self.collate_fn([self.dataset[index] for index in indices])


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
