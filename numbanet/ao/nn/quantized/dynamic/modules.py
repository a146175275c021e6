"""Dynamically quantized Linear (PyTorch's ``torch.ao.nn.quantized.dynamic.Linear``): float
in, float out, int8 inside.

The weight is quantized once, ahead of time. The *input's* scale and zero point are chosen
at run time, for each batch, from its own minimum and maximum — nothing to calibrate, which
is why ``quantize_dynamic`` is one line. Forward::

    s_x, z_x = choose_qparams(x.min(), x.max())     on the host, per batch
    q_x = Quantize(x)                               uint8 levels
    acc = Int8LinearAccumulate(q_x, q_w)            int32
    y   = AccumulatorToFloat(acc)                   float32: s_x * s_w * acc + bias

``reduce_range=True`` (levels 0..127 for the input) is what PyTorch's fbgemm backend uses.
"""

from __future__ import annotations

import math

import numpy as np

from numbanet.ao.nn.quantized.modules import Linear as StaticLinear
from numbanet.ao.nn.quantized.modules import quantize_weight
from numbanet.ao.quantization import ops
from numbanet.ao.quantization.qtensor import quantize_per_tensor, quint8
from numbanet.tensor import Tensor

SMALL_SCALE_THRESHOLD = 6.1e-5  # fbgemm raises smaller scales to this


def choose_qparams(min_val: float, max_val: float, quant_min: int,
                   quant_max: int) -> tuple[float, int]:
    """(scale, zero_point) for values in ``[min_val, max_val]``: PyTorch's
    ``ChooseQuantizationParams``. The range is stretched to include 0; the zero point is
    computed from whichever end gives the smaller rounding error, then rounded and clamped.
    """
    min_val, max_val = min(min_val, 0.0), max(max_val, 0.0)
    scale = (max_val - min_val) / (quant_max - quant_min)
    if scale == 0 or math.isinf(1.0 / scale):
        scale = 0.1
    scale = float(np.float32(scale))
    if scale < SMALL_SCALE_THRESHOLD:
        amplifier = SMALL_SCALE_THRESHOLD / scale
        scale = SMALL_SCALE_THRESHOLD
        if min_val == 0.0:
            max_val = SMALL_SCALE_THRESHOLD * (quant_max - quant_min)
        elif max_val == 0.0:
            min_val = -SMALL_SCALE_THRESHOLD * (quant_max - quant_min)
        else:
            min_val, max_val = min_val * amplifier, max_val * amplifier
    from_min = quant_min - min_val / scale
    from_max = quant_max - max_val / scale
    from_min_error = abs(quant_min) + abs(min_val / scale)
    from_max_error = abs(quant_max) + abs(max_val / scale)
    initial = from_min if from_min_error < from_max_error else from_max
    zero_point = min(max(initial, quant_min), quant_max)
    return scale, int(round(zero_point))


class Linear(StaticLinear):
    """``y = x @ W.T + b`` with ``W`` in int8 and ``x`` quantized per batch; float32 out."""

    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=None, reduce_range: bool = True):
        super().__init__(in_features, out_features, bias_)
        self.reduce_range = reduce_range
        del self._buffers["scale"], self._buffers["zero_point"]  # no output qparams

    def forward(self, x: Tensor) -> Tensor:
        if x.is_quantized or not x.is_floating_point():
            raise RuntimeError(f"{self._get_name()}: expects a float input, got {x.dtype!r}")
        shape = tuple(x.shape)
        if shape[-1] != self.in_features:
            raise RuntimeError(f"{self._get_name()}: input of shape {shape} does not match "
                               f"in_features={self.in_features}")
        rows = x.reshape(-1, self.in_features)
        quant_max = 127 if self.reduce_range else quint8.quant_max
        if rows.numel():
            low, high = float(rows.min().item()), float(rows.max().item())
        else:
            low = high = 0.0
        scale, zero_point = choose_qparams(low, high, quint8.quant_min, quant_max)
        q_x = quantize_per_tensor(rows, scale, zero_point, quint8)
        accumulator = ops.Int8LinearAccumulate.apply(
            q_x, zero_point, self.weight(), self._weight_zero_points(),
            ops.scales_for_trace(scale, self._weight_scales()))
        scale_products, _, _ = ops.requantization_terms(
            scale, self._weight_scales(), None, 1.0, self.out_features)
        bias = self.bias()
        bias = np.zeros(self.out_features, np.float32) if bias is None else bias
        out = ops.AccumulatorToFloat.apply(accumulator, scale_products, bias)
        return out.reshape(*shape[:-1], self.out_features)

    @classmethod
    def from_float(cls, module) -> Linear:
        """The dynamically quantized copy of a float Linear (its weight quantized with
        ``module.qconfig.weight()``, by default per tensor, symmetric, qint8)."""
        weight = quantize_weight(module.weight, module.qconfig.weight())
        out = cls(module.in_features, module.out_features, module.bias is not None)
        out._set_weight_bias(weight, module.bias)
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype=numbanet.qint8, qscheme={self.weight().qscheme()!r}")
