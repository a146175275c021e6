"""The int8 ops, one :class:`KernelFunction` each, so that each is one node of a trace.

A quantized Linear layer is three of them, and the stepper shows each with its integers
and its quantization parameters (``ctx.mark_for_trace``)::

    Quantize            x (float32)          -> q_x    (uint8 levels, scale s_x, zero point z_x)
    Int8LinearAccumulate q_x, q_w            -> acc    (int32: sum_k (q_x - z_x)(q_w - z_w))
    Requantize          acc                  -> q_y    (uint8 levels, scale s_y, zero point z_y)

The formulas are in ``numbanet/kernels/cpu/quantized.py``. Integer arithmetic has no useful
gradient (a rounding step is flat almost everywhere), so none of these ops can be
differentiated: quantization happens after training (post-training quantization).

The float32 multipliers of requantization are computed here, once, on the host, in the
order PyTorch's fbgemm backend uses (``requantization_terms``); the kernels and the numpy
reference in the tests take them as given.
"""

from __future__ import annotations

import numpy as np

from numbanet import trace as _trace
from numbanet.autograd.function import KernelFunction


def _no_gradient(name: str):
    raise RuntimeError(f"{name}: quantized operations have no gradient. Quantize a trained "
                       "model (post-training quantization) and run it under "
                       "numbanet.no_grad(); train the float model")


class Quantize(KernelFunction):
    """q = clamp(round(x / scale) + zero_point, quant_min, quant_max)

    Float values become integer levels; ``round`` is round-half-to-even and ``1 / scale``
    is computed once in float32. Per channel: one (scale, zero_point) per index of ``axis``.
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, x, scales, zero_points, axis, quant_min, quant_max, dtype_name):
        ctx.mark_for_trace(dtype=dtype_name, **_qparams_for_trace(scales, zero_points, axis),
                           quant_min=int(quant_min), quant_max=int(quant_max))
        return ctx.kernels.quantize(x, scales, zero_points, axis, quant_min, quant_max,
                                    _STORAGE[dtype_name])

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("Quantize")


class Dequantize(KernelFunction):
    """x = (q - zero_point) * scale

    Integer levels back to float32: every level stands for one multiple of ``scale``.
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, levels, scales, zero_points, axis):
        ctx.mark_for_trace(**_qparams_for_trace(scales, zero_points, axis))
        return ctx.kernels.dequantize(levels, scales, zero_points, axis)

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("Dequantize")


class Int8LinearAccumulate(KernelFunction):
    """acc[n, o] = sum_k (q_x[n, k] - z_x) * (q_w[o, k] - z_w[o])

    The matmul of a quantized Linear on integers only: 8-bit operands, products of up to
    16 bits, summed in an int32 accumulator (exact: no rounding happens here).
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, x_levels, x_zero_point, weight_levels, weight_zero_points,
                trace_attributes):
        ctx.mark_for_trace(**trace_attributes, x_zero_point=int(x_zero_point),
                           weight_zero_point=_compact(weight_zero_points),
                           accumulator="int32")
        return ctx.kernels.int8_linear_accumulate(x_levels, x_zero_point, weight_levels,
                                                  weight_zero_points)

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("Int8LinearAccumulate")


class Int8Conv2dAccumulate(KernelFunction):
    """acc[n, o, oh, ow] = sum_{c,i,j} (q_x[n, c, h, w] - z_x) * (q_w[o, c, i, j] - z_w[o])

    with h = oh * stride - padding + i, w = ow * stride - padding + j. The convolution
    of a quantized Conv2d on integers only, accumulated in int32; pixels of the zero
    padding hold z_x (the real number 0.0), so they add nothing.
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, x_levels, x_zero_point, weight_levels, weight_zero_points, stride,
                padding, trace_attributes):
        ctx.mark_for_trace(**trace_attributes, x_zero_point=int(x_zero_point),
                           weight_zero_point=_compact(weight_zero_points), stride=stride,
                           padding=padding, accumulator="int32")
        return ctx.kernels.int8_conv2d_accumulate(x_levels, x_zero_point, weight_levels,
                                                  weight_zero_points, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("Int8Conv2dAccumulate")


class Requantize(KernelFunction):
    """q_y = clamp(round((acc + bias / (s_x * s_w)) * (s_x * s_w / s_y)) + z_y, low, quant_max)

    The int32 accumulator holds y / (s_x * s_w); one float32 multiply per output rescales it
    to the output's own scale s_y (float32 operations in PyTorch's fbgemm order). ``low`` is
    quant_min, or z_y when a ReLU is fused (negative outputs become 0.0).
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, accumulator, bias_terms, multipliers, zero_point, low, high, dtype_name,
                trace_attributes):
        ctx.mark_for_trace(**trace_attributes, zero_point=int(zero_point), low=int(low),
                           high=int(high), dtype=dtype_name)
        return ctx.kernels.requantize(accumulator, bias_terms, multipliers, zero_point, low,
                                      high, _STORAGE[dtype_name])

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("Requantize")


class AccumulatorToFloat(KernelFunction):
    """y[n, o] = (s_x * s_w[o]) * acc[n, o] + bias[o]

    The output of a *dynamically* quantized Linear stays float32: the int32 accumulator
    times the product of the two scales, plus the float bias.
    Gradient: none (quantized tensors are for inference)
    """

    @staticmethod
    def forward(ctx, accumulator, scale_products, bias):
        ctx.mark_for_trace(scale_product=_compact(scale_products))
        return ctx.kernels.accumulator_to_float(accumulator, scale_products, bias)

    @staticmethod
    def backward(ctx, grad):
        _no_gradient("AccumulatorToFloat")


_STORAGE = {"qint8": np.int8, "quint8": np.uint8, "qint32": np.int32}


def scales_for_trace(x_scale: float, weight_scales) -> dict:
    """The scales an integer matmul's node shows, its input's and its weight's (nothing
    while no trace records: the per-channel summary is not free)."""
    if _trace._active is None:
        return {}
    return {"x_scale": float(x_scale), "weight_scale": _compact(weight_scales)}


def requantization_terms(x_scale: float, weight_scales: np.ndarray, bias: np.ndarray | None,
                         out_scale: float, out_channels: int):
    """(scale_products, bias_terms, multipliers), float32 vectors of one value per output
    channel: ``s_x * s_w[o]``, ``bias[o] / (s_x * s_w[o])`` and ``s_x * s_w[o] / s_y``,
    each computed in float32 as fbgemm does."""
    weight_scales = np.broadcast_to(np.asarray(weight_scales, dtype=np.float32),
                                    (out_channels,))
    scale_products = (np.float32(x_scale) * weight_scales).astype(np.float32)
    if bias is None:
        bias_terms = np.zeros(out_channels, dtype=np.float32)
    else:
        bias_terms = (np.asarray(bias, dtype=np.float32) / scale_products).astype(np.float32)
    multipliers = (scale_products / np.float32(out_scale)).astype(np.float32)
    return scale_products, bias_terms, multipliers


SHOWN_CHANNELS = 6  # per-channel values listed in a trace; the rest are counted


def _compact(values):
    """One number when all are equal (per tensor), else the first values per channel and
    how many there are (a trace shows them beside the node)."""
    flat = np.atleast_1d(np.asarray(values)).ravel()
    if flat.size and (flat == flat[0]).all():
        return flat[0].item()
    shown = [value.item() for value in flat[:SHOWN_CHANNELS]]
    return shown if flat.size <= SHOWN_CHANNELS else [*shown, f"... {flat.size} channels"]


def _qparams_for_trace(scales, zero_points, axis) -> dict:
    attributes = {"scale": _compact(scales), "zero_point": _compact(zero_points)}
    if np.atleast_1d(np.asarray(scales)).size > 1:
        attributes["axis"] = int(axis)
    return attributes
