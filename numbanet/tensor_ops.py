"""The maths of a :class:`~numbanet.tensor.Tensor`, as three groups of methods.

``Tensor`` inherits them from the mixins below, so ``x.exp()``, ``x + y``, ``x.sum()`` and
``x.add_(y)`` are ordinary methods of the class (``help(Tensor.exp)`` and autocompletion
see them), while ``numbanet/tensor.py`` keeps what a Tensor *is*:

- :class:`Arithmetic` — operators (``+ - * / // % ** @``, comparisons, bitwise) and the
  elementwise maths (``exp``, ``relu``, ``clamp`` ...). Each method chooses the result's
  dtype (``numbanet/dtypes.py``), then applies a ``Function`` from ``numbanet/ops``;
- :class:`Reductions` — ``sum``, ``mean``, ``var``/``std``, ``max``/``min``, ``argmax``,
  ``all``/``any``;
- :class:`InPlace` — ``add_``, ``mul_``, ``x += y``, ``fill_``, ``copy_`` ...: compute the
  new value as an ordinary op, then write it into this tensor's memory with one ``Assign``
  node (``numbanet/ops/assign.py``), after PyTorch's safety checks.

The mixins hold no state (``__slots__ = ()``); every method relies on what ``Tensor``
defines: ``_operands`` (two operands of one dtype on one device), ``to``, ``clone``,
``_version_box``, ``_data``.
"""

from __future__ import annotations

import builtins
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from numbanet import creation, dtypes, shapes
from numbanet.autograd import grad_mode
from numbanet.autograd.function import AccumulateGrad
from numbanet.errors import op_error
from numbanet.kernels import cpu as cpu_backend
from numbanet.ops import assign, maths, reduction, special
from numbanet.ops import elementwise as ew
from numbanet.ops.matmul import matmul as _matmul

if TYPE_CHECKING:
    from numbanet.tensor import Tensor

_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def _number(value, dtype: np.dtype, like: Tensor) -> Tensor:
    """The Python number ``value`` as a 0-d tensor of ``dtype`` on ``like``'s device."""
    if like._backend is cpu_backend:
        return tensor_module.wrap_result(np.array(value, dtype), cpu_backend)
    return tensor_module.Tensor._from_data(creation.scalar_data(value, dtype, like.device))


def _refuse_integer_division_by_zero(dividend, divisor) -> None:
    """``//`` and ``%`` of integers by zero raise, as on PyTorch's CPU (floats give inf/nan).
    Checked on the CPU only: looking at a GPU divisor would wait for a copy to the host."""
    if dtypes.result_type(dividend, divisor).is_floating_point:
        return
    if isinstance(divisor, tensor_module.Tensor):
        if divisor.device.type != "cpu" or not (creation.host_array(divisor) == 0).any():
            return
    elif divisor != 0:
        return
    raise op_error(RuntimeError, "integer division", "ZeroDivisionError")


class Arithmetic:
    """Operators and elementwise maths: ``x + y``, ``x @ w``, ``x.exp()``, ``x.clamp(0, 1)``."""

    __slots__ = ()

    def _binary(function, op: str, rule=dtypes.result_type, check=None, floats_pass=True,
                mode=None):
        """The methods ``x (op) y`` and its mirror ``y (op) x`` (``2 - x``): ``check`` refuses
        what PyTorch refuses, both operands become ``rule``'s dtype (PyTorch's result type
        unless told otherwise), then the op's Function ``function`` runs (given ``mode`` as
        a third argument when there is one: ``"bitwise_and"``).

        The per-op fast paths, for a float tensor: with a tensor of its dtype and shape on
        its device, or with a Python int or float, there is nothing to check, promote or
        broadcast (``floats_pass``: ``check`` and ``rule`` accept those pairs and give the
        tensor's dtype), so the Function gets them as they are; two such tensors go
        through ``apply_pair``."""
        if mode is None:
            apply = function.apply
        else:
            def apply(a, b):
                return function.apply(a, b, mode)
        pair = function.apply_pair

        def dtype_of(self, other):
            """``rule``'s dtype, or None when both are tensors of one dtype and the rule is
            plain promotion (nothing to promote: the per-op fast path)."""
            if (rule is dtypes.result_type and isinstance(other, tensor_module.Tensor)
                    and other._data.dtype == self._data.dtype):
                return None
            return rule(self, other)

        def forward(self, other):
            if floats_pass:
                dtype = self._data.dtype
                if dtype is _FLOAT32 or dtype is _FLOAT64:
                    if type(other) is float or type(other) is int:  # x * 2.0: x's dtype
                        return pair(self, _number(other, dtype, self))
                    if isinstance(other, tensor_module.Tensor):
                        data = other._data
                        if (dtype is data.dtype and self._data.shape == data.shape
                                and self._backend is other._backend):
                            return pair(self, other)
            if check is not None:
                check(self, other)
            return apply(*self._operands(other, op, dtype_of(self, other)))

        def mirrored(self, other):
            if floats_pass and (type(other) is float or type(other) is int):
                dtype = self._data.dtype
                if dtype is _FLOAT32 or dtype is _FLOAT64:  # 2.0 - x: x's dtype
                    return pair(_number(other, dtype, self), self)
            if check is not None:
                check(other, self)
            return apply(*reversed(self._operands(other, op, dtype_of(self, other))))

        forward.__name__, mirrored.__name__ = f"__{op}__", f"__r{op}__"
        return forward, mirrored

    __add__, __radd__ = _binary(ew.Add, "add")
    __sub__, __rsub__ = _binary(ew.Sub, "sub", check=dtypes.check_subtraction)
    __mul__, __rmul__ = _binary(ew.Mul, "mul")
    __truediv__, __rtruediv__ = _binary(ew.Div, "div", dtypes.true_division_type)
    __floordiv__, __rfloordiv__ = _binary(ew.FloorDivide, "floor_divide",
                                          check=_refuse_integer_division_by_zero)
    __mod__, __rmod__ = _binary(ew.Remainder, "remainder",
                                check=_refuse_integer_division_by_zero)
    __pow__, __rpow__ = _binary(ew.Pow, "pow", check=dtypes.check_power)
    __and__, __rand__ = _binary(ew.Bitwise, "bitwise_and",
                                check=dtypes.check_bitwise("bitwise_and"),
                                floats_pass=False, mode="bitwise_and")
    __or__, __ror__ = _binary(ew.Bitwise, "bitwise_or",
                              check=dtypes.check_bitwise("bitwise_or"),
                              floats_pass=False, mode="bitwise_or")
    __xor__, __rxor__ = _binary(ew.Bitwise, "bitwise_xor",
                                check=dtypes.check_bitwise("bitwise_xor"),
                                floats_pass=False, mode="bitwise_xor")
    maximum, _ = _binary(ew.Maximum, "maximum")
    minimum, _ = _binary(ew.Minimum, "minimum")
    del _binary, _

    def _comparison(kernel_name: str):
        """``x == y``, ``x < y``, ...: elementwise, a bool tensor (``2 < x`` is ``x > 2``)."""

        def compare(self, other):
            return ew.Compare.apply(*self._operands(other, kernel_name), kernel_name)

        compare.__name__ = f"__{kernel_name}__"
        return compare

    __eq__, __ne__ = _comparison("eq"), _comparison("ne")
    __lt__, __le__ = _comparison("lt"), _comparison("le")
    __gt__, __ge__ = _comparison("gt"), _comparison("ge")
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    del _comparison

    def __matmul__(self, other):
        if not isinstance(other, tensor_module.Tensor):
            return NotImplemented
        self._check_same_device(other, "matmul")
        shapes.matmul_shape(self.shape, other.shape)
        if self.dtype is not other.dtype:  # PyTorch does not promote in matmul
            raise op_error(RuntimeError, "matmul", "expected m1 and m2 to have the same dtype, "
                           f"but got: {dtypes.c_type_name(self.dtype)} != "
                           f"{dtypes.c_type_name(other.dtype)}")
        if self.dtype is dtypes.bool_:
            raise op_error(NotImplementedError, "matmul", '"addmm_impl_cpu_" not implemented '
                           "for 'Bool'")
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return creation.tensor(other, device=self.device) @ self

    def __neg__(self):
        if self.dtype is dtypes.bool_:
            raise op_error(RuntimeError, "neg", "Negation, the `-` operator, on a bool tensor "
                           "is not supported. If you are trying to invert a mask, use the `~` "
                           "or `logical_not()` operator instead.")
        return ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __invert__(self):
        """``~x``: every bit flipped for integers (``~x = -x - 1``), logical not for bools."""
        if self.is_floating_point():
            raise op_error(TypeError, "invert", "~ (operator.invert) is only implemented on "
                           "integer and Boolean-type tensors")
        return ew.Bitwise.apply(self, None, "bitwise_not")

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other, *, rounding_mode=None):
        """self / other; ``rounding_mode='trunc'`` rounds the quotient toward zero,
        ``'floor'`` toward minus infinity (integers then stay integers), as PyTorch."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return self // other
        if rounding_mode != "trunc":
            raise op_error(RuntimeError, "div", "div expected rounding_mode to be one of "
                           f"None, 'trunc', or 'floor' but found '{rounding_mode}'")
        if dtypes.result_type(self, other).is_floating_point:
            return (self / other).trunc()
        quotient = self // other  # exact for integers; one more where it rounded down
        rounded_down = (quotient * other != self) & ((self < 0) != (other < 0))
        return quotient + rounded_down.to(quotient.dtype)

    def pow(self, exponent):
        return self**exponent

    def matmul(self, other):
        return self @ other

    def mm(self, other):
        return self @ other

    def bmm(self, mat2):
        """A batch of matrix products: (b, n, m) @ (b, m, p) -> (b, n, p), without
        broadcasting (``matmul`` broadcasts).

        Gradient: d/d self = grad @ mat2^T, d/d mat2 = self^T @ grad (per batch).
        """
        if self.dim() != 3:
            raise op_error(RuntimeError, "bmm", "batch1 must be a 3D tensor")
        if mat2.dim() != 3:
            raise op_error(RuntimeError, "bmm", "batch2 must be a 3D tensor")
        if mat2.shape[:2] != (self.shape[0], self.shape[2]):
            raise op_error(RuntimeError, "bmm", "Expected size for first two dimensions of "
                           f"batch2 tensor to be: [{self.shape[0]}, {self.shape[2]}] but got: "
                           f"[{mat2.shape[0]}, {mat2.shape[1]}].")
        return self @ mat2

    def neg(self):
        return -self

    def _float_self(self) -> Tensor:
        """Integers and bools go into exp, log, ... as the default float, as in PyTorch."""
        return self if self.is_floating_point() else self.to(dtypes.DEFAULT_FLOAT)

    def exp(self):
        return ew.Exp.apply(self._float_self())

    def sin(self):
        return ew.Sin.apply(self._float_self())

    def cos(self):
        return ew.Cos.apply(self._float_self())

    def log(self):
        return ew.Log.apply(self._float_self())

    def sqrt(self):
        return ew.Sqrt.apply(self._float_self())

    def abs(self):
        return ew.Abs.apply(self)

    def sign(self):
        if self.dtype is dtypes.bool_:  # True and False are their own signs (PyTorch)
            return self.clone()
        return ew.Sign.apply(self)

    def relu(self):
        return ew.Relu.apply(self)

    def sigmoid(self):
        return ew.Sigmoid.apply(self._float_self())

    def tanh(self):
        return ew.Tanh.apply(self._float_self())

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """Each element limited to [min, max]; int tensors clamped by floats become floats."""
        if min is None and max is None:
            raise op_error(RuntimeError, "clamp", "At least one of 'min' or 'max' must not "
                           "be None")
        if isinstance(min, tensor_module.Tensor) or isinstance(max, tensor_module.Tensor):
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        return ew.Clamp.apply(self.to(dtypes.result_type(self, min, max)), min, max)

    clip = clamp

    def square(self):
        """a * a; bools square as int64, as PyTorch's ``pow(a, 2)``."""
        return maths.Square.apply(self.long() if self.dtype is dtypes.bool_ else self)

    # ---- the elementwise maths family (numbanet/ops/maths.py) ----
    def _maths(function, name: str):
        """``x.name()``: integers and bools go in as the default float."""

        def method(self):
            return function.apply(self._float_self())

        method.__name__ = method.__qualname__ = name
        method.__doc__ = function.__doc__
        return method

    tan, asin, acos, atan = (_maths(maths.Tan, "tan"), _maths(maths.Asin, "asin"),
                             _maths(maths.Acos, "acos"), _maths(maths.Atan, "atan"))
    sinh, cosh = _maths(maths.Sinh, "sinh"), _maths(maths.Cosh, "cosh")
    asinh, atanh = _maths(maths.Asinh, "asinh"), _maths(maths.Atanh, "atanh")
    exp2, expm1 = _maths(maths.Exp2, "exp2"), _maths(maths.Expm1, "expm1")
    log2, log10 = _maths(maths.Log2, "log2"), _maths(maths.Log10, "log10")
    log1p = _maths(maths.Log1p, "log1p")
    erf = _maths(special.Erf, "erf")
    reciprocal, rsqrt = _maths(maths.Reciprocal, "reciprocal"), _maths(maths.Rsqrt, "rsqrt")
    del _maths

    def _rounding(function, name: str):
        """``x.floor()`` ...: integers and bools are whole already (a copy, as PyTorch)."""

        def method(self):
            if self.dtype is dtypes.bool_:
                raise op_error(RuntimeError, name, f'"{name}_vml_cpu" not implemented for '
                               "'Bool'")
            if not self.is_floating_point():
                return self.clone()
            return function.apply(self)

        method.__name__ = method.__qualname__ = name
        method.__doc__ = function.__doc__
        return method

    floor, ceil = _rounding(maths.Floor, "floor"), _rounding(maths.Ceil, "ceil")
    trunc = _rounding(maths.Trunc, "trunc")
    _round = _rounding(maths.Round, "round")
    del _rounding

    def round(self, decimals: int = 0):
        """Nearest whole number, halves to the even one (0.5 -> 0, 1.5 -> 2, -2.5 -> -2);
        with ``decimals``: to that many decimal places, as PyTorch computes it
        (round(x * 10**decimals) / 10**decimals, or x / 10**-decimals for negative ones)."""
        if decimals == 0:
            return self._round()
        if not self.is_floating_point():
            raise op_error(RuntimeError, "round", '"round_cpu" not implemented for '
                           f"'{dtypes.scalar_type_name(self.dtype)}'")
        scale = 10.0 ** builtins.abs(decimals)  # becomes a number of self's dtype
        if decimals > 0:
            return (self * scale)._round() / scale
        return (self / scale)._round() * scale

    def isnan(self):
        """Where self is NaN (bool)."""
        return maths.IsNan.apply(self)

    def isinf(self):
        """Where self is +inf or -inf (bool)."""
        return maths.IsInf.apply(self)

    def isfinite(self):
        """Where self is neither +-inf nor NaN (bool)."""
        return maths.IsFinite.apply(self)

    def frac(self):
        """a - trunc(a), the fractional part with a's sign (floats only, as PyTorch)."""
        if not self.is_floating_point():
            raise op_error(RuntimeError, "frac", '"frac_cpu" not implemented for '
                           f"'{dtypes.scalar_type_name(self.dtype)}'")
        return maths.Frac.apply(self)

    def softmax(self, dim: int):
        from numbanet.nn import functional

        return functional.softmax(self, dim)

    def log_softmax(self, dim: int):
        from numbanet.nn import functional

        return functional.log_softmax(self, dim)


class Reductions:
    """Reductions: many elements (along ``dim``, or all of them) combined into one."""

    __slots__ = ()

    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        """Sum over ``dim`` (all dims when None); bools and integers sum as int64."""
        dims = shapes.dims_tuple(dim, self.dim(), "sum")
        if dtype is None and not self.is_floating_point():
            dtype = dtypes.int64
        source = self.to(dtype) if dtype is not None else self
        return reduction.Sum.apply(source, dims, keepdim)

    def _count(self, dim, op: str) -> int:
        """How many elements each result of a reduction over ``dim`` combines."""
        dims = shapes.dims_tuple(dim, self.dim(), op)
        return math.prod(self.shape[d] for d in dims) if dims else self.numel()

    def mean(self, dim=None, keepdim: bool = False):
        if not self.is_floating_point():
            raise op_error(RuntimeError, "mean", "mean(): could not infer output dtype. Input "
                           f"dtype must be either a floating point or complex dtype. Got: "
                           f"{dtypes.scalar_type_name(self.dtype)}")
        return reduction.Mean.apply(self, shapes.dims_tuple(dim, self.dim(), "mean"), keepdim)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None):
        return self._variance(dim, unbiased, keepdim, correction, "var")

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None):
        return self._variance(dim, unbiased, keepdim, correction, "std").sqrt()

    def _variance(self, dim, unbiased: bool, keepdim: bool, correction, op: str):
        """sum (x - mean)^2 / (N - correction); N <= correction gives nan (0/0) or inf, with
        PyTorch's warning, as for the sample variance of a single value."""
        count = self._count(dim, op)
        correction = (1 if unbiased else 0) if correction is None else correction
        if count - correction <= 0:
            warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly "
                          "less than the reduction factor (input numel divided by output "
                          "numel).", UserWarning, stacklevel=3)
        centered = self - self.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / max(count - correction, 0)

    def _extreme(self, dim, keepdim, find_max, name):
        if dim is None:
            if self.numel() == 0:
                raise op_error(RuntimeError, name, f"{name}(): Expected reduction dim to be "
                               "specified for input.numel() == 0.")
            return (reduction.Max if find_max else reduction.Min).apply(self)
        dim = shapes.normalize_dim(dim, self.dim(), name)
        values, indices = reduction.MaxAlongDim.apply(self, dim, keepdim, find_max)
        return MaxResult(values, indices)

    def max(self, dim=None, keepdim: bool = False):
        """Largest element; with ``dim``: ``(values, indices)`` along that dim."""
        if isinstance(dim, tensor_module.Tensor):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, True, "max")

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, tensor_module.Tensor):
            return self.minimum(dim)
        return self._extreme(dim, keepdim, False, "min")

    def argmax(self, dim=None, keepdim: bool = False):
        if dim is None:
            return reduction.MaxAlongDim.apply(self.reshape(-1), 0, False, True)[1]
        return self.max(dim, keepdim).indices

    def argmin(self, dim=None, keepdim: bool = False):
        if dim is None:
            return reduction.MaxAlongDim.apply(self.reshape(-1), 0, False, False)[1]
        return self.min(dim, keepdim).indices

    def all(self, dim=None, keepdim: bool = False):
        """Whether every element (along ``dim``) is nonzero: no zero among them. bool, but
        uint8 for uint8 input, as in PyTorch."""
        found = (self == 0).sum(dim, keepdim) == 0
        return found.to(dtypes.uint8) if self.dtype is dtypes.uint8 else found

    def any(self, dim=None, keepdim: bool = False):
        """Whether some element (along ``dim``) is nonzero."""
        found = (self != 0).sum(dim, keepdim) > 0
        return found.to(dtypes.uint8) if self.dtype is dtypes.uint8 else found


class InPlace:
    """In-place updates (``x.add_(y)``, ``x += y``, ``x.fill_(0)``): the tensor's own memory
    changes and its version counter is bumped, so autograd can notice."""

    __slots__ = ()

    def _check_inplace(self, op: str) -> None:
        """PyTorch's refusals: changing a leaf that autograd tracks (or a view of one), and
        writing through a view where several elements share one memory location."""
        if grad_mode.is_grad_enabled():
            if self.requires_grad and self.is_leaf:
                raise op_error(RuntimeError, op, "a leaf Variable that requires grad is being "
                               "used in an in-place operation. (Wrap the update in `with "
                               "numbanet.no_grad():`, as optimizers do.)")
            if self._is_view_in_graph():
                self._refuse_view_of_tracked_tensor(op)
        if shapes.has_internal_overlap(self.shape, self.stride()):
            raise op_error(RuntimeError, op, "unsupported operation: more than one element "
                           "of the written-to tensor refers to a single memory location. "
                           "Please clone() the tensor before performing the operation.")

    def _is_view_in_graph(self) -> bool:
        """Whether a view op (slice, reshape, transpose ...) made this tensor from another
        that autograd tracks, sharing its memory (a reshape may have had to copy)."""
        node = self.grad_fn
        if node is None or node.view_of is None:
            return False
        return not isinstance(self._data, np.ndarray) or np.may_share_memory(self._data,
                                                                             node.view_of)

    def _refuse_view_of_tracked_tensor(self, op: str) -> None:
        """Writing through a view would change its base behind the base's own graph node:
        PyTorch rewrites the base's history; numbanet refuses, rather than compute a wrong
        gradient. Walks down the chain of views to the tensor they all share."""
        node = self.grad_fn
        while node.view_of is not None:
            edge = node.next_edges[0]
            node = edge.node
            if isinstance(node, AccumulateGrad):
                raise op_error(RuntimeError, op, "a view of a leaf Variable that requires "
                               "grad is being used in an in-place operation.")
        raise op_error(RuntimeError, op, "an in-place change through a view (a slice, "
                       "reshape or transpose) of a tensor that requires grad is not supported "
                       "in numbanet: write into the tensor itself (x[0, 1:3] = v rather than "
                       "x[0][1:3] = v), or clone() the view first.")

    def _assign(self, op: str, key: tuple, advanced: bool, value: Tensor) -> Tensor:
        """Write ``value`` into ``self[key]``: one Assign node, which becomes ``grad_fn``."""
        self._check_inplace(op)
        out = assign.Assign.apply(self, key, advanced, value)
        self._version_box[0] += 1
        if out.grad_fn is not None:
            self.grad_fn, self._output_index, self.requires_grad = out.grad_fn, 0, True
        return self

    def _update(self, op: str, compute, *operands) -> Tensor:
        """``self = compute(self)`` in self's memory: ``x += y`` is ``x[...] = x + y``.

        When autograd watches, ``compute`` gets a copy of the old values: an op like ``*``
        saves its inputs for backward, and the assignment is about to overwrite them.
        """
        self._check_inplace(op)
        tracked = grad_mode.is_grad_enabled() and any(
            isinstance(t, tensor_module.Tensor) and t.requires_grad for t in (self, *operands))
        value = compute(self.clone() if tracked else self)
        if not dtypes.can_cast(value.dtype, self.dtype):
            raise op_error(RuntimeError, op, f"result type "
                           f"{dtypes.scalar_type_name(value.dtype)} can't be cast to the "
                           f"desired output type {dtypes.scalar_type_name(self.dtype)}")
        self._check_fits(op, value.shape)
        return self._assign(op, (Ellipsis,), False, value)

    def _resize_for_out(self, shape: tuple) -> None:
        """Give this tensor new memory of ``shape`` (``out=`` of another shape, PyTorch's
        resize): the old values are gone, the new ones are written next."""
        self._data = creation.empty(shape, dtype=self.dtype, device=self.device)._data
        self._version_box[0] += 1

    def _check_fits(self, op: str, shape: tuple) -> None:
        """An in-place result must broadcast to this tensor's own shape."""
        broadcast = shapes.broadcast_shape(op, self.shape, shape)
        if broadcast != self.shape:
            raise op_error(RuntimeError, op, f"output with shape {list(self.shape)} doesn't "
                           f"match the broadcast shape {list(broadcast)}")

    def add_(self, other, alpha=1):
        return self._update("add_", lambda old: old.add(other, alpha), other)

    def sub_(self, other, alpha=1):
        return self._update("sub_", lambda old: old.sub(other, alpha), other)

    def mul_(self, other):
        return self._update("mul_", lambda old: old * other, other)

    def div_(self, other):
        return self._update("div_", lambda old: old / other, other)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._update("clamp_", lambda old: old.clamp(min, max), min, max)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def _inplace_maths(name: str):
        """``x.name_()``: ``x.name()`` written into x (an integer x refuses a float result)."""

        def method(self):
            return self._update(f"{name}_", lambda old: getattr(old, name)())

        method.__name__ = method.__qualname__ = f"{name}_"
        method.__doc__ = f"In-place version of :meth:`{name}`."
        return method

    tan_, asin_, acos_, atan_ = (_inplace_maths("tan"), _inplace_maths("asin"),
                                 _inplace_maths("acos"), _inplace_maths("atan"))
    sinh_, cosh_ = _inplace_maths("sinh"), _inplace_maths("cosh")
    asinh_, atanh_ = _inplace_maths("asinh"), _inplace_maths("atanh")
    exp2_, expm1_ = _inplace_maths("exp2"), _inplace_maths("expm1")
    log2_, log10_ = _inplace_maths("log2"), _inplace_maths("log10")
    log1p_, erf_ = _inplace_maths("log1p"), _inplace_maths("erf")
    floor_, ceil_ = _inplace_maths("floor"), _inplace_maths("ceil")
    trunc_, frac_ = _inplace_maths("trunc"), _inplace_maths("frac")
    reciprocal_, rsqrt_ = _inplace_maths("reciprocal"), _inplace_maths("rsqrt")
    square_, sign_ = _inplace_maths("square"), _inplace_maths("sign")
    del _inplace_maths

    def round_(self, decimals: int = 0):
        """In-place version of :meth:`round`."""
        return self._update("round_", lambda old: old.round(decimals))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if isinstance(value, tensor_module.Tensor):
            if value.dim():
                raise op_error(RuntimeError, "fill_", "fill_ only supports 0-dimension value "
                               f"tensor but got tensor with {value.dim()} dimensions.")
            value = value.to(self.device)  # a CPU number may fill a GPU tensor
        return self._assign("fill_", (Ellipsis,), False, self._value_operand(value))

    def copy_(self, source: Tensor):
        """Copy ``source``'s values (broadcast, converted, moved to this device) in here."""
        if source._backend is not self._backend:
            source = source.to(self.device)
        self._check_fits("copy_", source.shape)
        return self._assign("copy_", (Ellipsis,), False, source)

    def uniform_(self, low: float = 0.0, high: float = 1.0):
        from numbanet.random import numpy_generator

        values = numpy_generator().uniform(low, high, self.shape).astype(self._data.dtype)
        return self.copy_(creation.from_numpy(values))

    def normal_(self, mean: float = 0.0, std: float = 1.0):
        from numbanet.random import numpy_generator

        values = numpy_generator().normal(mean, std, self.shape).astype(self._data.dtype)
        return self.copy_(creation.from_numpy(values))


class MaxResult(tuple):
    """``(values, indices)`` from ``max(dim)``, also readable as ``.values``/``.indices``."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


from numbanet import tensor as tensor_module  # noqa: E402 - the modules import each other
