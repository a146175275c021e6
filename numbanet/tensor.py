"""``Tensor``: an n-dimensional array that remembers how it was computed.

A Tensor holds

- ``_data``: the storage — a numpy array on the CPU, a numba ``DeviceNDArray`` on the GPU —
  possibly a *view* (shape and strides over another tensor's memory),
- ``requires_grad`` / ``grad`` / ``grad_fn``: autograd's state. ``grad_fn`` is the
  :class:`~numbanet.autograd.function.Node` of the op that produced it (None for leaves),
- ``_version_box``: a counter shared with its views, bumped by every in-place change, so
  backward can refuse to use a saved tensor that was modified after being saved.

Every method here is a thin layer: check arguments, promote dtypes, then call a
``Function`` from ``numbanet/ops`` — that is where the formulas and gradients live.
"""

from __future__ import annotations

import builtins
import itertools
import math
from collections.abc import Sequence

import numpy as np

from numbanet import dtypes
from numbanet.autograd import grad_mode
from numbanet.kernels import backend_for
from numbanet.kernels import cpu as cpu_backend
from numbanet.device import CPU, as_device, device
from numbanet.errors import op_error
from numbanet.ops import elementwise as ew
from numbanet.ops import reduction
from numbanet.ops import shape as shape_ops
from numbanet.ops.matmul import matmul as _matmul

_tensor_ids = itertools.count()
_PROMOTION_ORDER = {"b": 0, "u": 1, "i": 2, "f": 3}


def _promote(first: np.dtype, second: np.dtype) -> np.dtype:
    """The dtype of ``a op b`` for two tensors: the higher kind, then the wider size."""
    if first == second:
        return first
    rank_first = (_PROMOTION_ORDER[first.kind], first.itemsize)
    rank_second = (_PROMOTION_ORDER[second.kind], second.itemsize)
    return first if rank_first >= rank_second else second


def _scalar_dtype(tensor_dtype: np.dtype, value) -> np.dtype:
    """The dtype of ``tensor op number``: the tensor's, unless the number is of a higher
    kind (an int tensor times 0.5 is float32, as in PyTorch)."""
    if isinstance(value, (bool, np.bool_)):
        return tensor_dtype
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64) if tensor_dtype.kind == "b" else tensor_dtype
    return tensor_dtype if tensor_dtype.kind == "f" else dtypes.DEFAULT_FLOAT.numpy


_device_scalars: dict = {}  # (dtype, the value's bytes) -> 0-d GPU array; see _scalar_data


def _scalar_data(backend, value, dtype: np.dtype):
    """``value`` as a 0-d array of ``dtype`` on ``backend``'s device: the ``2.0`` of ``x * 2.0``.

    On the GPU each such constant is made once, by a fill kernel, and reused: copying the
    number up for every op would make the host wait for a transfer each time. Keyed by the
    value's bytes, so that 0.0 and -0.0 (or two NaNs) never share an entry.
    """
    scalar = np.array(value, dtype=dtype)
    if backend is cpu_backend:
        return scalar
    key = (scalar.dtype.str, scalar.tobytes())
    data = _device_scalars.get(key)
    if data is None:
        if len(_device_scalars) >= 1024:  # a loop over many distinct numbers stays bounded
            _device_scalars.clear()
        data = _device_scalars[key] = backend.full((), scalar.item(), scalar.dtype)
    return data


def _broadcast_shape(op: str, first: tuple, second: tuple) -> tuple:
    """PyTorch's broadcasting rule, with an error naming the op, shapes and your line."""
    first, second = tuple(first), tuple(second)  # the CUDA simulator's shapes aren't tuples
    if first == second:
        return first
    result = []
    for index in range(1, max(len(first), len(second)) + 1):
        a = first[-index] if index <= len(first) else 1
        b = second[-index] if index <= len(second) else 1
        if a != b and a != 1 and b != 1:
            dim = max(len(first), len(second)) - index
            raise op_error(
                RuntimeError, op,
                f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                f"non-singleton dimension {dim}; shapes {list(first)} and {list(second)} "
                "do not broadcast")
        result.append(b if a == 1 else a)
    return tuple(reversed(result))


def _normalize_dim(dim: int, ndim: int, op: str = "dim") -> int:
    rank = builtins.max(ndim, 1)
    if not -rank <= dim < rank:
        raise op_error(IndexError, op, f"Dimension out of range (expected to be in range of "
                       f"[{-rank}, {rank - 1}], but got {dim})")
    return dim % rank


def _dims_tuple(dim, ndim: int) -> tuple:
    if dim is None:
        return ()
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(_normalize_dim(d, ndim) for d in dims))


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    if len(shape) == 1 and isinstance(shape[0], Size):
        return tuple(shape[0])
    return tuple(shape)


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's ``torch.Size([64, 10])``."""

    def __repr__(self) -> str:
        return f"numbanet.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)


class Tensor:
    """An n-dimensional array with automatic differentiation."""

    __slots__ = ("_data", "_backend", "requires_grad", "grad", "grad_fn", "_output_index",
                 "_uid", "_version_box", "_hooks", "_retains_grad", "__weakref__")

    def __init__(self, data=(), dtype=None, device=None, requires_grad: bool = False):
        made = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self._adopt(made)

    def _adopt(self, other: Tensor) -> None:
        for name in Tensor.__slots__[:-1]:
            setattr(self, name, getattr(other, name))

    @classmethod
    def _from_data(cls, data, base: Tensor | None = None, requires_grad: bool = False):
        """Wrap a backend array (no copy). ``base``: share its version counter (a view)."""
        if type(data) is not np.ndarray:
            if isinstance(data, (np.generic, int, float, bool)):
                data = np.asarray(data)
                backend = cpu_backend
            else:
                backend = backend_for("cuda")
        else:
            backend = cpu_backend
        out = object.__new__(cls)
        out._data = data
        out._backend = backend
        out.requires_grad = requires_grad
        out.grad = None
        out.grad_fn = None
        out._output_index = 0
        out._uid = next(_tensor_ids)
        out._version_box = base._version_box if base is not None else [0]
        out._hooks = None
        out._retains_grad = False
        return out

    # ---- metadata -----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_normalize_dim(dim, self.dim(), "size")]

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
        return self._backend.to_host(self._data)

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
        copied = type(self)._from_data(self._backend.astype(self._data, self._data.dtype),
                                       requires_grad=self.requires_grad)
        memo[id(self)] = copied
        if self.grad is not None:
            copied.grad = self.grad.__deepcopy__(memo)
        return copied

    def __repr__(self) -> str:
        body = np.array2string(self._host(), separator=", ", precision=4,
                               prefix="tensor(", threshold=200)
        extras = []
        if self._backend is not cpu_backend:
            extras.append("device='cuda:0'")
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.backward_name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

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

    # ---- shape ------------------------------------------------------------------------------
    def view(self, *shape) -> Tensor:
        shape = self._resolve_shape(_shape_arg(shape), "view")
        if not self.is_contiguous() and shape != self.shape:
            raise op_error(RuntimeError, "view", "view size is not compatible with input "
                           "tensor's size and stride (at least one dimension spans across "
                           "two contiguous subspaces). Use .reshape(...) instead.")
        return shape_ops.Reshape.apply(self, shape)

    def reshape(self, *shape) -> Tensor:
        shape = self._resolve_shape(_shape_arg(shape), "reshape")
        if shape == self._data.shape:
            return self
        return shape_ops.Reshape.apply(self, shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def _resolve_shape(self, shape: tuple, op: str) -> tuple:
        numel = self.numel()
        if shape.count(-1) > 1:
            raise op_error(RuntimeError, op, "only one dimension can be inferred")
        known = math.prod(n for n in shape if n != -1)
        if -1 in shape:
            if known == 0 or numel % known:
                raise op_error(RuntimeError, op, f"shape '{list(shape)}' is invalid for input "
                               f"of size {numel}")
            shape = tuple(numel // known if n == -1 else n for n in shape)
        elif known != numel:
            raise op_error(RuntimeError, op, f"shape '{list(shape)}' is invalid for input of "
                           f"size {numel} (the input has shape {list(self.shape)})")
        return tuple(int(n) for n in shape)

    def permute(self, *dims) -> Tensor:
        dims = tuple(_normalize_dim(d, self.dim(), "permute") for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.dim())):
            raise op_error(RuntimeError, "permute", f"dims {list(dims)} are not a permutation "
                           f"of the {self.dim()} dims of a tensor of shape {list(self.shape)}")
        return shape_ops.Permute.apply(self, dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.dim()))
        first = _normalize_dim(dim0, self.dim(), "transpose")
        second = _normalize_dim(dim1, self.dim(), "transpose")
        axes[first], axes[second] = axes[second], axes[first]
        return shape_ops.Permute.apply(self, tuple(axes))

    def t(self) -> Tensor:
        if self.dim() > 2:
            raise op_error(RuntimeError, "t", f"t() expects a tensor with <= 2 dimensions, but "
                           f"self is {self.dim()}D")
        return self if self.dim() < 2 else self.transpose(0, 1)

    def unsqueeze(self, dim: int) -> Tensor:
        dim = _normalize_dim(dim, self.dim() + 1, "unsqueeze")
        shape = self.shape[:dim] + (1,) + self.shape[dim:]
        return shape_ops.Reshape.apply(self, shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            dim = _normalize_dim(dim, self.dim(), "squeeze")
            if self.dim() == 0 or self.shape[dim] != 1:
                return self
            shape = self.shape[:dim] + self.shape[dim + 1:]
        return shape_ops.Reshape.apply(self, shape) if shape != self.shape else self

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.dim() == 0:
            return self.reshape(1)
        start = _normalize_dim(start_dim, self.dim(), "flatten")
        end = _normalize_dim(end_dim, self.dim(), "flatten")
        shape = self.shape[:start] + (math.prod(self.shape[start:end + 1]),) + \
            self.shape[end + 1:]
        return self.reshape(shape)

    def expand(self, *shape) -> Tensor:
        shape = _shape_arg(shape)
        extra = len(shape) - self.dim()
        if extra < 0:
            raise op_error(RuntimeError, "expand", f"the number of sizes provided "
                           f"({len(shape)}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({self.dim()})")
        target = []
        for index, size in enumerate(shape):
            current = self.shape[index - extra] if index >= extra else 1
            if size == -1:
                size = current
            if current != 1 and size != current:
                raise op_error(RuntimeError, "expand", f"The expanded size of the tensor "
                               f"({size}) must match the existing size ({current}) at "
                               f"non-singleton dimension {index}. Target sizes: "
                               f"{list(shape)}. Tensor sizes: {list(self.shape)}")
            target.append(size)
        target = tuple(target)
        return self if target == self.shape else shape_ops.Expand.apply(self, target)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def contiguous(self) -> Tensor:
        return self if self.is_contiguous() else shape_ops.Contiguous.apply(self)

    def clone(self) -> Tensor:
        return shape_ops.Clone.apply(self)

    def repeat(self, *sizes) -> Tensor:
        sizes = _shape_arg(sizes)
        out = self.reshape((1,) * (len(sizes) - self.dim()) + tuple(self.shape))
        for dim, count in enumerate(sizes):
            if count != 1:
                out = cat([out] * count, dim)
        return out

    def chunk(self, chunks: int, dim: int = 0) -> list[Tensor]:
        size = math.ceil(self.shape[dim] / chunks)
        return self.split(size, dim)

    def split(self, split_size: int, dim: int = 0) -> list[Tensor]:
        dim = _normalize_dim(dim, self.dim(), "split")
        return [self[(slice(None),) * dim + (slice(start, start + split_size),)]
                for start in range(0, self.shape[dim], split_size)]

    # ---- indexing ---------------------------------------------------------------------------
    def __getitem__(self, key) -> Tensor:
        key, advanced = self._index_key(key)
        if advanced:
            return shape_ops.AdvancedIndex.apply(self, key)
        return shape_ops.BasicIndex.apply(self, key)

    def _index_key(self, key):
        """Key with tensors turned into host arrays, and whether it needs a gather."""
        parts = key if isinstance(key, tuple) else (key,)
        advanced = False
        converted = []
        for part in parts:
            if isinstance(part, Tensor):
                part = part._host()
                if part.ndim == 0 and part.dtype.kind in "iu":
                    part = int(part)
                else:
                    advanced = True
            elif isinstance(part, (list, np.ndarray)):
                part = np.asarray(part)
                advanced = True
            converted.append(part)
        self._check_index(converted)
        return (tuple(converted) if isinstance(key, tuple) or len(converted) != 1
                else converted[0]), advanced

    def _check_index(self, parts) -> None:
        dim = 0
        for part in parts:
            if part is None:
                continue
            if part is Ellipsis:
                dim = self.dim() - builtins.sum(
                    1 for p in parts if p is not None and p is not Ellipsis)
                continue
            if isinstance(part, int) and not isinstance(part, bool):
                if dim >= self.dim():
                    raise op_error(IndexError, "index", f"too many indices for tensor of "
                                   f"dimension {self.dim()}")
                size = self.shape[dim]
                if not -size <= part < size:
                    raise op_error(IndexError, "index", f"index {part} is out of bounds for "
                                   f"dimension {dim} with size {size}")
            dim += part.ndim if isinstance(part, np.ndarray) and part.dtype == bool else 1

    def __setitem__(self, key, value) -> None:
        """``x[key] = value`` in place (no autograd through it, as for other in-place ops)."""
        self._check_inplace("__setitem__")
        key, advanced = self._index_key(key)
        value_data = self._as_operand_data(value)
        if not advanced:
            self._backend.copy_into(self._backend.basic_index(self._data, key), value_data)
        else:
            positions = self._backend.from_host(shape_ops.flat_positions(self.shape, key))
            flat = self._backend.reshape(self._data, (-1,))
            current = self._backend.gather(flat, positions)
            target = self._backend.empty(current.shape, self._data.dtype)
            self._backend.copy_into(target, value_data)
            self._backend.scatter_add(flat, positions, self._backend.sub(target, current))
        self._version_box[0] += 1

    def _as_operand_data(self, value):
        if isinstance(value, Tensor):
            return value._data
        if isinstance(value, (int, float, bool, np.number, np.bool_)):
            return _scalar_data(self._backend, value, self._data.dtype)
        return np.asarray(value, dtype=self._data.dtype) if self._backend is cpu_backend \
            else self._backend.from_host(np.asarray(value, dtype=self._data.dtype))

    def scatter_add(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """out = self with source added at the positions index names along dim."""
        return shape_ops.ScatterAdd.apply(self, _normalize_dim(dim, self.dim()), index, source)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """out[i][j] = self[index[i][j]][j] (dim 0), self[i][index[i][j]] (dim 1), ..."""
        dim = _normalize_dim(dim, self.dim(), "gather")
        coordinates = []
        for axis in range(self.dim()):
            if axis == dim:
                coordinates.append(index._host())
            else:
                shape = [1] * self.dim()
                shape[axis] = index.shape[axis]
                coordinates.append(np.arange(index.shape[axis]).reshape(shape))
        return shape_ops.AdvancedIndex.apply(self, tuple(coordinates))

    def masked_fill(self, mask: Tensor, value) -> Tensor:
        filler = full_like(self, value)
        return where(mask, filler, self)

    def where(self, condition: Tensor, other) -> Tensor:
        return where(condition, self, other)

    # ---- arithmetic ---------------------------------------------------------------------
    def _check_same_device(self, other: Tensor, op: str) -> None:
        if other._backend is not self._backend:
            raise op_error(RuntimeError, op, "Expected all tensors to be on the same device, "
                           f"but found at least two devices, {self.device} and "
                           f"{other.device}! Move one with .to(device) first.")

    def _binary_operands(self, other, op: str) -> tuple[Tensor, Tensor]:
        """Both operands as tensors of one dtype on one device, shapes broadcastable."""
        if isinstance(other, Tensor):
            self._check_same_device(other, op)
            _broadcast_shape(op, self._data.shape, other._data.shape)
            first, second = self._data.dtype, other._data.dtype
            if first != second:
                target = _promote(first, second)
                left = self if first == target else shape_ops.Cast.apply(self, target)
                right = other if second == target else shape_ops.Cast.apply(other, target)
                return left, right
            return self, other
        if isinstance(other, (np.ndarray, list, tuple)):
            return self._binary_operands(tensor(other, device=self.device), op)
        if not isinstance(other, (int, float, bool, np.number, np.bool_)):
            raise TypeError(f"unsupported operand type(s) for {op}: 'Tensor' and "
                            f"'{type(other).__name__}'")
        target = _scalar_dtype(self._data.dtype, other)
        left = self if target == self._data.dtype else shape_ops.Cast.apply(self, target)
        return left, Tensor._from_data(_scalar_data(self._backend, other, target))

    def _float_operands(self, other, op: str) -> tuple[Tensor, Tensor]:
        """Like ``_binary_operands`` but integers become float32 (true division)."""
        left, right = self._binary_operands(other, op)
        if left._data.dtype.kind != "f":
            left = left.to(dtypes.DEFAULT_FLOAT)
            right = right.to(dtypes.DEFAULT_FLOAT)
        return left, right

    def __add__(self, other):
        return ew.Add.apply(*self._binary_operands(other, "add"))

    def __radd__(self, other):
        return ew.Add.apply(*reversed(self._binary_operands(other, "add")))

    def __sub__(self, other):
        return ew.Sub.apply(*self._binary_operands(other, "sub"))

    def __rsub__(self, other):
        return ew.Sub.apply(*reversed(self._binary_operands(other, "sub")))

    def __mul__(self, other):
        return ew.Mul.apply(*self._binary_operands(other, "mul"))

    def __rmul__(self, other):
        return ew.Mul.apply(*reversed(self._binary_operands(other, "mul")))

    def __truediv__(self, other):
        return ew.Div.apply(*self._float_operands(other, "div"))

    def __rtruediv__(self, other):
        return ew.Div.apply(*reversed(self._float_operands(other, "div")))

    def __pow__(self, exponent):
        return ew.Pow.apply(*self._binary_operands(exponent, "pow"))

    def __rpow__(self, base):
        return ew.Pow.apply(*reversed(self._binary_operands(base, "pow")))

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            return NotImplemented
        self._check_same_device(other, "matmul")
        left, right = self, other
        if left._data.dtype != right._data.dtype:
            target = _promote(left._data.dtype, right._data.dtype)
            left, right = left.to(dtypes.as_dtype(target)), right.to(dtypes.as_dtype(target))
        return _matmul(left, right)

    def __rmatmul__(self, other):
        return tensor(other, device=self.device) @ self

    def __neg__(self):
        return ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __invert__(self):
        return ew.LogicalNot.apply(self)

    def _compare(self, other, kernel_name: str):
        return ew.Compare.apply(*self._binary_operands(other, kernel_name), kernel_name)

    def __eq__(self, other):  # elementwise, as in PyTorch
        return self._compare(other, "eq")

    def __ne__(self, other):
        return self._compare(other, "ne")

    def __lt__(self, other):
        return self._compare(other, "lt")

    def __le__(self, other):
        return self._compare(other, "le")

    def __gt__(self, other):
        return self._compare(other, "gt")

    def __ge__(self, other):
        return self._compare(other, "ge")

    def __and__(self, other):
        return self._compare(other, "logical_and")

    def __or__(self, other):
        return self._compare(other, "logical_or")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self**exponent

    def matmul(self, other):
        return self @ other

    def mm(self, other):
        return self @ other

    def neg(self):
        return -self

    def maximum(self, other):
        return ew.Maximum.apply(*self._binary_operands(other, "maximum"))

    def minimum(self, other):
        return ew.Minimum.apply(*self._binary_operands(other, "minimum"))

    def _float_self(self) -> Tensor:
        return self if self.is_floating_point() else self.to(dtypes.DEFAULT_FLOAT)

    def exp(self):
        return ew.Exp.apply(self._float_self())

    def log(self):
        return ew.Log.apply(self._float_self())

    def sqrt(self):
        return ew.Sqrt.apply(self._float_self())

    def abs(self):
        return ew.Abs.apply(self)

    def sign(self):
        return ew.Sign.apply(self)

    def relu(self):
        return ew.Relu.apply(self)

    def sigmoid(self):
        return ew.Sigmoid.apply(self._float_self())

    def tanh(self):
        return ew.Tanh.apply(self._float_self())

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        if min is None and max is None:
            raise op_error(RuntimeError, "clamp", "At least one of 'min' or 'max' must not "
                           "be None")
        return ew.Clamp.apply(self, min, max)

    clip = clamp

    def square(self):
        return self * self

    def softmax(self, dim: int):
        from numbanet.nn import functional

        return functional.softmax(self, dim)

    def log_softmax(self, dim: int):
        from numbanet.nn import functional

        return functional.log_softmax(self, dim)

    # ---- reductions ---------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        source = self.to(dtype) if dtype is not None else self
        return reduction.Sum.apply(source, _dims_tuple(dim, self.dim()), keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        if not self.is_floating_point():
            raise op_error(RuntimeError, "mean", "mean(): could not infer output dtype. Input "
                           f"dtype must be either a floating point or complex dtype. Got: "
                           f"{self.dtype.name.capitalize()}")
        dims = _dims_tuple(dim, self.dim())
        count = math.prod(self.shape[d] for d in dims) if dims else self.numel()
        return self.sum(dim, keepdim) / builtins.max(count, 1) if count else \
            self.sum(dim, keepdim) * float("nan")

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None):
        dims = _dims_tuple(dim, self.dim())
        count = math.prod(self.shape[d] for d in dims) if dims else self.numel()
        correction = (1 if unbiased else 0) if correction is None else correction
        centered = self - self.mean(dim if dims else None, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / builtins.max(count - correction, 0)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False):
        return self.var(dim, unbiased=unbiased, keepdim=keepdim).sqrt()

    def _extreme(self, dim, keepdim, find_max, name):
        if dim is None:
            if self.numel() == 0:
                raise op_error(RuntimeError, name, f"{name}(): Expected reduction dim to be "
                               "specified for input.numel() == 0.")
            values, _ = reduction.MaxAlongDim.apply(self.reshape(-1), 0, False, find_max)
            return values
        dim = _normalize_dim(dim, self.dim(), name)
        values, indices = reduction.MaxAlongDim.apply(self, dim, keepdim, find_max)
        return MaxResult(values, indices)

    def max(self, dim=None, keepdim: bool = False):
        """Largest element; with ``dim``: ``(values, indices)`` along that dim."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, True, "max")

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
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

    def all(self):
        return (self != 0).sum() == self.numel()

    def any(self):
        return (self != 0).sum() > 0

    # ---- in place -------------------------------------------------------------------------
    def _check_inplace(self, op: str) -> None:
        if grad_mode.is_grad_enabled() and self.requires_grad and self.is_leaf:
            raise op_error(RuntimeError, op, "a leaf Variable that requires grad is being "
                           "used in an in-place operation. Wrap the update in "
                           "`with numbanet.no_grad():` (optimizers do).")
        if grad_mode.is_grad_enabled() and self.grad_fn is not None:
            raise op_error(RuntimeError, op, "numbanet does not differentiate through "
                           "in-place operations on tensors that are part of a graph; use the "
                           "out-of-place form (x = x + y).")

    def _inplace(self, kernel_name: str, other, op: str) -> Tensor:
        self._check_inplace(op)
        left, right = self._binary_operands(other, op)
        if left is not self:
            raise op_error(RuntimeError, op, f"result type {left.dtype} can't be cast to the "
                           f"desired output type {self.dtype}")
        broadcast = _broadcast_shape(op, self.shape, right.shape)
        if broadcast != self.shape:
            raise op_error(RuntimeError, op, f"output with shape {list(self.shape)} doesn't "
                           f"match the broadcast shape {list(broadcast)}")
        getattr(self._backend, kernel_name)(self._data, right._data, out=self._data)
        self._version_box[0] += 1
        return self

    def add_(self, other, alpha=1):
        return self._inplace("add", other * alpha if alpha != 1 else other, "add_")

    def sub_(self, other, alpha=1):
        return self._inplace("sub", other * alpha if alpha != 1 else other, "sub_")

    def mul_(self, other):
        return self._inplace("mul", other, "mul_")

    def div_(self, other):
        return self._inplace("div", other, "div_")

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_inplace("fill_")
        self._backend.fill(self._data, value.item() if isinstance(value, Tensor) else value)
        self._version_box[0] += 1
        return self

    def copy_(self, source: Tensor):
        self._check_inplace("copy_")
        if source._backend is not self._backend:
            source = source.to(self.device)
        self._backend.copy_into(self._data, source._data)
        self._version_box[0] += 1
        return self

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self.copy_(self.detach().clamp(min, max))

    def uniform_(self, low: float = 0.0, high: float = 1.0):
        from numbanet.random import numpy_generator

        values = numpy_generator().uniform(low, high, self.shape).astype(self._data.dtype)
        return self.copy_(from_numpy(values))

    def normal_(self, mean: float = 0.0, std: float = 1.0):
        from numbanet.random import numpy_generator

        values = numpy_generator().normal(mean, std, self.shape).astype(self._data.dtype)
        return self.copy_(from_numpy(values))

    def _inplace_or_new(name):
        """``x += y`` is in place when x needs no gradient, else it rebinds x to x + y."""

        def method(self, other):
            if grad_mode.is_grad_enabled() and (self.requires_grad or (
                    isinstance(other, Tensor) and other.requires_grad)):
                return getattr(self, f"__{name}__")(other)
            return getattr(self, f"{name}_")(other)

        method.__name__ = f"__i{name}__"
        return method

    __iadd__ = _inplace_or_new("add")
    __isub__ = _inplace_or_new("sub")
    __imul__ = _inplace_or_new("mul")
    __itruediv__ = _inplace_or_new("div")
    del _inplace_or_new


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


class _RemovableHandle:
    def __init__(self, hooks: list, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


# ---- creation -----------------------------------------------------------------------------


def _numpy_dtype_for(data, dtype) -> np.dtype | None:
    if dtype is not None:
        return dtypes.as_dtype(dtype).numpy
    if isinstance(data, np.ndarray) and data.dtype.kind in "fb":
        return dtypes.as_dtype(data.dtype).numpy
    if isinstance(data, np.ndarray) and data.dtype in (np.uint8, np.int8, np.int16, np.int32):
        return data.dtype
    flat = np.asarray(data)
    if flat.dtype.kind == "f":
        return dtypes.DEFAULT_FLOAT.numpy
    if flat.dtype.kind in "iu":
        return np.dtype(np.int64)
    if flat.dtype.kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"can't convert {type(data).__name__} of {flat.dtype} to a tensor")


def _place(array: np.ndarray, device, requires_grad: bool) -> Tensor:
    target = as_device(device)
    if target.type == "cuda":
        from numbanet import cuda

        cuda._require_available()
        out = Tensor._from_data(backend_for("cuda").from_host(np.ascontiguousarray(array)))
    else:
        out = Tensor._from_data(array)
    if requires_grad:
        out.requires_grad_(True)
    return out


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, tensors)."""
    if isinstance(data, Tensor):
        data = data._host()
    elif isinstance(data, (list, tuple)) and data and any(isinstance(x, Tensor) for x in data):
        data = [x._host() if isinstance(x, Tensor) else x for x in data]
    numpy_dtype = _numpy_dtype_for(data, dtype)
    array = np.array(data, dtype=numpy_dtype, copy=True)
    return _place(array, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.as_dtype(array.dtype)  # raises for unsupported dtypes
    return Tensor._from_data(array)


def _filled(shape, value, dtype, device, requires_grad) -> Tensor:
    shape = _shape_arg(shape)
    numpy_dtype = dtypes.as_dtype(dtype).numpy if dtype is not None else (
        dtypes.DEFAULT_FLOAT.numpy)
    target = as_device(device)
    if target.type == "cuda":
        from numbanet import cuda

        cuda._require_available()
    out = Tensor._from_data(backend_for(target.type).full(shape, value, numpy_dtype))
    return out.requires_grad_(True) if requires_grad else out


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(shape, 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(shape, 1, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None and isinstance(fill_value, bool):
        dtype = dtypes.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = dtypes.int64
    return _filled((tuple(size),), fill_value, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(reference: Tensor, dtype, device):
    return (dtype if dtype is not None else reference.dtype,
            device if device is not None else reference.device)


def zeros_like(reference: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return zeros(reference.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(reference: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return ones(reference.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(reference: Tensor, fill_value, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return full(reference.shape, fill_value, dtype=dtype, device=device)


def empty_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    return zeros_like(reference, dtype=dtype, device=device)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_integer = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if is_integer else dtypes.DEFAULT_FLOAT
    numpy_dtype = dtypes.as_dtype(dtype).numpy
    target = as_device(device)
    out = Tensor._from_data(backend_for(target.type).arange(start, end, step, numpy_dtype))
    return out.requires_grad_(True) if requires_grad else out


def linspace(start: float, end: float, steps: int, dtype=None, device=None) -> Tensor:
    values = np.linspace(start, end, steps)
    return tensor(values, dtype=dtype or dtypes.DEFAULT_FLOAT, device=device)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    numpy_dtype = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy
    return _place(np.eye(n, m, dtype=numpy_dtype), device, requires_grad)


def _random(shape, dtype, device, requires_grad, draw) -> Tensor:
    from numbanet.random import numpy_generator

    shape = _shape_arg(shape)
    numpy_dtype = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy
    values = draw(numpy_generator(), shape).astype(numpy_dtype, copy=False)
    return _place(values, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False,
          generator=None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    return _random(shape, dtype, device, requires_grad,
                   lambda rng, s: (generator.numpy if generator else rng).standard_normal(s))


def rand(*shape, dtype=None, device=None, requires_grad: bool = False,
         generator=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    return _random(shape, dtype, device, requires_grad,
                   lambda rng, s: (generator.numpy if generator else rng).random(s))


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    """Random integers in [low, high)."""
    from numbanet.random import numpy_generator

    if high is None:
        low, high = 0, low
    rng = generator.numpy if generator else numpy_generator()
    values = rng.integers(low, high, size=tuple(size))
    return _place(values.astype(dtypes.as_dtype(dtype or dtypes.int64).numpy), device, False)


def randperm(n: int, dtype=None, device=None, generator=None) -> Tensor:
    """A random permutation of 0 .. n-1."""
    from numbanet.random import numpy_generator

    rng = generator.numpy if generator else numpy_generator()
    values = rng.permutation(n).astype(dtypes.as_dtype(dtype or dtypes.int64).numpy)
    return _place(values, device, False)


def randn_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return randn(reference.shape, dtype=dtype, device=device)


def rand_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return rand(reference.shape, dtype=dtype, device=device)


# ---- functions over several tensors ------------------------------------------------------


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim: all shapes must match except along ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise op_error(RuntimeError, "cat", "expected a non-empty list of Tensors")
    reference = tensors[0]
    dim = _normalize_dim(dim, reference.dim(), "cat")
    for other in tensors[1:]:
        reference._check_same_device(other, "cat")
        if other.dim() != reference.dim() or any(
                a != b for i, (a, b) in enumerate(zip(other.shape, reference.shape,
                                                      strict=True)) if i != dim):
            raise op_error(RuntimeError, "cat", f"Sizes of tensors must match except in "
                           f"dimension {dim}: got shapes {list(reference.shape)} and "
                           f"{list(other.shape)}")
    numpy_dtype = reference._data.dtype
    for other in tensors[1:]:
        numpy_dtype = _promote(numpy_dtype, other._data.dtype)
    tensors = [t if t._data.dtype == numpy_dtype else shape_ops.Cast.apply(t, numpy_dtype)
               for t in tensors]
    return shape_ops.Cat.apply(dim, *tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise op_error(RuntimeError, "stack", "stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for other in tensors[1:]:
        if other.shape != shape:
            raise op_error(RuntimeError, "stack", f"stack expects each tensor to be equal "
                           f"size, but got {list(shape)} and {list(other.shape)}")
    dim = _normalize_dim(dim, len(shape) + 1, "stack")
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(condition: Tensor, input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input`` where ``condition`` is True, else ``other`` (elementwise, broadcasting)."""
    if not isinstance(input, Tensor):
        input = tensor(input, device=condition.device)  # noqa: A001
    left, right = input._binary_operands(other, "where")
    _broadcast_shape("where", condition.shape, left.shape)
    if condition._data.dtype != np.bool_:
        condition = condition.to(dtypes.bool_)
    return ew.Where.apply(condition, left, right)
