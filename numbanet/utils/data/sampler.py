"""Samplers: which dataset indices an epoch visits, and in what order, as ``torch.utils.data``.

A ``DataLoader`` separates *what* to load from *how* to batch it:

1. a **sampler** yields dataset indices one at a time: ``SequentialSampler`` yields
   ``0, 1, ..., N-1``; ``RandomSampler`` a fresh permutation each epoch (``shuffle=True``
   builds one for you); ``SubsetRandomSampler`` a permutation of a given list of indices;
   ``WeightedRandomSampler`` draws indices with probabilities proportional to weights;
2. a **batch sampler** groups those indices into lists: ``BatchSampler(sampler, 64,
   drop_last=False)`` yields ``[i0, ..., i63], [i64, ...], ...``;
3. the loader turns each list of indices into one batch of data (see ``dataloader.py``).

Any iterable of indices is a sampler (a plain list works); any iterable of lists of indices is
a batch sampler. The classes here only add ``__len__`` and the random draws, which come from
``generator`` (a ``numbanet.Generator``) or from the default generator that
``numbanet.manual_seed`` seeds, so an epoch's order is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized

import numpy as np

from numbanet.random import Generator, numpy_generator


class Sampler:
    """The base class of samplers: subclasses define ``__iter__`` (and usually ``__len__``)."""

    def __init__(self, data_source: Sized | None = None):
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1``, in order (the loader's default)."""

    def __init__(self, data_source: Sized):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices of ``data_source`` in a random order, new each epoch (``shuffle=True``).

    Without replacement every index appears once per pass: one permutation of ``0..N-1``;
    asking for ``num_samples > N`` chains whole permutations and the head of one more, as
    PyTorch does. With ``replacement=True`` each of the ``num_samples`` indices is drawn
    independently and uniformly from ``0..N-1`` (repeats possible).
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Generator | None = None,
    ):
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not _is_positive_int(self.num_samples):
            raise ValueError(
                "num_samples should be a positive integer value, "
                f"but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        """How many indices one epoch yields: ``len(data_source)`` unless given."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        size, rng = len(self.data_source), numpy_generator(self.generator)
        if self.replacement:
            indices = rng.integers(0, size, size=self.num_samples, dtype=np.int64)
        else:
            passes = -(-self.num_samples // size)  # whole permutations needed, rounded up
            indices = np.concatenate([rng.permutation(size) for _ in range(passes)])
        return iter(indices[: self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices``, in a random order each epoch: ``indices[p]`` for a permutation p.

    >>> train_sampler = SubsetRandomSampler(range(0, 50_000))   # hold out the rest
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None):
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        order = numpy_generator(self.generator).permutation(len(self.indices))
        return (self.indices[position] for position in order.tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices ``0..len(weights)-1``, index ``i`` drawn with probability
    ``weights[i] / sum(weights)`` (with replacement by default): rebalances rare classes."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Generator | None = None,
    ):
        if not _is_positive_int(num_samples):
            raise ValueError(
                "num_samples should be a positive integer value, "
                f"but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, float)
        if weights.ndim != 1:
            raise ValueError(
                "weights should be a 1d sequence but given "
                f"weights have shape {tuple(weights.shape)}"
            )
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        if (self.weights < 0).any() or not np.isfinite(self.weights).all():
            raise RuntimeError(
                "invalid multinomial distribution (encountering probability entry < 0)"
            )
        if not self.replacement and self.num_samples > np.count_nonzero(self.weights):
            raise RuntimeError(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
            )
        probabilities = self.weights / self.weights.sum()
        rng = numpy_generator(self.generator)
        drawn = rng.choice(len(probabilities), self.num_samples, self.replacement, probabilities)
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool):
        if not _is_positive_int(batch_size):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        full_batches, remainder = divmod(len(self.sampler), self.batch_size)
        return full_batches + (1 if remainder and not self.drop_last else 0)


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
