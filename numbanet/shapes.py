"""Shape rules, checked before any kernel runs: broadcasting, dims, reshapes, indices, matmul.

Each check raises the exception PyTorch raises, with PyTorch's message, the op's name and
the line of *your* code that called it (see :func:`numbanet.errors.op_error`) — instead
of an error from deep inside a kernel. ``Tensor`` methods and ``nn.functional`` call these;
they take plain tuples and ints, never tensors.
"""

from __future__ import annotations

import math

import numpy as np

from numbanet.errors import op_error


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's ``torch.Size([64, 10])``."""

    def __repr__(self) -> str:
        return f"numbanet.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)


def shape_arg(shape: tuple) -> tuple:
    """The sizes passed as ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])``, as one tuple."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def normalize_dim(dim: int, ndim: int, op: str = "dim") -> int:
    """``dim`` as an index in ``0 .. ndim-1`` (``-1`` is the last dim).

    A 0-d tensor accepts dims 0 and -1, as in PyTorch.
    """
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise op_error(IndexError, op, f"Dimension out of range (expected to be in range of "
                       f"[{-rank}, {rank - 1}], but got {dim})")
    return dim % rank


def dims_tuple(dim, ndim: int, op: str = "dim") -> tuple:
    """The sorted, normalized dims of a reduction (``()`` for ``dim=None``: all of them)."""
    if dim is None:
        return ()
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    normalized = sorted(normalize_dim(d, ndim, op) for d in dims)
    if len(set(normalized)) != len(normalized):
        raise op_error(RuntimeError, op, f"dim {normalized[0]} appears multiple times in the "
                       "list of dims")
    return tuple(normalized)


def broadcast_shape(op: str, first: tuple, second: tuple) -> tuple:
    """PyTorch's broadcasting rule: align from the right; each pair of sizes must be equal
    or contain a 1, and the result takes the larger."""
    first, second = tuple(first), tuple(second)  # the CUDA simulator's shapes aren't tuples
    if first == second:
        return first
    result = []
    for index in range(1, max(len(first), len(second)) + 1):
        a = first[-index] if index <= len(first) else 1
        b = second[-index] if index <= len(second) else 1
        if a != b and a != 1 and b != 1:
            dim = max(len(first), len(second)) - index
            raise op_error(
                RuntimeError, op,
                f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                f"non-singleton dimension {dim}; shapes {list(first)} and {list(second)} "
                "do not broadcast")
        result.append(b if a == 1 else a)
    return tuple(reversed(result))


def resolve_shape(shape: tuple, input_shape: tuple, op: str) -> tuple:
    """The target of ``view``/``reshape`` with a ``-1`` filled in, checked against the
    number of elements of ``input_shape``."""
    numel = math.prod(input_shape)
    if shape.count(-1) > 1:
        raise op_error(RuntimeError, op, "only one dimension can be inferred")
    for index, n in enumerate(shape):
        if n < -1:
            raise op_error(RuntimeError, op, f"invalid shape dimension {n} at index {index} "
                           f"of shape {list(shape)}")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise op_error(RuntimeError, op, f"shape '{list(shape)}' is invalid for input of "
                           f"size {numel}")
        shape = tuple(numel // known if n == -1 else n for n in shape)
    elif known != numel:
        raise op_error(RuntimeError, op, f"shape '{list(shape)}' is invalid for input of "
                       f"size {numel} (the input has shape {list(input_shape)})")
    return tuple(int(n) for n in shape)


def view_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple | None:
    """The strides (in elements) that show memory laid out as ``shape``/``strides`` with
    ``new_shape``, or None when no strides can — PyTorch's rule for ``view``.

    Dims of ``shape`` that follow each other in memory (``stride[i] == stride[i+1] *
    shape[i+1]``) form one chunk that may be split or merged freely; a new dim may not span
    two chunks. ``x[:, :4]`` of a 4x8 tensor is one chunk per row, so ``view(4, 2, 2)``
    works and ``view(16)`` does not.
    """
    if math.prod(shape) == 0 or not shape:
        return _contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_dim = len(new_shape) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = view_numel = 1
    for dim in reversed(range(len(shape))):
        tensor_numel *= shape[dim]
        if dim == 0 or (shape[dim - 1] != 1 and
                        strides[dim - 1] != tensor_numel * chunk_base_stride):
            # the end of a chunk: new dims must cover exactly tensor_numel elements of it
            while view_dim >= 0 and (view_numel < tensor_numel or new_shape[view_dim] == 1):
                new_strides[view_dim] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_dim]
                view_dim -= 1
            if view_numel != tensor_numel:
                return None
            if dim > 0:
                chunk_base_stride = strides[dim - 1]
                tensor_numel = view_numel = 1
    return tuple(new_strides) if view_dim == -1 else None


def _contiguous_strides(shape: tuple) -> tuple:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def check_view(shape: tuple, strides: tuple, new_shape: tuple) -> None:
    """Raise PyTorch's error when ``view(new_shape)`` cannot reuse the memory as it is."""
    if view_strides(shape, strides, new_shape) is None:
        raise op_error(RuntimeError, "view", "view size is not compatible with input "
                       "tensor's size and stride (at least one dimension spans across two "
                       "contiguous subspaces). Use .reshape(...) instead.")


def index_parts(key, shape: tuple) -> tuple[tuple, bool]:
    """An indexing key as a tuple of parts numpy understands, checked against ``shape``,
    and whether it is *advanced* (integer arrays or masks: a gather, not a view).

    Parts arrive as ints, slices, None, Ellipsis, bools, numpy arrays or lists (tensors were
    already turned into host arrays). Errors are PyTorch's: an int out of range raises
    IndexError, a negative slice step ValueError, a list of indices may be empty.
    """
    parts = key if isinstance(key, tuple) else (key,)
    converted, advanced = [], False
    for part in parts:
        if isinstance(part, (list, np.ndarray)):
            part = np.asarray(part)
            if part.size == 0 and part.dtype.kind not in "bui":
                part = part.astype(np.int64)  # x[[]] selects nothing
            if part.ndim == 0 and part.dtype.kind in "iu":
                part = int(part)  # a 0-d integer tensor indexes like an int
            elif part.dtype.kind not in "bui":
                raise op_error(IndexError, "index", "tensors used as indices must be long, "
                               "int, byte or bool tensors")
            else:
                advanced = True
        elif isinstance(part, np.integer):
            part = int(part)
        elif isinstance(part, slice) and part.step is not None and part.step <= 0:
            raise op_error(ValueError, "index", "step must be greater than zero")
        converted.append(part)
    _check_index_bounds(converted, shape)
    return tuple(converted), advanced


def _check_index_bounds(parts: list, shape: tuple) -> None:
    """Ints in range of their dim; masks of the shape of the dims they cover."""
    consumed = sum(p.ndim if isinstance(p, np.ndarray) and p.dtype == np.bool_ else 1
                   for p in parts if p is not None and p is not Ellipsis
                   and not isinstance(p, bool))
    if consumed > len(shape):
        raise op_error(IndexError, "index", f"too many indices for tensor of dimension "
                       f"{len(shape)}")
    dim = 0
    for part in parts:
        if part is None or isinstance(part, bool):
            continue
        if part is Ellipsis:
            dim = len(shape) - consumed + dim
            continue
        if isinstance(part, int):
            size = shape[dim]
            if not -size <= part < size:
                raise op_error(IndexError, "index", f"index {part} is out of bounds for "
                               f"dimension {dim} with size {size}")
        elif isinstance(part, np.ndarray) and part.dtype == np.bool_:
            covered = tuple(shape[dim:dim + part.ndim])
            if part.shape != covered:
                raise op_error(IndexError, "index", f"The shape of the mask "
                               f"{list(part.shape)} at index {dim} does not match the shape "
                               f"of the indexed tensor {list(shape)} at index {dim}")
            dim += part.ndim
            continue
        elif isinstance(part, np.ndarray) and part.size:
            size = shape[dim]
            if part.max() >= size or part.min() < -size:
                bad = part.max() if part.max() >= size else part.min()
                raise op_error(IndexError, "index", f"index {bad} is out of bounds for "
                               f"dimension {dim} with size {size}")
        dim += 1


def matmul_shape(first: tuple, second: tuple) -> tuple:
    """The shape of ``a @ b`` (PyTorch's rules: 1-D operands are vectors, batch dims
    broadcast), or PyTorch's error naming both shapes."""
    if not first or not second:
        raise op_error(RuntimeError, "matmul", "both arguments to matmul need to be at "
                       f"least 1D, but they are {len(first)}D and {len(second)}D")
    left = (1,) + tuple(first) if len(first) == 1 else tuple(first)
    right = tuple(second) + (1,) if len(second) == 1 else tuple(second)
    if left[-1] != right[-2]:
        if len(first) == 1 and len(second) == 1:
            detail = (f"inconsistent tensor size, expected tensor [{first[0]}] and src "
                      f"[{second[0]}] to have the same number of elements, but got "
                      f"{first[0]} and {second[0]} elements respectively")
        elif len(first) == 2 and len(second) == 1:
            detail = (f"size mismatch, got input ({first[0]}), mat ({first[0]}x{first[1]}), "
                      f"vec ({second[0]})")
        else:
            detail = (f"mat1 and mat2 shapes cannot be multiplied ({left[-2]}x{left[-1]} and "
                      f"{right[-2]}x{right[-1]})")
        raise op_error(RuntimeError, "matmul", detail)
    batch = broadcast_shape("matmul", left[:-2], right[:-2])  # batch dims broadcast
    out = batch + (left[-2], right[-1])
    if len(first) == 1:
        out = out[:-2] + out[-1:]
    if len(second) == 1:
        out = out[:-1]
    return out


def has_internal_overlap(shape: tuple, strides: tuple) -> bool:
    """Whether two elements share one memory location: a stride-0 (expanded) dim of size
    > 1. Writing in place into such a view is refused, as in PyTorch. (An empty tensor has
    no elements to share, whatever strides numpy gave it.)"""
    return 0 not in shape and any(stride == 0 and size > 1
                                  for size, stride in zip(shape, strides, strict=True))


def indexed_shape(shape: tuple, key: tuple) -> tuple:
    """The shape of ``x[key]`` for ``x`` of ``shape``, without touching x's memory (the key
    indexes a stride-0 stand-in of that shape)."""
    return np.broadcast_to(np.empty((), dtype=np.bool_), shape)[key].shape


def check_assignable(value_shape: tuple, target_shape: tuple, advanced: bool) -> None:
    """PyTorch's errors for ``x[key] = value`` when value does not broadcast to ``x[key]``
    (of ``target_shape``). Leading size-1 dims of value are ignored, as in PyTorch."""
    value_shape = tuple(value_shape)
    while len(value_shape) > len(target_shape) and value_shape[0] == 1:
        value_shape = value_shape[1:]
    mismatch = len(value_shape) > len(target_shape)
    for back in range(1, len(value_shape) + 1):
        if mismatch:
            break
        size, target = value_shape[-back], target_shape[-back]
        mismatch = size not in (1, target)
    if not mismatch:
        return
    if advanced:
        detail = (f"shape mismatch: value tensor of shape {list(value_shape)} cannot be "
                  f"broadcast to indexing result of shape {list(target_shape)}")
    elif len(value_shape) > len(target_shape):
        detail = (f"the number of sizes provided ({len(target_shape)}) must be greater or "
                  f"equal to the number of dimensions in the tensor ({len(value_shape)})")
    else:
        detail = (f"The expanded size of the tensor ({target}) must match the existing size "
                  f"({size}) at non-singleton dimension {len(target_shape) - back}.  Target "
                  f"sizes: {list(target_shape)}.  Tensor sizes: {list(value_shape)}")
    raise op_error(RuntimeError, "__setitem__", detail)


def permutation(dims: tuple, shape: tuple) -> tuple:
    """``dims`` normalized, checked to be a permutation of the dims of ``shape``."""
    dims = tuple(normalize_dim(d, len(shape), "permute") for d in dims)
    if sorted(dims) != list(range(len(shape))):
        raise op_error(RuntimeError, "permute", f"dims {list(dims)} are not a permutation of "
                       f"the {len(shape)} dims of a tensor of shape {list(shape)}")
    return dims


def inverse_permutation(axes: tuple) -> tuple:
    """The permutation that undoes ``axes``: ``permute(permute(a, axes), inverse) == a``
    (axis ``axes[i]`` went to position ``i``, so it comes back from there)."""
    inverse = [0] * len(axes)
    for position, axis in enumerate(axes):
        inverse[axis] = position
    return tuple(inverse)


def expanded_shape(shape: tuple, sizes: tuple) -> tuple:
    """The shape of ``expand(*sizes)``: size-1 dims (and new leading ones) take the
    requested size, ``-1`` keeps a dim's size, other dims must already match."""
    extra = len(sizes) - len(shape)
    if extra < 0:
        raise op_error(RuntimeError, "expand", f"the number of sizes provided ({len(sizes)}) "
                       f"must be greater or equal to the number of dimensions in the tensor "
                       f"({len(shape)})")
    target = []
    for index, size in enumerate(sizes):
        current = shape[index - extra] if index >= extra else 1
        if size == -1:
            size = current
        if current != 1 and size != current:
            raise op_error(RuntimeError, "expand", f"The expanded size of the tensor ({size}) "
                           f"must match the existing size ({current}) at non-singleton "
                           f"dimension {index}. Target sizes: {list(sizes)}. Tensor sizes: "
                           f"{list(shape)}")
        target.append(size)
    return tuple(target)


def check_cat(shapes_to_join: list, dim: int) -> int:
    """``dim`` normalized, and the shapes checked to match everywhere but along it."""
    if not shapes_to_join:
        raise op_error(RuntimeError, "cat", "expected a non-empty list of Tensors")
    reference = tuple(shapes_to_join[0])
    dim = normalize_dim(dim, len(reference), "cat")
    for other in shapes_to_join[1:]:
        other = tuple(other)
        if len(other) != len(reference) or any(
                a != b for i, (a, b) in enumerate(zip(other, reference, strict=True)) if i != dim):
            raise op_error(RuntimeError, "cat", f"Sizes of tensors must match except in "
                           f"dimension {dim}: got shapes {list(reference)} and {list(other)}")
    return dim


def check_stack(shapes_to_join: list, dim: int) -> int:
    """The new dim's index, the shapes checked to be all the same."""
    if not shapes_to_join:
        raise op_error(RuntimeError, "stack", "stack expects a non-empty TensorList")
    reference = tuple(shapes_to_join[0])
    for other in shapes_to_join[1:]:
        if tuple(other) != reference:
            raise op_error(RuntimeError, "stack", f"stack expects each tensor to be equal "
                           f"size, but got {list(reference)} and {list(other)}")
    return normalize_dim(dim, len(reference) + 1, "stack")
