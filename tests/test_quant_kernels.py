"""The int8 kernels (CPU; ``test_quant_cuda.py`` runs the same cases on the CUDA
backend) against the independent numpy references of ``quant_reference.py``: the integers
must be equal exactly, float outputs bit for bit."""

import numpy as np
import pytest
import quant_reference as ref

from numbanet.kernels import cpu

CASE = ref.random_case()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quantize_per_channel_equals_reference(axis):
    values = CASE["values"]
    channels = values.shape[axis]
    scales, zero_points = CASE["scales"][:channels], CASE["zero_points"][:channels]
    got = cpu.quantize(values, scales, zero_points, axis, -128, 127, np.int8)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(
        got, ref.quantize(values, scales, zero_points, axis, -128, 127, np.int8))


def test_quantize_per_tensor_rounds_half_to_even_and_clamps():
    values = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e9, -1e9, np.inf, np.nan], np.float32)
    got = cpu.quantize(values, np.array([1.0]), np.array([10]), 0, 0, 255, np.uint8)
    np.testing.assert_array_equal(got, [10, 12, 12, 10, 8, 255, 0, 255, 10])


def test_dequantize_equals_reference():
    levels = ref.quantize(CASE["values"], CASE["scales"], CASE["zero_points"], 1, -128, 127,
                          np.int8)
    got = cpu.dequantize(levels, CASE["scales"], CASE["zero_points"], 1)
    np.testing.assert_array_equal(got, ref.dequantize(levels, CASE["scales"],
                                                      CASE["zero_points"], 1))


def test_int8_linear_accumulate_equals_reference():
    args = CASE["x"], CASE["x_zero_point"], CASE["weight"], CASE["weight_zero_points"]
    got = cpu.int8_linear_accumulate(*args)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref.linear_accumulate(*args))


def test_int8_linear_accumulate_parallel_path_equals_reference():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 128, (64, 784)).astype(np.uint8)
    weight = rng.integers(-128, 128, (128, 784)).astype(np.int8)
    zero_points = np.zeros(128, np.int64)
    np.testing.assert_array_equal(cpu.int8_linear_accumulate(x, 3, weight, zero_points),
                                  ref.linear_accumulate(x, 3, weight, zero_points))


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1)])
def test_int8_conv2d_accumulate_equals_reference(stride, padding):
    zero_points = CASE["weight_zero_points"][:4]
    got = cpu.int8_conv2d_accumulate(CASE["images"], 17, CASE["filters"], zero_points, stride,
                                     padding)
    np.testing.assert_array_equal(got, ref.conv2d_accumulate(
        CASE["images"], 17, CASE["filters"], zero_points, stride, padding))


@pytest.mark.parametrize("low", [0, 40])
def test_requantize_equals_reference(low):
    acc = ref.linear_accumulate(CASE["x"], CASE["x_zero_point"], CASE["weight"],
                                CASE["weight_zero_points"])
    args = acc, CASE["bias_terms"], CASE["multipliers"], 40, low, 255, np.uint8
    got = cpu.requantize(*args)
    np.testing.assert_array_equal(got, ref.requantize(*args))
    assert got.min() >= low


def test_requantize_four_dimensional_accumulator():
    acc = ref.conv2d_accumulate(CASE["images"], 17, CASE["filters"], 0, 1, 1)
    args = acc, CASE["bias_terms"][:4], CASE["multipliers"][:4], 5, 0, 255, np.uint8
    np.testing.assert_array_equal(cpu.requantize(*args), ref.requantize(*args))


def test_accumulator_to_float_equals_reference():
    acc = ref.linear_accumulate(CASE["x"], CASE["x_zero_point"], CASE["weight"],
                                CASE["weight_zero_points"])
    scale_products = CASE["multipliers"] * np.float32(0.1)
    got = cpu.accumulator_to_float(acc, scale_products, CASE["bias_terms"])
    np.testing.assert_array_equal(got, ref.accumulator_to_float(acc, scale_products,
                                                                CASE["bias_terms"]))
