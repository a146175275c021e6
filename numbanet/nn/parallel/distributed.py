"""``DistributedDataParallel``: one model, N processes, gradients averaged after backward.

Data-parallel training in four steps, as PyTorch does it:

1. **Same start.** Every process (rank) builds the model; DDP checks that every rank built
   the same parameter shapes (a mismatch raises on every rank rather than hanging later)
   and copies rank 0's parameters and buffers to all ranks (broadcast).
2. **Own data.** Each rank runs forward and backward on its own share of the batch (a
   ``DistributedSampler`` hands out the shares), so each computes its own gradient.
3. **Average the gradients.** The loss is a mean over examples, so the gradient for the
   whole batch of ``N * b`` examples is the mean of the N per-rank gradients, each a mean
   over ``b`` examples. An **all-reduce** sums the N gradients across ranks; dividing by N
   gives that mean, on every rank.
4. **Same step.** Every rank now holds the same gradient and the same weights, so the same
   ``optimizer.step()`` keeps the replicas identical — without ever sending weights again.

How gradients reach the all-reduce: DDP registers a hook on every parameter, called by the
backward pass when that parameter's gradient is ready. The hook copies the gradient into a
**bucket** — one flat buffer holding the gradients of several parameters — because one
all-reduce of 100,000 numbers costs far less than a hundred all-reduces of 1,000 (each
message pays a fixed latency). When a bucket is full it is all-reduced and averaged, and the
averages become the parameters' ``.grad``.

Why buckets go out in a **fixed order**: MPI pairs the k-th collective call of one rank with
the k-th call of every other rank. Gradients may become ready in a different order on
different ranks; if rank 0 sent bucket 1 first while rank 1 sent bucket 0, they would add up
unrelated numbers (or wait forever for a message of another size). So the buckets are
numbered once, identically on every rank (parameters in reverse registration order, roughly
the order backward produces their gradients), and a bucket is reduced only after every
bucket before it.

Differences from PyTorch: PyTorch launches each bucket's all-reduce asynchronously so that
communication overlaps the rest of backward; here each all-reduce runs to completion inside
the hook (MPI, on host memory: CUDA gradients are copied to the host and back), which keeps
the code short. ``find_unused_parameters=True`` is not supported: every parameter that
requires a gradient must receive one in each synchronised backward.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager

import numpy as np

from numbanet import distributed
from numbanet import trace as _trace
from numbanet.autograd import is_grad_enabled
from numbanet.creation import from_numpy
from numbanet.nn.module import Module
from numbanet.tensor import Tensor

_UNFINISHED_REDUCTION = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss: {names} received no gradient in the last backward on rank {rank}. Make sure "
    "every parameter that requires a gradient takes part in computing the loss (or set "
    "requires_grad=False on the ones that do not), and that every forward output is used "
    "in the loss. numbanet does not support find_unused_parameters=True.")

_ALL_REDUCE_FORMULA = """average = (g_rank0 + g_rank1 + ... + g_rank(N-1)) / N

    MPI_Allreduce(SUM) adds the N ranks' gradients elementwise and hands the sum to every
    rank; dividing by the world size N turns N per-rank mean gradients into the gradient
    of the mean loss over the whole batch, the same on every rank."""


class _Bucket:
    """Gradients of several parameters, sent in one all-reduce.

    ``slots`` maps a parameter's position (in DDP's parameter list) to where its gradient
    lives in ``buffer``: ``(offset, size, shape)``. ``waiting`` holds the positions whose
    gradient has not arrived in this iteration.
    """

    def __init__(self, index: int, positions: list[int], parameters: list[Tensor]):
        self.index = index
        self.slots: dict[int, tuple[int, int, tuple]] = {}
        offset = 0
        for position in positions:
            size, shape = parameters[position].numel(), tuple(parameters[position].shape)
            self.slots[position] = (offset, size, shape)
            offset += size
        self.buffer = np.zeros(offset, dtype=parameters[positions[0]].dtype.numpy)
        self.device = parameters[positions[0]].device
        self.waiting: set[int] = set()
        self.reduced = False

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def reset(self) -> None:
        """Start a new iteration: every gradient of this bucket is awaited again."""
        self.waiting = set(self.slots)
        self.reduced = False

    def store(self, position: int, gradient: Tensor) -> None:
        """Copy one parameter's gradient into its place in the flat buffer."""
        offset, size, _ = self.slots[position]
        self.buffer[offset:offset + size] = gradient.detach().cpu().numpy().reshape(-1)
        self.waiting.discard(position)

    def values(self, position: int) -> Tensor:
        """A parameter's part of the buffer as a new tensor of its shape, on its device."""
        offset, size, shape = self.slots[position]
        values = from_numpy(self.buffer[offset:offset + size].reshape(shape).copy())
        return values if self.device.type == "cpu" else values.to(self.device)


def _assign_buckets(parameters: list[Tensor], bucket_bytes: int) -> list[_Bucket]:
    """Group parameters into buckets of about ``bucket_bytes``, in reverse order (the order
    backward tends to produce their gradients); one dtype and device per bucket."""
    buckets: list[_Bucket] = []
    open_buckets: dict[tuple, list[int]] = {}  # (dtype, device) -> positions being filled
    open_bytes: dict[tuple, int] = {}

    def close(key: tuple) -> None:
        buckets.append(_Bucket(len(buckets), open_buckets.pop(key), parameters))
        open_bytes.pop(key)

    for position in reversed(range(len(parameters))):
        parameter = parameters[position]
        key = (str(parameter.dtype), str(parameter.device))
        open_buckets.setdefault(key, []).append(position)
        open_bytes[key] = open_bytes.get(key, 0) + parameter.numel() * parameter.element_size()
        if open_bytes[key] >= bucket_bytes:
            close(key)
    for key in list(open_buckets):
        close(key)
    return buckets


def _model_signature(module: Module) -> list[tuple[str, str, tuple, str]]:
    """What must be identical on every rank: each parameter's and buffer's name, shape,
    dtype (and whether a parameter requires a gradient)."""
    signature = [("parameter", name, tuple(p.shape),
                  f"{p.dtype}, requires_grad={p.requires_grad}")
                 for name, p in module.named_parameters()]
    signature += [("buffer", name, tuple(b.shape), str(b.dtype))
                  for name, b in module.named_buffers()]
    return signature


def _check_same_model(module: Module) -> None:
    """Raise on every rank when some rank's model differs from rank 0's."""
    signatures: list = [None] * distributed.get_world_size()
    distributed.all_gather_object(signatures, _model_signature(module))
    reference = signatures[0]
    for rank, signature in enumerate(signatures[1:], start=1):
        if len(signature) != len(reference):
            raise RuntimeError(
                f"DDP expects same model across all ranks, but Rank {rank} has "
                f"{len(signature)} params and buffers, while rank 0 has inconsistent "
                f"{len(reference)} params and buffers.")
        for theirs, ours in zip(signature, reference, strict=True):
            if theirs != ours:
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but {theirs[0]} "
                    f"'{theirs[1]}' has shape {list(theirs[2])} and dtype {theirs[3]} on "
                    f"rank {rank}, while {ours[0]} '{ours[1]}' on rank 0 has shape "
                    f"{list(ours[2])} and dtype {ours[3]}. Build the same model on every "
                    "rank.")


class DistributedDataParallel(Module):
    """Data-parallel training across processes: wrap the model once per process.

    ::

        dist.init_process_group(backend="mpi")
        model = DistributedDataParallel(Net())     # rank 0's weights, on every rank
        for x, y in loader:                        # each rank: its own shard of the data
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()                        # gradients averaged across ranks here
            optimizer.step()                       # the same step on every rank

    ``model.module`` is the wrapped model; ``model.state_dict()`` keys start with
    ``module.``, as in PyTorch (save ``model.module.state_dict()`` to load it without DDP).
    ``with model.no_sync():`` skips the averaging for the forward and backward inside it, to
    accumulate gradients locally over several batches; the next synchronised backward
    averages the accumulated sum.

    ``device_ids``, ``output_device``, ``dim``, ``check_reduction``,
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted so that PyTorch code runs;
    each process drives the one device its model is on.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got "
                            f"{type(module).__name__}")
        if find_unused_parameters:
            raise NotImplementedError(
                "numbanet's DistributedDataParallel does not support "
                "find_unused_parameters=True: every parameter that requires a gradient must "
                "take part in the loss (set requires_grad=False on the others)")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("DistributedDataParallel drives one device per process: pass "
                             "device_ids=[one device] (or None)")
        self.process_group = process_group
        self.rank = distributed.get_rank(process_group)  # raises when not initialized
        self.world_size = distributed.get_world_size(process_group)
        self.module = module
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True  # False inside no_sync()
        self.bucket_bytes = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.all_reduce_seconds = 0.0  # time spent in gradient all-reduces, for benchmarks

        _check_same_model(module)  # first: every rank must take the same path from here
        named = [(name, p) for name, p in self.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        self._parameter_names = [name for name, _ in named]
        self._grad_parameters = [p for _, p in named]

        for tensor in [*module.parameters(), *module.buffers()]:
            distributed.broadcast(tensor, src=0)  # every rank starts from rank 0's state

        self._buckets = _assign_buckets(self._grad_parameters, self.bucket_bytes)
        self._bucket_of = {position: bucket for bucket in self._buckets
                           for position in bucket.slots}
        self._next_bucket = 0  # buckets are reduced strictly in index order
        self._expect_gradients = False  # set by a forward whose backward must synchronise
        for position, parameter in enumerate(self._grad_parameters):
            parameter.register_hook(functools.partial(self._gradient_ready, position))

    def forward(self, *inputs, **kwargs):
        self._prepare_for_backward()
        if self.broadcast_buffers and self.world_size > 1:
            for buffer in self.module.buffers():
                distributed.broadcast(buffer, src=0)
        return self.module(*inputs, **kwargs)

    @contextmanager
    def no_sync(self):
        """Inside this block, forward and backward accumulate gradients on this rank only;
        the first synchronised backward after it averages the accumulated gradients."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # ---- the backward side -------------------------------------------------------------
    def _prepare_for_backward(self) -> None:
        """Called by each forward: check the last iteration finished, arm the buckets."""
        arrived = any(len(bucket.waiting) < len(bucket.slots) for bucket in self._buckets)
        finished = all(bucket.reduced for bucket in self._buckets)
        if self._expect_gradients and arrived and not finished:
            missing = sorted(self._parameter_names[position] for bucket in self._buckets
                             for position in bucket.waiting)
            raise RuntimeError(_UNFINISHED_REDUCTION.format(names=", ".join(missing),
                                                            rank=self.rank))
        for bucket in self._buckets:
            bucket.reset()
        self._next_bucket = 0
        self._expect_gradients = self.require_backward_grad_sync and is_grad_enabled()

    def _gradient_ready(self, position: int, gradient: Tensor) -> Tensor | None:
        """The hook on parameter ``position``: its gradient of this backward has arrived.

        The parameter's ``.grad`` becomes the average over ranks of what it would have been
        on this rank alone (the old ``.grad`` plus this gradient, after ``no_sync``
        iterations). The hook runs before backward adds the gradient to ``.grad``; when
        this parameter's bucket has been reduced, the hook empties ``.grad`` and returns
        the average, which backward then stores as ``.grad``.
        """
        if not self._expect_gradients:
            return None
        parameter = self._grad_parameters[position]
        if position not in self._bucket_of[position].waiting:
            raise RuntimeError(
                f"Expected to mark a variable ready only once: parameter "
                f"'{self._parameter_names[position]}' received a second gradient in one "
                "iteration. Run the DistributedDataParallel model's forward before each "
                "backward (and do not use its parameters outside forward).")
        local = gradient if parameter.grad is None else parameter.grad + gradient
        self._bucket_of[position].store(position, local)
        while (self._next_bucket < len(self._buckets)
               and not self._buckets[self._next_bucket].waiting):
            self._reduce(self._buckets[self._next_bucket], current=position)
            self._next_bucket += 1
        if not self._bucket_of[position].reduced:
            return None  # backward stores the local sum; replaced when the bucket is reduced
        parameter.grad = None
        return self._bucket_of[position].values(position)

    def _reduce(self, bucket: _Bucket, current: int) -> None:
        """All-reduce one bucket, divide by the world size, hand out the averages."""
        recording = _trace._active if self.rank == 0 else None  # the Recorder
        local = bucket.buffer.copy() if recording is not None else None
        start = time.perf_counter()
        distributed.all_reduce(from_numpy(bucket.buffer), op=distributed.ReduceOp.AVG,
                               group=self.process_group)
        seconds = time.perf_counter() - start
        self.all_reduce_seconds += seconds
        bucket.reduced = True
        for position in bucket.slots:
            if position != current:  # its gradient is in .grad already: replace it
                self._grad_parameters[position].grad = bucket.values(position)
        if recording is not None:
            self._record(recording, bucket, local, seconds)

    def _record(self, recording, bucket: _Bucket, local: np.ndarray, seconds: float) -> None:
        """One trace node per bucket: this rank's gradients in, the averages out."""
        mine, averaged = {}, {}
        for position, (offset, size, shape) in bucket.slots.items():
            name = self._parameter_names[position]
            mine[name] = from_numpy(local[offset:offset + size].reshape(shape))
            averaged[name] = bucket.values(position)
        recording.record_collective(
            "mpi:all_reduce", inputs=mine, outputs=averaged, seconds=seconds,
            module_path=type(self).__name__, formula=_ALL_REDUCE_FORMULA,
            attributes={"world_size": self.world_size, "rank": self.rank,
                        "reduce_op": "AVG", "backend": "mpi", "bucket": bucket.index,
                        "bucket_bytes": bucket.nbytes, "parameters": list(mine)})
