"""Modules for quantization (PyTorch's ``torch.ao.nn``): ``quantized`` (int8 layers),
``quantized.dynamic`` (int8 weights, activations quantized at run time) and ``intrinsic``
(fused layer + ReLU, float and quantized)."""

from numbanet.ao.nn import intrinsic, quantized

__all__ = ["intrinsic", "quantized"]
