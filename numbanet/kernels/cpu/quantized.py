"""int8 kernels: quantize, dequantize, integer matmul / convolution, requantize.

An int8 model stores each real number ``r`` as a small integer ``q`` and two quantization
parameters, a ``scale`` (float) and a ``zero_point`` (the integer that stands for 0.0)::

    q = clamp(round(r / scale) + zero_point, quant_min, quant_max)      (quantize)
    r ≈ (q - zero_point) * scale                                        (dequantize)

A quantized Linear layer then multiplies *integers*. With ``x`` quantized by
``(s_x, z_x)`` and weight row ``o`` by ``(s_w[o], z_w[o])``::

    y[n, o] = bias[o] + sum_k x[n, k] * w[o, k]
            ≈ bias[o] + s_x * s_w[o] * acc[n, o],
    acc[n, o] = sum_k (q_x[n, k] - z_x) * (q_w[o, k] - z_w[o])            (int32)

``acc`` is exact integer arithmetic: the products of two 8-bit numbers need 16 bits, and a
sum of up to 2^15 of them fits the int32 *accumulator*. The float work left is one
multiply per output, *requantization* to the output's own ``(s_y, z_y)``::

    q_y[n, o] = clamp(round((acc[n, o] + bias[o] / (s_x s_w[o])) * (s_x s_w[o] / s_y)) + z_y)

(``round`` is round-half-to-even, as ``nearbyint`` in PyTorch's fbgemm backend, whose order
of float32 operations this follows). Every float here is float32 and the multipliers are
computed once on the host (``numbanet/ao/quantization/ops.py``), so a numpy reference with
the same float32 operations gives *exactly* the same integers.

Centering: the kernels first subtract the zero points into int16 copies (``q - z`` is in
[-255, 255]), so each inner loop is a plain integer dot product that LLVM vectorises, and
padding pixels of a convolution are simply 0 (the real number 0.0).
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 20  # multiply-adds below which one thread is faster than two


@njit(cache=True, error_model="numpy")
def quantize_kernel(values, inverse_scales, zero_points, quant_min, quant_max, out):
    """``out[i, c, j] = clamp(round(values[i, c, j] * inverse_scales[c]) + zero_points[c],
    quant_min, quant_max)`` on (outer, channels, inner) arrays; NaN becomes the zero point
    (as PyTorch's ``nearbyint`` of NaN cast to an integer is undefined, numbanet picks 0.0)."""
    for i in range(values.shape[0]):
        for c in range(values.shape[1]):
            inverse = inverse_scales[c]
            zero_point = zero_points[c]
            for j in range(values.shape[2]):
                scaled = values[i, c, j] * inverse
                if scaled != scaled:
                    scaled = np.float32(0.0)
                scaled = min(max(scaled, np.float32(-2.0 ** 31)), np.float32(2.0 ** 31 - 128))
                level = round(scaled) + zero_point
                out[i, c, j] = min(max(level, quant_min), quant_max)


@njit(cache=True, error_model="numpy")
def dequantize_kernel(levels, scales, zero_points, out):
    """``out[i, c, j] = (levels[i, c, j] - zero_points[c]) * scales[c]`` in float32."""
    for i in range(levels.shape[0]):
        for c in range(levels.shape[1]):
            scale = scales[c]
            zero_point = zero_points[c]
            for j in range(levels.shape[2]):
                out[i, c, j] = np.float32(levels[i, c, j] - zero_point) * scale


@njit(cache=True, error_model="numpy")
def center(levels, zero_points, out):
    """``out[r, k] = levels[r, k] - zero_points[r]`` (int16) for a 2-D array of levels and
    one zero point per row (a single zero point is broadcast by the caller)."""
    for r in range(levels.shape[0]):
        zero_point = np.int16(zero_points[r])
        for k in range(levels.shape[1]):
            out[r, k] = np.int16(levels[r, k]) - zero_point


@njit(cache=True, error_model="numpy", inline="always")
def int_dot(a, b):
    """``sum_k a[k] * b[k]`` of two int16 rows, accumulated in int32."""
    total = np.int32(0)
    for k in range(a.shape[0]):
        total += np.int32(a[k]) * np.int32(b[k])
    return total


@njit(cache=True, error_model="numpy")
def linear_accumulate_rows(x_centered, w_centered, acc, row_start, row_stop):
    """``acc[n, o] = x_centered[n] · w_centered[o]`` for rows ``row_start..row_stop-1``."""
    for n in range(row_start, row_stop):
        x_row = x_centered[n]
        for o in range(w_centered.shape[0]):
            acc[n, o] = int_dot(x_row, w_centered[o])


@njit(cache=True, error_model="numpy")
def linear_accumulate_kernel(x_centered, w_centered, acc):
    """int32 ``acc = x_centered @ w_centered.T`` on one thread."""
    linear_accumulate_rows(x_centered, w_centered, acc, 0, x_centered.shape[0])


@njit(cache=True, parallel=True, error_model="numpy")
def linear_accumulate_parallel(x_centered, w_centered, acc, tasks):
    """:func:`linear_accumulate_kernel` with the rows split into ``tasks`` bands across
    cores."""
    rows = x_centered.shape[0]
    for task in prange(tasks):
        linear_accumulate_rows(x_centered, w_centered, acc, task * rows // tasks,
                               (task + 1) * rows // tasks)


@njit(cache=True, error_model="numpy")
def gather_centered_patches(image, zero_point, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                            pad_w, out_w, patches):
    """im2col of one quantized image, centered: ``patches[p, (c*kh + i)*kw + j] =
    image[c, oh*sh - ph + i, ow*sw - pw + j] - zero_point`` with ``p = oh*out_w + ow``,
    and 0 (the real number 0.0) where the window reaches into the padding."""
    channels, height, width = image.shape
    for p in range(patches.shape[0]):
        top = (p // out_w) * stride_h - pad_h
        left = (p % out_w) * stride_w - pad_w
        column = 0
        for c in range(channels):
            for i in range(kernel_h):
                h = top + i
                for j in range(kernel_w):
                    w = left + j
                    if 0 <= h < height and 0 <= w < width:
                        patches[p, column] = np.int16(image[c, h, w]) - zero_point
                    else:
                        patches[p, column] = 0
                    column += 1


@njit(cache=True, error_model="numpy")
def conv_accumulate_image(x, n, zero_point, w_centered, geometry, patches, acc):
    """``acc[n, o, p] = w_centered[o] · patches[p]`` for one image (patches gathered here)."""
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w = geometry
    gather_centered_patches(x[n], zero_point, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                            pad_w, out_w, patches)
    for o in range(w_centered.shape[0]):
        weights = w_centered[o]
        for p in range(patches.shape[0]):
            acc[n, o, p] = int_dot(weights, patches[p])


@njit(cache=True, error_model="numpy")
def conv_accumulate_kernel(x, zero_point, w_centered, geometry, patches, acc):
    """int32 ``acc[n, o, oh*out_w + ow]`` for every image, on one thread."""
    for n in range(x.shape[0]):
        conv_accumulate_image(x, n, zero_point, w_centered, geometry, patches[0], acc)


@njit(cache=True, parallel=True, error_model="numpy")
def conv_accumulate_parallel(x, zero_point, w_centered, geometry, patches, acc):
    """:func:`conv_accumulate_kernel` with one image per task, across cores (each image
    gathers its patches into its own scratch ``patches[n]``)."""
    for n in prange(x.shape[0]):
        conv_accumulate_image(x, n, zero_point, w_centered, geometry, patches[n], acc)


@njit(cache=True, error_model="numpy")
def requantize_kernel(acc, bias_terms, multipliers, zero_point, low, high, out):
    """``out[i, o, j] = clamp(round((acc[i, o, j] + bias_terms[o]) * multipliers[o]) +
    zero_point, low, high)``, in float32; ``low`` is the zero point when a ReLU is fused
    (everything below real 0.0 becomes 0.0)."""
    for i in range(acc.shape[0]):
        for o in range(acc.shape[1]):
            bias_term = bias_terms[o]
            multiplier = multipliers[o]
            for j in range(acc.shape[2]):
                scaled = (np.float32(acc[i, o, j]) + bias_term) * multiplier
                level = round(scaled) + zero_point
                out[i, o, j] = min(max(level, low), high)


@njit(cache=True, error_model="numpy")
def accumulator_to_float_kernel(acc, scale_products, bias, out):
    """``out[i, o, j] = scale_products[o] * acc[i, o, j] + bias[o]`` in float32."""
    for i in range(acc.shape[0]):
        for o in range(acc.shape[1]):
            scale = scale_products[o]
            shift = bias[o]
            for j in range(acc.shape[2]):
                out[i, o, j] = scale * np.float32(acc[i, o, j]) + shift


def _channels_view(a: np.ndarray, axis: int, channels: int) -> np.ndarray:
    """``a`` (C-contiguous) as (outer, channels, inner); a single channel when per tensor."""
    if channels == 1:
        return a.reshape(1, 1, -1)
    outer = int(np.prod(a.shape[:axis], dtype=np.int64))
    return a.reshape(outer, a.shape[axis], -1)


def quantize(a: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, axis: int,
             quant_min: int, quant_max: int, dtype) -> np.ndarray:
    """Levels ``clamp(round(a * (1 / scale)) + zero_point, quant_min, quant_max)`` of
    ``dtype``; ``scales`` / ``zero_points`` hold one value (per tensor) or one per index
    of ``axis`` (per channel)."""
    values = np.ascontiguousarray(a, dtype=np.float32)
    inverse = (np.float32(1.0) / np.asarray(scales, dtype=np.float32)).astype(np.float32)
    out = np.empty(values.shape, dtype=dtype)
    launch(quantize_kernel, _channels_view(values, axis, inverse.size), inverse,
           np.asarray(zero_points, dtype=np.int64), int(quant_min), int(quant_max),
           _channels_view(out, axis, inverse.size))
    return out


def dequantize(levels: np.ndarray, scales: np.ndarray, zero_points: np.ndarray,
               axis: int) -> np.ndarray:
    """float32 ``(levels - zero_point) * scale`` (one pair, or one per index of ``axis``)."""
    levels = np.ascontiguousarray(levels)
    scales = np.asarray(scales, dtype=np.float32)
    out = np.empty(levels.shape, dtype=np.float32)
    launch(dequantize_kernel, _channels_view(levels, axis, scales.size), scales,
           np.asarray(zero_points, dtype=np.int64), _channels_view(out, axis, scales.size))
    return out


def _centered(levels: np.ndarray, zero_points) -> np.ndarray:
    """int16 ``levels - zero_point`` row by row (levels viewed as 2-D)."""
    rows = np.ascontiguousarray(levels).reshape(levels.shape[0], -1)
    per_row = np.broadcast_to(np.asarray(zero_points, dtype=np.int64), (rows.shape[0],))
    out = np.empty(rows.shape, dtype=np.int16)
    launch(center, rows, np.ascontiguousarray(per_row), out)
    return out


def int8_linear_accumulate(x: np.ndarray, x_zero_point: int, weight: np.ndarray,
                           weight_zero_points: np.ndarray) -> np.ndarray:
    """int32 ``acc[n, o] = sum_k (x[n, k] - x_zero_point) * (weight[o, k] -
    weight_zero_points[o])``; x (N, K) uint8 or int8, weight (O, K) int8."""
    x_centered = _centered(x, x_zero_point)
    w_centered = _centered(weight, weight_zero_points)
    rows, depth = x_centered.shape
    acc = np.empty((rows, w_centered.shape[0]), dtype=np.int32)
    if rows * depth * w_centered.shape[0] >= PARALLEL_THRESHOLD and rows > 1:
        tasks = min(rows, 8)
        launch(linear_accumulate_parallel, x_centered, w_centered, acc, tasks)
    else:
        launch(linear_accumulate_kernel, x_centered, w_centered, acc)
    return acc


def int8_conv2d_accumulate(x: np.ndarray, x_zero_point: int, weight: np.ndarray,
                           weight_zero_points: np.ndarray, stride, padding) -> np.ndarray:
    """int32 ``acc[n, o, oh, ow] = sum over c, i, j of (x[n, c, oh*sh - ph + i, ow*sw - pw
    + j] - x_zero_point) * (weight[o, c, i, j] - weight_zero_points[o])``, padding counting
    as ``x_zero_point`` (real 0.0); x (N, C, H, W), weight (O, C, KH, KW)."""
    (stride_h, stride_w), (pad_h, pad_w) = _pair(stride), _pair(padding)
    batch, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    w_centered = _centered(weight, weight_zero_points)
    positions = out_h * out_w
    acc = np.empty((batch, out_channels, positions), dtype=np.int32)
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w)
    x = np.ascontiguousarray(x)
    parallel = batch > 1 and acc.size * w_centered.shape[1] >= PARALLEL_THRESHOLD
    patches = np.empty((batch if parallel else 1, positions, w_centered.shape[1]),
                       dtype=np.int16)
    kernel = conv_accumulate_parallel if parallel else conv_accumulate_kernel
    launch(kernel, x, np.int16(x_zero_point), w_centered, geometry, patches, acc)
    return acc.reshape(batch, out_channels, out_h, out_w)


def requantize(accumulator: np.ndarray, bias_terms: np.ndarray, multipliers: np.ndarray,
               zero_point: int, quant_min: int, quant_max: int, dtype) -> np.ndarray:
    """Levels ``clamp(round((acc + bias_terms[o]) * multipliers[o]) + zero_point)`` of
    ``dtype``, channel ``o`` along axis 1 of the accumulator (N, O) or (N, O, H, W)."""
    _check_channels("requantize", accumulator, bias_terms, multipliers)
    acc = np.ascontiguousarray(accumulator)
    out = np.empty(acc.shape, dtype=dtype)
    launch(requantize_kernel, acc.reshape(acc.shape[0], acc.shape[1], -1),
           np.asarray(bias_terms, dtype=np.float32), np.asarray(multipliers, dtype=np.float32),
           int(zero_point), int(quant_min), int(quant_max),
           out.reshape(acc.shape[0], acc.shape[1], -1))
    return out


def accumulator_to_float(accumulator: np.ndarray, scale_products: np.ndarray,
                         bias: np.ndarray) -> np.ndarray:
    """float32 ``scale_products[o] * acc + bias[o]``, channel ``o`` along axis 1 (the
    output of a *dynamically* quantized Linear, which stays float)."""
    _check_channels("accumulator_to_float", accumulator, scale_products, bias)
    acc = np.ascontiguousarray(accumulator)
    out = np.empty(acc.shape, dtype=np.float32)
    launch(accumulator_to_float_kernel, acc.reshape(acc.shape[0], acc.shape[1], -1),
           np.asarray(scale_products, dtype=np.float32), np.asarray(bias, dtype=np.float32),
           out.reshape(acc.shape[0], acc.shape[1], -1))
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
