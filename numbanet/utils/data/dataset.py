"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``
and ``IterableDataset``, as in PyTorch.

A map-style dataset is anything with ``__len__`` and ``__getitem__(index) -> item``; the
DataLoader asks it for items and collates them into batches (see ``collate.py``). An
iterable-style dataset (``IterableDataset``) instead yields its items from ``__iter__``, for
streams with no random access: the loader takes them in order, so there is no sampler.

The batch protocol. Asking for 64 items one by one costs 64 Python calls, and stacking them
costs more; for MNIST that is most of an epoch's time. A dataset that keeps its data in a few
big arrays can do better, and says so by defining::

    def get_batch(self, indices: numpy.ndarray):   # int64 indices, in batch order
        '''Return exactly default_collate([self[i] for i in indices]).'''

The DataLoader calls ``get_batch`` once per batch instead of ``__getitem__`` per item, as
long as it collates with ``default_collate`` (a custom ``collate_fn`` sees the items one by
one, as it expects). ``TensorDataset``, ``Subset`` and the MNIST datasets define it:
a batch becomes one fancy-indexing operation on each array.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from numbanet.random import Generator, numpy_generator
from numbanet.utils.data.collate import default_collate


class Dataset:
    """The base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 10
    ...     def __getitem__(self, index):
    ...         return float(index), float(index * index)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        """``a + b`` is ``ConcatDataset([a, b])``: a's items, then b's."""
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Item ``i`` is ``(tensors[0][i], tensors[1][i], ...)``: inputs and targets side by side.

    >>> dataset = TensorDataset(inputs, labels)  # inputs (N, ...), labels (N,)
    >>> x, y = dataset[0]
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [tensor.shape[0] for tensor in tensors]
        if any(size != sizes[0] for size in sizes):
            raise ValueError(f"Size mismatch between tensors: first dimensions are {sizes}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple:
        return tuple(tensor[index] for tensor in self.tensors)

    def get_batch(self, indices: np.ndarray) -> list:
        """All the batch's rows of each tensor in one indexing operation (batch protocol)."""
        return [tensor[indices] for tensor in self.tensors]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``: ``Subset(d, [3, 1])[0]`` is ``d[3]``."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: np.ndarray) -> Any:
        """Translate to the parent's indices and use its batch protocol when it has one."""
        parent_indices = self.indices[indices]
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(parent_indices)
        return default_collate([self.dataset[int(index)] for index in parent_indices])


def random_split(
    dataset, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are item counts summing to ``len(dataset)``, or fractions summing to 1:
    ``random_split(data, [0.8, 0.2])``. Fractions are rounded down and the items left over
    go one each to the first subsets, as in PyTorch. The shuffle comes from ``generator``
    (a ``numbanet.Generator``) or the default one seeded by ``numbanet.manual_seed``.
    """
    total = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _fractions_to_counts(lengths, total)
    if sum(lengths) != total:
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset! "
            f"(lengths {list(lengths)} sum to {sum(lengths)}, the dataset has {total} items)"
        )
    order = numpy_generator(generator).permutation(total)
    boundaries = np.cumsum([0, *lengths])
    return [
        Subset(dataset, order[start:stop])
        for start, stop in zip(boundaries[:-1], boundaries[1:], strict=True)
    ]


def _fractions_to_counts(fractions: Sequence[float], total: int) -> list[int]:
    for position, fraction in enumerate(fractions):
        if not 0 <= fraction <= 1:
            raise ValueError(f"Fraction at index {position} is not between 0 and 1")
    counts = [math.floor(total * fraction) for fraction in fractions]
    for position in range(total - sum(counts)):
        counts[position % len(counts)] += 1
    for position, count in enumerate(counts):
        if count == 0:
            warnings.warn(
                f"Length of split at index {position} is 0. This might result in an empty dataset.",
                stacklevel=3,
            )
    return counts


class IterableDataset(Dataset):
    """A dataset that yields its items from ``__iter__``: a stream, read front to back.

    >>> class Countdown(IterableDataset):
    ...     def __iter__(self):
    ...         return iter(range(5, 0, -1))
    >>> [batch.tolist() for batch in DataLoader(Countdown(), batch_size=2)]
    [[5, 4], [3, 2], [1]]

    A ``DataLoader`` over it batches consecutive items; ``shuffle``, ``sampler`` and
    ``batch_sampler`` make no sense without random access and are refused.
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        """``a + b`` is ``ChainDataset([a, b])``: a's stream, then b's."""
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other, as one stream."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for dataset in self.datasets:
            if not isinstance(dataset, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from dataset

    def __len__(self) -> int:
        return sum(len(dataset) for dataset in self.datasets)


class ConcatDataset(Dataset):
    """Map-style datasets end to end: item ``i`` comes from the dataset whose range holds ``i``.

    ``cumulative_sizes[k]`` is the number of items in datasets ``0..k``; a binary search in it
    finds which dataset an index falls in, and the index within that dataset.

    >>> both = ConcatDataset([train_set, extra_set])   # len(train_set) + len(extra_set) items
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for dataset in self.datasets:
            if isinstance(dataset, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(dataset) for dataset in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index = len(self) + index
        dataset_index = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[dataset_index - 1] if dataset_index > 0 else 0
        return self.datasets[dataset_index][index - start]
