"""Every formula of ``numbanet/kernels/formulas.py`` on the edge values of every dtype.

The edge values are +0, -0, +inf, -inf, NaN, subnormals, the smallest normal, the largest
finite number, magnitudes that overflow ``exp`` or underflow it, and ordinary numbers; for
integers zero, +-1, odd and even numbers of both signs and values beyond 2**31 and 2**53.
Binary formulas see every pair of them, ternary ones every value against a set of bounds.

- On the CPU (the normal suite): the contiguous and the strided loop give the same bits;
  stated expected values hold (``relu(-inf) = 0``, ``log(0) = -inf``, ``-7 // 2 = -4`` ...);
  and the results equal PyTorch's when it is installed.
- On CUDA (``-m cuda``, under ``NUMBA_ENABLE_CUDASIM=1`` without a GPU): the same stated
  values, and results bit-identical to the CPU's — NaN equal to NaN, the sign of zero
  compared.
"""

import itertools
import math
import os

import numpy as np
import pytest

import numbanet.kernels.cpu as cpu
from numbanet.kernels import formulas
from numbanet.kernels.formulas import FORMULAS

DTYPES = [np.bool_, np.int64, np.float32, np.float64]
NAMES = [formula.name for formula in FORMULAS]
INF, NAN = np.inf, np.nan


def edge_values(dtype) -> np.ndarray:
    """The values every formula is tried on, for one dtype."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.array([False, True])
    if dtype.kind == "i":
        return np.array([0, 1, -1, 2, -2, 3, -7, 7, 5, -5, 100, 2**31, -(2**31), 2**53 + 1,
                         2**62, -(2**62)], dtype=dtype)
    info = np.finfo(dtype)
    return np.array([
        0.0, -0.0, INF, -INF, NAN,
        info.smallest_subnormal, -info.smallest_subnormal, info.tiny, -info.tiny,
        info.max, -info.max,
        1.0, -1.0, 0.5, -0.5, 2.0, -2.5, 3.0, 7.0, -7.0, 5.5, -2.0,
        1e-30, -1e-30, 1e30, -1e30, 88.75, -104.0, 710.0, -746.0,
        0.3, -1.7, 12.345,  # ordinary numbers: rounded results of every function
    ], dtype=dtype)


BOUNDS = [(-1.0, 1.0), (0.0, 2.0), (-0.0, 0.0), (-INF, INF), (NAN, 1.0), (-1.0, NAN),
          (2.0, -2.0), (None, 0.5), (-0.5, None), (None, None)]
"""(low, high) pairs for clamp and clamp_backward; None is an absent bound."""


def operands(name: str, dtype) -> list[np.ndarray]:
    """The inputs of formula ``name`` on ``dtype``'s edge values: every value for a unary
    formula, every pair for a binary one (and for where: every pair under both conditions).
    Integer powers skip negative exponents (refused above the kernels, as in PyTorch)."""
    values = edge_values(dtype)
    arity = formulas.BY_NAME[name].arity
    if arity == 1:
        return [values]
    if name == "where":
        pairs = np.array(list(itertools.product(values, values)), dtype=dtype)
        condition = np.arange(len(pairs)) % 3 == 0
        return [condition, pairs[:, 0].copy(), pairs[:, 1].copy()]
    pairs = np.array(list(itertools.product(values, values)), dtype=dtype)
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    if name == "pow" and np.dtype(dtype).kind == "i":
        a, b = a[b >= 0], b[b >= 0]
    return [a, b]


def clamp_operands(dtype):
    """(x, low, high) triples for clamp: every edge value against every pair of BOUNDS
    that the dtype can hold."""
    values = edge_values(dtype)
    for low, high in BOUNDS:
        numbers = [bound for bound in (low, high) if bound is not None]
        if np.dtype(dtype).kind != "f" and any(
                bound != bound or bound in (INF, -INF) or bound % 1 for bound in numbers):
            continue
        yield values, low, high


def run(backend, name: str, arrays: list[np.ndarray], to_device=None, to_host=None):
    """Formula ``name`` through ``backend``'s contract function, on host arrays."""
    to_device = to_device or (lambda array: array)
    to_host = to_host or (lambda array: array)
    function = getattr(backend, name)
    with np.errstate(all="ignore"):
        return to_host(function(*[to_device(array) for array in arrays]))


def run_clamp(backend, name, values, low, high, to_device=None, to_host=None):
    to_device = to_device or (lambda array: array)
    to_host = to_host or (lambda array: array)
    x = to_device(values)
    with np.errstate(all="ignore"):
        if name == "clamp":
            return to_host(backend.clamp(x, low, high))
        grad = to_device(np.linspace(-2, 2, values.size).astype(values.dtype))
        return to_host(backend.clamp_backward(grad, x, low, high))


def valid(name: str, dtype) -> bool:
    """Whether the formula has a result dtype for these operands (numpy's loops)."""
    if formulas.BY_NAME[name].dtype_rule is None:
        return True
    try:
        formulas.result_dtype(name, *[np.dtype(dtype)] * formulas.BY_NAME[name].arity)
    except TypeError:
        return False
    return True


def assert_same_bits(actual: np.ndarray, expected: np.ndarray, where: str = ""):
    """Same dtype, shape and values: NaN equals NaN, +0 differs from -0."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (where, actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, where
    if actual.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=where)
        return
    both_nan = np.isnan(actual) & np.isnan(expected)
    same = both_nan | ((actual == expected) & (np.signbit(actual) == np.signbit(expected)))
    bad = np.flatnonzero(~same)
    assert bad.size == 0, (
        f"{where}: at {bad[:8].tolist()} got {actual.ravel()[bad[:8]].tolist()}, "
        f"expected {expected.ravel()[bad[:8]].tolist()}")


def non_contiguous(array: np.ndarray) -> np.ndarray:
    """The same values as a strided view (every other element of a longer array)."""
    longer = np.zeros(2 * array.size, dtype=array.dtype)
    longer[::2] = array
    return longer[::2]


# ------------------------------------------------------------------ CPU: the two loops


CASES = [(name, dtype) for name in NAMES if name not in ("clamp", "clamp_backward")
         for dtype in DTYPES
         if formulas.BY_NAME[name].section != "backward" or np.dtype(dtype).kind == "f"]
"""Every formula on every dtype (backward rules on floats: gradients are floats)."""


@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{np.dtype(d)}" for n, d in CASES])
def test_cpu_strided_loop_gives_the_contiguous_loops_bits(name, dtype):
    arrays = operands(name, dtype)
    if not valid(name, dtype):
        with pytest.raises(TypeError):
            run(cpu, name, arrays)
        return
    contiguous = run(cpu, name, arrays)
    strided = run(cpu, name, [non_contiguous(array) for array in arrays])
    assert_same_bits(strided, contiguous, name)


ROW_CASES = [(name, dtype) for name, dtype in CASES
             if formulas.BY_NAME[name].arity == 2 and np.dtype(dtype).kind == "f"
             and valid(name, dtype)]


@pytest.mark.parametrize("name, dtype", ROW_CASES, ids=[f"{n}-{np.dtype(d)}" for n, d in ROW_CASES])
def test_cpu_row_broadcast_loop_gives_the_contiguous_loops_bits(name, dtype):
    """``x + bias``: a row met by every row of a matrix runs a loop of its own
    (``rows_right``); on every pair of edge values it gives the flat loop's bits (and in
    place, ``out=``, where the result keeps the operands' dtype)."""
    values = edge_values(dtype)
    rows = np.repeat(values, len(values)).reshape(len(values), len(values))  # row i: v_i
    expected = run(cpu, name, [rows.ravel(), np.tile(values, len(values))])
    assert_same_bits(run(cpu, name, [rows, values]), expected.reshape(rows.shape), name)
    if formulas.BY_NAME[name].section == "binary" and expected.dtype == dtype:  # out=
        into = rows.copy()
        with np.errstate(all="ignore"):
            getattr(cpu, name)(into, values, out=into)
        assert_same_bits(into, expected.reshape(rows.shape), f"{name} out=")


@pytest.mark.parametrize("name", ["clamp", "clamp_backward"])
@pytest.mark.parametrize("dtype", DTYPES[1:])
def test_cpu_clamp_number_bounds_give_the_array_bounds_bits(name, dtype):
    for values, low, high in clamp_operands(dtype):
        with_numbers = run_clamp(cpu, name, values, low, high)
        as_arrays = [None if bound is None else np.full(values.shape, bound, values.dtype)
                     for bound in (low, high)]
        with_arrays = run_clamp(cpu, name, non_contiguous(values), *as_arrays)
        assert_same_bits(with_arrays, with_numbers, f"{name} {low} {high}")


# ---------------------------------------------------------------- stated values


def f32(*values):
    return np.array(values, dtype=np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


STATED = [
    ("relu", [f32(-INF, -1.0, -0.0, 0.0, 2.5, NAN)], f32(0.0, 0.0, -0.0, 0.0, 2.5, NAN)),
    ("relu", [i64(-3, 0, 5)], i64(0, 0, 5)),
    ("sigmoid", [f32(-INF, INF, 0.0, NAN, -1000.0, 1000.0)],
     f32(0.0, 1.0, 0.5, NAN, 0.0, 1.0)),
    ("exp", [f32(INF, -INF, 0.0, 1000.0, NAN)], f32(INF, 0.0, 1.0, INF, NAN)),
    ("log", [f32(0.0, -0.0, -1.0, 1.0, INF, NAN)], f32(-INF, -INF, NAN, 0.0, INF, NAN)),
    ("sqrt", [f32(-1.0, -0.0, 4.0, INF, -INF)], f32(NAN, -0.0, 2.0, INF, NAN)),
    ("tanh", [f32(INF, -INF, -0.0)], f32(1.0, -1.0, -0.0)),
    ("sin", [f32(0.0, -0.0, INF, -INF, NAN)], f32(0.0, -0.0, NAN, NAN, NAN)),
    ("cos", [f32(0.0, -0.0, INF, -INF, NAN)], f32(1.0, 1.0, NAN, NAN, NAN)),
    ("erf", [f32(0.0, -0.0, INF, -INF, NAN)], f32(0.0, -0.0, 1.0, -1.0, NAN)),
    ("tan", [f32(0.0, -0.0, INF, -INF, NAN)], f32(0.0, -0.0, NAN, NAN, NAN)),
    ("asin", [f32(0.0, -0.0, 1.0, -1.0, 1.5, INF, NAN)],
     f32(0.0, -0.0, np.pi / 2, -np.pi / 2, NAN, NAN, NAN)),
    ("acos", [f32(1.0, -1.0, 0.0, -1.5, INF, NAN)], f32(0.0, np.pi, np.pi / 2, NAN, NAN, NAN)),
    ("atan", [f32(0.0, -0.0, INF, -INF, NAN)], f32(0.0, -0.0, np.pi / 2, -np.pi / 2, NAN)),
    ("sinh", [f32(0.0, -0.0, 100.0, -100.0, INF, -INF, NAN)],
     f32(0.0, -0.0, INF, -INF, INF, -INF, NAN)),
    ("sinh", [np.array([710.0, 711.0, -711.0, 1e300])],
     np.array([math.sinh(710.0), INF, -INF, INF])),
    ("cosh", [f32(0.0, -0.0, 100.0, -100.0, INF, -INF, NAN)],
     f32(1.0, 1.0, INF, INF, INF, INF, NAN)),
    ("cosh", [np.array([-711.0, 1e300])], np.array([INF, INF])),
    ("asinh", [f32(0.0, -0.0, INF, -INF, NAN)], f32(0.0, -0.0, INF, -INF, NAN)),
    ("atanh", [f32(0.0, -0.0, 1.0, -1.0, 2.0, -INF, NAN)],
     f32(0.0, -0.0, INF, -INF, NAN, NAN, NAN)),
    ("exp2", [f32(0.0, 3.0, -1.0, INF, -INF, 128.0, NAN)],
     f32(1.0, 8.0, 0.5, INF, 0.0, INF, NAN)),
    ("exp2", [np.array([1023.0, 1024.0, -1075.0, 2000.0])],
     np.array([2.0**1023, INF, 0.0, INF])),
    ("expm1", [f32(0.0, -0.0, INF, -INF, 1000.0, NAN)], f32(0.0, -0.0, INF, -1.0, INF, NAN)),
    ("log2", [f32(0.0, -0.0, -1.0, 8.0, INF, NAN)], f32(-INF, -INF, NAN, 3.0, INF, NAN)),
    ("log10", [f32(0.0, -0.0, -1.0, 100.0, INF, NAN)], f32(-INF, -INF, NAN, 2.0, INF, NAN)),
    ("log1p", [f32(0.0, -0.0, -1.0, -2.0, INF, -INF, NAN)],
     f32(0.0, -0.0, -INF, NAN, INF, NAN, NAN)),
    ("floor", [f32(-0.5, 0.5, -0.0, 2.0, -2.0, INF, -INF, NAN, 1e30)],
     f32(-1.0, 0.0, -0.0, 2.0, -2.0, INF, -INF, NAN, 1e30)),
    ("ceil", [f32(-0.5, 0.5, -0.0, 2.0, -2.0, INF, -INF, NAN)],
     f32(-0.0, 1.0, -0.0, 2.0, -2.0, INF, -INF, NAN)),
    ("round", [f32(0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.4, 0.49999997, INF, NAN)],
     f32(0.0, 2.0, 2.0, -0.0, -2.0, -2.0, -0.0, 0.0, INF, NAN)),
    ("round", [np.array([4503599627370495.5, -4503599627370494.5, 2.0**60])],
     np.array([4503599627370496.0, -4503599627370494.0, 2.0**60])),
    ("trunc", [f32(-0.5, 2.7, -2.7, -0.0, INF, -INF, NAN)],
     f32(-0.0, 2.0, -2.0, -0.0, INF, -INF, NAN)),
    ("frac", [f32(-0.5, 2.75, -2.75, -0.0, -3.0, INF, -INF, NAN, 1e30)],
     f32(-0.5, 0.75, -0.75, 0.0, 0.0, NAN, NAN, NAN, 0.0)),
    ("reciprocal", [f32(2.0, -4.0, 0.0, -0.0, INF, -INF, NAN)],
     f32(0.5, -0.25, INF, -INF, 0.0, -0.0, NAN)),
    ("reciprocal", [i64(2, 0)], np.array([0.5, INF])),
    ("rsqrt", [f32(4.0, 0.0, -0.0, -1.0, INF, -INF, NAN)],
     f32(0.5, INF, -INF, NAN, 0.0, NAN, NAN)),
    ("square", [f32(3.0, -0.0, -INF, NAN, 1e30)], f32(9.0, 0.0, INF, NAN, INF)),
    ("square", [i64(-3, 2**32)], i64(9, 0)),
    ("isnan", [f32(NAN, INF, -INF, 0.0, -0.0, 1.0)],
     np.array([True, False, False, False, False, False])),
    ("isnan", [i64(0, -1)], np.array([False, False])),
    ("isinf", [f32(NAN, INF, -INF, 0.0, 3e38)], np.array([False, True, True, False, False])),
    ("isinf", [np.array([True, False])], np.array([False, False])),
    ("isfinite", [f32(NAN, INF, -INF, 0.0, 3e38)], np.array([False, False, False, True, True])),
    ("isfinite", [i64(2**62, -1)], np.array([True, True])),
    ("abs", [f32(-0.0, -INF, -2.0)], f32(0.0, INF, 2.0)),
    ("sign", [f32(NAN, -0.0, 0.0, -3.0, INF)], f32(0.0, 0.0, 0.0, -1.0, 1.0)),
    ("neg", [f32(0.0, -INF)], f32(-0.0, INF)),
    ("div", [f32(1.0, -1.0, 0.0, 1.0), f32(0.0, 0.0, 0.0, -0.0)], f32(INF, -INF, NAN, -INF)),
    ("maximum", [f32(NAN, 1.0, 2.0), f32(1.0, NAN, -INF)], f32(NAN, NAN, 2.0)),
    ("minimum", [f32(NAN, 1.0, 2.0), f32(1.0, NAN, -INF)], f32(NAN, NAN, -INF)),
    ("floor_divide", [i64(-7, 7, -7, 7), i64(2, 2, -2, -2)], i64(-4, 3, 3, -4)),
    ("floor_divide", [f32(-7.0, 5.5, 1.0, -1.0, 0.0, 5.0, -5.0), f32(2, -2, 0, 0, 0, INF, INF)],
     f32(-4.0, -3.0, INF, -INF, NAN, 0.0, -1.0)),
    ("remainder", [i64(-7, 7, -7, 7), i64(2, 2, -2, -2)], i64(1, 1, -1, -1)),
    ("remainder", [f32(-7.0, 5.5, -5.5, -4.0, 4.0, 1.0, 5.0, -5.0, INF),
                   f32(2.0, -2.0, 2.0, 2.0, -2.0, 0.0, INF, INF, 2.0)],
     f32(1.0, -0.5, 0.5, -0.0, 0.0, NAN, 5.0, INF, NAN)),
    ("bitwise_and", [i64(12, -1), i64(10, 6)], i64(8, 6)),
    ("bitwise_or", [i64(12, -8), i64(10, 1)], i64(14, -7)),
    ("bitwise_xor", [i64(12, -1), i64(10, 0)], i64(6, -1)),
    ("bitwise_not", [i64(5, 0, -1)], i64(-6, -1, 0)),
    ("bitwise_not", [np.array([True, False])], np.array([False, True])),
    ("bitwise_and", [np.array([True, True, False]), np.array([True, False, False])],
     np.array([True, False, False])),
    ("bitwise_xor", [np.array([True, True, False]), np.array([True, False, False])],
     np.array([False, True, False])),
    ("relu_backward", [f32(1.5, 1.5, 1.5, 1.5), f32(NAN, 0.0, -0.0, 2.0)],
     f32(1.5, 0.0, 0.0, 1.5)),
    ("sigmoid_backward", [f32(2.0, 1.0), f32(0.5, 1.0)], f32(0.5, 0.0)),
    ("tanh_backward", [f32(2.0, 3.0), f32(0.5, -1.0)], f32(1.5, 0.0)),
    ("where", [np.array([True, False]), f32(1.0, 2.0), f32(NAN, -0.0)], f32(1.0, -0.0)),
    ("pow", [f32(0.0, 0.0, 2.0, -8.0, NAN), f32(-1.0, 0.0, 10.0, 1 / 3, 0.0)],
     f32(INF, 1.0, 1024.0, NAN, 1.0)),
]

STATED_CLAMP = [
    ("clamp", f32(NAN, -0.0, 5.0, -5.0), 0.0, 2.0, f32(NAN, -0.0, 2.0, 0.0)),
    ("clamp", f32(1.0, NAN), NAN, None, f32(NAN, NAN)),
    ("clamp", f32(1.0, 3.0), None, 2.0, f32(1.0, 2.0)),
    ("clamp", f32(1.0, 3.0), 2.5, 1.0, f32(1.0, 1.0)),  # low > high: every value is high
    ("clamp", i64(-7, 0, 9), -2, 5, i64(-2, 0, 5)),
    # the upstream gradient is linspace(-2, 2): [-2, -2/3, 2/3, 2]
    ("clamp_backward", f32(1.0, NAN, -5.0, 2.0), 0.0, 2.0, f32(-2.0, 0.0, 0.0, 2.0)),
]


def stated_ids(cases):
    return [f"{case[0]}-{index}" for index, case in enumerate(cases)]


@pytest.mark.parametrize("name, arrays, expected", STATED, ids=stated_ids(STATED))
def test_cpu_stated_values(name, arrays, expected):
    assert_same_bits(run(cpu, name, arrays), expected, name)


@pytest.mark.parametrize("name, values, low, high, expected", STATED_CLAMP,
                         ids=stated_ids(STATED_CLAMP))
def test_cpu_stated_clamp_values(name, values, low, high, expected):
    assert_same_bits(run_clamp(cpu, name, values, low, high), expected, name)


def test_every_formula_has_stated_values():
    stated = {case[0] for case in STATED} | {case[0] for case in STATED_CLAMP}
    unstated = {"add", "sub", "mul", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                "logical_or", "logical_not"}  # IEEE comparisons and arithmetic: PyTorch's
    assert set(NAMES) - stated == unstated


def test_every_formula_documents_its_gradient():
    for formula in FORMULAS:
        assert formula.text, formula.name
        assert "Gradient:" in formula.function.__doc__, formula.name


# ------------------------------------------------------------------------ PyTorch


def torch_version(name: str):
    """PyTorch's function for formula ``name``, on torch tensors."""
    torch = pytest.importorskip("torch")
    aten = torch.ops.aten
    special = {
        "div": torch.true_divide, "neg": torch.neg, "logical_not": torch.logical_not,
        "relu_backward": lambda grad, x: aten.threshold_backward(grad, x, 0),
        "sigmoid_backward": aten.sigmoid_backward, "tanh_backward": aten.tanh_backward,
        "where": torch.where,
    }
    return special.get(name) or getattr(torch, name)


ROUNDED = {"exp", "log", "sqrt", "sigmoid", "tanh", "pow", "sigmoid_backward",
           "tanh_backward", "erf",
           "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "atanh",
           "exp2", "expm1", "log2", "log10", "log1p", "rsqrt"}
"""Formulas whose PyTorch versions round differently in the last place (SLEEF's vectorised
functions; float32 intermediates where numbanet computes float32 inputs in float64)."""


def assert_close_to_torch(actual: np.ndarray, expected: np.ndarray, name: str, ulps: int):
    """Values within ``ulps`` units in the last place (subnormal results, which keep fewer
    digits, within ``ulps`` units of the smallest normal number); NaN and infinities
    exactly."""
    if ulps == 0:
        return assert_same_bits(actual, expected, name)
    assert actual.dtype == expected.dtype
    both_nan = np.isnan(actual) & np.isnan(expected)
    exact = actual == expected
    magnitude = np.maximum(np.abs(actual), np.abs(expected)).astype(actual.dtype)
    spacing = np.spacing(np.maximum(magnitude, np.finfo(actual.dtype).tiny))
    with np.errstate(invalid="ignore"):
        close = np.isfinite(actual) & (np.abs(actual - expected) <= ulps * spacing)
    bad = np.flatnonzero(~(both_nan | exact | close))
    assert bad.size == 0, (f"{name}: at {bad[:8].tolist()} got {actual[bad[:8]].tolist()}, "
                           f"PyTorch {expected[bad[:8]].tolist()}")


def _quotient_is_finite(a, b):
    """Where a / b does not overflow: PyTorch's vectorised fmod (SLEEF) answers NaN
    elsewhere, C's fmod (numbanet, numpy, PyTorch's own scalar path) the exact remainder."""
    with np.errstate(all="ignore"):
        return ~(np.isinf(a / b) & np.isfinite(a) & (b != 0))


def _divisor_is_not_zero(a, b):
    """PyTorch raises ZeroDivisionError for integers (checked above the kernels)."""
    return (b != 0) | (b.dtype.kind == "f")


KEEP_FOR_TORCH = {
    "floor_divide": _divisor_is_not_zero,
    "remainder": lambda a, b: _divisor_is_not_zero(a, b) & _quotient_is_finite(a, b),
    # saved outputs only ever lie in the function's range
    "sigmoid_backward": lambda grad, y: (y >= 0) & (y <= 1),
    "tanh_backward": lambda grad, y: (y >= -1) & (y <= 1),
    # PyTorch computes (e^x +- e^-x) / 2, which overflows where e^x does, before the result
    # itself would (sinh(88.75) = 1.7e38 fits in float32): numbanet gives the finite value
    "sinh": lambda x: ~(np.abs(x) > np.log(np.finfo(x.dtype).max)),
    "cosh": lambda x: ~(np.abs(x) > np.log(np.finfo(x.dtype).max)),
}
"""Which operands to compare with PyTorch, where not all."""


@pytest.mark.torch
@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{np.dtype(d)}" for n, d in CASES])
def test_cpu_matches_pytorch(name, dtype):
    torch = pytest.importorskip("torch")
    if not valid(name, dtype):
        pytest.skip(f"{name} is not defined for {np.dtype(dtype)}")
    arrays = operands(name, dtype)
    result_kind = run(cpu, name, arrays).dtype.kind
    if np.dtype(dtype).kind in "bi" and result_kind == "f":
        pytest.skip("PyTorch computes integer inputs of float functions in float32")
    keep = KEEP_FOR_TORCH.get(name, lambda *arrays: slice(None))(*arrays)
    arrays = [array[keep] for array in arrays]
    try:
        expected = torch_version(name)(*[torch.from_numpy(a) for a in arrays]).numpy()
    except (RuntimeError, TypeError) as error:  # PyTorch defines no kernel for this dtype
        pytest.skip(f"PyTorch: {error}")
    actual = run(cpu, name, arrays)
    if name in ("maximum", "minimum"):  # PyTorch's own sign of a tie of zeros varies by path
        ties = (arrays[0] == arrays[1]) & (arrays[0] == 0)
        actual, expected = actual[~ties], expected[~ties]
    rounded = name in ROUNDED and actual.dtype.kind == "f"
    ulps = (4 if actual.dtype == np.float32 else 2) if rounded else 0
    assert_close_to_torch(actual, expected.astype(actual.dtype), name, ulps)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_cpu_clamp_matches_pytorch(dtype):
    torch = pytest.importorskip("torch")
    for values, low, high in clamp_operands(dtype):
        if low is None and high is None:  # PyTorch refuses; the kernel copies
            continue
        x = torch.from_numpy(values.copy()).requires_grad_(dtype != np.int64)
        expected = torch.clamp(x, low, high)  # integers by float bounds: float32 (promotion)
        actual = run_clamp(cpu, "clamp", values, low, high)
        assert_same_bits(actual, expected.detach().numpy().astype(dtype), f"clamp {low} {high}")
        if dtype == np.int64:
            continue
        grad = np.linspace(-2, 2, values.size).astype(dtype)
        expected.backward(torch.from_numpy(grad))
        assert_same_bits(run_clamp(cpu, "clamp_backward", values, low, high),
                         x.grad.numpy(), f"clamp_backward {low} {high}")


# ------------------------------------------------------------------ CUDA: same bits


@pytest.fixture(scope="module")
def gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        from numba import cuda

        if not cuda.is_available():
            pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")
    import numbanet.kernels.cuda as gpu

    return gpu


def on_gpu(gpu):
    return {"to_device": gpu.from_host, "to_host": gpu.to_host}


@pytest.mark.cuda
@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{np.dtype(d)}" for n, d in CASES])
def test_cuda_gives_the_cpus_bits(gpu, name, dtype):
    arrays = operands(name, dtype)
    if not valid(name, dtype):
        with pytest.raises(TypeError):
            run(gpu, name, arrays, **on_gpu(gpu))
        return
    assert_same_bits(run(gpu, name, arrays, **on_gpu(gpu)), run(cpu, name, arrays), name)


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["clamp", "clamp_backward"])
@pytest.mark.parametrize("dtype", DTYPES[1:])
def test_cuda_clamp_gives_the_cpus_bits(gpu, name, dtype):
    for values, low, high in clamp_operands(dtype):
        assert_same_bits(run_clamp(gpu, name, values, low, high, **on_gpu(gpu)),
                         run_clamp(cpu, name, values, low, high), f"{name} {low} {high}")


@pytest.mark.cuda
@pytest.mark.parametrize("name, arrays, expected", STATED, ids=stated_ids(STATED))
def test_cuda_stated_values(gpu, name, arrays, expected):
    assert_same_bits(run(gpu, name, arrays, **on_gpu(gpu)), expected, name)


@pytest.mark.cuda
@pytest.mark.parametrize("name, values, low, high, expected", STATED_CLAMP,
                         ids=stated_ids(STATED_CLAMP))
def test_cuda_stated_clamp_values(gpu, name, values, low, high, expected):
    assert_same_bits(run_clamp(gpu, name, values, low, high, **on_gpu(gpu)), expected, name)
