"""``Tensor``: an n-dimensional array that remembers how it was computed.

A Tensor holds

- ``_data``: the storage — a numpy array on the CPU, a numba ``DeviceNDArray`` on the GPU —
  possibly a *view* (shape and strides over another tensor's memory),
- ``requires_grad`` / ``grad`` / ``grad_fn``: autograd's state. ``grad_fn`` is the
  :class:`~numbanet.autograd.function.Node` of the op that produced it (None for leaves),
- ``_version_box``: a counter shared with its views, bumped by every in-place change, so
  backward can refuse to use a saved tensor that was modified after being saved.

Every method is a thin layer: check the arguments (``numbanet/shapes.py``), pick the
result's dtype (``numbanet/dtypes.py``), then call a ``Function`` from ``numbanet/ops`` —
that is where the formulas, the gradients and the kernel calls live. Making tensors
(``zeros``, ``tensor``, ``rand`` ...) is ``numbanet/creation.py``.

This file is what a Tensor *is*: storage, device and dtype, autograd state, versions,
indexing, and ``_operands`` — how a method's arguments become one op's inputs. What a
tensor *does* follows one pattern, method after method, so it lives in mixin classes grouped
by topic, which ``Tensor`` inherits: reshaping and views in ``numbanet/tensor_shaping.py``,
the maths (operators, ``exp``, reductions, in-place updates) in ``numbanet/tensor_ops.py``.
They stay real methods of the class (``help(Tensor.exp)``, autocompletion, ``Tensor.sum is
Reductions.sum``), written out one by one rather than generated from a table, so each reads
as the PyTorch method it mirrors.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from numbanet import creation, dtypes, printing, shapes
from numbanet.autograd import grad_mode
from numbanet.creation import full_like, tensor
from numbanet.device import CPU, as_device, device
from numbanet.errors import op_error
from numbanet.kernels import backend_for
from numbanet.kernels import cpu as cpu_backend
from numbanet.ops import elementwise as ew
from numbanet.ops import shape as shape_ops
from numbanet.shapes import Size
from numbanet.tensor_ops import Arithmetic, InPlace, Reductions
from numbanet.tensor_selection import Selection
from numbanet.tensor_shaping import Shaping

_tensor_ids = itertools.count()
_NUMBER = (int, float, bool, np.number, np.bool_)
_ndarray = np.ndarray
_new_object = object.__new__


class Tensor(Shaping, Arithmetic, Reductions, InPlace, Selection):
    """An n-dimensional array with automatic differentiation."""

    __slots__ = ("_data", "_backend", "requires_grad", "grad", "grad_fn", "_output_index",
                 "_uid", "_version_box", "_hooks", "_retains_grad", "_grad_accumulator",
                 "__weakref__")
    is_quantized = False  # True for numbanet.ao.quantization's QuantizedTensor

    def __init__(self, data=(), dtype=None, device=None, requires_grad: bool = False):
        made = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self._adopt(made)

    def _adopt(self, other: Tensor) -> None:
        for name in Tensor.__slots__[:-1]:
            setattr(self, name, getattr(other, name))
        self._grad_accumulator = None  # its own node, made when a graph first reads it

    @classmethod
    def _from_data(cls, data, base: Tensor | None = None, requires_grad: bool = False):
        """Wrap a device array (no copy). ``base``: share its version counter (a view).
        (An op's fresh result on the per-op path: :func:`wrap_result`, a third cheaper.)"""
        if type(data) is _ndarray:
            backend = cpu_backend
        elif isinstance(data, (np.generic, int, float, bool)):
            data = np.asarray(data)
            backend = cpu_backend
        else:
            backend = backend_for("cuda")
        out = wrap_result(data, backend, cls)
        out.requires_grad = requires_grad
        if base is not None:
            out._version_box = base._version_box
        return out

    # ---- metadata -----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[shapes.normalize_dim(dim, self.dim(), "size")]

    def dim(self) -> int:
        return len(self._data.shape)

    ndim = property(dim)

    def numel(self) -> int:
        return math.prod(self._data.shape)

    nelement = numel

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.as_dtype(self._data.dtype)

    @staticmethod
    def _dtype_from_numpy(numpy_dtype) -> dtypes.DType:
        return dtypes.as_dtype(numpy_dtype)

    @property
    def device(self) -> device:
        return CPU if self._backend is cpu_backend else device("cuda", 0)

    @property
    def is_cuda(self) -> bool:
        return self._backend is not cpu_backend

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous) if hasattr(self._data, "flags") else bool(
            self._data.is_c_contiguous())

    def stride(self, dim: int | None = None):
        """Steps in elements between neighbours along each dim (0 along expanded dims)."""
        steps = tuple(step // self._data.dtype.itemsize for step in self._data.strides)
        return steps if dim is None else steps[shapes.normalize_dim(dim, self.dim(), "stride")]

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    @property
    def data(self) -> Tensor:
        """The same storage without autograd history (``param.data`` in old tutorials)."""
        return Tensor._from_data(self._data, base=self)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data
        self._backend = value._backend

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        return self.permute(*reversed(range(self.dim())))

    @property
    def _version(self) -> int:
        return self._version_box[0]

    # ---- conversion -------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory on the CPU, like PyTorch)."""
        if self.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if self._backend is not cpu_backend:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return self._data

    def _host(self) -> np.ndarray:
        return creation.host_array(self)

    def item(self):
        """The single value of a one-element tensor, as a Python number."""
        if self.numel() != 1:
            raise op_error(RuntimeError, "item", f"a Tensor with {self.numel()} elements "
                           "cannot be converted to Scalar")
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is "
                               "ambiguous")
        return bool(self.item())

    def __len__(self) -> int:
        if self.dim() == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def __array__(self, dtype=None, copy=None):
        array = self._host()
        return array.astype(dtype) if dtype is not None else array

    def __hash__(self) -> int:
        return id(self)

    def __deepcopy__(self, memo: dict) -> Tensor:
        """``copy.deepcopy(t)``: a new leaf of the same class (a Parameter stays one) with
        copies of the values and of ``.grad`` — what ``copy.deepcopy(model.state_dict())``
        and ``copy.deepcopy(model)`` rely on to snapshot weights."""
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol; copy a result with "
                               "t.detach().clone()")
        with grad_mode.no_grad():
            values = self.clone()
        copied = type(self)._from_data(values._data, requires_grad=self.requires_grad)
        memo[id(self)] = copied
        if self.grad is not None:
            copied.grad = self.grad.__deepcopy__(memo)
        return copied

    def __repr__(self) -> str:
        return printing.tensor_repr(self)  # PyTorch's format: numbanet/printing.py

    def __format__(self, format_spec: str) -> str:
        return printing.tensor_format(self, format_spec)  # f"{loss:.3f}" on a 0-d tensor

    # ---- devices and dtypes ---------------------------------------------------------------
    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy=False):
        """Move to a device and/or convert to a dtype: ``x.to("cuda")``, ``x.to(float64)``."""
        for arg in args:
            if isinstance(arg, Tensor):  # first: `arg in (...)` would compare elementwise
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, dtypes.DType) or arg in (float, int, bool):
                dtype = arg
            else:
                device = arg
        out = self
        if device is not None:
            target = as_device(device)
            if target.type == "cuda":
                from numbanet import cuda

                cuda._require_available()
            if target.type != out.device.type:
                out = shape_ops.ToDevice.apply(out, target)
        if dtype is not None:
            numpy_dtype = dtypes.as_dtype(dtype).numpy
            if numpy_dtype != out._data.dtype:
                out = shape_ops.Cast.apply(out, numpy_dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def type(self, dtype=None):
        if dtype is None:
            names = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                     "bool": "BoolTensor", "int32": "IntTensor", "uint8": "ByteTensor"}
            prefix = "numbanet.cuda." if self.is_cuda else "numbanet."
            return prefix + names[self.dtype.name]
        return self.to(dtype)

    # ---- autograd -----------------------------------------------------------------------
    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Compute d self/d leaf for every leaf and *add* it to ``leaf.grad``."""
        from numbanet.autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def detach(self) -> Tensor:
        """The same storage, cut from the graph: no ``grad_fn``, ``requires_grad=False``."""
        return Tensor._from_data(self._data, base=self)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        if requires_grad and not self.is_floating_point():
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if self.grad_fn is not None:
            hooks = self.grad_fn.hooks_for_output(self._output_index)
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True

        def keep(grad):
            self.grad = grad.clone() if self.grad is None else self.grad + grad

        self.register_hook(keep)

    # ---- indexing ---------------------------------------------------------------------------
    def _index(self, key) -> tuple[tuple, bool]:
        """The key's parts with tensors as host arrays, checked; and whether it gathers."""
        parts = key if isinstance(key, tuple) else (key,)
        parts = tuple(creation.host_array(p) if isinstance(p, Tensor) else p for p in parts)
        return shapes.index_parts(parts, self.shape)

    def __getitem__(self, key) -> Tensor:
        """``x[key]``: a view for ints, slices, None and ``...``; a copy (gather) for
        integer tensors, lists and boolean masks."""
        key, advanced = self._index(key)
        if advanced:
            return shape_ops.AdvancedIndex.apply(self, key)
        return shape_ops.BasicIndex.apply(self, key)

    def __setitem__(self, key, value) -> None:
        """``x[key] = value``, written into x's memory (so into the tensor x is a view of).
        A position named twice keeps the last value."""
        key, advanced = self._index(key)
        value = self._value_operand(value)
        shapes.check_assignable(value.shape, shapes.indexed_shape(self.shape, key), advanced)
        self._assign("__setitem__", key, advanced, value)

    def _value_operand(self, value) -> Tensor:
        """A value to write into this tensor, as a tensor on its device."""
        if isinstance(value, Tensor):
            self._check_same_device(value, "assignment")
            return value
        if isinstance(value, _NUMBER):
            return Tensor._from_data(creation.scalar_data(value, self._data.dtype, self.device))
        return tensor(value, dtype=self.dtype, device=self.device)

    def scatter_add(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """out = self with source added at the positions index names along dim."""
        dim = shapes.normalize_dim(dim, self.dim(), "scatter_add")
        return shape_ops.ScatterAdd.apply(self, dim, index, source)

    def masked_fill(self, mask: Tensor, value) -> Tensor:
        return where(mask, full_like(self, value), self)

    def where(self, condition: Tensor, other) -> Tensor:
        return where(condition, self, other)

    # ---- arithmetic ---------------------------------------------------------------------
    def _check_same_device(self, other: Tensor, op: str) -> None:
        if other._backend is not self._backend:
            raise op_error(RuntimeError, op, "Expected all tensors to be on the same device, "
                           f"but found at least two devices, {self.device} and "
                           f"{other.device}! Move one with .to(device) first.")

    def _operands(self, other, op: str, result_dtype=None) -> tuple[Tensor, Tensor]:
        """``self`` and ``other`` as tensors of one dtype — PyTorch's result type, or
        ``result_dtype`` — on one device, their shapes checked to broadcast."""
        if isinstance(other, (np.ndarray, list, tuple)):
            other = tensor(other, device=self.device)
        if isinstance(other, Tensor):
            self._check_same_device(other, op)
            if other._data.shape != self._data.shape:
                shapes.broadcast_shape(op, self.shape, other.shape)
            if result_dtype is None and other._data.dtype == self._data.dtype:
                return self, other  # one dtype already: nothing to promote (the common case)
        elif not isinstance(other, _NUMBER):
            raise TypeError(f"unsupported operand type(s) for {op}: 'Tensor' and "
                            f"'{type(other).__name__}'")
        dtype = result_dtype or dtypes.result_type(self, other)
        left = self if self.dtype is dtype else self.to(dtype)
        if isinstance(other, Tensor):
            return left, other if other.dtype is dtype else other.to(dtype)
        return left, Tensor._from_data(creation.scalar_data(other, dtype.numpy, self.device))


def wrap_result(data, backend, cls=Tensor) -> Tensor:
    """A new Tensor (or ``cls``) around ``data``, an array an op just made on ``backend``
    (its kernel module): no history yet, its own version counter. Every slot of a fresh
    Tensor is set here, and only here (:meth:`Tensor._from_data` starts from it too).

    What :meth:`Tensor._from_data` does for this one case, as a plain function: no class to
    bind, no argument to sort out (numbers, a view's base, the device from the array's
    type). It runs once per op, so it is written for speed: a Python function call, one
    object and its eleven slots (measured: 0.21 us a call, the classmethod 0.33 us).
    """
    out = _new_object(cls)
    out._data = data
    out._backend = backend
    out.requires_grad = False
    out.grad = None
    out.grad_fn = None
    out._output_index = 0
    out._uid = next(_tensor_ids)
    out._version_box = [0]
    out._hooks = None
    out._retains_grad = False
    out._grad_accumulator = None  # a weak reference to its AccumulateGrad node, once made
    return out


class _RemovableHandle:
    def __init__(self, hooks: list, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


# ---- functions over several tensors ------------------------------------------------------


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim: all shapes must match except along ``dim``."""
    tensors = list(tensors)
    dim = shapes.check_cat([t.shape for t in tensors], dim)
    for other in tensors[1:]:
        tensors[0]._check_same_device(other, "cat")
    dtype = dtypes.result_type(*tensors)
    return shape_ops.Cat.apply(dim, *(t.to(dtype) for t in tensors))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim."""
    tensors = list(tensors)
    dim = shapes.check_stack([t.shape for t in tensors], dim)
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(condition: Tensor, input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input`` where ``condition`` is True, else ``other`` (elementwise, broadcasting)."""
    if not isinstance(input, Tensor):
        input = tensor(input, device=condition.device)  # noqa: A001
    left, right = input._operands(other, "where")
    shapes.broadcast_shape("where", condition.shape, left.shape)
    return ew.Where.apply(condition.to(dtypes.bool_), left, right)
