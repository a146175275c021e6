"""Module-level spellings of tensor methods: ``numbanet.max(x, 1)`` is ``x.max(1)``."""

from __future__ import annotations

from numbanet.tensor import Tensor


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    return input.flatten(start_dim, end_dim)


def max(input: Tensor, dim=None, keepdim: bool = False):  # noqa: A001, A002
    return input.max(dim, keepdim)


def min(input: Tensor, dim=None, keepdim: bool = False):  # noqa: A001, A002
    return input.min(dim, keepdim)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return input.argmax(dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return input.argmin(dim, keepdim)


def sum(input: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A001
    return input.sum(dim, keepdim, dtype=dtype)


def mean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return input.mean(dim, keepdim)


def var(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False):  # noqa: A002
    return input.var(dim, unbiased=unbiased, keepdim=keepdim)


def std(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False):  # noqa: A002
    return input.std(dim, unbiased=unbiased, keepdim=keepdim)


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    return input.all(dim, keepdim)


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    return input.any(dim, keepdim)


def exp(input: Tensor) -> Tensor:  # noqa: A002
    return input.exp()


def log(input: Tensor) -> Tensor:  # noqa: A002
    return input.log()


def sin(input: Tensor) -> Tensor:  # noqa: A002
    return input.sin()


def cos(input: Tensor) -> Tensor:  # noqa: A002
    return input.cos()


def sqrt(input: Tensor) -> Tensor:  # noqa: A002
    return input.sqrt()


def abs(input: Tensor) -> Tensor:  # noqa: A001, A002
    return input.abs()


def relu(input: Tensor) -> Tensor:  # noqa: A002
    return input.relu()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A001, A002
    return input.clamp(min, max)


def matmul(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return input @ other


mm = matmul


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return input.minimum(other)


def pow(input: Tensor, exponent) -> Tensor:  # noqa: A001, A002
    return input**exponent


def reshape(input: Tensor, shape) -> Tensor:  # noqa: A002
    return input.reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    return input.transpose(dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:  # noqa: A002
    return input.permute(*dims)


def squeeze(input: Tensor, dim=None) -> Tensor:  # noqa: A002
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    return input.unsqueeze(dim)


def softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    return input.log_softmax(dim)


def numel(input: Tensor) -> int:  # noqa: A002
    return input.numel()


def is_tensor(value) -> bool:
    return isinstance(value, Tensor)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:  # noqa: A002
    import numpy as np

    return bool(np.allclose(input._host(), other._host(), rtol=rtol, atol=atol))


def equal(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    import numpy as np

    return input.shape == other.shape and bool(np.array_equal(input._host(), other._host()))
