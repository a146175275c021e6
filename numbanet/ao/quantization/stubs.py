"""``QuantStub`` and ``DeQuantStub``: where a model's quantized region starts and ends.

Eager-mode quantization cannot guess where float values should become integers, so the
model says it: ``x = self.quant(x)`` first, ``x = self.dequant(x)`` last. Until ``convert``
both do nothing; ``prepare`` gives the QuantStub an observer (it learns the input's
range), and ``convert`` swaps them for ``nn.quantized.Quantize`` (float -> quint8 with the
calibrated scale and zero point) and ``nn.quantized.DeQuantize``.
"""

from __future__ import annotations

from numbanet.nn.module import Module


class QuantStub(Module):
    """Marks where float inputs become quantized (an identity until ``convert``)."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig is not None:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class DeQuantStub(Module):
    """Marks where quantized values become float again (an identity until ``convert``)."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig is not None:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class QuantWrapper(Module):
    """``QuantStub -> module -> DeQuantStub``: quantizes a whole model whose forward has no
    stubs of its own."""

    def __init__(self, module: Module):
        super().__init__()
        qconfig = getattr(module, "qconfig", None)
        self.quant = QuantStub(qconfig)
        self.dequant = DeQuantStub(qconfig)
        self.module = module
        self.train(module.training)

    def forward(self, x):
        return self.dequant(self.module(self.quant(x)))
