"""Quantized modules: quantized tensors in and out, int8 kernels inside (PyTorch's
``torch.ao.nn.quantized``)."""

from numbanet.ao.nn.quantized import dynamic
from numbanet.ao.nn.quantized.modules import Conv2d, DeQuantize, Linear, Quantize

__all__ = ["Conv2d", "DeQuantize", "Linear", "Quantize", "dynamic"]
