"""The default dtype and device of new tensors: ``set_default_dtype``, ``set_default_device``.

PyTorch's creation functions (``tensor``, ``zeros``, ``randn``, ``arange`` with float bounds,
and the layers' parameters, which are made by them) use the default floating-point dtype —
float32 unless changed — and the default device — the CPU unless changed. Integer and bool
tensors keep their own dtypes::

    numbanet.set_default_dtype(numbanet.float64)   # the polynomial examples' precision
    numbanet.set_default_device("cuda")            # new tensors on the GPU
"""

from __future__ import annotations

from numbanet import dtypes
from numbanet.device import as_device, device

_default_device: device | None = None  # None: the CPU, and tensors report no default


def set_default_dtype(dtype) -> None:
    """Make ``dtype`` (float32, float64 or float16) the dtype of new floating-point tensors
    and of Python floats in mixed arithmetic with integer tensors."""
    chosen = dtypes.as_dtype(dtype)
    if not chosen.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    dtypes.DEFAULT_FLOAT = chosen


def get_default_dtype():
    """The dtype of new floating-point tensors (``numbanet.float32`` unless changed)."""
    return dtypes.DEFAULT_FLOAT


def set_default_device(new_device) -> None:
    """Put new tensors on ``new_device`` ("cpu", "cuda", a ``device``, or None for the CPU)
    when a creation function is not told a device."""
    global _default_device
    chosen = None if new_device is None else as_device(new_device)
    if chosen is not None and chosen.type == "cuda":
        from numbanet import cuda

        cuda._require_available()
    _default_device = chosen


def get_default_device() -> device:
    """The device new tensors go to: ``device(type='cpu')`` unless changed."""
    return _default_device if _default_device is not None else device("cpu")


def creation_device(requested):
    """The device a creation function uses: the requested one, else the default."""
    return requested if requested is not None else _default_device
