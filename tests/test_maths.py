"""The elementwise maths family (``numbanet/ops/maths.py``) and ``out=`` on the functions.

Values, dtypes and gradients of every op on every layout are in ``tests/test_opinfo.py``
and the kernels' edge values in ``tests/test_formulas.py``; here: stated values a reader can
check by hand, PyTorch's dtype rules, in-place forms, rounding to decimals, ``out=``'s
rules, and gradients at stated points against the derivative formulas.
"""

import math
import warnings

import numpy as np
import pytest

import numbanet

FAMILY = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "atanh", "exp2", "expm1",
          "log2", "log10", "log1p", "erf", "sign", "floor", "ceil", "round", "trunc", "frac",
          "reciprocal", "rsqrt", "square"]


def values(t: numbanet.Tensor) -> list:
    return t.tolist()


# ---- stated values --------------------------------------------------------------------------


STATED = [
    ("tan", [0.0, math.pi / 4], [0.0, 1.0]),
    ("asin", [0.0, 1.0, -1.0, 2.0], [0.0, math.pi / 2, -math.pi / 2, math.nan]),
    ("acos", [1.0, 0.0, -1.0, -1.5], [0.0, math.pi / 2, math.pi, math.nan]),
    ("atan", [0.0, 1.0, math.inf, -math.inf], [0.0, math.pi / 4, math.pi / 2, -math.pi / 2]),
    ("sinh", [0.0, 1.0, 1000.0, -1000.0], [0.0, math.sinh(1.0), math.inf, -math.inf]),
    ("cosh", [0.0, 1.0, -1000.0], [1.0, math.cosh(1.0), math.inf]),
    ("asinh", [0.0, math.sinh(2.0), -math.inf], [0.0, 2.0, -math.inf]),
    ("atanh", [0.0, 1.0, -1.0, 1.5], [0.0, math.inf, -math.inf, math.nan]),
    ("exp2", [0.0, 10.0, -1.0, -math.inf, 2000.0], [1.0, 1024.0, 0.5, 0.0, math.inf]),
    ("expm1", [0.0, 1e-10, -math.inf, 1000.0], [0.0, 1e-10, -1.0, math.inf]),
    ("log2", [1.0, 8.0, 0.0, -1.0, 0.5], [0.0, 3.0, -math.inf, math.nan, -1.0]),
    ("log10", [1.0, 1000.0, 0.0, -1.0], [0.0, 3.0, -math.inf, math.nan]),
    ("log1p", [0.0, 1e-10, -1.0, -2.0, math.e - 1], [0.0, 1e-10, -math.inf, math.nan, 1.0]),
    ("erf", [0.0, math.inf, -math.inf], [0.0, 1.0, -1.0]),
    ("sign", [-2.5, 0.0, 3.0, math.nan], [-1.0, 0.0, 1.0, 0.0]),
    ("floor", [1.5, -1.5, -0.5, 2.0, math.inf], [1.0, -2.0, -1.0, 2.0, math.inf]),
    ("ceil", [1.5, -1.5, 0.2, -0.5], [2.0, -1.0, 1.0, -0.0]),
    ("round", [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6],
     [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0]),
    ("trunc", [2.7, -2.7, -0.3, 1e20], [2.0, -2.0, -0.0, 1e20]),
    ("frac", [2.75, -2.75, 3.0, math.inf], [0.75, -0.75, 0.0, math.nan]),
    ("reciprocal", [2.0, -4.0, 0.0, -0.0, math.inf], [0.5, -0.25, math.inf, -math.inf, 0.0]),
    ("rsqrt", [4.0, 0.25, 0.0, -1.0, math.inf], [0.5, 2.0, math.inf, math.nan, 0.0]),
    ("square", [3.0, -1.5, 0.0], [9.0, 2.25, 0.0]),
]


@pytest.mark.parametrize("name, inputs, expected", STATED, ids=[case[0] for case in STATED])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stated_values_in_both_spellings(name, inputs, expected, dtype):
    x = numbanet.tensor(inputs, dtype=getattr(numbanet, dtype))
    for result in (getattr(x, name)(), getattr(numbanet, name)(x)):
        assert result.dtype is x.dtype
        np.testing.assert_allclose(result.numpy(), np.array(expected, dtype=dtype),
                                   rtol=1e-6, equal_nan=True)
        # the sign of zero too (round(-0.5) = -0, ceil(-0.5) = -0)
        assert list(np.signbit(result.numpy())) == list(np.signbit(np.array(expected))) or \
            np.isnan(np.array(expected)).any()


def test_round_halves_go_to_the_even_neighbour():
    x = numbanet.arange(-6, 7, dtype=numbanet.float64) + 0.5  # -5.5 ... 6.5
    assert values(x.round()) == [-6, -4, -4, -2, -2, 0, 0, 2, 2, 4, 4, 6, 6]


def test_round_to_decimals():
    x = numbanet.tensor([1.2345, -1.2355, 123.456, 1250.0, 0.0])
    np.testing.assert_allclose(x.round(decimals=2).numpy(), [1.23, -1.24, 123.46, 1250.0, 0.0],
                               rtol=1e-6)
    assert values(numbanet.round(x, decimals=-2)) == [0.0, -0.0, 100.0, 1200.0, 0.0]
    assert x.round(decimals=0).tolist() == x.round().tolist()


# ---- dtypes -------------------------------------------------------------------------------


FLOAT_VALUED = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "atanh", "exp2",
                "expm1", "log2", "log10", "log1p", "erf", "reciprocal", "rsqrt"]


@pytest.mark.parametrize("name", FLOAT_VALUED)
def test_integers_and_bools_compute_as_float32(name):
    for source in (numbanet.tensor([0, 1, 2]), numbanet.tensor([True, False, True])):
        result = getattr(numbanet, name)(source)
        assert result.dtype is numbanet.float32
        np.testing.assert_allclose(result.numpy(),
                                   getattr(numbanet, name)(source.float()).numpy())


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign", "square"])
def test_integer_results_stay_integers(name):
    x = numbanet.tensor([-3, 0, 4], dtype=numbanet.int32)
    result = getattr(x, name)()
    assert result.dtype is numbanet.int32
    expected = {"sign": [-1, 0, 1], "square": [9, 0, 16]}.get(name, [-3, 0, 4])
    assert values(result) == expected


def test_square_of_bools_is_int64_and_frac_refuses_integers():
    assert numbanet.tensor([True, False]).square().dtype is numbanet.int64
    with pytest.raises(RuntimeError, match="frac"):
        numbanet.tensor([1, 2]).frac()


def test_rounding_an_integer_copies_it():
    x = numbanet.tensor([1, 2])
    y = x.floor()
    y += 1
    assert values(x) == [1, 2]


# ---- in place -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY)
def test_in_place_forms_write_into_the_tensor(name):
    x = numbanet.tensor([0.25, 0.5, 0.75])
    expected = getattr(x, name)().tolist()
    same = getattr(x, f"{name}_")()
    assert same is x
    np.testing.assert_allclose(x.numpy(), expected)
    assert x._version == 1


def test_in_place_refuses_a_float_result_in_an_integer_tensor():
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        numbanet.tensor([1, 2]).tan_()
    x = numbanet.tensor([1, 2])
    assert x.floor_() is x and values(x) == [1, 2]


# ---- gradients at stated points --------------------------------------------------------------


DERIVATIVES = {
    "tan": lambda x: 1 + math.tan(x) ** 2,
    "asin": lambda x: 1 / math.sqrt(1 - x * x),
    "acos": lambda x: -1 / math.sqrt(1 - x * x),
    "atan": lambda x: 1 / (1 + x * x),
    "sinh": math.cosh,
    "cosh": math.sinh,
    "asinh": lambda x: 1 / math.sqrt(x * x + 1),
    "atanh": lambda x: 1 / (1 - x * x),
    "exp2": lambda x: 2**x * math.log(2),
    "expm1": math.exp,
    "log2": lambda x: 1 / (x * math.log(2)),
    "log10": lambda x: 1 / (x * math.log(10)),
    "log1p": lambda x: 1 / (1 + x),
    "erf": lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x),
    "sign": lambda x: 0.0,
    "floor": lambda x: 0.0,
    "ceil": lambda x: 0.0,
    "round": lambda x: 0.0,
    "trunc": lambda x: 0.0,
    "frac": lambda x: 1.0,
    "reciprocal": lambda x: -1 / (x * x),
    "rsqrt": lambda x: -0.5 * x**-1.5,
    "square": lambda x: 2 * x,
}


@pytest.mark.parametrize("name", FAMILY)
def test_gradient_is_the_stated_derivative(name):
    points = [0.3, 0.7, 0.45]
    x = numbanet.tensor(points, dtype=numbanet.float64, requires_grad=True)
    getattr(x, name)().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [DERIVATIVES[name](p) for p in points],
                               rtol=1e-12)


def test_every_maths_function_documents_its_gradient():
    from numbanet.ops import maths

    for name in FAMILY:
        if name in ("sign", "erf"):
            continue  # ops/elementwise.py, ops/special.py
        function = getattr(maths, name.capitalize())
        assert "Gradient:" in function.__doc__, name


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign"])
def test_step_function_gradient_is_zero_even_for_an_infinite_upstream(name):
    """PyTorch's backward of a step function is zeros_like(grad): 0, not inf * 0 = nan."""
    x = numbanet.tensor([0.5, -1.5], requires_grad=True)
    getattr(x, name)().backward(numbanet.tensor([math.inf, math.nan]))
    assert values(x.grad) == [0.0, 0.0]
    torch = pytest.importorskip("torch")
    t = torch.tensor([0.5, -1.5], requires_grad=True)
    getattr(t, name)().backward(torch.tensor([math.inf, math.nan]))
    assert t.grad.tolist() == values(x.grad)


# ---- out= -----------------------------------------------------------------------------------


def test_out_writes_into_the_given_tensor_and_returns_it():
    a, b = numbanet.tensor([1.0, 2.0]), numbanet.tensor([3.0, 4.0])
    out = numbanet.empty(2)
    for function, expected in ((numbanet.add, [4.0, 6.0]), (numbanet.sub, [-2.0, -2.0]),
                               (numbanet.mul, [3.0, 8.0]), (numbanet.div, [1 / 3, 0.5])):
        result = function(a, b, out=out)
        assert result is out
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert values(numbanet.add(a, b, alpha=2, out=out)) == [7.0, 10.0]
    assert values(numbanet.tan(numbanet.zeros(2), out=out)) == [0.0, 0.0]


def test_out_of_matmul():
    a = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = numbanet.zeros(2, 2)
    assert numbanet.matmul(a, a, out=out) is out
    assert values(out) == [[7.0, 10.0], [15.0, 22.0]]


def test_an_empty_out_is_resized_silently_a_full_one_with_a_warning():
    a = numbanet.ones(2, 3)
    out = numbanet.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numbanet.mul(a, 2.0, out=out)
    assert out.shape == (2, 3) and values(out) == [[2.0] * 3] * 2
    out = numbanet.zeros(4)
    with pytest.warns(UserWarning, match="An output with one or more elements was resized"):
        numbanet.add(a, a, out=out)
    assert out.shape == (2, 3)


def test_out_dtype_must_hold_the_result():
    a = numbanet.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        numbanet.div(a, a, out=numbanet.empty(2, dtype=numbanet.int64))
    wide = numbanet.empty(2, dtype=numbanet.float64)
    numbanet.add(a, a, out=wide)  # int64 fits into float64
    assert wide.dtype is numbanet.float64 and values(wide) == [2.0, 4.0]


def test_out_refuses_inputs_that_require_grad():
    a = numbanet.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"add\(\): functions with out=\.\.\. arguments "
                                           "don't support automatic differentiation"):
        numbanet.add(a, a, out=numbanet.empty(2))
    with numbanet.no_grad():
        out = numbanet.add(a, a, out=numbanet.empty(2))
    assert values(out) == [2.0, 2.0] and not out.requires_grad


def test_div_rounding_modes():
    a = numbanet.tensor([7, -7, 7, -7, 6])
    b = numbanet.tensor([2, 2, -2, -2, 3])
    assert values(numbanet.div(a, b, rounding_mode="trunc")) == [3, -3, -3, 3, 2]
    assert values(numbanet.div(a, b, rounding_mode="floor")) == [3, -4, -4, 3, 2]
    assert numbanet.div(a, b, rounding_mode="trunc").dtype is numbanet.int64
    x = numbanet.tensor([7.5, -7.5])
    assert values(x.div(2, rounding_mode="trunc")) == [3.0, -3.0]
    with pytest.raises(RuntimeError, match="rounding_mode"):
        a.div(b, rounding_mode="nearest")


def test_functions_take_a_number_for_either_operand():
    x = numbanet.tensor([1.0, 2.0])
    assert values(numbanet.sub(10, x)) == [9.0, 8.0]
    assert values(numbanet.div(1, x)) == [1.0, 0.5]
    assert values(numbanet.mul(3, x)) == [3.0, 6.0]
    with pytest.raises(TypeError):
        numbanet.add(1, 2)


# ---- against PyTorch ------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("dtype", ["int64", "bool", "int32"])
def test_dtype_rules_match_pytorch(name, dtype):
    torch = pytest.importorskip("torch")
    source = np.array([0, 1, 3], dtype=dtype)
    try:
        expected = getattr(torch, name)(torch.from_numpy(source))
    except RuntimeError:
        with pytest.raises(RuntimeError):
            getattr(numbanet, name)(numbanet.from_numpy(source))
        return
    result = getattr(numbanet, name)(numbanet.from_numpy(source))
    assert str(result.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-6)


@pytest.mark.torch
def test_out_rules_match_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (torch, numbanet):
        a = lib.ones(2, 3)
        out = lib.zeros(4)
        with pytest.warns(UserWarning, match="resized"):
            lib.add(a, a, out=out)
        assert tuple(out.shape) == (2, 3)
        with pytest.raises(RuntimeError, match="can't be cast"):
            lib.mul(a, 0.5, out=lib.zeros(2, 3, dtype=lib.int64))
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            lib.matmul(a.requires_grad_(), a.T, out=lib.zeros(2, 2))


# ---- isnan, isinf, isfinite --------------------------------------------------------------------


def test_isnan_isinf_isfinite():
    x = numbanet.tensor([1.0, math.nan, math.inf, -math.inf, -0.0])
    assert values(x.isnan()) == [False, True, False, False, False]
    assert values(numbanet.isinf(x)) == [False, False, True, True, False]
    assert values(numbanet.isfinite(x)) == [True, False, False, False, True]
    assert numbanet.isnan(x).dtype is numbanet.bool
    ints = numbanet.tensor([1, 2])
    assert values(ints.isnan()) == [False, False] and values(ints.isfinite()) == [True, True]
    y = numbanet.tensor([math.nan, 1.0], requires_grad=True)
    mask = y.isnan()
    assert not mask.requires_grad
    assert values(y[~mask] * 2) == [2.0]
