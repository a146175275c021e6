"""Shape layers with no parameters: ``Flatten`` and ``Identity``."""

from __future__ import annotations

from numbanet.nn.module import Module
from numbanet.tensor import Tensor


class Flatten(Module):
    """Merge dims start_dim..end_dim into one. The default start_dim=1 keeps the batch dim:
    (N, C, H, W) -> (N, C*H*W), the step between convolutional and linear layers."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer, e.g. to remove a head). Arguments
    are accepted and ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input
