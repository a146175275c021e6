"""Elementwise arithmetic, comparisons and activation functions (and their backward rules).

Each operation is a device function of one to three values (``*_element`` below); the
contiguous and strided kernels that run it over whole arrays, with numpy broadcasting and any
strides, are built from it in ``strided.py``. The public functions decide the output's
shape (``numpy.broadcast_shapes``) and dtype, then launch.

Dtypes follow numpy's rules, asked of the matching numpy ufunc: ``int64 + float32`` is
``float64``, ``int64 / int64`` is ``float64``, ``bool - bool`` is an error, a comparison is
``bool``. One exception: for inputs that are all ``bool`` numpy picks its smallest numeric
type (``exp(bool)`` is ``float16``, ``bool ** bool`` is ``int8``); here, as in PyTorch, that
becomes the default ``float32`` or ``int64``. A Python number next to an array is
*weak*, as in numpy and PyTorch: ``float32_array * 2.0`` stays ``float32``. (Tensors promote
their operands to one dtype before they get here; the rules matter for direct calls.)

The math functions spell out IEEE results (``log(0) = -inf``, ``sqrt(-1) = nan``) that the
GPU's libdevice gives anyway, because the simulator runs Python's ``math``, which raises.
"""

import builtins
import math
from numbers import Number

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import DeviceArray
from numbanet.kernels.cuda.memory import astype, empty, full
from numbanet.kernels.cuda.strided import run_elementwise

LARGEST_EXP_ARGUMENT = 709.782712893384  # log of the largest float64; exp overflows past it


# ----------------------------------------------------------------- device functions


@cuda.jit(device=True)
def add_element(a, b):
    return a + b


@cuda.jit(device=True)
def sub_element(a, b):
    return a - b


@cuda.jit(device=True)
def mul_element(a, b):
    return a * b


@cuda.jit(device=True)
def div_element(a, b):
    return a / b


@cuda.jit(device=True)
def pow_element(a, b):
    return a**b


@cuda.jit(device=True)
def maximum_element(a, b):
    """The larger of a and b; NaN wins (``a != a`` is true only for NaN), as in numpy."""
    return a if a > b or a != a else b


@cuda.jit(device=True)
def minimum_element(a, b):
    """The smaller of a and b; NaN wins, as in numpy."""
    return a if a < b or a != a else b


@cuda.jit(device=True)
def eq_element(a, b):
    return a == b


@cuda.jit(device=True)
def ne_element(a, b):
    return a != b


@cuda.jit(device=True)
def lt_element(a, b):
    return a < b


@cuda.jit(device=True)
def le_element(a, b):
    return a <= b


@cuda.jit(device=True)
def gt_element(a, b):
    return a > b


@cuda.jit(device=True)
def ge_element(a, b):
    return a >= b


@cuda.jit(device=True)
def logical_and_element(a, b):
    return a != 0 and b != 0


@cuda.jit(device=True)
def logical_or_element(a, b):
    return a != 0 or b != 0


@cuda.jit(device=True)
def neg_element(x):
    return -x


@cuda.jit(device=True)
def exp_element(x):
    """e**x; inf beyond the largest float64 argument."""
    if x > LARGEST_EXP_ARGUMENT:
        return math.inf
    return math.exp(x)


@cuda.jit(device=True)
def log_element(x):
    """Natural log; -inf at 0 and NaN below."""
    if x == 0:
        return -math.inf
    if x < 0:
        return math.nan
    return math.log(x)


@cuda.jit(device=True)
def sqrt_element(x):
    """Square root; NaN below 0."""
    if x < 0:
        return math.nan
    return math.sqrt(x)


@cuda.jit(device=True)
def abs_element(x):
    return builtins.abs(x)


@cuda.jit(device=True)
def sign_element(x):
    """-1, 0 or 1 by the sign of x; NaN stays NaN."""
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x == 0:
        return 0
    return x


@cuda.jit(device=True)
def relu_element(x):
    """max(x, 0); NaN stays NaN as in PyTorch."""
    return x if x > 0 or x != x else 0


@cuda.jit(device=True)
def sigmoid_element(x):
    """1 / (1 + e**-x), written so that neither branch can overflow."""
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    exp_x = math.exp(x)
    return exp_x / (1 + exp_x)


@cuda.jit(device=True)
def tanh_element(x):
    return math.tanh(x)


@cuda.jit(device=True)
def logical_not_element(x):
    return x == 0


@cuda.jit(device=True)
def where_element(condition, a, b):
    return a if condition != 0 else b


@cuda.jit(device=True)
def relu_backward_element(grad, x):
    """The gradient passes where the input was positive."""
    return grad if x > 0 else 0


@cuda.jit(device=True)
def sigmoid_backward_element(grad, y):
    """d sigmoid/dx = y (1 - y), with y the forward output."""
    return grad * y * (1 - y)


@cuda.jit(device=True)
def tanh_backward_element(grad, y):
    """d tanh/dx = 1 - y**2, with y the forward output."""
    return grad * (1 - y * y)


@cuda.jit(device=True)
def pass_where_at_least_element(grad, x, low):
    """The gradient of clamp's lower bound: passes where x >= low."""
    return grad if x >= low else 0


@cuda.jit(device=True)
def pass_where_at_most_element(grad, x, high):
    """The gradient of clamp's upper bound: passes where x <= high."""
    return grad if x <= high else 0


# ------------------------------------------------------------------------- binary


def add(a, b, out=None):
    """a + b."""
    return _binary(add_element, np.add, a, b, out)


def sub(a, b, out=None):
    """a - b."""
    return _binary(sub_element, np.subtract, a, b, out)


def mul(a, b, out=None):
    """a * b."""
    return _binary(mul_element, np.multiply, a, b, out)


def div(a, b, out=None):
    """a / b (true division: integers give floats)."""
    return _binary(div_element, np.true_divide, a, b, out)


def pow(a, b, out=None):
    """a ** b."""
    return _binary(pow_element, np.power, a, b, out)


def maximum(a, b, out=None):
    """The larger of a and b, NaN propagating."""
    return _binary(maximum_element, np.maximum, a, b, out)


def minimum(a, b, out=None):
    """The smaller of a and b, NaN propagating."""
    return _binary(minimum_element, np.minimum, a, b, out)


def eq(a, b, out=None):
    """a == b, as bool."""
    return _binary(eq_element, np.equal, a, b, out)


def ne(a, b, out=None):
    """a != b, as bool."""
    return _binary(ne_element, np.not_equal, a, b, out)


def lt(a, b, out=None):
    """a < b, as bool."""
    return _binary(lt_element, np.less, a, b, out)


def le(a, b, out=None):
    """a <= b, as bool."""
    return _binary(le_element, np.less_equal, a, b, out)


def gt(a, b, out=None):
    """a > b, as bool."""
    return _binary(gt_element, np.greater, a, b, out)


def ge(a, b, out=None):
    """a >= b, as bool."""
    return _binary(ge_element, np.greater_equal, a, b, out)


def logical_and(a, b, out=None):
    """a and b (nonzero is true), as bool."""
    return _binary(logical_and_element, np.logical_and, a, b, out)


def logical_or(a, b, out=None):
    """a or b (nonzero is true), as bool."""
    return _binary(logical_or_element, np.logical_or, a, b, out)


# -------------------------------------------------------------------------- unary


def neg(a, out=None):
    """-a (an error for bool, as in numpy)."""
    return _unary(neg_element, np.negative, a, out)


def exp(a, out=None):
    """e ** a."""
    return _unary(exp_element, np.exp, a, out)


def log(a, out=None):
    """Natural logarithm of a."""
    return _unary(log_element, np.log, a, out)


def sqrt(a, out=None):
    """Square root of a."""
    return _unary(sqrt_element, np.sqrt, a, out)


def abs(a, out=None):
    """|a|."""
    return _unary(abs_element, np.absolute, a, out)


def sign(a, out=None):
    """-1, 0 or 1 by the sign of a."""
    return _unary(sign_element, np.sign, a, out)


def relu(a, out=None):
    """max(a, 0)."""
    return _unary(relu_element, np.maximum, a, out)


def sigmoid(a, out=None):
    """1 / (1 + e ** -a)."""
    return _unary(sigmoid_element, np.exp, a, out)


def tanh(a, out=None):
    """Hyperbolic tangent of a."""
    return _unary(tanh_element, np.tanh, a, out)


def logical_not(a, out=None):
    """a == 0, as bool."""
    return _unary(logical_not_element, np.logical_not, a, out)


# -------------------------------------------------------------------------- other


def clamp(a, low=None, high=None):
    """a limited to [low, high]: ``minimum(maximum(a, low), high)``, in a's dtype; a bound
    that is None does not limit. NaN stays NaN."""
    result = a
    if low is not None:
        result = maximum(result, _in_dtype_of(a, low))
    if high is not None:
        result = minimum(result, _in_dtype_of(a, high))
    return astype(a, a.dtype) if result is a else result


def where(condition, a, b):
    """a where condition is true (nonzero), else b; all three broadcast together."""
    a, b = _as_device_operands(a, b)
    dtype = np.result_type(a.dtype, b.dtype)
    shape = np.broadcast_shapes(tuple(condition.shape), tuple(a.shape), tuple(b.shape))
    out = empty(shape, dtype)
    run_elementwise(where_element, out, [condition, a, b])
    return out


def relu_backward(grad, x):
    """grad * (x > 0): the gradient passes where relu's input was positive."""
    return _backward(relu_backward_element, grad, x)


def sigmoid_backward(grad, y):
    """grad * y * (1 - y), with y = sigmoid(x) the forward output."""
    return _backward(sigmoid_backward_element, grad, y)


def tanh_backward(grad, y):
    """grad * (1 - y * y), with y = tanh(x) the forward output."""
    return _backward(tanh_backward_element, grad, y)


def clamp_backward(grad, x, low=None, high=None):
    """grad where low <= x <= high, else 0; a bound that is None blocks nothing."""
    result = grad
    for bound, passes in ((low, pass_where_at_least_element), (high, pass_where_at_most_element)):
        if bound is None:
            continue
        (bound,) = _as_device_operands(_in_dtype_of(x, bound), like=x)
        out = empty(np.broadcast_shapes(tuple(result.shape), tuple(x.shape)), grad.dtype)
        run_elementwise(passes, out, [result, x, bound])
        result = out
    return astype(grad, grad.dtype) if result is grad else result


# ------------------------------------------------------------------------ helpers


def result_dtype(ufunc: np.ufunc, *dtypes: np.dtype) -> np.dtype:
    """The dtype numpy's ``ufunc`` gives for these input dtypes (float32 / int64 where
    numpy would turn only-bool inputs into float16 / int8)."""
    dtype = ufunc.resolve_dtypes((*dtypes, None))[-1]
    if dtype != np.bool_ and all(np.dtype(each) == np.bool_ for each in dtypes):
        return np.dtype(np.float32 if dtype.kind == "f" else np.int64)
    return dtype


def _in_dtype_of(array, bound):
    """A number bound converted to ``array``'s dtype (clamp keeps its input's dtype);
    an array bound unchanged."""
    return array.dtype.type(bound) if isinstance(bound, Number) else bound


def _binary(operation, ufunc, a, b, out):
    """Launch a two-operand elementwise operation with numpy's dtype and broadcasting."""
    a, b = _as_device_operands(a, b)
    dtype = result_dtype(ufunc, a.dtype, b.dtype)
    out = _output(out, np.broadcast_shapes(tuple(a.shape), tuple(b.shape)), dtype)
    run_elementwise(operation, out, [a, b])
    return out


def _unary(operation, ufunc, a, out):
    """Launch a one-operand elementwise operation; float-valued functions of integers or
    bools convert their input to the float result dtype first."""
    dtype = result_dtype(ufunc, *[a.dtype] * ufunc.nin)
    if dtype.kind == "f" and a.dtype != dtype:
        a = astype(a, dtype)
    out = _output(out, tuple(a.shape), dtype)
    run_elementwise(operation, out, [a])
    return out


def _backward(operation, grad, saved):
    """Launch a backward rule ``operation(grad, saved)``: the gradient's dtype, shapes
    broadcast."""
    out = empty(np.broadcast_shapes(tuple(grad.shape), tuple(saved.shape)), grad.dtype)
    run_elementwise(operation, out, [grad, saved])
    return out


def _output(out, shape: tuple[int, ...], dtype: np.dtype) -> DeviceArray:
    """A new output array, or the caller's ``out`` after checking its shape."""
    if out is None:
        return empty(shape, dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(out.shape)}, the result has shape {shape}")
    return out


def _as_device_operands(*values, like=None) -> list[DeviceArray]:
    """The values as device arrays; a Python number becomes a 0-d array of the dtype numpy
    gives it next to the arrays (weak promotion), e.g. 2.0 next to float32 is float32."""
    arrays = [value for value in values if not isinstance(value, Number)]
    arrays += [like] if like is not None else []
    if not arrays:
        raise TypeError("at least one operand must be a device array")
    array_dtype = np.result_type(*(array.dtype for array in arrays))
    return [
        full((), value, np.result_type(array_dtype, value)) if isinstance(value, Number)
        else value
        for value in values
    ]
