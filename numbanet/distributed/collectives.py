"""Collectives: operations every process of the group calls together.

- **all-reduce**: every rank gives a tensor of the same shape; afterwards every rank holds
  the elementwise combination (sum, average, max, ...) of all of them. Data-parallel
  training uses it to average gradients.
- **broadcast**: rank ``src`` gives a tensor; afterwards every rank holds a copy of it.
  Data-parallel training uses it so that all ranks start from rank 0's weights.
- **all-gather**: every rank gives a tensor; afterwards every rank holds all of them, in
  rank order.
- **barrier**: no rank leaves it before every rank has entered it.

Each function works in place, as PyTorch's: ``all_reduce(t)`` overwrites ``t``. The work is
done by MPI on host memory: a CUDA tensor is copied to the host, combined there, and copied
back (numbanet does not use GPU-aware MPI), so on a GPU every collective costs two copies.

Every rank must call the same collectives in the same order with tensors of the same shape
and dtype: MPI pairs the n-th call on one rank with the n-th call on every other rank.
"""

from __future__ import annotations

import enum

import numpy as np

from numbanet.autograd import no_grad
from numbanet.creation import from_numpy
from numbanet.distributed.process_group import _default_group_or_raise
from numbanet.tensor import Tensor


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` combines the ranks' values, elementwise."""

    SUM = "sum"
    AVG = "avg"  # the sum divided by the world size (floating-point tensors)
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


def _mpi_op(op: ReduceOp):
    from mpi4py import MPI

    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


def _check_tensor(tensor, name: str = "tensor") -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"Invalid function argument. Expected parameter `{name}` of type "
                        f"numbanet.Tensor but got {type(tensor).__name__} instead.")


def _host_copy(tensor: Tensor) -> np.ndarray:
    """A contiguous host array with the tensor's values, for MPI to work on."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy()).copy()


def _write_back(tensor: Tensor, values: np.ndarray) -> None:
    """Overwrite ``tensor`` in place (on its own device) with ``values``."""
    with no_grad():
        tensor.copy_(from_numpy(values))


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None,
               async_op: bool = False) -> None:
    """Combine ``tensor`` across all ranks, in place: afterwards every rank holds, say, the
    sum of every rank's values. ``op``: ``ReduceOp.SUM`` (default), ``AVG``, ``PRODUCT``,
    ``MIN``, ``MAX``."""
    _check_tensor(tensor)
    _check_sync(async_op)
    group = _default_group_or_raise(group)
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a numbanet.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not tensor.is_floating_point():
        raise TypeError(f"ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}: "
                        "use ReduceOp.SUM and divide")
    if group.size == 1:
        return None
    from mpi4py import MPI

    values = _host_copy(tensor)
    group.comm.Allreduce(MPI.IN_PLACE, values, op=_mpi_op(op))
    if op is ReduceOp.AVG:
        values /= group.size
    _write_back(tensor, values)
    return None


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False) -> None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank, in place."""
    _check_tensor(tensor)
    _check_sync(async_op)
    group = _default_group_or_raise(group)
    if not 0 <= src < group.size:
        raise ValueError(f"Invalid src rank {src}: the group has ranks 0 to {group.size - 1}")
    if group.size == 1:
        return None
    values = _host_copy(tensor)
    group.comm.Bcast(values, root=src)
    if group.rank != src:
        _write_back(tensor, values)
    return None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group=None,
               async_op: bool = False) -> None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank. ``tensor_list`` has
    one tensor per rank, each of ``tensor``'s shape and dtype."""
    _check_tensor(tensor)
    _check_sync(async_op)
    group = _default_group_or_raise(group)
    if not isinstance(tensor_list, list) or len(tensor_list) != group.size:
        raise ValueError(f"all_gather: tensor_list must be a list of {group.size} tensors "
                         f"(one per rank), got "
                         f"{len(tensor_list) if isinstance(tensor_list, list) else tensor_list}")
    for index, slot in enumerate(tensor_list):
        _check_tensor(slot, f"tensor_list[{index}]")
        if slot.shape != tensor.shape or slot.dtype != tensor.dtype:
            raise ValueError(f"all_gather: tensor_list[{index}] has shape {list(slot.shape)} "
                             f"and dtype {slot.dtype}; every entry must match the input "
                             f"tensor ({list(tensor.shape)}, {tensor.dtype})")
    send = _host_copy(tensor)
    received = np.empty((group.size, *send.shape), dtype=send.dtype)
    group.comm.Allgather(send, received)
    for slot, values in zip(tensor_list, received, strict=True):
        _write_back(slot, values)
    return None


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list[r]`` with rank r's ``obj`` (any picklable Python object)."""
    group = _default_group_or_raise(group)
    if not isinstance(object_list, list) or len(object_list) != group.size:
        raise ValueError(f"all_gather_object: object_list must be a list of {group.size} "
                         "entries (one per rank)")
    object_list[:] = group.comm.allgather(obj)


def barrier(group=None, async_op: bool = False, device_ids=None) -> None:
    """Wait until every rank has called ``barrier``."""
    _check_sync(async_op)
    _default_group_or_raise(group).comm.Barrier()


def _check_sync(async_op: bool) -> None:
    if async_op:
        raise NotImplementedError("numbanet's collectives are synchronous: call them "
                                  "with async_op=False (the default)")
