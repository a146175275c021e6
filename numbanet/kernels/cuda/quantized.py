"""int8 kernels on the GPU: quantize, dequantize, integer matmul / convolution, requantize.

The formulas are those of :mod:`numbanet.kernels.cpu.quantized` (read its docstring first),
with the same float32 operations in the same order, so both devices produce the same
integers. Each kernel gives one thread one output element (a grid-stride loop):

- ``linear_accumulate_kernel``: thread ``(n, o)`` runs the int32 dot product of row ``n``
  of the centered input with row ``o`` of the centered weight;
- ``conv_accumulate_kernel``: thread ``(n, o, oh, ow)`` sums over its receptive field,
  skipping pixels in the padding (they are the real number 0.0: ``q - z = 0``).

These are the plain, readable versions — no shared-memory tiles (``matmul.py`` shows those
for floats): the lesson here is the integer arithmetic.

Per-channel vectors (scales, zero points, multipliers, bias terms) may be given as numpy
arrays; they are copied to the GPU (a few hundred bytes).
"""

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import DeviceArray, grid_stride_launch
from numbanet.kernels.cuda.memory import astype, contiguous, empty
from numbanet.kernels.cuda.views import reshape
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def quantize_kernel(values, inverse_scales, zero_points, quant_min, quant_max, out):
    """``out[i, c, j] = clamp(round(values[i, c, j] * inverse_scales[c]) + zero_points[c],
    quant_min, quant_max)`` on (outer, channels, inner) arrays; NaN becomes the zero point."""
    channels, inner = values.shape[1], values.shape[2]
    for linear in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        i = linear // (channels * inner)
        c = (linear // inner) % channels
        j = linear % inner
        scaled = values[i, c, j] * inverse_scales[c]
        if scaled != scaled:
            scaled = np.float32(0.0)
        scaled = min(max(scaled, np.float32(-2147483648.0)), np.float32(2147483520.0))
        level = round(scaled) + zero_points[c]
        out[i, c, j] = min(max(level, quant_min), quant_max)


@cuda.jit(cache=True)
def dequantize_kernel(levels, scales, zero_points, out):
    """``out[i, c, j] = (levels[i, c, j] - zero_points[c]) * scales[c]`` in float32."""
    channels, inner = levels.shape[1], levels.shape[2]
    for linear in range(cuda.grid(1), levels.size, cuda.gridsize(1)):
        i = linear // (channels * inner)
        c = (linear // inner) % channels
        j = linear % inner
        out[i, c, j] = np.float32(levels[i, c, j] - zero_points[c]) * scales[c]


@cuda.jit(cache=True)
def linear_accumulate_kernel(x, x_zero_point, weight, weight_zero_points, acc):
    """``acc[n, o] = sum_k (x[n, k] - x_zero_point) * (weight[o, k] -
    weight_zero_points[o])`` in int32, one thread per ``(n, o)``."""
    outputs = acc.shape[1]
    for linear in range(cuda.grid(1), acc.size, cuda.gridsize(1)):
        n = linear // outputs
        o = linear % outputs
        w_zero = np.int32(weight_zero_points[o])
        total = np.int32(0)
        for k in range(x.shape[1]):
            total += (np.int32(x[n, k]) - x_zero_point) * (np.int32(weight[o, k]) - w_zero)
        acc[n, o] = total


@cuda.jit(cache=True)
def conv_accumulate_kernel(x, x_zero_point, weight, weight_zero_points, stride_h, stride_w,
                           pad_h, pad_w, acc):
    """``acc[n, o, oh, ow] = sum over c, i, j of (x[n, c, oh*sh - ph + i, ow*sw - pw + j] -
    x_zero_point) * (weight[o, c, i, j] - weight_zero_points[o])``, padding skipped (0)."""
    out_channels, out_h, out_w = acc.shape[1], acc.shape[2], acc.shape[3]
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    kernel_h, kernel_w = weight.shape[2], weight.shape[3]
    for linear in range(cuda.grid(1), acc.size, cuda.gridsize(1)):
        ow = linear % out_w
        oh = (linear // out_w) % out_h
        o = (linear // (out_w * out_h)) % out_channels
        n = linear // (out_w * out_h * out_channels)
        w_zero = np.int32(weight_zero_points[o])
        total = np.int32(0)
        for c in range(channels):
            for i in range(kernel_h):
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    w = ow * stride_w - pad_w + j
                    if 0 <= w < width:
                        total += ((np.int32(x[n, c, h, w]) - x_zero_point)
                                  * (np.int32(weight[o, c, i, j]) - w_zero))
        acc[n, o, oh, ow] = total


@cuda.jit(cache=True)
def requantize_kernel(acc, bias_terms, multipliers, zero_point, low, high, out):
    """``out[i, o, j] = clamp(round((acc[i, o, j] + bias_terms[o]) * multipliers[o]) +
    zero_point, low, high)`` in float32."""
    channels, inner = acc.shape[1], acc.shape[2]
    for linear in range(cuda.grid(1), acc.size, cuda.gridsize(1)):
        i = linear // (channels * inner)
        o = (linear // inner) % channels
        j = linear % inner
        scaled = (np.float32(acc[i, o, j]) + bias_terms[o]) * multipliers[o]
        level = round(scaled) + zero_point
        out[i, o, j] = min(max(level, low), high)


@cuda.jit(cache=True)
def accumulator_to_float_kernel(acc, scale_products, bias, out):
    """``out[i, o, j] = scale_products[o] * acc[i, o, j] + bias[o]`` in float32."""
    channels, inner = acc.shape[1], acc.shape[2]
    for linear in range(cuda.grid(1), acc.size, cuda.gridsize(1)):
        i = linear // (channels * inner)
        o = (linear // inner) % channels
        j = linear % inner
        out[i, o, j] = scale_products[o] * np.float32(acc[i, o, j]) + bias[o]


def _vector(values, dtype) -> DeviceArray:
    """A small per-channel vector on the GPU, of ``dtype``."""
    if isinstance(values, np.ndarray) or np.isscalar(values):
        return cuda.to_device(np.ascontiguousarray(np.atleast_1d(values), dtype=dtype))
    return contiguous(values) if values.dtype == dtype else astype(values, dtype)


def _channels_view(a: DeviceArray, axis: int, channels: int) -> DeviceArray:
    """C-contiguous ``a`` as (outer, channels, inner); a single channel when per tensor."""
    if channels == 1:
        return reshape(a, (1, 1, -1))
    outer = int(np.prod(a.shape[:axis], dtype=np.int64))
    return reshape(a, (outer, a.shape[axis], -1))


def _run(kernel, size: int, *args) -> None:
    if size:
        blocks, threads = grid_stride_launch(size)
        launch(kernel, *args, grid=blocks, block=threads)


def quantize(a: DeviceArray, scales: np.ndarray, zero_points: np.ndarray, axis: int,
             quant_min: int, quant_max: int, dtype) -> DeviceArray:
    """Levels ``clamp(round(a * (1 / scale)) + zero_point, quant_min, quant_max)``."""
    values = contiguous(a) if a.dtype == np.float32 else astype(a, np.float32)
    host_scales = np.atleast_1d(np.asarray(scales, dtype=np.float32))
    inverse = (np.float32(1.0) / host_scales).astype(np.float32)
    out = empty(tuple(a.shape), dtype)
    _run(quantize_kernel, out.size, _channels_view(values, axis, inverse.size),
         _vector(inverse, np.float32), _vector(zero_points, np.int64), int(quant_min),
         int(quant_max), _channels_view(out, axis, inverse.size))
    return out


def dequantize(levels: DeviceArray, scales: np.ndarray, zero_points: np.ndarray,
               axis: int) -> DeviceArray:
    """float32 ``(levels - zero_point) * scale`` (one pair, or one per index of ``axis``)."""
    levels = contiguous(levels)
    channels = np.atleast_1d(np.asarray(scales)).size
    out = empty(tuple(levels.shape), np.float32)
    _run(dequantize_kernel, out.size, _channels_view(levels, axis, channels),
         _vector(scales, np.float32), _vector(zero_points, np.int64),
         _channels_view(out, axis, channels))
    return out


def int8_linear_accumulate(x: DeviceArray, x_zero_point: int, weight: DeviceArray,
                           weight_zero_points: np.ndarray) -> DeviceArray:
    """int32 ``acc[n, o] = sum_k (x[n, k] - x_zero_point) * (weight[o, k] -
    weight_zero_points[o])``; x (N, K) uint8 or int8, weight (O, K) int8."""
    x, weight = contiguous(x), contiguous(weight)
    out_features = weight.shape[0]
    zero_points = np.broadcast_to(np.asarray(weight_zero_points, dtype=np.int64),
                                  (out_features,))
    acc = empty((x.shape[0], out_features), np.int32)
    _run(linear_accumulate_kernel, acc.size, x, np.int32(x_zero_point), weight,
         _vector(zero_points, np.int64), acc)
    return acc


def int8_conv2d_accumulate(x: DeviceArray, x_zero_point: int, weight: DeviceArray,
                           weight_zero_points: np.ndarray, stride, padding) -> DeviceArray:
    """int32 convolution of centered levels (padding counts as ``x_zero_point``, real 0.0);
    x (N, C, H, W), weight (O, C, KH, KW) -> (N, O, OH, OW)."""
    (stride_h, stride_w), (pad_h, pad_w) = _pair(stride), _pair(padding)
    x, weight = contiguous(x), contiguous(weight)
    batch, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    zero_points = np.broadcast_to(np.asarray(weight_zero_points, dtype=np.int64),
                                  (out_channels,))
    acc = empty((batch, out_channels, out_h, out_w), np.int32)
    _run(conv_accumulate_kernel, acc.size, x, np.int32(x_zero_point), weight,
         _vector(zero_points, np.int64), stride_h, stride_w, pad_h, pad_w, acc)
    return acc


def requantize(accumulator: DeviceArray, bias_terms: np.ndarray, multipliers: np.ndarray,
               zero_point: int, quant_min: int, quant_max: int, dtype) -> DeviceArray:
    """Levels ``clamp(round((acc + bias_terms[o]) * multipliers[o]) + zero_point)``,
    channel ``o`` along axis 1."""
    _check_channels("requantize", accumulator, bias_terms, multipliers)
    acc = contiguous(accumulator)
    shape = tuple(acc.shape)
    out = empty(shape, dtype)
    _run(requantize_kernel, out.size, reshape(acc, (shape[0], shape[1], -1)),
         _vector(bias_terms, np.float32), _vector(multipliers, np.float32), int(zero_point),
         int(quant_min), int(quant_max), reshape(out, (shape[0], shape[1], -1)))
    return out


def accumulator_to_float(accumulator: DeviceArray, scale_products: np.ndarray,
                         bias: np.ndarray) -> DeviceArray:
    """float32 ``scale_products[o] * acc + bias[o]``, channel ``o`` along axis 1."""
    _check_channels("accumulator_to_float", accumulator, scale_products, bias)
    acc = contiguous(accumulator)
    shape = tuple(acc.shape)
    out = empty(shape, np.float32)
    _run(accumulator_to_float_kernel, out.size, reshape(acc, (shape[0], shape[1], -1)),
         _vector(scale_products, np.float32), _vector(bias, np.float32),
         reshape(out, (shape[0], shape[1], -1)))
    return out


def _check_channels(name: str, accumulator, *vectors) -> None:
    """Each per-channel vector has one value per channel (axis 1) of the accumulator: the
    kernels index them without bounds checks."""
    channels = accumulator.shape[1]
    for vector in vectors:
        if np.size(vector) != channels:
            raise ValueError(f"{name}: {np.size(vector)} per-channel values for an "
                             f"accumulator of shape {tuple(accumulator.shape)} ({channels} "
                             "channels)")


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)
