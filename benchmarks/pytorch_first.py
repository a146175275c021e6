"""Imported first by the benchmarks that time PyTorch beside numbanet in one process.

numbanet asks OpenMP to put idle threads to sleep at once (``OMP_WAIT_POLICY=PASSIVE``
unless the environment sets it: see ``numbanet.kernels.cpu.matmul``). PyTorch ships its
own OpenMP runtime, which reads that variable when it is loaded: imported after numbanet,
PyTorch would be timed away from its defaults. Imported first, each keeps its own.
"""

import contextlib

with contextlib.suppress(ImportError):
    import torch  # noqa: F401
