"""Architecture optimization (PyTorch's ``torch.ao``): int8 quantization.

- ``numbanet.ao.quantization``: the eager-mode workflow (``quantize_dynamic``; ``QuantStub``,
  ``qconfig``, ``prepare``, calibration, ``convert``; ``fuse_modules``) and observers.
- ``numbanet.ao.nn``: the quantized modules the workflow produces.
"""

from numbanet.ao import nn, quantization

__all__ = ["nn", "quantization"]
