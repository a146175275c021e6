"""utils.data beyond plain batching: samplers, batch samplers, ``batch_size=None``,
IterableDataset, ConcatDataset — against stated values and, where installed, PyTorch."""

from collections import namedtuple

import numpy as np
import pytest

import numbanet
from numbanet.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_convert,
)

try:
    import torch
    import torch.utils.data as torch_data
except ImportError:  # CI has no torch: the stated values below still run
    torch = None



def needs_torch(test):
    """Mark a comparison with PyTorch, skipped where torch is not installed."""
    skip = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
    return pytest.mark.torch(skip(test))


class Indices(Dataset):
    """Item i is the int i (so a batch shows which indices it holds)."""

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return index


class Stream(IterableDataset):
    def __init__(self, size, with_length=True):
        self.size, self.with_length = size, with_length

    def __iter__(self):
        return iter(range(self.size))

    def __len__(self):
        if not self.with_length:
            raise TypeError("Stream has no len()")
        return self.size


def as_lists(batches):
    return [batch.tolist() if hasattr(batch, "tolist") else batch for batch in batches]


# ---------------------------------------------------------------------- samplers


def test_sequential_and_batch_sampler_stated_values():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, False)) == [
        [0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, True)) == [
        [0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4
    assert len(BatchSampler(range(10), 3, True)) == 3
    assert list(BatchSampler([5, 1, 4], 2, False)) == [[5, 1], [4]]  # any iterable of indices


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_batch_sampler_refuses_a_bad_batch_size(batch_size):
    message = f"positive integer value, but got batch_size={batch_size}"
    with pytest.raises(ValueError, match=message):
        BatchSampler(range(3), batch_size, False)


def test_batch_sampler_refuses_a_non_bool_drop_last():
    message = "drop_last should be a boolean value, but got drop_last=1"
    with pytest.raises(ValueError, match=message):
        BatchSampler(range(3), 2, 1)


def test_random_sampler_is_a_permutation_reproducible_under_manual_seed():
    numbanet.manual_seed(0)
    first = list(RandomSampler(range(20)))
    numbanet.manual_seed(0)
    again = list(RandomSampler(range(20)))
    assert sorted(first) == list(range(20)) and first == again and first != list(range(20))
    generator = numbanet.Generator().manual_seed(5)
    own = list(RandomSampler(range(20), generator=generator))
    assert sorted(own) == list(range(20))


def test_random_sampler_num_samples_and_replacement():
    # Without replacement, more samples than items chains whole permutations, as PyTorch.
    drawn = list(RandomSampler(range(4), num_samples=10))
    assert len(drawn) == 10
    assert sorted(drawn[:4]) == [0, 1, 2, 3] and sorted(drawn[4:8]) == [0, 1, 2, 3]
    with_repeats = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(with_repeats) == 50 and set(with_repeats) <= {0, 1, 2}
    assert len(RandomSampler(range(7))) == 7


def test_random_sampler_errors_as_pytorch():
    with pytest.raises(TypeError, match="should be a boolean value, but got replacement=0"):
        RandomSampler(range(3), replacement=0)
    with pytest.raises(ValueError, match="positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="but got num_samples=0"):
        RandomSampler([])


def test_subset_random_sampler_permutes_the_given_indices():
    drawn = list(SubsetRandomSampler([10, 20, 30, 40]))
    assert sorted(drawn) == [10, 20, 30, 40] and len(SubsetRandomSampler([1, 2])) == 2


def test_weighted_random_sampler_follows_the_weights():
    numbanet.manual_seed(1)
    drawn = np.array(list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000)))
    assert set(drawn.tolist()) == {1, 2}  # weight 0 is never drawn
    assert abs((drawn == 2).mean() - 0.75) < 0.03
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False)) == [0, 1, 2]


# ---------------------------------------------------------------------- DataLoader options


def test_dataloader_with_a_sampler_uses_its_order():
    loader = DataLoader(Indices(10), batch_size=3, sampler=[9, 8, 7, 1, 0])
    assert as_lists(loader) == [[9, 8, 7], [1, 0]] and len(loader) == 2


def test_dataloader_with_a_batch_sampler_uses_its_batches():
    loader = DataLoader(Indices(10), batch_sampler=[[3, 1], [0, 2, 4]])
    assert as_lists(loader) == [[3, 1], [0, 2, 4]] and len(loader) == 2
    assert loader.batch_size is None


def test_dataloader_batch_size_none_yields_converted_single_items():
    data = TensorDataset(numbanet.arange(6).reshape(3, 2), numbanet.tensor([7, 8, 9]))
    items = list(DataLoader(data, batch_size=None))
    assert len(items) == 3 and isinstance(items[0], list)  # a tuple item becomes a list
    assert items[1][0].tolist() == [2, 3] and items[1][1].item() == 8
    arrays = list(DataLoader([np.array([1.5, 2.5], dtype=np.float32), np.int64(4)],
                             batch_size=None))
    assert isinstance(arrays[0], numbanet.Tensor) and arrays[0].dtype == numbanet.float32
    assert isinstance(arrays[1], numbanet.Tensor) and arrays[1].shape == ()
    assert arrays[1].item() == 4
    assert list(DataLoader([3, 4.5, "a"], batch_size=None)) == [3, 4.5, "a"]  # numbers unchanged
    assert len(DataLoader(Indices(5), batch_size=None)) == 5


def test_default_convert_stated_values():
    Point = namedtuple("Point", "x y")
    converted = default_convert({"a": np.arange(3), "b": (1, np.float64(2.0)), "c": Point(1, 2),
                                 "s": np.array(["x"])})
    assert converted["a"].tolist() == [0, 1, 2] and converted["a"].dtype == numbanet.int64
    assert isinstance(converted["b"], list) and converted["b"][0] == 1
    assert converted["b"][1].dtype == numbanet.float64
    assert converted["c"] == Point(1, 2)
    assert isinstance(converted["s"], np.ndarray)  # arrays of strings stay numpy


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
        ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "sampler": [0]}, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
        ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
        ({"batch_size": 0}, "batch_size should be a positive integer value, but got batch_size=0"),
        ({"num_workers": -1}, "num_workers option should be non-negative"),
    ],
)
def test_dataloader_option_conflicts_raise_pytorchs_errors(options, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Indices(4), **options)
    if torch is not None:
        torch_options = {key: value for key, value in options.items()}
        with pytest.raises(ValueError, match=message):
            torch_data.DataLoader(list(range(4)), **torch_options)


def test_shuffle_still_gives_a_random_sampler_from_the_generator():
    loader = DataLoader(Indices(12), batch_size=5, shuffle=True,
                        generator=numbanet.Generator().manual_seed(3))
    assert isinstance(loader.sampler, RandomSampler)
    assert isinstance(loader.batch_sampler, BatchSampler)
    seen = [index for batch in as_lists(loader) for index in batch]
    assert sorted(seen) == list(range(12)) and len(loader) == 3


def test_subset_random_sampler_in_a_loader_keeps_the_batch_fast_path():
    data = TensorDataset(numbanet.arange(10) * 10)
    batches = list(DataLoader(data, batch_size=4, sampler=SubsetRandomSampler([1, 3, 5])))
    assert len(batches) == 1 and sorted(batches[0][0].tolist()) == [10, 30, 50]


def test_getitems_fetches_a_batch_in_one_call_as_pytorch():
    calls = []

    class Batched(Indices):
        def __getitems__(self, indices):
            calls.append(list(indices))
            return [index * 10 for index in indices]

    assert as_lists(DataLoader(Batched(5), batch_size=2)) == [[0, 10], [20, 30], [40]]
    assert calls == [[0, 1], [2, 3], [4]]


# ---------------------------------------------------------------------- iterable datasets


def test_iterable_dataset_batches_consecutive_items():
    assert as_lists(DataLoader(Stream(5), batch_size=2)) == [[0, 1], [2, 3], [4]]
    assert as_lists(DataLoader(Stream(5), batch_size=2, drop_last=True)) == [[0, 1], [2, 3]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert len(DataLoader(Stream(5), batch_size=2)) == 3
    assert len(DataLoader(Stream(5), batch_size=2, drop_last=True)) == 2
    with pytest.raises(TypeError):
        len(DataLoader(Stream(5, with_length=False), batch_size=2))


@pytest.mark.parametrize("name", ["shuffle", "sampler", "batch_sampler"])
def test_iterable_dataset_refuses_index_options(name):
    value = {"shuffle": True, "sampler": [0], "batch_sampler": [[0]]}[name]
    message = f"IterableDataset: expected unspecified {name} option, but got {name}="
    with pytest.raises(ValueError, match=message):
        DataLoader(Stream(3), **{name: value})
    if torch is not None:

        class TorchStream(torch_data.IterableDataset):
            def __iter__(self):
                return iter(range(3))

        with pytest.raises(ValueError, match=message):
            torch_data.DataLoader(TorchStream(), **{name: value})


def test_chain_and_concat_datasets():
    assert list(Stream(2) + Stream(3)) == [0, 1, 0, 1, 2]
    assert isinstance(Stream(1) + Stream(1), ChainDataset)
    both = Indices(3) + Subset(Indices(10), [7, 8])
    assert isinstance(both, ConcatDataset) and both.cumulative_sizes == [3, 5]
    assert [both[i] for i in range(5)] == [0, 1, 2, 7, 8]
    assert both[-1] == 8 and both[-5] == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset"):
        both[-6]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Indices(2), Stream(2)])
    assert as_lists(DataLoader(both, batch_size=2)) == [[0, 1], [2, 7], [8]]


# ---------------------------------------------------------------------- against PyTorch


@needs_torch
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("batch_size", [1, 3, 4, 10])
def test_loader_batches_and_lengths_match_pytorch(batch_size, drop_last):
    ours = DataLoader(Indices(10), batch_size=batch_size, drop_last=drop_last,
                      sampler=[9, 2, 4, 1, 0, 3, 5, 8, 7, 6])
    theirs = torch_data.DataLoader(list(range(10)), batch_size=batch_size, drop_last=drop_last,
                                   sampler=[9, 2, 4, 1, 0, 3, 5, 8, 7, 6])
    assert as_lists(ours) == as_lists(theirs) and len(ours) == len(theirs)
    assert list(BatchSampler(range(10), batch_size, drop_last)) == list(
        torch_data.BatchSampler(range(10), batch_size, drop_last))


@needs_torch
def test_iterable_and_unbatched_loading_match_pytorch():
    class TorchStream(torch_data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    for batch_size in (None, 2, 3):
        ours = as_lists(DataLoader(Stream(7), batch_size=batch_size))
        theirs = as_lists(torch_data.DataLoader(TorchStream(), batch_size=batch_size))
        assert ours == theirs
    items = [(np.arange(2), 3, "s"), (np.arange(2) + 1, 4, "t")]
    ours = list(DataLoader(items, batch_size=None))
    theirs = list(torch_data.DataLoader(items, batch_size=None))
    for mine, reference in zip(ours, theirs, strict=True):
        assert type(mine) is type(reference)  # tuples become lists in both
        assert mine[0].tolist() == reference[0].tolist() and mine[1:] == reference[1:]


@needs_torch
def test_concat_dataset_matches_pytorch():
    ours = ConcatDataset([Indices(2), Indices(3), Indices(1)])
    theirs = torch_data.ConcatDataset([list(range(2)), list(range(3)), list(range(1))])
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-6, 6)] == [theirs[i] for i in range(-6, 6)]
