"""Views: new shapes and strides over the same GPU memory, computed on the host.

No kernel runs here (except ``reshape`` when no view exists and it must copy). A view is
the triple (address of element ``[0, ...]``, shape, strides); see ``layout.py``:

- ``permute`` reorders shape and strides together;
- ``broadcast_to`` gives stretched axes stride 0;
- ``basic_index`` moves the start address (ints and slice starts), multiplies strides by
  slice steps, drops integer-indexed axes and inserts size-1 axes for ``None``;
- ``reshape`` regroups axes, which only works without a copy when the axes being merged or
  split are laid out contiguously *relative to each other*.
"""

import math
import operator

from numbanet.kernels.cuda.layout import (
    DeviceArray,
    broadcast_strides,
    contiguous_strides,
    element_strides,
    is_c_contiguous,
    make_view,
)
from numbanet.kernels.cuda.memory import contiguous


def reshape(array: DeviceArray, shape: tuple[int, ...]) -> DeviceArray:
    """``array`` in a new shape (one extent may be -1): a view when the strides allow, else a
    contiguous copy reshaped — the same rule as ``numpy.reshape`` and ``torch.reshape``."""
    shape = _resolve_unknown_extent(tuple(array.shape), tuple(shape))
    if is_c_contiguous(array):
        return make_view(array, shape, contiguous_strides(shape))
    strides = _strides_without_copy(tuple(array.shape), element_strides(array), shape)
    if strides is None:
        copy = contiguous(array)
        return make_view(copy, shape, contiguous_strides(shape))
    return make_view(array, shape, strides)


def permute(array: DeviceArray, axes: tuple[int, ...]) -> DeviceArray:
    """The view whose axis ``i`` is ``array``'s axis ``axes[i]`` (a transpose in general)."""
    axes = tuple(operator.index(axis) % max(array.ndim, 1) for axis in axes)
    if sorted(axes) != list(range(array.ndim)):
        raise ValueError(f"permute: axes {axes} are not a permutation of {array.ndim} axes")
    strides = element_strides(array)
    shape = tuple(array.shape[axis] for axis in axes)
    return make_view(array, shape, tuple(strides[axis] for axis in axes))


def broadcast_to(array: DeviceArray, shape: tuple[int, ...]) -> DeviceArray:
    """A view of ``array`` stretched to ``shape`` with stride-0 axes (numpy's rules).

    Many indices share one element, so treat the view as read-only.
    """
    shape = tuple(int(extent) for extent in shape)
    return make_view(array, shape, broadcast_strides(array, shape))


def basic_index(array: DeviceArray, key) -> DeviceArray:
    """The view ``array[key]`` for ints, slices (positive steps), ``None`` and ``Ellipsis``.

    Always a view (an integer for every axis gives a 0-d view, not a number). Negative
    slice steps are refused as PyTorch refuses them.
    """
    key = key if isinstance(key, tuple) else (key,)
    indexing_axes = sum(1 for item in key if item is not None and item is not Ellipsis)
    if indexing_axes > array.ndim:
        raise IndexError(f"too many indices: array is {array.ndim}-dimensional, "
                         f"but {indexing_axes} were indexed")
    if sum(1 for item in key if item is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if any(item is Ellipsis for item in key):
        at = next(i for i, item in enumerate(key) if item is Ellipsis)
        key = key[:at] + (slice(None),) * (array.ndim - indexing_axes) + key[at + 1:]
    else:
        key = key + (slice(None),) * (array.ndim - indexing_axes)

    strides = element_strides(array)
    offset, new_shape, new_strides, axis = 0, [], [], 0
    for item in key:
        if item is None:
            new_shape.append(1)
            new_strides.append(0)
            continue
        extent = array.shape[axis]
        if isinstance(item, slice):
            start, stop, step = item.indices(extent)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            new_shape.append(len(range(start, stop, step)))
            new_strides.append(strides[axis] * step)
            offset += start * strides[axis] if new_shape[-1] else 0
        else:
            index = _integer_index(item)
            if not -extent <= index < extent:
                raise IndexError(f"index {index} is out of bounds for axis {axis} "
                                 f"with size {extent}")
            offset += (index % extent) * strides[axis]
        axis += 1
    return make_view(array, tuple(new_shape), tuple(new_strides), offset)


def _integer_index(item) -> int:
    """``item`` as an int, or a TypeError saying which keys are basic."""
    if isinstance(item, bool):
        raise TypeError("basic_index: booleans are not basic indices")
    try:
        return operator.index(item)
    except TypeError:
        raise TypeError(
            f"basic_index: {type(item).__name__} is not a basic index "
            "(use ints, slices, None or Ellipsis)"
        ) from None


def _resolve_unknown_extent(old_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple:
    """Replace one -1 in ``shape`` by whatever makes the sizes match; check the sizes."""
    size = math.prod(old_shape)
    if shape.count(-1) > 1:
        raise ValueError("only one dimension can be inferred")
    if -1 in shape:
        known = math.prod(extent for extent in shape if extent != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if extent == -1 else extent for extent in shape)
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return tuple(int(extent) for extent in shape)


def _strides_without_copy(
    old_shape: tuple[int, ...], old_strides: tuple[int, ...], new_shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Strides that let ``new_shape`` view the memory of (old_shape, old_strides), or None.

    numpy's rule (``_attempt_nocopy_reshape``): walk both shapes in step, pairing the
    shortest runs of old and new axes with equal sizes. A run of old axes can be regrouped
    only if each axis in it steps exactly over the next one
    (``stride[i] == shape[i + 1] * stride[i + 1]``); the new axes of the run then get the
    row-major strides that end in the run's last old stride.
    """
    old = [
        (extent, stride)
        for extent, stride in zip(old_shape, old_strides, strict=True)
        if extent != 1
    ]
    new_strides = [0] * len(new_shape)
    old_at, new_at = 0, 0
    while old_at < len(old) and new_at < len(new_shape):
        old_end, new_end = old_at + 1, new_at + 1
        old_size, new_size = old[old_at][0], new_shape[new_at]
        while old_size != new_size:
            if new_size < old_size:
                new_size *= new_shape[new_end]
                new_end += 1
            else:
                old_size *= old[old_end][0]
                old_end += 1
        for i in range(old_at, old_end - 1):
            if old[i][1] != old[i + 1][0] * old[i + 1][1]:
                return None
        new_strides[new_end - 1] = old[old_end - 1][1]
        for i in range(new_end - 1, new_at, -1):
            new_strides[i - 1] = new_strides[i] * new_shape[i]
        old_at, new_at = old_end, new_end
    return tuple(new_strides)
