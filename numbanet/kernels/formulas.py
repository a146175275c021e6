"""Every elementwise formula, written once, for both devices.

Each function below computes **one element** from one, two or three numbers, in plain
Python. It is compiled twice without being rewritten:

- for the CPU, ``numbanet.kernels.cpu.elementwise`` inlines it into a contiguous and a
  strided Numba loop, so the compiled loop is exactly the hand-written one;
- for CUDA, ``numbanet.kernels.cuda.elementwise`` compiles it as a
  ``cuda.jit(device=True)`` function that the grid-stride kernels of
  ``numbanet.kernels.cuda.strided`` call for every element.

:data:`FORMULAS` lists them with what each device needs to know around the formula: how
many operands, which dtype the result has, and which section of the kernel contract the op
belongs to. The contract (``numbanet.kernels.contract``), both devices' wrapper functions
and their exports are all generated from that list, so a new elementwise op is one formula
here (plus its differentiation rule, a ``Function`` in ``numbanet/ops``).

Float32 inputs of the transcendental functions and of the backward rules are computed in
float64 and rounded once when stored: that is what Python's ``math`` does under the
simulator, and compiled code then gives the same bits (Numba would otherwise compute
``1 - y`` in float64 but ``math.exp(y)`` in float32).

The numbers are IEEE's and PyTorch's at every edge: ``x / 0`` is ``inf`` or ``nan``,
``log(0)`` is ``-inf``, ``relu(-inf)`` is ``0``, NaN propagates through ``maximum`` and
``clamp``. Under ``NUMBA_ENABLE_CUDASIM=1`` the CUDA versions run as ordinary Python on
numpy scalars, where ``math.log(0)`` and ``math.exp(1000)`` raise instead of answering:
those cases are written out explicitly (``tests/test_formulas.py`` checks that both devices
give bit-identical results on the edge values).

A formula's docstring is what the stepper shows: its first paragraph is the forward
formula, its ``Gradient:`` line the backward rule that ``numbanet/ops`` implements.
"""

import builtins
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LARGEST_EXP_ARGUMENT = 709.782712893384
"""log of the largest float64: ``exp`` overflows to ``inf`` past it."""
LARGEST_SINH_ARGUMENT = 710.4758600739439
"""asinh of the largest float64: ``sinh`` and ``cosh`` overflow to ``+-inf`` past it."""
TWO_TO_THE_52 = 4503599627370496.0
"""From here on every float64 is a whole number: floor, ceil, round and trunc keep it.
(Their kernels give floats, integers as float64: integer tensors are whole already, and
``Tensor.floor()`` copies them without a kernel, keeping their dtype as PyTorch does.)"""


# ------------------------------------------------------------------- two operands


def add(x, y):
    """x + y

    Gradient: d/dx = 1, d/dy = 1 (the gradient passes to both operands unchanged).
    """
    return x + y


def sub(x, y):
    """x - y

    Gradient: d/dx = 1, d/dy = -1.
    """
    return x - y


def mul(x, y):
    """x * y

    Gradient: d/dx = y, d/dy = x.
    """
    return x * y


def div(x, y):
    """x / y (true division: integers give floats; x / 0 is inf, -inf or nan as in IEEE)

    Gradient: d/dx = 1 / y, d/dy = -x / y**2.
    """
    return x / y


def pow(x, y):  # noqa: A001 - the op's name
    """x ** y

    Gradient: d/dx = y * x**(y - 1), d/dy = x**y * log(x).
    """
    return x**y


def integer_pow(x, y):
    """x ** y for integers, by repeated squaring: exact, wrapping around on overflow as
    PyTorch does (negative exponents are refused before the kernel runs; the kernel gives 1)

    Gradient: none (integers only).
    """
    result = x - x + 1  # 1, in x's type
    while y > 0:
        if y & 1:
            result *= x
        y >>= 1
        if y > 0:
            x *= x
    return result


def maximum(x, y):
    """the larger of x and y; NaN wins (x != x holds only for NaN)

    Gradient: the gradient goes to the larger operand (split evenly on a tie).
    """
    return x if x > y or x != x else y


def minimum(x, y):
    """the smaller of x and y; NaN wins

    Gradient: the gradient goes to the smaller operand (split evenly on a tie).
    """
    return x if x < y or x != x else y


def floor_divide(x, y):
    """floor(x / y): rounds toward minus infinity, so -7 // 2 = -4 (x // 0 is inf or nan
    for floats; integer division by zero is refused before the kernel runs, the kernel
    gives 0)

    Gradient: 0 almost everywhere (a step function).
    """
    return x // y


def remainder(x, y):
    """x - floor(x / y) * y: the result has the divisor's sign, so -7 % 2 = 1 and
    5.5 % -2 = -0.5; a zero result keeps x's sign, as PyTorch's (C's fmod)

    Gradient: d/dx = 1, d/dy = -floor(x / y).
    """
    result = x % y
    return result if result != 0 else x * 0


def eq(x, y):
    """x == y (bool)

    Gradient: none (the result is bool).
    """
    return x == y


def ne(x, y):
    """x != y (bool)

    Gradient: none (the result is bool).
    """
    return x != y


def lt(x, y):
    """x < y (bool)

    Gradient: none (the result is bool).
    """
    return x < y


def le(x, y):
    """x <= y (bool)

    Gradient: none (the result is bool).
    """
    return x <= y


def gt(x, y):
    """x > y (bool)

    Gradient: none (the result is bool).
    """
    return x > y


def ge(x, y):
    """x >= y (bool)

    Gradient: none (the result is bool).
    """
    return x >= y


def logical_and(x, y):
    """x and y, nonzero meaning true (bool)

    Gradient: none (the result is bool).
    """
    return x != 0 and y != 0


def logical_or(x, y):
    """x or y, nonzero meaning true (bool)

    Gradient: none (the result is bool).
    """
    return x != 0 or y != 0


def bitwise_and(x, y):
    """x & y, bit by bit (integers); logical and for bool

    Gradient: none (integers only).
    """
    return x & y


def bitwise_or(x, y):
    """x | y, bit by bit (integers); logical or for bool

    Gradient: none (integers only).
    """
    return x | y


def bitwise_xor(x, y):
    """x ^ y, bit by bit (integers); logical exclusive or for bool

    Gradient: none (integers only).
    """
    return x ^ y


# -------------------------------------------------------------------- one operand


def neg(x):
    """-x

    Gradient: d/dx = -1.
    """
    return -x


def exp(x):
    """e ** x (inf past the largest float64 argument)

    Gradient: d/dx = e ** x, the output itself.
    """
    if x > LARGEST_EXP_ARGUMENT:
        return math.inf
    return math.exp(np.float64(x))


def sin(x):
    """sine of x (radians): nan at +-inf

    Gradient: d/dx = cos(x).
    """
    x = np.float64(x)
    return math.sin(x) if x - x == 0 else math.nan  # x - x is nan only for +-inf and nan


def cos(x):
    """cosine of x (radians): nan at +-inf

    Gradient: d/dx = -sin(x).
    """
    x = np.float64(x)
    return math.cos(x) if x - x == 0 else math.nan

def tan(x):
    """tangent of x (radians), sin(x) / cos(x): nan at +-inf

    Gradient: d/dx = 1 + tan(x) ** 2, from the output.
    """
    x = np.float64(x)
    return math.tan(x) if x - x == 0 else math.nan


def asin(x):
    """arcsine of x, in [-pi/2, pi/2]: nan outside [-1, 1]

    Gradient: d/dx = 1 / sqrt(1 - x ** 2).
    """
    x = np.float64(x)
    return math.asin(x) if x >= -1 and x <= 1 else math.nan


def acos(x):
    """arccosine of x, in [0, pi]: nan outside [-1, 1]

    Gradient: d/dx = -1 / sqrt(1 - x ** 2).
    """
    x = np.float64(x)
    return math.acos(x) if x >= -1 and x <= 1 else math.nan


def atan(x):
    """arctangent of x, in (-pi/2, pi/2): +-pi/2 at +-inf

    Gradient: d/dx = 1 / (1 + x ** 2).
    """
    return math.atan(np.float64(x))


def sinh(x):
    """hyperbolic sine of x, (e ** x - e ** -x) / 2: +-inf past the largest float64

    Gradient: d/dx = cosh(x).
    """
    x = np.float64(x)
    if builtins.abs(x) > LARGEST_SINH_ARGUMENT:  # +-inf, or a finite x it overflows at
        return math.copysign(math.inf, x)
    return math.sinh(x)


def cosh(x):
    """hyperbolic cosine of x, (e ** x + e ** -x) / 2: inf past the largest float64

    Gradient: d/dx = sinh(x).
    """
    x = np.float64(x)
    if builtins.abs(x) > LARGEST_SINH_ARGUMENT:
        return math.inf
    return math.cosh(x)


def asinh(x):
    """inverse hyperbolic sine of x, ln(x + sqrt(x ** 2 + 1))

    Gradient: d/dx = 1 / sqrt(x ** 2 + 1).
    """
    return math.asinh(np.float64(x))


def atanh(x):
    """inverse hyperbolic tangent of x, ln((1 + x) / (1 - x)) / 2: +-inf at +-1, nan
    outside [-1, 1]

    Gradient: d/dx = 1 / (1 - x ** 2).
    """
    x = np.float64(x)
    if x > -1 and x < 1:
        return math.atanh(x)
    if x == 1 or x == -1:
        return math.copysign(math.inf, x)
    return math.nan


def exp2(x):
    """2 ** x (inf from x = 1024 on, 0 at -inf)

    Gradient: d/dx = 2 ** x * ln(2), from the output.
    """
    x = np.float64(x)
    if x >= 1024:
        return math.inf
    return math.pow(2.0, x)


def expm1(x):
    """e ** x - 1, exact for small x where exp(x) - 1 would lose every digit (-1 at -inf)

    Gradient: d/dx = e ** x = output + 1.
    """
    x = np.float64(x)
    if x > LARGEST_EXP_ARGUMENT:
        return math.inf
    return math.expm1(x)


def log2(x):
    """base-2 logarithm of x: -inf at 0, nan below 0

    Gradient: d/dx = 1 / (x * ln(2)).
    """
    if x > 0:
        return math.log2(np.float64(x))
    if x == 0:
        return -math.inf
    return math.nan


def log10(x):
    """base-10 logarithm of x: -inf at 0, nan below 0

    Gradient: d/dx = 1 / (x * ln(10)).
    """
    if x > 0:
        return math.log10(np.float64(x))
    if x == 0:
        return -math.inf
    return math.nan


def log1p(x):
    """ln(1 + x), exact for small x where log(1 + x) would lose every digit: -inf at -1,
    nan below -1

    Gradient: d/dx = 1 / (1 + x).
    """
    if x > -1:
        return math.log1p(np.float64(x))
    if x == -1:
        return -math.inf
    return math.nan


def log(x):
    """natural logarithm of x: -inf at 0, nan below 0

    Gradient: d/dx = 1 / x.
    """
    if x > 0:
        return math.log(np.float64(x))
    if x == 0:
        return -math.inf
    return math.nan


def sqrt(x):
    """square root of x: nan below 0 (and sqrt(-0) = -0)

    Gradient: d/dx = 1 / (2 * sqrt(x)).
    """
    if x >= 0:
        return math.sqrt(x)
    return math.nan


def abs(x):  # noqa: A001 - the op's name
    """|x|

    Gradient: d/dx = sign(x) (0 at x = 0).
    """
    return builtins.abs(x)


def sign(x):
    """-1, 0 or 1 by the sign of x (0 for NaN, as PyTorch)

    Gradient: 0.
    """
    return int(x > 0) - int(x < 0)

def floor(x):
    """the largest whole number <= x (floor(-0.5) = -1, floor(-0) = -0; +-inf and nan stay)

    Gradient: 0 (a step function).
    """
    x = np.float64(x)
    if not builtins.abs(x) < TWO_TO_THE_52:  # already whole, or +-inf, or nan
        return x
    whole = np.float64(int(x))  # int() rounds toward zero
    if whole > x:
        whole -= 1
    return math.copysign(whole, x)  # the result has x's sign: floor(-0) = -0


def ceil(x):
    """the smallest whole number >= x (ceil(-0.5) = -0; +-inf and nan stay)

    Gradient: 0 (a step function).
    """
    x = np.float64(x)
    if not builtins.abs(x) < TWO_TO_THE_52:
        return x
    whole = np.float64(int(x))
    if whole < x:
        whole += 1
    return math.copysign(whole, x)


def round(x):  # noqa: A001 - the op's name
    """x rounded to the nearest whole number, halves to the even one: round(0.5) = 0,
    round(1.5) = 2, round(-2.5) = -2 (IEEE's rule, as PyTorch; +-inf and nan stay)

    Gradient: 0 (a step function).
    """
    x = np.float64(x)
    if not builtins.abs(x) < TWO_TO_THE_52:
        return x
    whole = int(x)
    rest = x - whole  # exact, in (-1, 1)
    if rest > 0.5 or (rest == 0.5 and whole & 1):
        whole += 1
    elif rest < -0.5 or (rest == -0.5 and whole & 1):
        whole -= 1
    return math.copysign(np.float64(whole), x)


def trunc(x):
    """x rounded toward zero: its whole part (trunc(-2.7) = -2; +-inf and nan stay)

    Gradient: 0 (a step function).
    """
    x = np.float64(x)
    if not builtins.abs(x) < TWO_TO_THE_52:
        return x
    return math.copysign(np.float64(int(x)), x)


def frac(x):
    """x - trunc(x): the fractional part, with x's sign (frac(-2.5) = -0.5; nan at +-inf)

    Gradient: d/dx = 1.
    """
    x = np.float64(x)
    if not builtins.abs(x) < TWO_TO_THE_52:
        return x - x  # 0 for whole numbers, nan for +-inf and nan
    return x - math.copysign(np.float64(int(x)), x)


def reciprocal(x):
    """1 / x: +-inf at +-0

    Gradient: d/dx = -1 / x ** 2 = -output ** 2.
    """
    return 1 / np.float64(x)


def rsqrt(x):
    """1 / sqrt(x): +-inf at +-0, 0 at inf, nan below 0

    Gradient: d/dx = -1 / (2 * x ** 1.5) = -output ** 3 / 2.
    """
    x = np.float64(x)
    if x > 0:
        return 1 / math.sqrt(x)
    if x == 0:
        return math.copysign(math.inf, x)
    return math.nan


def square(x):
    """x * x

    Gradient: d/dx = 2 * x.
    """
    return x * x


def relu(x):
    """max(x, 0): x where x is not negative, else 0 (NaN passes through, relu(-0) = -0)

    Gradient: d/dx = 1 where x > 0, else 0.
    """
    return 0 if x < 0 else x


def sigmoid(x):
    """1 / (1 + e ** -x), computed as e ** x / (1 + e ** x) for negative x so that e never
    overflows

    Gradient: d/dx = sigmoid(x) * (1 - sigmoid(x)), from the output.
    """
    x = np.float64(x)
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def tanh(x):
    """hyperbolic tangent of x: (e ** x - e ** -x) / (e ** x + e ** -x)

    Gradient: d/dx = 1 - tanh(x) ** 2, from the output.
    """
    return math.tanh(np.float64(x))


def erf(x):
    """the error function, 2 / sqrt(pi) * integral from 0 to x of e ** (-t * t) dt: an
    S-curve from -1 to 1 (GELU's exact form uses it)

    Gradient: d/dx = 2 / sqrt(pi) * e ** (-x * x).
    """
    return math.erf(np.float64(x))


def isnan(x):
    """whether x is NaN, the one value not equal to itself (bool; False for integers)

    Gradient: none (the result is bool).
    """
    return x != x


def isinf(x):
    """whether x is +inf or -inf (bool; False for integers)

    Gradient: none (the result is bool).
    """
    return x == math.inf or x == -math.inf


def isfinite(x):
    """whether x is neither +-inf nor NaN (bool; True for integers)

    Gradient: none (the result is bool).
    """
    return x == x and x != math.inf and x != -math.inf


def logical_not(x):
    """x == 0 (bool)

    Gradient: none (the result is bool).
    """
    return x == 0


def bitwise_not(x):
    """~x, every bit flipped (integers: ~x = -x - 1); logical not for bool

    Gradient: none (integers only).
    """
    return ~x


# ------------------------------------------------------------- backward rules, others


def relu_backward(grad, x):
    """grad where relu's input x was positive, else 0 (NaN inputs pass the gradient, as
    PyTorch's threshold_backward)

    Gradient: the rule of relu itself.
    """
    return 0 if x <= 0 else grad


def sigmoid_backward(grad, y):
    """grad * (1 - y) * y, with y = sigmoid(x) the forward output

    Gradient: the rule of sigmoid itself.
    """
    return np.float64(grad) * (1 - np.float64(y)) * np.float64(y)


def tanh_backward(grad, y):
    """grad * (1 - y * y), with y = tanh(x) the forward output

    Gradient: the rule of tanh itself.
    """
    y = np.float64(y)
    return np.float64(grad) * (1 - y * y)


def clamp(x, low, high):
    """min(max(x, low), high): x limited to [low, high]; NaN in x or in a bound gives NaN

    Gradient: d/dx = 1 where low <= x <= high, else 0.
    """
    if x != x:
        return x
    if low != low:
        return low
    if high != high:
        return high
    if x < low:
        x = low
    return high if x > high else x


def clamp_backward(grad, x, low, high):
    """grad where low <= x <= high, else 0

    Gradient: the rule of clamp itself.
    """
    return grad if x >= low and x <= high else 0


def where(condition, x, y):
    """x where condition is true (nonzero), else y

    Gradient: to x where condition holds, to y elsewhere.
    """
    return x if condition else y


# ------------------------------------------------------------------------ the table


class Formula(NamedTuple):
    """One elementwise op: its scalar formula and what the devices wrap around it.

    ``section`` is its part of the kernel contract and fixes the wrapper's signature:

    - ``"binary"``: ``name(a, b, out=None)``, broadcasting;
    - ``"unary"``: ``name(a, out=None)``;
    - ``"backward"``: ``name(grad, saved)``, the result in the gradient's dtype;
    - ``"other"``: a wrapper written by hand on each device (clamp, clamp_backward, where).

    ``dtype_rule`` is the numpy ufunc whose dtype rule the result follows
    (``np.true_divide``: integers divide to float64), or None where the wrapper decides.
    ``integer_function``, where given, replaces ``function`` when the result is an integer
    (``pow``: libm's ``pow`` works in floating point, which is inexact past 2**53).
    """

    name: str
    function: Callable
    section: str
    dtype_rule: np.ufunc | None
    integer_function: Callable | None = None

    @property
    def arity(self) -> int:
        """How many numbers the formula takes."""
        return self.function.__code__.co_argcount

    @property
    def text(self) -> str:
        """The forward formula, as the stepper shows it (the docstring's first paragraph)."""
        return " ".join(self.function.__doc__.split("\n\n")[0].split())


FORMULAS: tuple[Formula, ...] = (
    Formula("add", add, "binary", np.add),
    Formula("sub", sub, "binary", np.subtract),
    Formula("mul", mul, "binary", np.multiply),
    Formula("div", div, "binary", np.true_divide),
    Formula("pow", pow, "binary", np.power, integer_pow),
    Formula("maximum", maximum, "binary", np.maximum),
    Formula("minimum", minimum, "binary", np.minimum),
    Formula("floor_divide", floor_divide, "binary", np.floor_divide),
    Formula("remainder", remainder, "binary", np.remainder),
    Formula("eq", eq, "binary", np.equal),
    Formula("ne", ne, "binary", np.not_equal),
    Formula("lt", lt, "binary", np.less),
    Formula("le", le, "binary", np.less_equal),
    Formula("gt", gt, "binary", np.greater),
    Formula("ge", ge, "binary", np.greater_equal),
    Formula("logical_and", logical_and, "binary", np.logical_and),
    Formula("logical_or", logical_or, "binary", np.logical_or),
    Formula("bitwise_and", bitwise_and, "binary", np.bitwise_and),
    Formula("bitwise_or", bitwise_or, "binary", np.bitwise_or),
    Formula("bitwise_xor", bitwise_xor, "binary", np.bitwise_xor),
    Formula("neg", neg, "unary", np.negative),
    Formula("exp", exp, "unary", np.exp),
    Formula("sin", sin, "unary", np.sin),
    Formula("cos", cos, "unary", np.cos),
    Formula("tan", tan, "unary", np.tan),
    Formula("asin", asin, "unary", np.arcsin),
    Formula("acos", acos, "unary", np.arccos),
    Formula("atan", atan, "unary", np.arctan),
    Formula("sinh", sinh, "unary", np.sinh),
    Formula("cosh", cosh, "unary", np.cosh),
    Formula("asinh", asinh, "unary", np.arcsinh),
    Formula("atanh", atanh, "unary", np.arctanh),
    Formula("exp2", exp2, "unary", np.exp2),
    Formula("expm1", expm1, "unary", np.expm1),
    Formula("log2", log2, "unary", np.log2),
    Formula("log10", log10, "unary", np.log10),
    Formula("log1p", log1p, "unary", np.log1p),
    Formula("log", log, "unary", np.log),
    Formula("sqrt", sqrt, "unary", np.sqrt),
    Formula("abs", abs, "unary", np.absolute),
    Formula("sign", sign, "unary", np.sign),
    Formula("floor", floor, "unary", np.rint),
    Formula("ceil", ceil, "unary", np.rint),
    Formula("round", round, "unary", np.rint),
    Formula("trunc", trunc, "unary", np.rint),
    Formula("frac", frac, "unary", np.rint),
    Formula("reciprocal", reciprocal, "unary", np.true_divide),
    Formula("rsqrt", rsqrt, "unary", np.sqrt),
    Formula("square", square, "unary", np.square),
    Formula("relu", relu, "unary", np.maximum),
    Formula("sigmoid", sigmoid, "unary", np.exp),
    Formula("tanh", tanh, "unary", np.tanh),
    Formula("erf", erf, "unary", np.exp),
    Formula("isnan", isnan, "unary", np.isnan),
    Formula("isinf", isinf, "unary", np.isinf),
    Formula("isfinite", isfinite, "unary", np.isfinite),
    Formula("logical_not", logical_not, "unary", np.logical_not),
    Formula("bitwise_not", bitwise_not, "unary", np.invert),
    Formula("relu_backward", relu_backward, "backward", None),
    Formula("sigmoid_backward", sigmoid_backward, "backward", None),
    Formula("tanh_backward", tanh_backward, "backward", None),
    Formula("clamp", clamp, "other", None),
    Formula("where", where, "other", None),
    Formula("clamp_backward", clamp_backward, "other", None),
)

BY_NAME: dict[str, Formula] = {formula.name: formula for formula in FORMULAS}


def names(*sections: str) -> tuple[str, ...]:
    """The names of the formulas in these sections, in table order."""
    return tuple(formula.name for formula in FORMULAS if formula.section in sections)


@functools.cache
def result_dtype(name: str, *dtypes: np.dtype) -> np.dtype:
    """The dtype of op ``name`` on operands of these dtypes: numpy's rule for the op's
    ufunc, except that inputs that are all bool give PyTorch's defaults (float32 for a
    float-valued op where numpy would say float16, int64 where it would say int8).

    Raises TypeError where numpy has no loop (``neg`` of bool, ``bitwise_and`` of floats).
    """
    rule = BY_NAME[name].dtype_rule
    if rule.nin > len(dtypes):  # relu follows maximum(x, x)
        dtypes = dtypes * rule.nin
    dtype = rule.resolve_dtypes((*dtypes, None))[-1]
    if dtype != np.bool_ and all(np.dtype(each) == np.bool_ for each in dtypes):
        return np.dtype(np.float32 if dtype.kind == "f" else np.int64)
    return dtype
