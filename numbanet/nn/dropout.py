"""Dropout layers: randomly silence units while training, so that the network cannot rely
on any single one (a regulariser). In ``model.eval()`` mode they pass the input through."""

from __future__ import annotations

from numbanet.nn import functional as F
from numbanet.nn.module import Module
from numbanet.tensor import Tensor


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training mode, zero each element with probability p and multiply the others by
    1/(1-p) (so the expected value is unchanged); in eval mode, the identity."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Like Dropout, but zeroes whole channels of an (N, C, H, W) input: neighbouring
    pixels of a feature map are correlated, so dropping single pixels regularises little."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout2d(input, self.p, self.training, self.inplace)
