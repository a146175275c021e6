"""numpy references of the int8 kernels' formulas (``numbanet/kernels/cpu/quantized.py``),
written independently of the kernels, with the same float32 operations, so the integers
they give must be equal exactly. Shared by the CPU and the CUDA tests."""

import numpy as np


def quantize(values, scales, zero_points, axis, quant_min, quant_max, dtype):
    """clamp(rint(x * float32(1 / scale)) + zero_point) with one pair per index of axis."""
    values = np.asarray(values, np.float32)
    shape = [1] * values.ndim
    if np.size(scales) > 1:
        shape[axis] = -1
    inverse = (np.float32(1) / np.asarray(scales, np.float32)).reshape(shape)
    levels = np.rint(values * inverse).astype(np.int64) + np.asarray(zero_points).reshape(shape)
    return np.clip(levels, quant_min, quant_max).astype(dtype)


def dequantize(levels, scales, zero_points, axis):
    shape = [1] * levels.ndim
    if np.size(scales) > 1:
        shape[axis] = -1
    centered = (levels.astype(np.int64) - np.asarray(zero_points).reshape(shape))
    return centered.astype(np.float32) * np.asarray(scales, np.float32).reshape(shape)


def linear_accumulate(x, x_zero_point, weight, weight_zero_points):
    centered_x = x.astype(np.int64) - x_zero_point
    centered_w = weight.astype(np.int64) - np.asarray(weight_zero_points).reshape(-1, 1)
    return (centered_x @ centered_w.T).astype(np.int32)


def conv2d_accumulate(x, x_zero_point, weight, weight_zero_points, stride, padding):
    centered = np.pad(x.astype(np.int64) - x_zero_point,
                      ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    centered_w = weight.astype(np.int64) - np.asarray(weight_zero_points).reshape(-1, 1, 1, 1)
    batch, _, height, width = centered.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (height - kernel_h) // stride + 1
    out_w = (width - kernel_w) // stride + 1
    acc = np.zeros((batch, out_channels, out_h, out_w), np.int64)
    for oh in range(out_h):
        for ow in range(out_w):
            window = centered[:, :, oh * stride:oh * stride + kernel_h,
                              ow * stride:ow * stride + kernel_w]
            acc[:, :, oh, ow] = np.einsum("nchw,ochw->no", window, centered_w)
    return acc.astype(np.int32)


def requantize(acc, bias_terms, multipliers, zero_point, low, high, dtype):
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    scaled = ((acc.astype(np.float32) + np.asarray(bias_terms, np.float32).reshape(shape))
              * np.asarray(multipliers, np.float32).reshape(shape))
    return np.clip(np.rint(scaled).astype(np.int64) + zero_point, low, high).astype(dtype)


def accumulator_to_float(acc, scale_products, bias):
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    return (np.asarray(scale_products, np.float32).reshape(shape) * acc.astype(np.float32)
            + np.asarray(bias, np.float32).reshape(shape))


def random_case(seed: int = 0):
    """Levels, zero points and float32 multipliers of one small layer."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.integers(0, 256, (5, 37)).astype(np.uint8),
        "x_zero_point": 61,
        "weight": rng.integers(-128, 128, (7, 37)).astype(np.int8),
        "weight_zero_points": rng.integers(-3, 4, 7),
        "images": rng.integers(0, 128, (2, 3, 6, 7)).astype(np.uint8),
        "filters": rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8),
        "bias_terms": rng.normal(0, 300, 7).astype(np.float32),
        "multipliers": rng.uniform(1e-4, 3e-3, 7).astype(np.float32),
        "values": rng.normal(0, 3, (4, 7, 5)).astype(np.float32),
        "scales": rng.uniform(0.01, 0.1, 7),
        "zero_points": rng.integers(-5, 6, 7),
    }
