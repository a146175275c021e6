"""``numbanet.cuda``: is a GPU there, how many, which one — as ``torch.cuda``.

Under ``NUMBA_ENABLE_CUDASIM=1`` numba simulates one GPU in Python, so these report a
device and the CUDA backend runs (slowly) without one — that is how CI tests the kernels.
"""

from __future__ import annotations

import glob
import os
import sys


def _no_driver_here() -> bool:
    """True on a Linux machine with no NVIDIA driver loaded (no ``/proc/driver/nvidia``, no
    ``/dev/nvidia*``, no WSL ``/dev/dxg``) and no simulator or driver path asked for: then
    the answer is known without importing numba.cuda, which costs half a second at start-up."""
    if not sys.platform.startswith("linux") or "numba.cuda" in sys.modules:
        return False
    if os.environ.get("NUMBA_ENABLE_CUDASIM") not in (None, "", "0"):
        return False
    if os.environ.get("NUMBA_CUDA_DRIVER"):
        return False
    return not (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/dxg")
                or glob.glob("/dev/nvidia*"))


def is_available() -> bool:
    """True when numba.cuda finds a GPU (or the simulator is switched on)."""
    if _no_driver_here():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a missing driver raises on some systems instead of returning False
        return False


def device_count() -> int:
    if not is_available():
        return 0
    from numba import cuda

    return len(cuda.gpus)


def current_device() -> int:
    _require_available()
    from numba import cuda

    return getattr(cuda.get_current_device(), "id", 0)  # the simulator's device has no id


def get_device_name(device: int | None = None) -> str:
    _require_available()
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "CUDA simulator")  # it has no name
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait until every kernel launched so far has finished (for honest timings), and — as
    PyTorch does — raise an error a kernel found since the last read, such as a class index
    out of range (see ``numbanet/kernels/cuda/indexing.py``)."""
    if is_available():
        from numba import cuda

        from numbanet.kernels.cuda.indexing import raise_unread_index_errors

        cuda.synchronize()
        raise_unread_index_errors()


def manual_seed(seed: int) -> None:
    """Seed GPU randomness too (numbanet draws it from the one default generator)."""
    from numbanet.random import manual_seed as seed_everything

    seed_everything(seed)


manual_seed_all = manual_seed


def _require_available() -> None:
    if not is_available():
        raise RuntimeError(
            "CUDA is not available: numba.cuda found no GPU and driver. Use device='cpu' "
            "(e.g. device = 'cuda' if numbanet.cuda.is_available() else 'cpu'), or set "
            "NUMBA_ENABLE_CUDASIM=1 before importing numbanet to run the CUDA kernels in "
            "numba's simulator. `numbanet doctor` explains what is missing."
        )
