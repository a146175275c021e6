"""Function spellings of tensor methods: ``numbanet.gather(x, 1, index)`` is
``x.gather(1, index)``, likewise for scatter, sort, argsort, topk, norm, split, chunk and
bmm (with PyTorch's ``out=`` where PyTorch has it)."""

from __future__ import annotations

from numbanet.maths import write_out
from numbanet.tensor import Tensor


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False,  # noqa: A002
           out: Tensor | None = None) -> Tensor:
    return write_out("gather", lambda: input.gather(dim, index), (input,), out)


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,  # noqa: A002
            reduce=None) -> Tensor:
    return input.scatter(dim, index, src, value=value, reduce=reduce)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):  # noqa: A002
    return input.sort(dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False,  # noqa: A002
            stable: bool = False) -> Tensor:
    return input.argsort(dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    return input.topk(k, dim, largest, sorted)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, out: Tensor | None = None,  # noqa: A002
         dtype=None) -> Tensor:
    return write_out("norm", lambda: input.norm(p, dim, keepdim, dtype), (input,), out)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    return tensor.split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:  # noqa: A002
    return input.chunk(chunks, dim)


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    return write_out("bmm", lambda: input.bmm(mat2), (input, mat2), out)


for _function in (gather, scatter, sort, argsort, topk, norm, split, chunk, bmm):
    _function.__doc__ = getattr(Tensor, _function.__name__).__doc__  # one text, two spellings
del _function
