"""Element types a tensor can hold, named as in PyTorch (``numbanet.float32`` ...), and
PyTorch's rules for the dtype of a result (*type promotion*).

Promotion in two sentences: dtypes fall into categories ``bool < integer < floating``;
within one category the wider type wins (``uint8 + int8 -> int16``: the smallest type
holding both), across categories the higher category's type wins (``int64 + float16 ->
float16``). Python numbers and 0-d tensors are *scalars*: they only choose the category, so
``float32[N] * 2.5``, ``float32[N] * tensor(2., dtype=float64)`` stay float32, while
``int64[N] * 2.5`` becomes the default float (float32).
"""

from __future__ import annotations

import builtins

import numpy as np

from numbanet.errors import op_error


class DType:
    """A tensor element type: a PyTorch-style name over a numpy dtype."""

    def __init__(self, name: str, numpy_dtype):
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.category = {"b": 0, "u": 1, "i": 1, "f": 2}[self.numpy.kind]  # see category()

    @property
    def is_floating_point(self) -> bool:
        return self.numpy.kind == "f"

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"numbanet.{self.name}"

    def __reduce__(self):  # dtypes are singletons: copies resolve to the same object
        return (as_dtype, (self.name,))


float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int64 = DType("int64", np.int64)
int32 = DType("int32", np.int32)
int16 = DType("int16", np.int16)
int8 = DType("int8", np.int8)
float16 = DType("float16", np.float16)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)
float = float32  # noqa: A001 - PyTorch spells these aliases the same way
double = float64
long = int64
half = float16
short = int16

_ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_BY_NUMPY = {d.numpy: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64,
                 "int": int32, "short": int16})

DEFAULT_FLOAT = float32

# PyTorch's ScalarType names, used in its error messages ("result type Float can't be cast")
_C_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
                 "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
                 "uint8": "unsigned char", "bool": "bool"}  # in "got: long int != float"
_SCALAR_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                      "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                      "uint8": "Byte", "bool": "Bool"}


def as_dtype(value) -> DType:
    """Turn a DType, numpy dtype, Python type or name into a numbanet DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, np.dtype) and value in _BY_NUMPY:  # a tensor's own: the common case
        return _BY_NUMPY[value]
    if isinstance(value, str):
        try:
            return _BY_NAME[value.replace("numbanet.", "").replace("torch.", "")]
        except KeyError:
            raise TypeError(f"unknown dtype {value!r}") from None
    if value is bool:
        return bool_
    if value is int:
        return int64
    if value is builtins.float:
        return float32
    numpy_dtype = np.dtype(value)
    if numpy_dtype in _BY_NUMPY:
        return _BY_NUMPY[numpy_dtype]
    raise TypeError(f"numbanet has no dtype for {value!r}; supported: "
                    f"{', '.join(d.name for d in _ALL)}")


def scalar_type_name(dtype) -> str:
    """PyTorch's name of a dtype in error messages: ``Float``, ``Long``, ``Bool``, ..."""
    return _SCALAR_TYPE_NAMES[as_dtype(dtype).name]


def c_type_name(dtype) -> str:
    """The C++ name PyTorch's matmul prints for a dtype: ``float``, ``long int``, ..."""
    return _C_TYPE_NAMES[as_dtype(dtype).name]


def category(dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating point."""
    return as_dtype(dtype).category


def promote_types(first, second) -> DType:
    """The smallest dtype both convert to without changing category downwards
    (``torch.promote_types``): the higher category wins, within one the wider type."""
    first, second = as_dtype(first), as_dtype(second)
    if first.category != second.category:
        return first if first.category > second.category else second
    return as_dtype(np.promote_types(first.numpy, second.numpy))


def _scalar_dtype(value) -> DType:
    """The dtype a Python number stands for in promotion: bool, int64 or the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return DEFAULT_FLOAT
    raise TypeError(f"expected a Tensor or a Python number, got {type(value).__name__}")


def result_type(*operands) -> DType:
    """The dtype of an op's result over tensors and Python numbers (``torch.result_type``).

    Operands come in three priority groups: tensors with dims, 0-d tensors, Python numbers.
    Each group promotes within itself; a lower-priority group only changes the result when
    its category is higher — and then only as far as that category's default size for
    numbers (``int64[N] * 2.5 -> float32``), or its own dtype for 0-d tensors
    (``int64[N] * tensor(2.5, dtype=float64) -> float64``).
    """
    groups: list[DType | None] = [None, None, None]  # dimensioned, 0-d, numbers
    for operand in operands:
        if operand is None:
            continue
        if hasattr(operand, "dim"):  # a Tensor
            group, dtype = (0 if operand.dim() else 1), operand.dtype
        else:
            group, dtype = 2, _scalar_dtype(operand)
        current = groups[group]
        groups[group] = dtype if current is None or current is dtype else promote_types(
            current, dtype)
    result = None
    for dtype in groups:  # from the highest priority down
        if dtype is not None and (result is None or dtype.category > result.category):
            result = dtype
    return result


def can_cast(from_dtype, to_dtype) -> bool:
    """Whether an in-place op may write a ``from_dtype`` result into a ``to_dtype`` tensor
    (``torch.can_cast``): never down a category (float into int, anything into bool)."""
    return category(from_dtype) <= category(to_dtype)


def true_division_type(*operands) -> DType:
    """The dtype of ``a / b``: the result type, or the default float for integers and
    bools (``tensor([1, 2]) / 2`` is ``[0.5, 1.0]``, never a rounded integer)."""
    dtype = result_type(*operands)
    return dtype if dtype.is_floating_point else DEFAULT_FLOAT


# ---- what promotion refuses: PyTorch's errors, raised before any kernel runs ---------------


def _dtype_of(operand) -> DType:
    return operand.dtype if hasattr(operand, "dim") else _scalar_dtype(operand)


def check_subtraction(left, right) -> None:
    """``a - b`` with a bool operand is refused (for masks ``~`` and ``^`` say what's meant)."""
    bools = [_dtype_of(x) is bool_ for x in (left, right)]
    if all(bools):
        raise op_error(RuntimeError, "sub", "Subtraction, the `-` operator, with two bool "
                       "tensors is not supported. Use the `^` or `logical_xor()` operator "
                       "instead.")
    if any(bools):
        raise op_error(RuntimeError, "sub", "Subtraction, the `-` operator, with a bool tensor "
                       "is not supported. If you are trying to invert a mask, use the `~` or "
                       "`logical_not()` operator instead.")


def check_power(base, exponent) -> None:
    """An integer tensor to a negative integer number is refused: the result is no integer."""
    if (_dtype_of(exponent).numpy.kind == "i" and not hasattr(exponent, "dim")
            and exponent < 0 and not result_type(base, exponent).is_floating_point):
        raise op_error(RuntimeError, "pow", "Integers to negative integer powers are not "
                       "allowed.")


def check_bitwise(op: str):
    """A check that ``&``, ``|``, ``^`` (named ``op``) get integers or bools."""

    def check(left, right) -> None:
        dtype = result_type(left, right)
        if dtype.is_floating_point:
            raise op_error(NotImplementedError, op, f'"{op}_cpu" not implemented for '
                           f"'{scalar_type_name(dtype)}'")

    return check
