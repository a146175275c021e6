"""Selecting and ordering along a dim — ``gather``, ``scatter``, ``sort``, ``argsort``,
``topk`` — and the tensor norms: a mixin of :class:`~numbanet.tensor.Tensor`, like those of
``numbanet/tensor_ops.py``.

Each method checks its arguments with PyTorch's messages (index dtype and shape, dims, k),
then applies one Function of ``numbanet/ops/indexing.py`` or ``numbanet/ops/norm.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numbanet import creation, dtypes, shapes
from numbanet.errors import op_error
from numbanet.ops import indexing, norm

if TYPE_CHECKING:
    from numbanet.tensor import Tensor


def _check_index(op: str, self: Tensor, dim: int, index: Tensor, source=None) -> None:
    """PyTorch's checks of gather/scatter's index: int64, as many dims as self, no larger
    than self apart from ``dim`` (nor than src), every value in range along ``dim``
    (checked on the CPU; a GPU index is checked by the kernel, reported at the next copy
    to the host)."""
    from numbanet.tensor import Tensor

    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype is not dtypes.int64:
        raise op_error(RuntimeError, op, f"{op}(): Expected dtype int64 for index")
    if max(index.dim(), 1) != max(self.dim(), 1) and index.numel():  # 0-d counts as 1-d
        raise op_error(RuntimeError, op, "Index tensor must have the same number of "
                       f"dimensions as {'input' if op == 'gather' else 'self'} tensor")
    if index.device != self.device:
        raise op_error(RuntimeError, op, "Expected all tensors to be on the same device, but "
                       f"found at least two devices, {self.device} and {index.device}!")
    for axis in range(index.dim()):
        too_big = axis != dim and index.shape[axis] > self.shape[axis]
        if isinstance(source, Tensor):
            too_big = too_big or index.shape[axis] > source.shape[axis]
        if too_big:
            detail = f"Expected index {list(index.shape)} to be smaller than self " \
                     f"{list(self.shape)} apart from dimension {dim}"
            if isinstance(source, Tensor):
                detail += f" and to be smaller size than src {list(source.shape)}"
            raise op_error(RuntimeError, op, detail)
    if index.device.type == "cpu" and index.numel():
        values = creation.host_array(index)
        extent = self.shape[dim] if self.dim() else 1
        bad = values[(values < 0) | (values >= extent)]
        if bad.size:
            raise op_error(RuntimeError, op, f"index {int(bad[0])} is out of bounds for "
                           f"dimension {dim} with size {extent}")


class SortResult(tuple):
    """``(values, indices)`` of ``sort`` and ``topk``, also readable as ``.values`` and
    ``.indices`` (PyTorch's ``torch.return_types``)."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


class Selection:
    """``gather``, ``scatter``, ``sort``, ``argsort``, ``topk``, ``norm``."""

    __slots__ = ()

    def gather(self, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
        """out[i][j] = self[index[i][j]][j] (dim 0), self[i][index[i][j]] (dim 1), ...:
        out has index's shape.

        Gradient: the upstream gradient added back at the positions read.
        """
        dim = _dim(self, dim, "gather")
        _check_index("gather", self, dim, index)
        return indexing.Gather.apply(self, dim, index)

    def scatter(self, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
        """A copy of self with src's values written at index along dim:
        out[i][index[i][j]] = src[i][j] (dim 1), src a tensor or a number (``value=``);
        ``reduce='add'`` adds them there, ``'multiply'`` multiplies them in. Where index
        names one position twice, which value stays is unspecified (as in PyTorch).

        Gradient: to self where nothing was written (everywhere with 'add'); to src, the
        upstream gradient gathered at index.
        """
        source = value if src is None else src
        if source is None:
            raise op_error(TypeError, "scatter", "scatter() needs src (a tensor) or value "
                           "(a number)")
        if reduce not in (None, "add", "multiply"):
            raise op_error(RuntimeError, "scatter", f"reduce argument must be either add or "
                           f"multiply. Got {reduce}")
        dim = _dim(self, dim, "scatter")
        _check_index("scatter", self, dim, index, source)
        from numbanet.tensor import Tensor

        if isinstance(source, Tensor):
            if source.dtype is not self.dtype:
                raise op_error(RuntimeError, "scatter", "scatter(): Expected self.dtype to be "
                               "equal to src.dtype")
            self._check_same_device(source, "scatter")
        elif not isinstance(source, int | float | bool):
            raise op_error(TypeError, "scatter", "scatter(): src must be a Tensor or a "
                           f"number, not {type(source).__name__}")
        return indexing.Scatter.apply(self, dim, index, source, reduce)

    def scatter_(self, dim: int, index: Tensor, src=None, *, value=None, reduce=None):
        """In-place version of :meth:`scatter`."""
        return self._update("scatter_", lambda old: old.scatter(
            dim, index, src, value=value, reduce=reduce), src)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """(values, indices): self sorted along dim, ascending unless ``descending``, and
        where each value was. Always stable (equal values keep their order, which
        ``stable=True`` asks for); NaN sorts as the largest value.

        Gradient: each value's upstream gradient goes back to where it came from.
        """
        dim = _dim(self, dim, "sort")
        return SortResult(*indexing.Sort.apply(self, dim, bool(descending)))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """The indices that sort self along dim: ``self.sort(dim, descending).indices``.

        Gradient: none (indices are integers).
        """
        return self.sort(dim, descending, stable).indices

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        """(values, indices) of the k largest (``largest=False``: smallest) elements along
        dim, largest first. With ties, which of the equal elements are chosen is
        unspecified, as in PyTorch.

        Gradient: each value's upstream gradient goes back to where it came from.
        """
        dim = _dim(self, dim, "topk")
        extent = self.shape[dim] if self.dim() else 1
        if not 0 <= k <= extent:
            raise op_error(RuntimeError, "topk", "selected index k out of range")
        values, indices = self.sort(dim, descending=largest)
        key = (slice(None),) * dim + (slice(0, k),)
        return SortResult(values[key], indices[key]) if self.dim() else \
            SortResult(values, indices)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
        """Category indices drawn from each row of weights (see numbanet.multinomial)."""
        from numbanet.sampling import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """The p-norm over dim (all elements when None): (sum |x|^p)^(1/p); p=2 (or 'fro')
        the Euclidean length, p=1 the sum of magnitudes, p=inf the largest magnitude, p=0
        the number of nonzero elements.

        Gradient: p=2: x / norm (0 where the norm is 0); p=1: sign(x); inf: sign(x) shared
        among the elements of largest magnitude; general p: x |x|^(p-2) / norm^(p-1).
        """
        return norm.norm(self, p, dim, keepdim, dtype)


def _dim(self: Tensor, dim: int, op: str) -> int:
    """``dim`` made non-negative; a 0-d tensor takes dim 0 or -1."""
    return shapes.normalize_dim(dim, max(self.dim(), 1), op)
