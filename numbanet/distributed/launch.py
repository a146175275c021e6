"""``numbanet run -n N script.py``: start N copies of a script as one MPI job.

The launcher is MPI's own, ``mpiexec`` (installed with the ``mpich`` wheel next to the
Python interpreter); ``numbanet run -n N`` only builds its command line::

    mpiexec -n N python -m numbanet.cli run script.py ARGS...

with each process's Numba limited to its share of the cores (``NUMBA_NUM_THREADS``, unless
already set).
Each of the N processes then runs the script in-process (:func:`run_script`). Running the
script through numbanet rather than as ``python script.py`` adds one guarantee: an
exception raised anywhere in the script — even before ``init_process_group`` — aborts the
whole job (``MPI_Abort``) instead of leaving the other ranks waiting forever.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

from numbanet.distributed.process_group import _launched_size


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (a virtual environment's), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("mpiexec not found: pip install 'numbanet[dist]' "
                                "(or: pip install mpi4py mpich) installs it")
    return found


def mpiexec_command(processes: int, script: str, arguments: list[str]) -> list[str]:
    """The command that starts ``processes`` copies of ``script`` as one MPI job."""
    return [find_mpiexec(), "-n", str(processes), sys.executable, "-m", "numbanet.cli",
            "run", script, *arguments]


def launch(processes: int, script: str, arguments: list[str]) -> int:
    """Run ``script`` as ``processes`` processes; returns the job's exit status."""
    if processes < 1:
        raise ValueError(f"the number of processes must be at least 1, got {processes}")
    if processes == 1:
        return run_script(script, arguments)
    return subprocess.call(mpiexec_command(processes, script, arguments),
                           env=_share_cores(processes))


def _share_cores(processes: int) -> dict[str, str]:
    """The environment for the ranks: unless the user chose, each rank's Numba (and OpenMP)
    gets its share of the cores. N processes that each start a thread per core would run
    N times more threads than there are cores, and wait on one another (PyTorch's launcher,
    torchrun, limits its workers the same way)."""
    environment = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // processes))
    chosen = [name for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS") if name in environment]
    if not chosen:
        print(f"numbanet run: {threads} thread(s) per process for {processes} processes on "
              f"{os.cpu_count()} cores (set NUMBA_NUM_THREADS to choose)", file=sys.stderr)
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        environment.setdefault(name, threads)
    return environment


def run_script(script: str, arguments: list[str]) -> int:
    """Run ``script`` as ``__main__`` in this process, as ``python script.py ARGS`` would.

    Inside a job of several processes, an exception ends every rank: the traceback is
    printed, then ``MPI_Abort`` makes the launcher stop the job with a non-zero status.
    """
    path = Path(script)
    if not path.is_file():
        print(f"numbanet run: error: no such script: {script}", file=sys.stderr)
        return 2
    sys.argv = [str(path), *arguments]
    sys.path.insert(0, str(path.resolve().parent))
    if _launched_size() <= 1:
        runpy.run_path(str(path), run_name="__main__")
        return 0
    from mpi4py import MPI  # initialises MPI before the script runs

    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as stop:
        if stop.code in (None, 0):
            return 0
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        _abort(MPI.COMM_WORLD, f"exited with status {stop.code}", code=stop.code)
    except BaseException:  # noqa: BLE001 - any error on one rank must stop them all
        traceback.print_exc()
        _abort(MPI.COMM_WORLD, "raised an exception")
    return 0


def _abort(comm, what: str, code=1) -> None:
    status = code if isinstance(code, int) and code > 0 else 1
    print(f"numbanet run: rank {comm.Get_rank()} of {comm.Get_size()} {what}; aborting the "
          "whole job (MPI_Abort)", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    comm.Abort(status)
