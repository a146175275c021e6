"""Fused float modules made by ``fuse_modules`` (PyTorch's ``torch.ao.nn.intrinsic``): a
layer and the ReLU after it, kept together so that quantization treats them as one —
``convert`` turns each into one quantized module whose requantization clamps at the zero
point, instead of a quantized layer followed by a separate quantized ReLU.
"""

from numbanet.ao.nn.intrinsic import quantized
from numbanet.ao.nn.intrinsic.modules import ConvReLU2d, LinearReLU

__all__ = ["ConvReLU2d", "LinearReLU", "quantized"]
