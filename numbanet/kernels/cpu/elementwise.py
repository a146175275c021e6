"""Elementwise kernels: ``out[i] = f(a[i], b[i])`` for every element, in Numba.

The formula ``f`` of every op lives in :mod:`numbanet.kernels.formulas`, written once for
both devices. This file builds the loops that apply a formula to whole arrays, and the
contract's wrapper functions (``add(a, b, out=None)``, ``relu(a, out=None)``, ...), all
generated from :data:`~numbanet.kernels.formulas.FORMULAS`. The loops come in two shapes:

- ``*_contiguous``: all arrays are C-contiguous and of the output's shape, so element ``i``
  of each is at flat position ``i``. One flat loop, which LLVM vectorises. There is no
  ``prange`` twin: these loops are limited by memory bandwidth, and splitting them across
  threads measured 18x *slower* here (relu on 2.4M floats: 0.41 ms serial, 7.6 ms parallel).
- ``*_strided``: anything else — broadcasting (an operand of shape ``(1, 128)`` read for
  every row of a ``(64, 128)`` output has stride 0 on its first axis) or a non-contiguous
  view (a transpose, a slice). Operands are broadcast to the output's shape as views,
  padded to 4 axes, and the kernel walks the 4-D index space; Numba turns ``a[i, j, k, l]``
  into ``offset + i*stride0 + j*stride1 + ...`` so strides cost nothing to honour.

Each op gets its own pair of loops, compiled with its formula inlined (``inline="always"``):
the compiled loop is the one a person would write by hand for that op (relu: 0.4 ms for
2.4M floats, numpy's ``maximum`` 1.1 ms). Every loop is compiled with
``error_model="numpy"``, so ``x / 0`` gives IEEE's ``inf`` or ``nan`` as in PyTorch
instead of raising ``ZeroDivisionError``.
"""

import inspect
import types
from numbers import Number

import numpy as np
from numba import njit
from numba.extending import register_jitable

from numbanet.kernels import formulas
from numbanet.kernels import launch as _launch
from numbanet.kernels.cpu.views import broadcast_to
from numbanet.kernels.formulas import FORMULAS, Formula
from numbanet.kernels.launch import launch


class Kernels:
    """The contiguous and strided loops of one formula, compiled with the formula inlined.

    Each loop gets the op's name (``mul_contiguous``, ``mul_strided``), which is what the
    trace shows and what keys Numba's on-disk cache. The loops (Numba dispatchers, each
    compiled on its first call) are made when the formula is first used: making all ~180
    of them at import took 0.1-0.15 s of every script's start.
    """

    def __init__(self, formula: Formula, name: str, function):
        self.formula = formula
        self.dtypes: dict[tuple, np.dtype] = {}  # result dtype by operand dtypes, cached
        self._name, self._function = name, function

    def loops(self) -> dict:
        """``{kind: loop}``: contiguous and strided for every arity; a binary op's
        scalar_right/scalar_left (x * 2.0, 2.0 - x) and clamp's scalar_bounds take numbers
        where a broadcast stride-0 array would cost a 4-D walk and numpy's broadcast_to
        (4x slower). Made on the first call, then attributes (``kernels.contiguous``)."""
        made = self.__dict__.get("_loops")
        if made is None:
            makers = {1: _unary_loops, 2: _binary_loops, 3: _ternary_loops,
                      4: _quaternary_loops}[self.formula.arity]
            made = {kind: _compile(loop, f"{self._name}_{kind}", self.formula)
                    for kind, loop in makers(_inlined_copy(self._function)).items()}
            self.__dict__.update(made)
            self._loops = made
        return made

    def __getattr__(self, kind: str):
        """``kernels.contiguous`` before the loops exist (Python asks only for attributes
        it did not find): make them."""
        if kind.startswith("_") or kind in ("formula", "dtypes"):
            raise AttributeError(kind)
        try:
            return self.loops()[kind]
        except KeyError:
            raise AttributeError(f"{self._name} has no {kind} loop") from None

    def result_dtype(self, *dtypes: np.dtype) -> np.dtype:
        """The dtype of the result for operands of these dtypes (the formula's rule)."""
        try:
            return self.dtypes[dtypes]
        except KeyError:
            dtype = self.dtypes[dtypes] = formulas.result_dtype(self.formula.name, *dtypes)
            return dtype


def _inlined_copy(function):
    """A copy of a formula that Numba compiles inline into every loop that calls it.

    A copy rather than the formula itself, for Numba's on-disk cache: it keys a cached loop
    by the loop's bytecode and the pickled contents of its closure, and a function its
    module exports is pickled by name only, a copy with its code. So editing a formula
    recompiles its loops instead of loading stale ones, and an unchanged formula's loops
    load from the cache in every new process (a jitted dispatcher in the closure would
    pickle with a fresh id each time: a cache miss in every process).
    """
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__qualname__, copy.__module__ = function.__qualname__, function.__module__
    return register_jitable(inline="always")(copy)


def _unary_loops(f):
    def contiguous(a, out):
        """``out[i] = f(a[i])`` over flat, contiguous arrays."""
        for i in range(out.size):
            out[i] = f(a[i])

    def strided(a, out):
        """``out[i,j,k,l] = f(a[i,j,k,l])`` for 4-D arrays of any strides."""
        n0, n1, n2, n3 = out.shape
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    for m in range(n3):
                        out[i, j, k, m] = f(a[i, j, k, m])

    return {"contiguous": contiguous, "strided": strided}


def _binary_loops(f):
    def contiguous(a, b, out):
        """``out[i] = f(a[i], b[i])`` over flat, contiguous, same-shape arrays."""
        for i in range(out.size):
            out[i] = f(a[i], b[i])

    def strided(a, b, out):
        """``out[i,j,k,l] = f(a[i,j,k,l], b[i,j,k,l])`` for 4-D arrays of any strides."""
        n0, n1, n2, n3 = out.shape
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    for m in range(n3):
                        out[i, j, k, m] = f(a[i, j, k, m], b[i, j, k, m])

    def scalar_right(a, b, out):
        """``out[i] = f(a[i], b)``: a flat contiguous array and a number."""
        for i in range(out.size):
            out[i] = f(a[i], b)

    def scalar_left(a, b, out):
        """``out[i] = f(a, b[i])``: a number and a flat contiguous array."""
        for i in range(out.size):
            out[i] = f(a, b[i])

    def rows_right(a, b, out):
        """``out[i, j] = f(a[i, j], b[j])`` with ``a`` and ``out`` flat and contiguous, read
        as rows of ``b.size``: a bias row met by every row (``x + bias``)."""
        width = b.size
        for row in range(out.size // width):  # (a stepped range kept LLVM from vectorising)
            start = row * width
            for j in range(width):
                out[start + j] = f(a[start + j], b[j])

    return {"contiguous": contiguous, "strided": strided, "scalar_right": scalar_right,
            "scalar_left": scalar_left, "rows_right": rows_right}


def _ternary_loops(f):
    def contiguous(a, b, c, out):
        """``out[i] = f(a[i], b[i], c[i])`` over flat, contiguous, same-shape arrays."""
        for i in range(out.size):
            out[i] = f(a[i], b[i], c[i])

    def strided(a, b, c, out):
        """``out[i,j,k,l] = f(a[i,j,k,l], b[i,j,k,l], c[i,j,k,l])``, any strides."""
        n0, n1, n2, n3 = out.shape
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    for m in range(n3):
                        out[i, j, k, m] = f(a[i, j, k, m], b[i, j, k, m], c[i, j, k, m])

    def scalar_bounds(a, low, high, out):
        """``out[i] = f(a[i], low, high)``: a flat contiguous array, two numbers."""
        for i in range(out.size):
            out[i] = f(a[i], low, high)

    return {"contiguous": contiguous, "strided": strided, "scalar_bounds": scalar_bounds}


def _quaternary_loops(f):
    def contiguous(a, b, c, d, out):
        """``out[i] = f(a[i], b[i], c[i], d[i])`` over flat, contiguous, same-shape arrays."""
        for i in range(out.size):
            out[i] = f(a[i], b[i], c[i], d[i])

    def strided(a, b, c, d, out):
        """``out[i,j,k,l] = f(a[i,j,k,l], ..., d[i,j,k,l])`` for 4-D arrays of any strides."""
        n0, n1, n2, n3 = out.shape
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    for m in range(n3):
                        out[i, j, k, m] = f(a[i, j, k, m], b[i, j, k, m], c[i, j, k, m],
                                            d[i, j, k, m])

    def scalar_bounds(a, b, low, high, out):
        """``out[i] = f(a[i], b[i], low, high)``: flat contiguous arrays, two numbers."""
        for i in range(out.size):
            out[i] = f(a[i], b[i], low, high)

    return {"contiguous": contiguous, "strided": strided, "scalar_bounds": scalar_bounds}


def _compile(loop, name: str, formula: Formula):
    """``njit`` a loop under its own name (so caches and traces tell the ops apart)."""
    loop.__name__ = loop.__qualname__ = name
    loop.__doc__ = f"{loop.__doc__}\n\nf: {formula.text}"
    return njit(cache=True, error_model="numpy")(loop)


KERNELS: dict[str, Kernels] = {
    formula.name: Kernels(formula, formula.name, formula.function) for formula in FORMULAS}
INTEGER_KERNELS: dict[str, Kernels] = {
    formula.name: Kernels(formula, f"{formula.name}_integer", formula.integer_function)
    for formula in FORMULAS if formula.integer_function is not None}
"""The loops of the formulas that have an exact version for integer results (pow)."""


# ---- applying the loops to arrays ---------------------------------------------------------


def _as_4d(array, shape):
    """``array`` broadcast to ``shape`` and padded with leading size-1 axes to 4-D.

    The result is always a read-only view, so each kernel compiles once per dtype rather
    than once per (writable, read-only) combination of its operands.
    """
    if array.shape == shape:  # np.broadcast_to would cost ~8 us to do nothing
        view = array.view()
        view.flags.writeable = False
    else:
        view = broadcast_to(array, shape)  # read-only
    return view.reshape((1,) * (4 - len(shape)) + tuple(shape)) if len(shape) < 4 else view


def _strided_apply(kernel, arrays, out):
    """Run a 4-D strided kernel, looping in Python over axes beyond the last four."""
    shape = out.shape
    if len(shape) <= 4:
        out_4d = out.reshape((1,) * (4 - len(shape)) + shape)
        launch(kernel, *[_as_4d(a, shape) for a in arrays], out_4d)
        return
    broadcast = [np.broadcast_to(a, shape) for a in arrays]
    for index in np.ndindex(*shape[:-4]):
        launch(kernel, *[a[index] for a in broadcast], out[index])


def _flat(array):
    return array if array.ndim == 1 else array.reshape(-1)


def _apply(kernels: Kernels, arrays, out, dtype):
    """``out = f(*arrays)`` elementwise, broadcasting; allocates ``out`` when None."""
    fresh = out is None  # then we allocate it: contiguous, of the broadcast shape
    shape = arrays[0].shape
    same_shape = all(a.shape == shape for a in arrays)
    if fresh:
        if not same_shape:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
        out = np.empty(shape, dtype=dtype)
    if (same_shape and all(a.flags.c_contiguous for a in arrays)
            and (fresh or (shape == out.shape and out.flags.c_contiguous))):
        launch(kernels.contiguous, *[_flat(a) for a in arrays], _flat(out))
    else:
        _strided_apply(kernels.strided, arrays, out)
    return out


# ---- the contract's functions, one per formula ---------------------------------------------


def _binary(kernels: Kernels, a, b, out, dtype):
    """:func:`_apply` for two operands, spelled out: this runs for every ``+`` and ``*``,
    and generic loops over the operands cost microseconds per call."""
    shape = a.shape
    if out is None:
        if shape == b.shape:
            out = np.empty(shape, dtype)
            if a.flags.c_contiguous and b.flags.c_contiguous:
                if len(shape) == 1:
                    launch(kernels.contiguous, a, b, out)
                else:  # ravel: a flat view of a contiguous array (no copy)
                    launch(kernels.contiguous, a.ravel(), b.ravel(), out.ravel())
                return out
        elif not b.shape and a.flags.c_contiguous:  # x * 2.0: the number is a 0-d array
            out = np.empty(shape, dtype)
            launch(kernels.scalar_right, _flat(a), b[()], _flat(out))
            return out
        elif not shape and b.flags.c_contiguous:  # 2.0 - x
            out = np.empty(b.shape, dtype)
            launch(kernels.scalar_left, a[()], _flat(b), _flat(out))
            return out
        else:
            out = np.empty(np.broadcast_shapes(shape, b.shape), dtype)
    elif (shape == b.shape == out.shape and a.flags.c_contiguous and b.flags.c_contiguous
          and out.flags.c_contiguous):
        launch(kernels.contiguous, a.ravel(), b.ravel(), out.ravel())
        return out
    if (b.ndim == 1 and len(shape) >= 2 and out.shape == shape and b.size == shape[-1] > 0
            and a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        launch(kernels.rows_right, a.ravel(), b, out.ravel())  # x + bias: no 4-D walk
        return out
    _strided_apply(kernels.strided, (a, b), out)
    return out


def _binary_function(kernels: Kernels):
    """The contract function of a binary formula: ``add(a, b, out=None)``, ...

    Its first lines are the per-op fast path, the case of almost every ``x + y``, ``x * w``
    and ``x * 2.0``: a C-contiguous array and a C-contiguous array of its shape and dtype
    (or a 0-d one: the number), a fresh result. Then nothing needs broadcasting or
    choosing, and the function goes straight to the kernel: it allocates the result,
    flattens (a view, no copy) and calls the loop itself unless a trace listens (then
    through :func:`launch`, the trace's door). The result dtype comes from a one-entry
    memo compared by identity, because hashing a numpy dtype for a dictionary costs about
    as much as a Python call. Measured with ``benchmarks/bench_instructions.py``: a
    4-element ``a + b`` 19.8k -> 18.4k instructions, ``a * 2.0`` 25.8k -> 23.3k."""
    integer_kernels = INTEGER_KERNELS.get(kernels.formula.name)
    same_dtype: dict[np.dtype, np.dtype] = {}  # result dtype when both operands share one
    # [operand dtype, result dtype] of the last call of one dtype that the fast path
    # handles: all but an integer result of a formula with an exact integer loop (pow).
    fast = [None, None]

    def function(a, b, out=None):
        operand_dtype = a.dtype
        if (out is None and fast[0] is operand_dtype and b.dtype is operand_dtype
                and a.flags.c_contiguous):
            shape, other_shape = a.shape, b.shape
            flat = len(shape) == 1  # else ravel: a flat view of a contiguous array (no copy)
            if shape == other_shape and b.flags.c_contiguous:
                kernel = kernels.contiguous
                if not flat:
                    a, b = a.ravel(), b.ravel()
            elif not other_shape:  # x * 2.0: the number is a 0-d array
                kernel, b = kernels.scalar_right, b[()]
                if not flat:
                    a = a.ravel()
            else:
                kernel = None  # broadcasting: the general path
            if kernel is not None:
                out = np.empty(shape, fast[1])
                flat_out = out if flat else out.ravel()
                if _launch._listener is None:
                    kernel(a, b, flat_out)
                else:
                    launch(kernel, a, b, flat_out)
                return out
        if operand_dtype == b.dtype:
            dtype = same_dtype.get(operand_dtype)
            if dtype is None:
                dtype = same_dtype[operand_dtype] = kernels.result_dtype(operand_dtype,
                                                                         operand_dtype)
            if fast[0] is not operand_dtype and (integer_kernels is None
                                                 or dtype.kind not in "iu"):
                fast[:] = operand_dtype, dtype
        else:
            dtype = kernels.result_dtype(operand_dtype, b.dtype)
        if integer_kernels is not None and dtype.kind in "iu":
            a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
            return _binary(integer_kernels, a, b, out, dtype)
        return _binary(kernels, a, b, out, dtype)

    return function


def _unary_function(kernels: Kernels):
    """The contract function of a unary formula: ``relu(a, out=None)``, ...; for a
    contiguous array and a fresh result it calls the loop itself unless a trace listens,
    with the result dtype from a one-entry identity memo (see :func:`_binary_function`)."""
    dtypes: dict[np.dtype, np.dtype] = {}  # result dtype by operand dtype
    fast = [None, None]  # [operand dtype, result dtype] of the last float -> same-dtype call

    def function(a, out=None):
        if out is None and fast[0] is a.dtype and a.flags.c_contiguous:
            out = np.empty(a.shape, fast[1])
            if a.ndim == 1:
                flat_a, flat_out = a, out
            else:  # ravel: a flat view of a contiguous array (no copy)
                flat_a, flat_out = a.ravel(), out.ravel()
            if _launch._listener is None:
                kernels.contiguous(flat_a, flat_out)
            else:
                launch(kernels.contiguous, flat_a, flat_out)
            return out
        dtype = dtypes.get(a.dtype)
        if dtype is None:
            dtype = dtypes[a.dtype] = kernels.result_dtype(a.dtype)
        if dtype.kind == "f" and a.dtype != dtype:  # exp of integers: compute in the float
            a = a.astype(dtype)
        elif fast[0] is not a.dtype:
            fast[:] = a.dtype, dtype
        fresh = out is None
        if fresh:
            out = np.empty(a.shape, dtype=dtype)
        if a.flags.c_contiguous and (fresh or (out.flags.c_contiguous
                                               and a.shape == out.shape)):
            launch(kernels.contiguous, _flat(a), _flat(out))
        else:
            _strided_apply(kernels.strided, (a,), out)
        return out

    return function


def _backward_function(kernels: Kernels):
    def function(grad, saved):
        return _binary(kernels, grad, saved, None, grad.dtype)

    function.__signature__ = inspect.signature(kernels.formula.function)
    return function


def _limits(dtype: np.dtype) -> tuple:
    """The smallest and largest value of a dtype (-inf and inf for floats)."""
    if dtype.kind == "f":
        return -np.inf, np.inf
    if dtype.kind == "b":
        return False, True
    info = np.iinfo(dtype)
    return info.min, info.max


def _clamp(kernels: Kernels, arrays, low, high, dtype):
    """Run clamp or clamp_backward; a bound that is None never binds, a number bound is
    converted to the clamped array's dtype (``arrays[-1]``)."""
    bound_dtype = arrays[-1].dtype
    lowest, highest = _limits(bound_dtype)
    low, high = lowest if low is None else low, highest if high is None else high
    numbers = isinstance(low, Number) and isinstance(high, Number)
    if numbers and all(a.flags.c_contiguous for a in arrays) and all(
            a.shape == arrays[0].shape for a in arrays):
        out = np.empty(arrays[0].shape, dtype)
        launch(kernels.scalar_bounds, *[_flat(a) for a in arrays],
               bound_dtype.type(low), bound_dtype.type(high), _flat(out))
        return out
    bounds = [np.array(bound, bound_dtype) if isinstance(bound, Number) else bound
              for bound in (low, high)]
    return _apply(kernels, (*arrays, *bounds), None, dtype)


def clamp(a, low, high):
    return _clamp(KERNELS["clamp"], (a,), low, high, a.dtype)


def clamp_backward(grad, x, low, high):
    return _clamp(KERNELS["clamp_backward"], (grad, x), low, high, grad.dtype)


def where(condition, a, b):
    return _apply(KERNELS["where"], (condition, a, b), None, np.result_type(a, b))


_MAKERS = {"binary": _binary_function, "unary": _unary_function,
           "backward": _backward_function}


def _named(function, formula: Formula):
    """The contract function of ``formula``, under the formula's name and text."""
    function.__name__ = function.__qualname__ = formula.name
    function.__doc__ = formula.function.__doc__
    return function


for _formula in FORMULAS:
    if _formula.section in _MAKERS:
        globals()[_formula.name] = _MAKERS[_formula.section](KERNELS[_formula.name])
    _named(globals()[_formula.name], _formula)

__all__ = [formula.name for formula in FORMULAS]
