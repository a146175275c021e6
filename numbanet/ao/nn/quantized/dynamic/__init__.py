"""Dynamically quantized modules: int8 weights, activations quantized per batch at run
time (PyTorch's ``torch.ao.nn.quantized.dynamic``)."""

from numbanet.ao.nn.quantized.dynamic.modules import Linear, choose_qparams

__all__ = ["Linear", "choose_qparams"]
