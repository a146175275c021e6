"""Elementwise arithmetic, comparisons, activations and their backward rules, on the GPU.

The formula of every op lives in :mod:`numbanet.kernels.formulas`, written once for both
devices; here each one is compiled as a ``cuda.jit(device=True)`` function, and
``strided.py`` builds from it the contiguous and strided grid-stride kernels that apply it
to whole arrays, with numpy broadcasting and any strides. The contract's functions
(``add(a, b, out=None)``, ``relu(a, out=None)``, ...) are generated from the table: they
decide the output's shape (``numpy.broadcast_shapes``) and dtype, then launch.

Dtypes follow :func:`numbanet.kernels.formulas.result_dtype` (numpy's rule for the op's
ufunc, PyTorch's defaults for all-bool inputs), as on the CPU. A Python number next to an
array is *weak*, as in numpy and PyTorch: ``float32_array * 2.0`` stays ``float32``.
(Tensors promote their operands to one dtype before they get here; the rules matter for
direct calls.)
"""

import inspect
from numbers import Number

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.layout import DeviceArray
from numbanet.kernels.cuda.memory import astype, empty, full
from numbanet.kernels.cuda.strided import run_elementwise
from numbanet.kernels.formulas import FORMULAS, Formula, result_dtype

DEVICE_FUNCTIONS = {formula.name: cuda.jit(device=True)(formula.function)
                    for formula in FORMULAS}
"""Every formula as a CUDA device function, by op name."""
INTEGER_DEVICE_FUNCTIONS = {formula.name: cuda.jit(device=True)(formula.integer_function)
                            for formula in FORMULAS if formula.integer_function is not None}
"""The exact versions for integer results (pow), by op name."""


# ---------------------------------------------------------- the contract's functions


def _binary_function(formula: Formula):
    operation = DEVICE_FUNCTIONS[formula.name]
    integer_operation = INTEGER_DEVICE_FUNCTIONS.get(formula.name)

    def function(a, b, out=None):
        a, b = _as_device_operands(a, b)
        dtype = result_dtype(formula.name, a.dtype, b.dtype)
        out = _output(out, np.broadcast_shapes(tuple(a.shape), tuple(b.shape)), dtype)
        if integer_operation is not None and dtype.kind in "iu":
            a, b = (x if x.dtype == dtype else astype(x, dtype) for x in (a, b))
            run_elementwise(integer_operation, out, [a, b])
        else:
            run_elementwise(operation, out, [a, b])
        return out

    return function


def _unary_function(formula: Formula):
    operation = DEVICE_FUNCTIONS[formula.name]

    def function(a, out=None):
        dtype = result_dtype(formula.name, a.dtype)
        if dtype.kind == "f" and a.dtype != dtype:  # exp of integers: compute in the float
            a = astype(a, dtype)
        out = _output(out, tuple(a.shape), dtype)
        run_elementwise(operation, out, [a])
        return out

    return function


def _backward_function(formula: Formula):
    operation = DEVICE_FUNCTIONS[formula.name]

    def function(grad, saved):
        out = empty(np.broadcast_shapes(tuple(grad.shape), tuple(saved.shape)), grad.dtype)
        run_elementwise(operation, out, [grad, saved])
        return out

    function.__signature__ = inspect.signature(formula.function)
    return function


def _limits(dtype: np.dtype) -> tuple:
    """The smallest and largest value of a dtype (-inf and inf for floats)."""
    if dtype.kind == "f":
        return -np.inf, np.inf
    if dtype.kind == "b":
        return False, True
    info = np.iinfo(dtype)
    return info.min, info.max


def _bounds(low, high, like: DeviceArray) -> list[DeviceArray]:
    """clamp's bounds as device arrays: a number in ``like``'s dtype, None as the limit of
    that dtype (a bound that never binds), an array unchanged."""
    lowest, highest = _limits(np.dtype(like.dtype))
    return [
        full((), bound, like.dtype) if isinstance(bound, Number) else bound
        for bound in (lowest if low is None else low, highest if high is None else high)
    ]


def clamp(a, low, high):
    out = empty(tuple(a.shape), a.dtype)
    run_elementwise(DEVICE_FUNCTIONS["clamp"], out, [a, *_bounds(low, high, a)])
    return out


def clamp_backward(grad, x, low, high):
    out = empty(np.broadcast_shapes(tuple(grad.shape), tuple(x.shape)), grad.dtype)
    run_elementwise(DEVICE_FUNCTIONS["clamp_backward"], out,
                    [grad, x, *_bounds(low, high, x)])
    return out


def where(condition, a, b):
    a, b = _as_device_operands(a, b)
    dtype = np.result_type(a.dtype, b.dtype)
    shape = np.broadcast_shapes(tuple(condition.shape), tuple(a.shape), tuple(b.shape))
    out = empty(shape, dtype)
    run_elementwise(DEVICE_FUNCTIONS["where"], out, [condition, a, b])
    return out


# ------------------------------------------------------------------------ helpers


def _output(out, shape: tuple[int, ...], dtype: np.dtype) -> DeviceArray:
    """A new output array, or the caller's ``out`` after checking its shape."""
    if out is None:
        return empty(shape, dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(out.shape)}, the result has shape {shape}")
    return out


def _as_device_operands(*values) -> list[DeviceArray]:
    """The values as device arrays; a Python number becomes a 0-d array of the dtype numpy
    gives it next to the arrays (weak promotion), e.g. 2.0 next to float32 is float32."""
    arrays = [value for value in values if not isinstance(value, Number)]
    if not arrays:
        raise TypeError("at least one operand must be a device array")
    array_dtype = np.result_type(*(array.dtype for array in arrays))
    return [
        full((), value, np.result_type(array_dtype, value)) if isinstance(value, Number)
        else value
        for value in values
    ]


_MAKERS = {"binary": _binary_function, "unary": _unary_function,
           "backward": _backward_function}

for _formula in FORMULAS:
    if _formula.section in _MAKERS:
        globals()[_formula.name] = _MAKERS[_formula.section](_formula)
    _function = globals()[_formula.name]
    _function.__name__ = _function.__qualname__ = _formula.name
    _function.__doc__ = _formula.function.__doc__

__all__ = [formula.name for formula in FORMULAS]
