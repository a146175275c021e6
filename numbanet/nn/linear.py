"""``Linear``: the fully connected layer, y = x W^T + b."""

from __future__ import annotations

import math

from numbanet.creation import empty
from numbanet.nn import functional as F
from numbanet.nn import init
from numbanet.nn.module import Module
from numbanet.nn.parameter import Parameter
from numbanet.tensor import Tensor


class Linear(Module):
    """y = x @ weight^T + bias, for inputs whose last dim is ``in_features``.

    weight: (out_features, in_features); bias: (out_features,). Both start uniform on
    [-1/sqrt(in_features), 1/sqrt(in_features)] (PyTorch's default: kaiming_uniform_ with
    a = sqrt(5) for the weight), so the outputs start with about the inputs' spread.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (from numbanet's seeded generator)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
        return F.linear(input, self.weight, self.bias, layer=self)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
