"""``numbanet.distributed``: several processes training one model, on MPI.

PyTorch's ``torch.distributed`` names, run by MPI (``mpi4py`` + ``mpich``; install with
``pip install numbanet[dist]``). Read in this order:

1. ``process_group.py`` — ranks and the world size; joining and leaving the group; why an
   exception on one rank must end the whole job.
2. ``collectives.py`` — ``all_reduce``, ``broadcast``, ``all_gather``, ``barrier``.
3. ``numbanet/nn/parallel/distributed.py`` — ``DistributedDataParallel``, which averages
   gradients with ``all_reduce`` so that every rank takes the same optimizer step.
4. ``numbanet/utils/data/distributed.py`` — ``DistributedSampler``, which gives each rank
   its own share of the data.

Collectives work on CPU tensors, and on CUDA tensors through a copy to the host.
"""

from numbanet.distributed.collectives import (
    ReduceOp,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
)
from numbanet.distributed.process_group import (
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)

__all__ = [
    "ReduceOp", "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast",
    "destroy_process_group", "get_backend", "get_rank", "get_world_size",
    "init_process_group", "is_available", "is_initialized", "is_mpi_available",
]
