"""The CUDA int8 kernels against the numpy references (and so against the CPU kernels,
which ``test_quant_kernels.py`` holds to the same references): equal integers, equal
floats. Runs under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) or on a GPU."""

import os

import numpy as np
import pytest
import quant_reference as ref


def _cuda_usable() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    from numba import cuda

    return cuda.is_available()


if not _cuda_usable():
    pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

import numbanet.kernels.cuda as gpu  # noqa: E402

pytestmark = pytest.mark.cuda
CASE = ref.random_case()


def _host(array):
    return gpu.to_host(array)


def test_quantize_and_dequantize_per_channel():
    values = CASE["values"]
    scales, zero_points = CASE["scales"], CASE["zero_points"]
    levels = gpu.quantize(gpu.from_host(values), scales, zero_points, 1, -128, 127, np.int8)
    expected = ref.quantize(values, scales, zero_points, 1, -128, 127, np.int8)
    np.testing.assert_array_equal(_host(levels), expected)
    np.testing.assert_array_equal(_host(gpu.dequantize(levels, scales, zero_points, 1)),
                                  ref.dequantize(expected, scales, zero_points, 1))


def test_quantize_rounds_half_to_even_and_clamps():
    values = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e9, -1e9, np.inf, np.nan], np.float32)
    got = gpu.quantize(gpu.from_host(values), np.array([1.0]), np.array([10]), 0, 0, 255,
                       np.uint8)
    np.testing.assert_array_equal(_host(got), [10, 12, 12, 10, 8, 255, 0, 255, 10])


def test_int8_linear_accumulate_then_requantize():
    args = CASE["x"], CASE["x_zero_point"], CASE["weight"], CASE["weight_zero_points"]
    acc = gpu.int8_linear_accumulate(gpu.from_host(args[0]), args[1], gpu.from_host(args[2]),
                                     args[3])
    expected = ref.linear_accumulate(*args)
    np.testing.assert_array_equal(_host(acc), expected)
    rest = CASE["bias_terms"], CASE["multipliers"], 40, 40, 255, np.uint8
    np.testing.assert_array_equal(_host(gpu.requantize(acc, *rest)),
                                  ref.requantize(expected, *rest))
    scale_products = CASE["multipliers"] * np.float32(0.1)
    np.testing.assert_array_equal(
        _host(gpu.accumulator_to_float(acc, scale_products, CASE["bias_terms"])),
        ref.accumulator_to_float(expected, scale_products, CASE["bias_terms"]))


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 0)])
def test_int8_conv2d_accumulate(stride, padding):
    zero_points = CASE["weight_zero_points"][:4]
    got = gpu.int8_conv2d_accumulate(gpu.from_host(CASE["images"]), 17,
                                     gpu.from_host(CASE["filters"]), zero_points, stride,
                                     padding)
    np.testing.assert_array_equal(_host(got), ref.conv2d_accumulate(
        CASE["images"], 17, CASE["filters"], zero_points, stride, padding))


def test_quantized_modules_give_the_same_integers_on_both_devices():
    import numbanet
    import numbanet.nn as nn
    from numbanet.ao import quantization

    numbanet.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3)).eval()
    model.qconfig = quantization.get_default_qconfig("x86")
    prepared = quantization.prepare(quantization.QuantWrapper(
        quantization.fuse_modules(model, [["0", "1"]])))
    x = numbanet.randn(2, 1, 4, 4)
    prepared(x)
    on_cpu = quantization.convert(prepared)
    expected = on_cpu.module(on_cpu.quant(x))
    on_gpu = quantization.convert(prepared).to("cuda")
    got = on_gpu.module(on_gpu.quant(x.to("cuda")))
    assert got.is_cuda and got.dtype is numbanet.quint8
    np.testing.assert_array_equal(got.int_repr().cpu().numpy(),
                                  expected.int_repr().numpy())
    dynamic = quantization.quantize_dynamic(nn.Sequential(nn.Linear(5, 3)), {nn.Linear})
    inputs = numbanet.randn(4, 5)
    expected_float = dynamic(inputs).numpy()
    np.testing.assert_array_equal(dynamic.to("cuda")(inputs.to("cuda")).cpu().numpy(),
                                  expected_float)
