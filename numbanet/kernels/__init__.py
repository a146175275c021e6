"""Backends: one module of kernels per device type, all exporting the same contract."""

import importlib

_loaded: dict = {}


def backend_for(device_type: str):
    """The kernel module for ``"cpu"`` or ``"cuda"`` (imported on first use)."""
    try:
        return _loaded[device_type]
    except KeyError:
        module = importlib.import_module(f"numbanet.kernels.{device_type}")
        _loaded[device_type] = module
        return module
