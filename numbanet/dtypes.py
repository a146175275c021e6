"""Element types a tensor can hold, named as in PyTorch (``numbanet.float32`` ...)."""

from __future__ import annotations

import builtins

import numpy as np


class DType:
    """A tensor element type: a PyTorch-style name over a numpy dtype."""

    def __init__(self, name: str, numpy_dtype):
        self.name = name
        self.numpy = np.dtype(numpy_dtype)

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

_ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_BY_NUMPY = {d.numpy: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64,
                 "int": int32, "short": int16})

DEFAULT_FLOAT = float32


def as_dtype(value) -> DType:
    """Turn a DType, numpy dtype, Python type or name into a numbanet DType."""
    if isinstance(value, DType):
        return value
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
