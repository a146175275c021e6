"""Quantized tensors: integer levels plus the scale and zero point that give them meaning.

``numbanet.quantize_per_tensor(x, scale, zero_point, numbanet.quint8)`` stores each value
of ``x`` as one byte::

    q = clamp(round(x / scale) + zero_point, quant_min, quant_max)
    x ≈ (q - zero_point) * scale          (x.dequantize())

The representable values are a grid of step ``scale``; ``zero_point`` is the level that
stands for 0.0 exactly (so zero padding and ReLU stay exact). ``int_repr()`` shows the
integers, ``q_scale()`` / ``q_zero_point()`` the parameters. *Per channel*
(``quantize_per_channel``) each index of one axis — an output channel of a weight — gets
its own scale and zero point, which keeps small-valued channels from being rounded to 0.

Three dtypes, as PyTorch's: ``qint8`` (levels -128..127, for weights), ``quint8`` (0..255,
for activations) and ``qint32`` (for a bias or an accumulator).

A :class:`QuantizedTensor` is a :class:`~numbanet.Tensor` whose storage holds the levels.
Maths that would read the levels as numbers (``q + 1``, ``q.exp()``) raises, as PyTorch's
"Could not run ... with arguments from the 'QuantizedCPU' backend"; what is exact on the
levels works: ``relu`` (max with the zero point), ``max_pool2d``, views and reshapes.
"""

from __future__ import annotations

import numpy as np

from numbanet.ao.quantization import ops
from numbanet.dtypes import DType
from numbanet.errors import op_error
from numbanet.tensor import Tensor
from numbanet.tensor_ops import Arithmetic, InPlace, Reductions


class QuantizedDType(DType):
    """A quantized element type: integer storage and the range of its levels."""

    def __init__(self, name: str, numpy_dtype, quant_min: int, quant_max: int):
        super().__init__(name, numpy_dtype)
        self.quant_min = quant_min
        self.quant_max = quant_max

    is_quantized = True

    def __reduce__(self):  # a singleton: pickled by name, copies are the object itself
        return self.name


qint8 = QuantizedDType("qint8", np.int8, -128, 127)
quint8 = QuantizedDType("quint8", np.uint8, 0, 255)
qint32 = QuantizedDType("qint32", np.int32, -(2**31), 2**31 - 1)
QUANTIZED_DTYPES = {d.name: d for d in (qint8, quint8, qint32)}


class QScheme:
    """How a tensor is quantized (``x.qscheme()``): per tensor or per channel, affine
    (any zero point) or symmetric (zero point in the middle of the range)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"numbanet.{self.name}"

    def __reduce__(self):
        return self.name


per_tensor_affine = QScheme("per_tensor_affine")
per_channel_affine = QScheme("per_channel_affine")
per_tensor_symmetric = QScheme("per_tensor_symmetric")
per_channel_symmetric = QScheme("per_channel_symmetric")


class QuantizedTensor(Tensor):
    """A tensor of integer levels with a scale and a zero point (one pair, or one per
    index of ``axis``)."""

    __slots__ = ("_qdtype", "_qscheme", "_scales", "_zero_points", "_axis")
    is_quantized = True

    @classmethod
    def _wrap(cls, levels: Tensor, qdtype: QuantizedDType, qscheme: QScheme, scales,
              zero_points, axis: int = 0) -> QuantizedTensor:
        """``levels`` (an integer Tensor made by an op) as a quantized tensor. It keeps the
        levels' identity, so a trace links it to the op that produced it."""
        out = object.__new__(cls)
        out._adopt(levels)
        out._qdtype = qdtype
        out._qscheme = qscheme
        out._scales = np.atleast_1d(np.asarray(scales, dtype=np.float64)).copy()
        out._zero_points = np.atleast_1d(np.asarray(zero_points, dtype=np.int64)).copy()
        out._axis = int(axis)
        return out

    def _levels(self) -> Tensor:
        """The integer levels as a plain Tensor — the same storage *and identity*, so an op
        applied to them is linked, in a trace, to the op that produced this tensor."""
        plain = object.__new__(Tensor)
        plain._adopt(self)
        return plain

    def _like(self, levels: Tensor) -> QuantizedTensor:
        """New levels with this tensor's quantization parameters."""
        return QuantizedTensor._wrap(levels, self._qdtype, self._qscheme, self._scales,
                                     self._zero_points, self._axis)

    # ---- what PyTorch's quantized tensors answer -----------------------------------------
    @property
    def dtype(self) -> QuantizedDType:
        return self._qdtype

    def is_floating_point(self) -> bool:
        return False

    def qscheme(self) -> QScheme:
        return self._qscheme

    def _per_tensor(self) -> bool:
        return self._qscheme in (per_tensor_affine, per_tensor_symmetric)

    def q_scale(self) -> float:
        """The scale of a per-tensor quantized tensor (a Python float)."""
        self._require(per_tensor=True, name="q_scale")
        return float(self._scales[0])

    def q_zero_point(self) -> int:
        """The zero point of a per-tensor quantized tensor: the level that means 0.0."""
        self._require(per_tensor=True, name="q_zero_point")
        return int(self._zero_points[0])

    def q_per_channel_scales(self) -> Tensor:
        """One scale per index of ``q_per_channel_axis()``, as a float64 tensor."""
        self._require(per_tensor=False, name="q_per_channel_scales")
        return Tensor._from_data(self._scales.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        """One zero point per index of ``q_per_channel_axis()``, as an int64 tensor."""
        self._require(per_tensor=False, name="q_per_channel_zero_points")
        return Tensor._from_data(self._zero_points.copy())

    def q_per_channel_axis(self) -> int:
        self._require(per_tensor=False, name="q_per_channel_axis")
        return self._axis

    def _require(self, per_tensor: bool, name: str) -> None:
        if self._per_tensor() != per_tensor:
            kind = "per-tensor" if per_tensor else "per-channel"
            raise RuntimeError(f"{name}: expected {kind} quantization, but this tensor is "
                               f"quantized with {self._qscheme!r}")

    def int_repr(self) -> Tensor:
        """The integer levels, as a plain tensor of the storage type (uint8 for quint8,
        int8 for qint8, int32 for qint32)."""
        return self._levels().clone()

    def dequantize(self) -> Tensor:
        """float32 ``(q - zero_point) * scale``: the real numbers the levels stand for."""
        return ops.Dequantize.apply(self, self._scales, self._zero_points, self._axis)

    def numpy(self):
        raise TypeError(f"can't convert a quantized tensor ({self.dtype}) to numpy: use "
                        "x.int_repr().numpy() for the levels or x.dequantize().numpy() for "
                        "the values")

    # ---- exact on the levels: relu, views, copies ---------------------------------------
    def relu(self) -> QuantizedTensor:
        """max(q, zero_point): every level below the one that means 0.0 becomes it."""
        zero = int(self._zero_points[0]) if self._per_tensor() else None
        if zero is None:
            raise NotImplementedError("relu of a per-channel quantized tensor: dequantize first")
        return self._like(self._levels().clamp(min=zero))

    def detach(self) -> QuantizedTensor:
        return self._like(Tensor.detach(self))

    def clone(self) -> QuantizedTensor:
        return self._like(self._levels().clone())

    def contiguous(self) -> QuantizedTensor:
        return self._like(self._levels().contiguous())

    def to(self, *args, **kwargs) -> QuantizedTensor:
        moved = self._levels().to(*args, **kwargs)
        if moved.dtype.numpy != self._qdtype.numpy:
            raise RuntimeError("to(): a quantized tensor cannot change dtype; use "
                               "x.dequantize() first")
        return self._like(moved)

    def _reshaped(self, levels: Tensor) -> QuantizedTensor:
        if not self._per_tensor():
            raise NotImplementedError("reshaping a per-channel quantized tensor would move "
                                      "its channel axis: dequantize first")
        return self._like(levels)

    def view(self, *shape) -> QuantizedTensor:
        return self._reshaped(self._levels().view(*shape))

    def reshape(self, *shape) -> QuantizedTensor:
        return self._reshaped(self._levels().reshape(*shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> QuantizedTensor:
        return self._reshaped(self._levels().flatten(start_dim, end_dim))

    def squeeze(self, dim=None) -> QuantizedTensor:
        return self._reshaped(self._levels().squeeze(dim))

    def unsqueeze(self, dim: int) -> QuantizedTensor:
        return self._reshaped(self._levels().unsqueeze(dim))

    def __getitem__(self, key) -> QuantizedTensor:
        return self._reshaped(self._levels()[key])

    def copy_(self, source: QuantizedTensor) -> QuantizedTensor:
        """Take ``source``'s levels (in place) and its quantization parameters, as loading
        a quantized state dict does."""
        if not isinstance(source, QuantizedTensor) or source.dtype is not self.dtype:
            got = getattr(source, "dtype", type(source).__name__)
            raise RuntimeError(f"copy_: a {self.dtype!r} tensor can only copy a quantized "
                               f"tensor of the same dtype, got {got!r}")
        if source.shape != self.shape:
            raise RuntimeError(f"copy_: shapes differ: {tuple(source.shape)} into "
                               f"{tuple(self.shape)}")
        Tensor.copy_(self._levels(), source._levels())
        self._qscheme, self._axis = source._qscheme, source._axis
        self._scales, self._zero_points = source._scales.copy(), source._zero_points.copy()
        return self

    def _operands(self, other, op: str, result_dtype=None):
        raise _unsupported(op)

    # ---- printing -------------------------------------------------------------------------
    def _host_values(self) -> np.ndarray:
        """``(q - zero_point) * scale`` computed on the host with numpy, so that printing
        (say, inside a recorded iteration) runs no op and adds no node to a trace."""
        levels = self._host().astype(np.int64)
        shape = [1] * levels.ndim
        if not self._per_tensor():
            shape[self._axis] = -1
        centered = levels - self._zero_points.reshape(shape)
        return centered.astype(np.float32) * self._scales.astype(np.float32).reshape(shape)

    def __repr__(self) -> str:
        values = self._host_values()
        body = np.array2string(values, separator=", ", precision=4, prefix="tensor(",
                               threshold=200)
        size = tuple(self.shape)
        indent = " " * len("tensor(")
        first = f"tensor({body}, size={size}, dtype={self.dtype},"
        if self.is_cuda:
            first = first[:-1] + ", device='cuda:0',"
        scheme = f"quantization_scheme={self._qscheme!r}"
        if self._per_tensor():
            return (f"{first}\n{indent}{scheme}, scale={self.q_scale()}, "
                    f"zero_point={self.q_zero_point()})")
        return (f"{first}\n{indent}{scheme},\n{indent}scale={self.q_per_channel_scales()!r},"
                f"\n{indent}zero_point={self.q_per_channel_zero_points()!r}, "
                f"axis={self._axis})")


def _unsupported(op: str) -> NotImplementedError:
    return NotImplementedError(
        f"Could not run '{op}' with arguments from the 'QuantizedCPU' backend: numbanet's "
        "quantized tensors hold integer levels, and this op would read them as numbers. "
        "Call x.dequantize() first (or use the quantized modules of numbanet.ao.nn.quantized)")


def _refuse(name: str):
    def method(self, *args, **kwargs):
        raise _unsupported(name)

    method.__name__ = name
    method.__doc__ = f"Not available on quantized tensors: call ``x.dequantize().{name}(...)``."
    return method


# Every other maths method of Tensor would treat the levels as plain numbers: refuse them.
for _mixin in (Arithmetic, Reductions, InPlace):
    for _name, _member in vars(_mixin).items():
        if callable(_member) and not _name.startswith("_") and _name not in vars(QuantizedTensor):
            setattr(QuantizedTensor, _name, _refuse(_name))


# ---- making quantized tensors ----------------------------------------------------------


def _as_quantized_dtype(dtype, op: str) -> QuantizedDType:
    if isinstance(dtype, QuantizedDType):
        return dtype
    raise op_error(RuntimeError, op, f"dtype must be numbanet.quint8, numbanet.qint8 or "
                   f"numbanet.qint32, got {dtype!r}")


def _check_float(input: Tensor, op: str) -> None:  # noqa: A002 - PyTorch's name
    if not isinstance(input, Tensor) or input.is_quantized or (
            not input.is_floating_point()):
        kind = getattr(input, "dtype", type(input).__name__)
        raise op_error(RuntimeError, op, f"Quantize only works on Float Tensor, got {kind}")


def quantize_per_tensor(input: Tensor, scale: float, zero_point: int,  # noqa: A002
                        dtype) -> QuantizedTensor:
    """``clamp(round(input / scale) + zero_point, quant_min, quant_max)`` stored as
    ``dtype`` (``numbanet.quint8``, ``qint8`` or ``qint32``), with one scale and zero point.

    >>> q = numbanet.quantize_per_tensor(numbanet.tensor([-1.0, 0.0, 1.0, 2.0]), 0.1, 10,
    ...                                  numbanet.quint8)
    >>> q.int_repr()
    tensor([ 0, 10, 20, 30], dtype=numbanet.uint8)
    """
    qdtype = _as_quantized_dtype(dtype, "quantize_per_tensor")
    _check_float(input, "quantize_per_tensor")
    scale = float(scale.item() if isinstance(scale, Tensor) else scale)
    zero_point = int(zero_point.item() if isinstance(zero_point, Tensor) else zero_point)
    if not scale > 0:
        raise op_error(RuntimeError, "quantize_per_tensor",
                       f"scale must be positive, got {scale}")
    if not qdtype.quant_min <= zero_point <= qdtype.quant_max:
        raise op_error(RuntimeError, "quantize_per_tensor",
                       f"zero_point {zero_point} is out of range for {qdtype!r} "
                       f"[{qdtype.quant_min}, {qdtype.quant_max}]")
    scales, zero_points = np.array([scale]), np.array([zero_point])
    levels = ops.Quantize.apply(input, scales, zero_points, 0, qdtype.quant_min,
                                qdtype.quant_max, qdtype.name)
    return QuantizedTensor._wrap(levels, qdtype, per_tensor_affine, scales, zero_points)


def quantize_per_channel(input: Tensor, scales, zero_points, axis: int,  # noqa: A002
                         dtype) -> QuantizedTensor:
    """Like :func:`quantize_per_tensor` with one ``scales[c]`` / ``zero_points[c]`` per
    index ``c`` of dimension ``axis`` (tensors or sequences)."""
    qdtype = _as_quantized_dtype(dtype, "quantize_per_channel")
    _check_float(input, "quantize_per_channel")
    scales = np.asarray(_host_values(scales), dtype=np.float64).ravel()
    zero_points = np.asarray(_host_values(zero_points), dtype=np.int64).ravel()
    axis = axis + input.dim() if axis < 0 else axis
    if not 0 <= axis < input.dim():
        raise op_error(IndexError, "quantize_per_channel",
                       f"axis {axis} is out of range for a {input.dim()}-D input")
    channels = input.shape[axis]
    if scales.size != channels or zero_points.size != channels:
        raise op_error(RuntimeError, "quantize_per_channel",
                       f"expected {channels} scales and zero points (the size of axis "
                       f"{axis} of input {tuple(input.shape)}), got {scales.size} and "
                       f"{zero_points.size}")
    if not (scales > 0).all():
        raise op_error(RuntimeError, "quantize_per_channel", "scales must be positive")
    levels = ops.Quantize.apply(input, scales, zero_points, axis, qdtype.quant_min,
                                qdtype.quant_max, qdtype.name)
    return QuantizedTensor._wrap(levels, qdtype, per_channel_affine, scales, zero_points, axis)


def _host_values(values):
    if isinstance(values, Tensor):
        return values.detach().cpu().tolist()
    return values


def from_levels(levels: Tensor, qscheme: str, scales, zero_points,
                axis: int | None = None) -> QuantizedTensor:
    """A quantized tensor from stored integer ``levels`` (int8, uint8 or int32) and its
    quantization parameters, as a checkpoint holds them (``numbanet.load`` calls this for
    PyTorch's ``_rebuild_qtensor``)."""
    qdtype = {"int8": qint8, "uint8": quint8, "int32": qint32}.get(levels.dtype.name)
    if qdtype is None:
        raise ValueError(f"quantized levels are int8, uint8 or int32, not {levels.dtype!r}")
    if qscheme in ("per_tensor_affine", "per_tensor_symmetric"):
        if axis is not None or not isinstance(scales, float) or type(zero_points) is not int:
            raise TypeError("per-tensor quantizer params are (qscheme, float, int)")
        return QuantizedTensor._wrap(levels, qdtype, per_tensor_affine, scales, zero_points)
    if qscheme in ("per_channel_affine", "per_channel_symmetric"):
        if not isinstance(scales, Tensor) or not isinstance(zero_points, Tensor) or (
                type(axis) is not int or not 0 <= axis < levels.dim()):
            raise TypeError("per-channel quantizer params are (qscheme, scales, zero points, "
                            "axis)")
        scales, zero_points = scales.cpu().numpy(), zero_points.cpu().numpy()
        if scales.size != levels.shape[axis] or zero_points.size != levels.shape[axis]:
            raise ValueError(f"{scales.size} scales for {levels.shape[axis]} channels")
        return QuantizedTensor._wrap(levels, qdtype, per_channel_affine, scales, zero_points,
                                     axis)
    raise ValueError(f"unknown quantization scheme {qscheme!r}")


def dequantize(tensor: QuantizedTensor) -> Tensor:
    """``numbanet.dequantize(q)``: the float32 values ``(q - zero_point) * scale``."""
    if not isinstance(tensor, QuantizedTensor):
        raise op_error(TypeError, "dequantize", "expects a quantized tensor (made by "
                       "numbanet.quantize_per_tensor or a quantized module)")
    return tensor.dequantize()


def int_repr(tensor: QuantizedTensor) -> Tensor:
    """``numbanet.int_repr(q)``: the integer levels of a quantized tensor."""
    return tensor.int_repr()


def is_quantized(value) -> bool:
    return isinstance(value, QuantizedTensor)
