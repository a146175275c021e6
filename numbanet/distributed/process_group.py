"""The process group: which process am I (rank), and how many are there (world size)?

Data-parallel training runs the *same* script in N processes. Each process holds a full
copy of the model, trains on its own share of every batch, and the processes talk to each
other through *collectives*: operations that every process calls together, such as
"add up this tensor across all of us" (all-reduce). numbanet does not implement that
communication itself: it runs on MPI, the standard used by supercomputers, through the
``mpi4py`` package and the ``mpich`` library (``pip install numbanet[dist]``).

A job is started by a launcher that starts N copies of the script and tells each one its
rank::

    numbanet run -n 2 train.py            # or: mpiexec -n 2 python train.py

and the script joins the group with PyTorch's call::

    import numbanet.distributed as dist
    dist.init_process_group(backend="mpi")
    rank, world_size = dist.get_rank(), dist.get_world_size()

A script started without a launcher is a group of one (rank 0, world size 1); every
collective then returns its input unchanged, so the same script runs on a laptop.

MPI matches collectives by the *order* in which each process calls them. If one process
dies with an exception while the others wait inside an all-reduce, they would wait forever;
so ``init_process_group`` makes an uncaught exception on any rank abort the whole job
(``MPI_Abort``): the launcher kills every rank and exits non-zero.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

# Environment variables that launchers set in every process they start (MPICH/Hydra,
# Open MPI, Slurm). Used only to explain a missing mpi4py inside a multi-process job.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to "
                    "call init_process_group.")


class _SingleProcessComm:
    """The world of one process, used when mpi4py is not installed and no launcher started
    us. Provides the few communicator methods numbanet calls; each is the identity, which
    is exactly what a collective over one process computes."""

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def Allreduce(self, send, receive, op=None) -> None:  # noqa: N802
        pass  # in place (send is MPI.IN_PLACE): the sum over one process is the value itself

    def Bcast(self, buffer, root: int = 0) -> None:  # noqa: N802
        pass

    def Allgather(self, send, receive) -> None:  # noqa: N802
        receive[0] = send

    def allgather(self, value) -> list:
        return [value]

    def Barrier(self) -> None:  # noqa: N802
        pass

    def Abort(self, errorcode: int = 1) -> None:  # noqa: N802
        os._exit(errorcode)


class _ProcessGroup:
    """The default group: an MPI communicator holding every process of the job."""

    def __init__(self, comm, backend: str):
        self.comm = comm
        self.backend = backend
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()


_default_group: _ProcessGroup | None = None
_excepthook_before_init = None


def is_available() -> bool:
    """Whether ``numbanet.distributed`` can be used: always (a group of one needs nothing;
    several processes need mpi4py, see :func:`is_mpi_available`)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py (the MPI engine numbanet runs on) is installed."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _launched_size() -> int:
    """The number of processes a launcher says it started (1 when none did)."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def _world_communicator():
    try:
        from mpi4py import MPI  # importing initialises MPI
    except ImportError:
        if _launched_size() > 1:
            raise ImportError(
                "numbanet.distributed needs mpi4py to run several processes: "
                "pip install 'numbanet[dist]' (or: pip install mpi4py mpich)") from None
        return _SingleProcessComm()
    return MPI.COMM_WORLD


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Join the job's group of processes (PyTorch's ``torch.distributed.init_process_group``).

    ``backend`` is ``"mpi"`` (``None`` means the same). With MPI the launcher decides each
    process's rank and the world size, so ``rank`` and ``world_size`` need not be passed;
    when they are, they must agree with MPI. ``"gloo"`` and ``"nccl"`` (PyTorch's other
    backends) run on MPI too, with a warning, so that tutorial code runs unchanged.
    ``init_method``, ``timeout``, ``store`` and the rest configure PyTorch's own
    rendezvous, which MPI does not need; they are accepted and ignored.
    """
    global _default_group, _excepthook_before_init
    if _default_group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name in ("gloo", "nccl"):
        warnings.warn(f"numbanet.distributed runs on MPI; backend={backend!r} uses MPI's "
                      "collectives instead (same results)", stacklevel=2)
    elif name != "mpi":
        raise ValueError(f"Invalid backend: '{backend}'. numbanet.distributed supports "
                         "backend='mpi' (MPI through mpi4py)")
    comm = _world_communicator()
    group = _ProcessGroup(comm, "mpi")
    if world_size not in (-1, None) and world_size != group.size:
        raise ValueError(f"world_size={world_size} was passed, but the launcher started "
                         f"{group.size} process(es): with MPI the world size comes from "
                         f"the launcher (numbanet run -n {world_size} script.py)")
    if rank not in (-1, None) and rank != group.rank:
        raise ValueError(f"rank={rank} was passed, but MPI gave this process rank "
                         f"{group.rank}: with MPI each rank comes from the launcher")
    _default_group = group
    if group.size > 1:
        _excepthook_before_init = sys.excepthook
        sys.excepthook = _abort_job_on_uncaught_exception


def _abort_job_on_uncaught_exception(kind, value, trace) -> None:
    """``sys.excepthook`` while a multi-process group exists: print the traceback as usual,
    then abort every rank. Without this the other ranks would wait forever in their next
    collective for a process that is gone."""
    group = _default_group
    traceback.print_exception(kind, value, trace)
    if group is None:
        return
    print(f"numbanet.distributed: rank {group.rank} of {group.size} raised "
          f"{kind.__name__}; aborting the whole job (MPI_Abort)", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    group.comm.Abort(1)


def destroy_process_group(group=None) -> None:
    """Leave the group (PyTorch's name). MPI itself is shut down when the process exits."""
    global _default_group
    _default_group_or_raise()
    if sys.excepthook is _abort_job_on_uncaught_exception:
        sys.excepthook = _excepthook_before_init
    _default_group = None


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has been called (and not destroyed since)."""
    return _default_group is not None


def _default_group_or_raise(group=None) -> _ProcessGroup:
    if _default_group is None:
        raise ValueError(_NOT_INITIALIZED)
    if group is not None and group is not _default_group:
        raise ValueError("numbanet.distributed has one group, the default one: pass "
                         "group=None")
    return _default_group


def get_rank(group=None) -> int:
    """This process's number in the group: 0, 1, ..., world size - 1."""
    return _default_group_or_raise(group).rank


def get_world_size(group=None) -> int:
    """How many processes the group holds."""
    return _default_group_or_raise(group).size


def get_backend(group=None) -> str:
    """The backend's name: ``"mpi"``."""
    return _default_group_or_raise(group).backend
