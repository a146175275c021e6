"""Padding: ``F.pad`` and the ``nn.ZeroPad2d`` family of layers.

``pad`` lists (before, after) amounts for the *last* dims, last dim first, as PyTorch does:
``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two. Each
padded dim is one op on the graph, so the gradient needs no rule of its own:

- ``'constant'``: the input concatenated between two blocks of ``value`` (``cat``; its
  gradient is the middle slice); a negative amount crops instead (a slice);
- ``'reflect'``, ``'replicate'``, ``'circular'``: the input read at computed positions
  along the dim (an integer index, a gather): reflect mirrors without repeating the edge
  (``[1 2 3]`` padded by 2 on the left is ``[3 2 1 2 3]``), replicate repeats the edge
  (``[1 1 1 2 3]``), circular wraps around (``[2 3 1 2 3]``). The gather's gradient adds
  each output gradient back to the element it was read from, so an edge element read
  several times collects them all.
"""

from __future__ import annotations

import numpy as np

from numbanet import creation
from numbanet.errors import op_error
from numbanet.nn.module import Module
from numbanet.tensor import Tensor, cat

MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """``input`` padded by ``pad`` = (before, after) for the last dim, then the one before
    it ...; ``mode`` 'constant' (with ``value``, default 0), 'reflect', 'replicate' or
    'circular'.

    Gradient: the upstream gradient of each input element: its own position's, plus (not
    constant) those of the padded positions that copied it.
    """
    pad = tuple(int(amount) for amount in pad)
    if len(pad) % 2:
        raise op_error(RuntimeError, "pad", "Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise op_error(RuntimeError, "pad", "Padding length should be less than or equal to "
                       "two times the input dimension but got padding length "
                       f"{len(pad)} and input of dimension {input.dim()}")
    if mode not in MODES:
        raise op_error(NotImplementedError, "pad", f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value not in (None, 0):
            raise op_error(RuntimeError, "pad", f"Padding mode \"{mode}\" doesn't take in "
                           "value argument")
        padded_dims = len(pad) // 2
        if input.dim() not in (padded_dims + 1, padded_dims + 2):
            raise op_error(NotImplementedError, "pad", f"Padding size {len(pad)} is not "
                           f"supported for {input.dim()}D input tensor.\nSupported "
                           "combinations for non-constant padding:\n"
                           "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                           "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                           "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = input
    for position in range(len(pad) // 2):
        dim = input.dim() - 1 - position
        before, after = pad[2 * position], pad[2 * position + 1]
        if before == 0 and after == 0:
            continue
        if mode == "constant":
            out = _constant(out, dim, before, after, 0 if value is None else value)
        else:
            out = _indexed(out, dim, before, after, mode)
    return out


def _constant(x: Tensor, dim: int, before: int, after: int, value) -> Tensor:
    size = x.shape[dim]
    start, stop = max(-before, 0), size - max(-after, 0)
    if stop - start + max(before, 0) + max(after, 0) < 0 or start > size or stop < 0:
        raise op_error(RuntimeError, "pad", f"The input size {size}, plus negative padding "
                       f"{min(before, 0)} and {min(after, 0)} resulted in a negative output "
                       f"size, which is invalid. Check dimension {dim} of your input.")
    if start or stop != size:
        x = x[(slice(None),) * dim + (slice(start, max(stop, start)),)]
    pieces = []
    for amount in (before, after):
        shape = list(x.shape)
        shape[dim] = max(amount, 0)
        pieces.append(creation.full(tuple(shape), value, dtype=x.dtype, device=x.device))
    return cat([pieces[0], x, pieces[1]], dim)


def _indexed(x: Tensor, dim: int, before: int, after: int, mode: str) -> Tensor:
    size = x.shape[dim]
    if mode == "reflect" and (before >= size or after >= size):
        raise op_error(RuntimeError, "pad", "Argument #4: Padding size should be less than "
                       f"the corresponding input dimension, but got: padding ({before}, "
                       f"{after}) at dimension {dim} of input {list(x.shape)}")
    if mode == "circular" and (before > size or after > size):
        raise op_error(RuntimeError, "pad", "Padding value causes wrapping around more than "
                       "once.")
    if mode == "replicate" and size == 0:
        raise op_error(RuntimeError, "pad", f"padding size is expected to be less than or "
                       f"equal to the input size, got an empty dimension {dim}")
    positions = np.arange(-before, size + after)
    if mode == "reflect":
        positions = np.abs(positions)
        positions = np.where(positions >= size, 2 * (size - 1) - positions, positions)
    elif mode == "replicate":
        positions = np.clip(positions, 0, size - 1)
    else:
        positions = positions % size
    index = creation.tensor(positions.astype(np.int64), device=x.device)
    return x[(slice(None),) * dim + (index,)]


class _ConstantPadNd(Module):
    """Pads the last dims with a constant (``F.pad(x, padding, 'constant', value)``)."""

    dims = 2
    mode = "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self.dims) if isinstance(padding, int) \
            else tuple(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return pad(input, self.padding, self.mode, self.value if self.mode == "constant"
                   else None)

    def extra_repr(self) -> str:
        if self.mode == "constant" and type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ZeroPad1d(_ConstantPadNd):
    """Pads the last dim with zeros: padding = (left, right), or one int for both."""

    dims = 1

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(_ConstantPadNd):
    """Pads the last two dims (height, width) with zeros: padding = (left, right, top,
    bottom), or one int for all four sides."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: padding = (left, right), or one int."""

    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: padding = (left, right, top, bottom)."""


class ReflectionPad2d(_ConstantPadNd):
    """Pads the last two dims by mirroring the input at its edges (the edge not repeated)."""

    mode = "reflect"

    def __init__(self, padding):
        super().__init__(padding)


class ReplicationPad2d(_ConstantPadNd):
    """Pads the last two dims by repeating the edge values."""

    mode = "replicate"

    def __init__(self, padding):
        super().__init__(padding)
