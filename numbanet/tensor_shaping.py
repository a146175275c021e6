"""How a :class:`~numbanet.tensor.Tensor` changes shape: views and the copies between them.

``view``, ``reshape``, ``permute``/``transpose``/``t``, ``unsqueeze``/``squeeze``,
``flatten``, ``expand``, ``contiguous``/``clone``, ``repeat``, ``split``/``chunk``. Each
checks its arguments (``numbanet/shapes.py``) and applies one op from
``numbanet/ops/shape.py``; a *view* shares the input's memory (only shape and strides
differ), so a change through it is a change of the input — the lesson of ``x.stride()``.

``Tensor`` inherits these methods from :class:`Shaping` (as it inherits its maths from
``numbanet/tensor_ops.py``); the mixin holds no state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from numbanet import shapes
from numbanet.errors import op_error
from numbanet.ops import shape as shape_ops

if TYPE_CHECKING:
    from numbanet.tensor import Tensor


class Shaping:
    """Views and reshaping copies (see the module docstring)."""

    __slots__ = ()

    def view(self, *shape) -> Tensor:
        """The same memory seen with another shape; PyTorch's rule says when strides allow."""
        shape = shapes.resolve_shape(shapes.shape_arg(shape), self.shape, "view")
        shapes.check_view(self.shape, self.stride(), shape)
        return shape_ops.Reshape.apply(self, shape)

    def reshape(self, *shape) -> Tensor:
        """Like ``view`` when the strides allow, else a copy with the new shape."""
        if len(shape) == 1 and type(shape[0]) is tuple and shape[0] == self._data.shape:
            return self  # already that shape (a backward rule's common case): nothing to do
        shape = shapes.resolve_shape(shapes.shape_arg(shape), self.shape, "reshape")
        if shape == self.shape:
            return self
        if not self.is_contiguous() and shapes.view_strides(  # (contiguous: always a view)
                self.shape, self.stride(), shape) is None:  # no view possible, as PyTorch:
            return shape_ops.UnsafeView.apply(self.contiguous(), shape)  # copy, then view
        return shape_ops.Reshape.apply(self, shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def permute(self, *dims) -> Tensor:
        return shape_ops.Permute.apply(self, shapes.permutation(shapes.shape_arg(dims),
                                                                self.shape))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.dim()))
        first = shapes.normalize_dim(dim0, self.dim(), "transpose")
        second = shapes.normalize_dim(dim1, self.dim(), "transpose")
        axes[first], axes[second] = axes[second], axes[first]
        return shape_ops.Transpose.apply(self, tuple(axes))

    def t(self) -> Tensor:
        if self.dim() > 2:
            raise op_error(RuntimeError, "t", f"t() expects a tensor with <= 2 dimensions, but "
                           f"self is {self.dim()}D")
        return self if self.dim() < 2 else shape_ops.T.apply(self, (1, 0))

    def unsqueeze(self, dim: int) -> Tensor:
        dim = shapes.normalize_dim(dim, self.dim() + 1, "unsqueeze")
        return shape_ops.Unsqueeze.apply(self, self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            dim = shapes.normalize_dim(dim, self.dim(), "squeeze")
            if self.dim() == 0 or self.shape[dim] != 1:
                return self
            shape = self.shape[:dim] + self.shape[dim + 1:]
        return shape_ops.Squeeze.apply(self, shape) if shape != self.shape else self

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.dim() == 0:
            return self.reshape(1)
        start = shapes.normalize_dim(start_dim, self.dim(), "flatten")
        end = shapes.normalize_dim(end_dim, self.dim(), "flatten")
        merged = (math.prod(self.shape[start:end + 1]),)
        return self.reshape(self.shape[:start] + merged + self.shape[end + 1:])

    def expand(self, *shape) -> Tensor:
        """A stride-0 view repeating size-1 dims (``-1`` keeps a dim's size)."""
        target = shapes.expanded_shape(self.shape, shapes.shape_arg(shape))
        return self if target == self.shape else shape_ops.Expand.apply(self, target)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def contiguous(self) -> Tensor:
        return self if self.is_contiguous() else shape_ops.Contiguous.apply(self)

    def clone(self) -> Tensor:
        return shape_ops.Clone.apply(self)

    def repeat(self, *sizes) -> Tensor:
        from numbanet.tensor import cat  # (tensor.py imports this module)

        sizes = shapes.shape_arg(sizes)
        out = self.reshape((1,) * (len(sizes) - self.dim()) + tuple(self.shape))
        for dim, count in enumerate(sizes):
            if count != 1:
                out = cat([out] * count, dim)
        return out

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """``chunks`` views of (nearly) equal size along dim, as :meth:`split` with size
        ceil(size / chunks) gives them (so possibly fewer than ``chunks``).

        Gradient: each piece's upstream gradient goes back to its slice.
        """
        if chunks <= 0:
            raise op_error(RuntimeError, "chunk", "chunk expects `chunks` to be greater than 0, "
                           f"got: {chunks}")
        if self.shape[dim] == 0:  # PyTorch: `chunks` empty pieces
            return tuple(self.split(0, dim) * chunks)
        return self.split(math.ceil(self.shape[dim] / chunks), dim)

    def split(self, split_size, dim: int = 0) -> tuple[Tensor, ...]:
        """Views of consecutive pieces along dim: of ``split_size`` each (the last one
        smaller), or of the sizes in a list (which must add up to the dim's size).

        Gradient: each piece's upstream gradient goes back to its slice.
        """
        dim = shapes.normalize_dim(dim, self.dim(), "split")
        if isinstance(split_size, int):
            if split_size < 0 or (split_size == 0 and self.shape[dim]):
                raise op_error(RuntimeError, "split", "split_size can only be 0 if dimension "
                               f"size is 0, but got dimension size of {self.shape[dim]}"
                               if split_size == 0 else "split expects split_size be "
                               f"non-negative, but got split_size={split_size}")
            starts = range(0, self.shape[dim], split_size) if self.shape[dim] else [0]
            sizes = [min(split_size, self.shape[dim] - start) for start in starts]
        else:
            sizes = [int(size) for size in split_size]
            if sum(sizes) != self.shape[dim]:
                raise op_error(RuntimeError, "split", "split_with_sizes expects split_sizes to "
                               "sum exactly to "
                               f"{self.shape[dim]} (input tensor's size at dimension {dim}), "
                               f"but got split_sizes={sizes}")
        pieces, start = [], 0
        for size in sizes:
            pieces.append(self[(slice(None),) * dim + (slice(start, start + size),)])
            start += size
        return tuple(pieces)
