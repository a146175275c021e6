"""Quantized fused modules (PyTorch's ``torch.ao.nn.intrinsic.quantized``): a quantized
layer whose requantization also applies the ReLU (levels below the zero point, which
stands for 0.0, are clamped to it)."""

from numbanet.ao.nn.quantized.modules import ConvReLU2d, LinearReLU

__all__ = ["ConvReLU2d", "LinearReLU"]
