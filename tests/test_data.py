"""Datasets, default collation, DataLoader batching and shuffling, random_split."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numbanet
from numbanet.utils.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


class Squares(Dataset):
    """A dataset without the batch protocol: item i is (float i, {"square": i * i})."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        return float(index), {"square": index * index}


def index_dataset(size: int) -> TensorDataset:
    """Item i is (tensor [i, -i] as float32, tensor i as int64): easy to trace back."""
    rows = np.arange(size)
    inputs = numbanet.from_numpy(np.stack([rows, -rows], axis=1).astype(np.float32))
    return TensorDataset(inputs, numbanet.from_numpy(rows.astype(np.int64)))


def loaded_indices(loader: DataLoader) -> list[int]:
    return [int(i) for _, labels in loader for i in labels.numpy()]


def per_item(batch: list):
    """A collate_fn that is not default_collate itself, so it forces the per-item path."""
    return default_collate(batch)


# ----------------------------------------------------------------------------- collate


def test_default_collate_follows_pytorch_types():
    Point = namedtuple("Point", ["x", "y"])
    batch = [
        (numbanet.tensor([1.0, 2.0]), 3, 0.5, True, "a", Point(1, 2.0), np.uint8(4)),
        (numbanet.tensor([3.0, 4.0]), 5, 1.5, False, "b", Point(3, 4.0), np.uint8(6)),
    ]
    tensors, ints, floats, bools, strings, points, numpy_scalars = default_collate(batch)
    assert tensors.shape == (2, 2)
    np.testing.assert_array_equal(tensors.numpy(), [[1, 2], [3, 4]])
    assert ints.dtype == numbanet.int64 and ints.numpy().tolist() == [3, 5]
    assert floats.dtype == numbanet.float64 and floats.numpy().tolist() == [0.5, 1.5]
    assert bools.dtype == numbanet.bool and bools.numpy().tolist() == [True, False]
    assert strings == ["a", "b"]
    assert isinstance(points, Point) and points.x.dtype == numbanet.int64
    assert numpy_scalars.dtype == numbanet.uint8 and numpy_scalars.numpy().tolist() == [4, 6]


def test_default_collate_dicts_and_numpy_arrays():
    batch = [
        {"image": np.zeros((2, 2), np.uint8), "id": 1},
        {"image": np.ones((2, 2), np.uint8), "id": 2},
    ]
    collated = default_collate(batch)
    assert collated["image"].shape == (2, 2, 2) and collated["image"].dtype == numbanet.uint8
    assert collated["id"].numpy().tolist() == [1, 2]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])


# ----------------------------------------------------------------------------- datasets


def test_tensor_dataset_items_and_size_check():
    dataset = index_dataset(5)
    x, y = dataset[3]
    assert len(dataset) == 5 and x.numpy().tolist() == [3.0, -3.0] and int(y.numpy()) == 3
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(numbanet.zeros(3, 2), numbanet.zeros(4))


def test_base_dataset_requires_getitem():
    with pytest.raises(NotImplementedError, match="must define __getitem__"):
        Dataset()[0]


# ----------------------------------------------------------------------------- DataLoader


@pytest.mark.parametrize(
    ("size", "drop_last", "expected"), [(10, False, 4), (10, True, 3), (9, True, 3)]
)
def test_len_counts_batches(size, drop_last, expected):
    loader = DataLoader(index_dataset(size), batch_size=3, drop_last=drop_last)
    assert len(loader) == expected == len(list(loader))


def test_sequential_batches_in_order_with_a_short_last_batch():
    batches = list(DataLoader(index_dataset(7), batch_size=3))
    assert [labels.numpy().tolist() for _, labels in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    inputs, _ = batches[1]
    assert inputs.shape == (3, 2) and inputs.dtype == numbanet.float32
    np.testing.assert_array_equal(inputs.numpy(), [[3, -3], [4, -4], [5, -5]])


def test_shuffle_visits_every_item_once_in_a_new_order_each_epoch():
    loader = DataLoader(index_dataset(50), batch_size=8, shuffle=True)
    first, second = loaded_indices(loader), loaded_indices(loader)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(index_dataset(30), batch_size=4, shuffle=True)
    numbanet.manual_seed(123)
    epochs = [loaded_indices(loader), loaded_indices(loader)]
    numbanet.manual_seed(123)
    assert [loaded_indices(loader), loaded_indices(loader)] == epochs


def test_an_own_generator_is_independent_of_the_global_seed():
    def order(global_seed: int) -> list[int]:
        numbanet.manual_seed(global_seed)
        generator = numbanet.Generator().manual_seed(7)
        return loaded_indices(DataLoader(index_dataset(30), 4, shuffle=True, generator=generator))

    assert order(1) == order(2)


def test_fast_path_equals_collating_items():
    dataset = index_dataset(11)
    numbanet.manual_seed(0)
    fast = list(DataLoader(dataset, batch_size=4, shuffle=True))
    numbanet.manual_seed(0)
    slow = list(DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=per_item))
    for fast_batch, slow_batch in zip(fast, slow, strict=True):
        for fast_part, slow_part in zip(fast_batch, slow_batch, strict=True):
            assert fast_part.dtype == slow_part.dtype
            np.testing.assert_array_equal(fast_part.numpy(), slow_part.numpy())


def test_fast_path_is_used_only_with_default_collation():
    class Counting(TensorDataset):
        batch_calls = 0

        def get_batch(self, indices):
            Counting.batch_calls += 1
            return super().get_batch(indices)

    dataset = Counting(numbanet.zeros(6, 2), numbanet.zeros(6))
    list(DataLoader(dataset, batch_size=4))
    assert Counting.batch_calls == 2
    list(DataLoader(dataset, batch_size=4, collate_fn=per_item))
    assert Counting.batch_calls == 2


def test_custom_collate_sees_the_items():
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda items: items)
    assert next(iter(loader)) == [(0.0, {"square": 0}), (1.0, {"square": 1})]


def test_plain_dataset_is_collated_item_by_item():
    inputs, targets = next(iter(DataLoader(Squares(5), batch_size=3)))
    assert inputs.dtype == numbanet.float64 and inputs.numpy().tolist() == [0.0, 1.0, 2.0]
    assert targets["square"].numpy().tolist() == [0, 1, 4]


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_batch_size_must_be_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(index_dataset(3), batch_size=batch_size)


@given(
    size=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_batches_partition_the_epoch(size, batch_size, drop_last, shuffle):
    if shuffle and size == 0:  # PyTorch's RandomSampler refuses an empty dataset
        with pytest.raises(ValueError, match="but got num_samples=0"):
            DataLoader(index_dataset(size), batch_size, shuffle, drop_last=drop_last)
        return
    loader = DataLoader(index_dataset(size), batch_size, shuffle, drop_last=drop_last)
    batches = [labels.numpy().tolist() for _, labels in loader]
    assert len(batches) == len(loader)
    assert all(len(batch) == batch_size for batch in batches[:-1])
    seen = [index for batch in batches for index in batch]
    assert len(seen) == len(set(seen)) == (size - size % batch_size if drop_last else size)


# ----------------------------------------------------------------------------- random_split


def test_random_split_by_counts_is_a_reproducible_partition():
    parts = random_split(index_dataset(10), [6, 4], generator=numbanet.Generator().manual_seed(3))
    again = random_split(index_dataset(10), [6, 4], generator=numbanet.Generator().manual_seed(3))
    assert [len(part) for part in parts] == [6, 4]
    assert all(isinstance(part, Subset) for part in parts)
    assert sorted([*parts[0].indices, *parts[1].indices]) == list(range(10))
    assert [part.indices.tolist() for part in parts] == [part.indices.tolist() for part in again]


def test_random_split_by_fractions_gives_leftovers_to_the_first_parts():
    parts = random_split(index_dataset(10), [0.33, 0.33, 0.34])
    assert [len(part) for part in parts] == [4, 3, 3]


def test_random_split_rejects_wrong_lengths():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(index_dataset(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0"):
        random_split(index_dataset(10), [1.5, -0.5])


def test_random_split_warns_about_empty_parts():
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(index_dataset(2), [0.9, 0.1])


def test_subset_items_and_batches_come_from_the_parent():
    subset = Subset(index_dataset(10), [7, 2, 5])
    assert int(subset[0][1].numpy()) == 7
    batches = [labels.numpy().tolist() for _, labels in DataLoader(subset, batch_size=2)]
    assert batches == [[7, 2], [5]]
    squares = Subset(Squares(10), [3, 4])
    _, targets = next(iter(DataLoader(squares, batch_size=2)))
    assert targets["square"].numpy().tolist() == [9, 16]
