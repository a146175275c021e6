"""``DistributedSampler``: each process of a data-parallel job gets its own share of the data.

With N processes (ranks) training together, each epoch's examples must be split so that
every example is seen once per epoch and no two ranks train on the same one. The recipe,
PyTorch's:

1. **The same order on every rank.** Shuffle with a generator seeded by ``seed + epoch``:
   every rank draws the *same* permutation without talking to the others, and a new epoch
   (``set_epoch``) gives a new one.
2. **Equal shares.** Every rank must run the same number of steps (each step ends in an
   all-reduce that waits for all ranks), so the length is rounded up to a multiple of N by
   repeating indices from the head of the permutation — or, with ``drop_last=True``,
   rounded down by dropping the tail.
3. **Deal like cards.** Rank r takes positions ``r, r + N, r + 2N, ...``:
   ``indices[rank::num_replicas]``.

::

    sampler = DistributedSampler(dataset)            # rank and world size from the group
    loader = DataLoader(dataset, batch_size=16, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                     # a new shuffle each epoch
        for x, y in loader: ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from numbanet.random import Generator
from numbanet.utils.data.sampler import Sampler


class DistributedSampler(Sampler):
    """The indices of this rank's share of ``dataset``, one epoch at a time."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from numbanet import distributed

            if not distributed.is_initialized():
                raise RuntimeError("Requires distributed package to be available: call "
                                   "numbanet.distributed.init_process_group() first, or pass "
                                   "num_replicas and rank")
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        size = len(dataset)
        if drop_last and size % num_replicas != 0:
            # Drop the tail so that every rank gets the same number of examples.
            self.num_samples = math.ceil((size - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(size / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        size = len(self.dataset)
        if self.shuffle:
            generator = Generator().manual_seed(self.seed + self.epoch)  # same on every rank
            indices = generator.numpy.permutation(size).tolist()
        else:
            indices = list(range(size))
        if not self.drop_last:
            padding = self.total_size - len(indices)  # repeat the head to fill the last round
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch``: call it at the start of every epoch, or every
        epoch repeats the first one's order."""
        self.epoch = epoch
