"""``numbanet.accelerator``: PyTorch's device-agnostic accelerator API (``torch.accelerator``).

``pytorch/examples`` choose their device with it::

    device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() \\
        else torch.device("cpu")

numbanet's one accelerator is CUDA (numba.cuda): these answer for it when numba finds a GPU
(or the CUDA simulator is on), and as PyTorch does on a CPU-only machine otherwise.
"""

from __future__ import annotations

from numbanet import cuda
from numbanet.device import device


def is_available() -> bool:
    """True when a CUDA GPU is there (``numbanet.cuda.is_available()``)."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device(type='cuda')`` on a machine with a GPU; else None, PyTorch's answer on a
    machine without an accelerator. (numba.cuda is always "built in", so
    ``check_available`` changes nothing: without a usable GPU the answer is None either way.)"""
    if not is_available():
        return None
    return device("cuda")


def device_count() -> int:
    """How many accelerators: ``numbanet.cuda.device_count()`` (0 without a GPU)."""
    return cuda.device_count()


def current_device_index() -> int:
    """The index of the current accelerator (-1 without one, as PyTorch)."""
    return cuda.current_device() if is_available() else -1


def synchronize(device_index=None) -> None:
    """Wait for every kernel launched on the accelerator (nothing to wait for without one)."""
    if is_available():
        cuda.synchronize()
