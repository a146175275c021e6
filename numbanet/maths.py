"""``numbanet.tan(x)``, ``numbanet.add(a, b, out=c)``...: the function spellings of the
elementwise maths family and of the arithmetic operators, with PyTorch's ``out=``.

Each function is the Tensor method of the same name (``numbanet.floor(x)`` is
``x.floor()``); ``out=`` then writes the result into an existing tensor, as PyTorch does:

- ``out`` takes the result's shape: an empty ``out`` is resized silently, one with
  elements is resized with PyTorch's deprecation warning;
- the result's dtype must be castable to ``out``'s (``int64`` cannot hold a float
  result; ``float64`` can hold an ``int64`` one): ``can_cast``'s rule;
- ``out`` is on the result's device;
- autograd does not record ops with ``out=``: with grad mode on and an input (or ``out``)
  requiring grad, PyTorch's error is raised and nothing is computed.
"""

from __future__ import annotations

import warnings

from numbanet import creation, dtypes
from numbanet.autograd import grad_mode
from numbanet.errors import op_error
from numbanet.tensor import Tensor


def write_out(op: str, compute, inputs: tuple, out: Tensor | None):
    """``compute()``, or, with ``out``, its result written into ``out`` (then ``out``)."""
    if out is None:
        return compute()
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if grad_mode.is_grad_enabled() and any(
            isinstance(each, Tensor) and each.requires_grad for each in (*inputs, out)):
        raise op_error(RuntimeError, op, f"{op}(): functions with out=... arguments don't "
                       "support automatic differentiation, but one of the arguments requires "
                       "grad.")
    with grad_mode.no_grad():
        result = compute()
    if result.device != out.device:
        raise op_error(RuntimeError, op, f"Expected out tensor to have device "
                       f"{result.device}, but got {out.device} instead")
    if not dtypes.can_cast(result.dtype, out.dtype):
        raise op_error(RuntimeError, op, f"result type "
                       f"{dtypes.scalar_type_name(result.dtype)} can't be cast to the "
                       f"desired output type {dtypes.scalar_type_name(out.dtype)}")
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(result.shape)}. This behavior is deprecated, and in a future PyTorch "
                "release outputs will not be resized unless they have zero elements. You can "
                "explicitly reuse an out tensor t by resizing it, inplace, to zero elements "
                "with t.resize_(0).", UserWarning, stacklevel=3)
        out._resize_for_out(result.shape)
    with grad_mode.no_grad():
        out.copy_(result)
    return out


# ---- arithmetic -----------------------------------------------------------------------------


def add(input, other, *, alpha=1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input + alpha * other, broadcasting (either may be a number).

    Gradient: d/d input = 1, d/d other = alpha.
    """
    _check_tensor_operand("add", input, other)
    return write_out("add", lambda: input + (other * alpha if alpha != 1 else other),
                     (input, other), out)


def sub(input, other, *, alpha=1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input - alpha * other, broadcasting (either may be a number).

    Gradient: d/d input = 1, d/d other = -alpha.
    """
    _check_tensor_operand("sub", input, other)
    return write_out("sub", lambda: input - (other * alpha if alpha != 1 else other),
                     (input, other), out)


def mul(input, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input * other, broadcasting (either may be a number).

    Gradient: d/d input = other, d/d other = input.
    """
    _check_tensor_operand("mul", input, other)
    return write_out("mul", lambda: input * other, (input, other), out)


def div(input, other, *, rounding_mode: str | None = None,  # noqa: A002
        out: Tensor | None = None) -> Tensor:
    """input / other, broadcasting: true division (integers give floats), or with
    ``rounding_mode='trunc'`` rounded toward zero, ``'floor'`` toward minus infinity
    (both keep integer dtypes).

    Gradient: d/d input = 1 / other, d/d other = -input / other^2 (0 when rounded).
    """
    _check_tensor_operand("div", input, other)
    if not isinstance(input, Tensor):
        input = creation.tensor(input, device=other.device)  # noqa: A001 - 0-d: a number
    return write_out("div", lambda: input.div(other, rounding_mode=rounding_mode),
                     (input, other), out)


divide, multiply, subtract = div, mul, sub


def true_divide(input, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input / other (true division): :func:`div` without a rounding mode."""
    return div(input, other, out=out)


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The matrix product input @ other (vectors, matrices, batches that broadcast).

    Gradient: d/d input = grad @ other^T, d/d other = input^T @ grad.
    """
    return write_out("matmul", lambda: input.matmul(other), (input, other), out)


def _check_tensor_operand(op: str, input, other) -> None:  # noqa: A002
    """PyTorch's functions take a number for either operand, not for both."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")


# ---- the elementwise maths family -------------------------------------------------------------


def _function(name: str):
    """``numbanet.name(input, *, out=None)``: ``input.name()``, optionally into ``out``."""

    def function(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
        return write_out(name, lambda: getattr(input, name)(), (input,), out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = getattr(Tensor, name).__doc__
    return function


tan = _function("tan")
asin = _function("asin")
acos = _function("acos")
atan = _function("atan")
sinh = _function("sinh")
cosh = _function("cosh")
asinh = _function("asinh")
atanh = _function("atanh")
exp2 = _function("exp2")
expm1 = _function("expm1")
log2 = _function("log2")
log10 = _function("log10")
log1p = _function("log1p")
erf = _function("erf")
sign = _function("sign")
floor = _function("floor")
ceil = _function("ceil")
trunc = _function("trunc")
frac = _function("frac")
reciprocal = _function("reciprocal")
rsqrt = _function("rsqrt")
square = _function("square")
isnan = _function("isnan")
isinf = _function("isinf")
isfinite = _function("isfinite")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arctanh = asinh, atanh


def round(input: Tensor, *, decimals: int = 0, out: Tensor | None = None) -> Tensor:  # noqa: A001, A002
    """Nearest whole number, halves to the even one; with ``decimals``, to that many
    decimal places (negative: to tens, hundreds ...).

    Gradient: 0 everywhere (a step function).
    """
    return write_out("round", lambda: input.round(decimals=decimals), (input,), out)
