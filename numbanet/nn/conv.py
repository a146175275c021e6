"""``Conv2d``: a 2-D convolution layer — small learned filters slid over an image."""

from __future__ import annotations

import math

from numbanet.creation import empty
from numbanet.nn import functional as F
from numbanet.nn import init
from numbanet.nn.module import Module
from numbanet.nn.parameter import Parameter
from numbanet.tensor import Tensor


class Conv2d(Module):
    """out[n, o] = bias[o] + sum over c of weight[o, c] cross-correlated with x[n, c].

    Input (N, in_channels, H, W), output (N, out_channels, OH, OW) with
    OH = (H + 2 * padding - kernel_size) // stride + 1 (likewise OW). weight:
    (out_channels, in_channels, kh, kw); bias: (out_channels,); both start uniform on
    [-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in = in_channels * kh * kw (PyTorch's default).
    ``padding`` may also be ``"valid"`` (none) or ``"same"`` (output as large as the input).
    numbanet supports dilation=1, groups=1 and padding_mode="zeros".
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: numbanet supports padding_mode='zeros' only, "
                                      f"got {padding_mode!r}")
        F._check_unsupported("Conv2d", dilation, groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = F._pair(kernel_size, "kernel_size")
        self.stride = F._pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "padding")
        F.conv_padding(self.padding, self.kernel_size, self.stride)  # reject bad settings now
        self.dilation = F._pair(dilation, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(empty(out_channels, in_channels, *self.kernel_size,
                                      device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (from numbanet's seeded generator)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, layer=self)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
