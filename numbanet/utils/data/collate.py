"""``default_collate``: turn a list of dataset items into one batch, as PyTorch does
(and ``default_convert``, its single-item counterpart for ``batch_size=None``).

A dataset returns one item at a time, e.g. ``(image, label)``. A batch of 64 such items is
reorganised into ``[images, labels]``: the 64 images stacked into one tensor with a new first
axis, the 64 labels into a 1-D tensor. The rule is applied recursively:

=======================  ===================================================================
each item is             the batch becomes
=======================  ===================================================================
a Tensor                 ``numbanet.stack(items)`` — one new leading axis
a numpy array            the arrays stacked, as a tensor of the same dtype
a numpy scalar           a 1-D tensor of that dtype
bool / int / float       a 1-D tensor of dtype bool / int64 / float64 (PyTorch's choice)
str or bytes             the list of them, unchanged
a dict                   a dict: each key's values collated on their own
a namedtuple             the same namedtuple type, each field collated
a tuple or list          a list, each position collated: ``[(x0, y0), (x1, y1)] -> [xs, ys]``
=======================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import numbanet
from numbanet.dtypes import bool_, float64, int64


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a non-empty list of dataset items into a batch (see the table above)."""
    first = batch[0]
    if isinstance(first, numbanet.Tensor):
        return numbanet.stack(list(batch), 0)
    if isinstance(first, np.ndarray | np.generic) and first.dtype.kind not in "OSUV":
        return numbanet.from_numpy(np.stack([np.asarray(item) for item in batch]))
    if isinstance(first, bool):  # before int: a Python bool is also an int
        return numbanet.tensor(list(batch), dtype=bool_)
    if isinstance(first, int):
        return numbanet.tensor(list(batch), dtype=int64)
    if isinstance(first, float):
        return numbanet.tensor(list(batch), dtype=float64)
    if isinstance(first, str | bytes):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([item[key] for item in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch, strict=True)))
    if isinstance(first, Sequence):
        if any(len(item) != len(first) for item in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(position)) for position in zip(*batch, strict=True)]
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(first)}"
    )


def default_convert(data: Any) -> Any:
    """Convert one item without batching it (``DataLoader(batch_size=None)``), as PyTorch.

    numpy arrays and numpy scalars become tensors (arrays of strings or objects stay as they
    are); dicts, namedtuples and lists are converted entry by entry; a tuple becomes a list
    (PyTorch's choice, kept for compatibility); tensors, Python numbers and strings are
    returned unchanged.
    """
    if isinstance(data, numbanet.Tensor):
        return data
    if isinstance(data, np.ndarray | np.generic):
        if data.dtype.kind in "OSUV":
            return data
        return numbanet.from_numpy(np.array(data))
    if isinstance(data, Mapping):
        return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(default_convert(field) for field in data))
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return [default_convert(entry) for entry in data]
    return data
