"""safetensors files, spelled as PyTorch users know them (``safetensors.torch.save_file``).

A safetensors file is data only: an 8-byte little-endian header length N, N bytes of JSON
(``{"fc.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}``), then
the tensors' raw little-endian bytes. Nothing in it can run. The ``safetensors`` package
checks the header (offsets inside the file, not overlapping, sizes matching shapes) and numbanet
reads it through that package's numpy API.

>>> numbanet.safetensors.save_file(model.state_dict(), "model.safetensors")
>>> model.load_state_dict(numbanet.safetensors.load_file("model.safetensors"))

``numbanet.load`` also recognises safetensors files.
"""

from __future__ import annotations

import os

import numpy as np

import numbanet
from numbanet.device import as_device
from numbanet.serialization import SerializationError, _write


def save(tensors: dict, metadata: dict | None = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` (a dict of names to tensors)."""
    import safetensors.numpy

    arrays = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, numbanet.Tensor):
            raise TypeError("save_file expects a dict of str names to tensors")
        arrays[name] = np.ascontiguousarray(tensor.detach().cpu().numpy())
    return safetensors.numpy.save(arrays, metadata=metadata)


def save_file(tensors: dict, filename: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``tensors`` to a safetensors file, as ``safetensors.torch.save_file`` does."""
    _write([save(tensors, metadata)], filename)


def load_bytes(data: bytes, source: str = "<bytes>", map_location=None) -> dict:
    """Read a safetensors file's bytes into a dict of numbanet tensors on ``map_location``."""
    import safetensors.numpy

    try:
        arrays = safetensors.numpy.load(data)
    except Exception as error:  # SafetensorError: a malformed header or short data
        raise SerializationError(source, f"not a valid safetensors file: {error}") from None
    if isinstance(map_location, dict):
        map_location = map_location.get("cpu")
    device = as_device(map_location) if map_location is not None else None
    result = {}
    for name, array in arrays.items():
        if array.dtype not in _NUMPY_DTYPES:
            raise SerializationError(
                source, f"tensor {name!r}: numbanet has no dtype {array.dtype}"
            )
        tensor = numbanet.from_numpy(np.array(array))
        result[name] = tensor.to(device) if device is not None else tensor
    return result


def load(data: bytes) -> dict:
    """``safetensors.torch.load``: tensors from a safetensors file's bytes."""
    return load_bytes(data)


def load_file(filename: str | os.PathLike, device="cpu") -> dict:
    """Read a safetensors file into ``{name: tensor}`` on ``device``, as
    ``safetensors.torch.load_file`` does."""
    with open(filename, "rb") as file:
        data = file.read()
    return load_bytes(data, os.fspath(filename), device)


_NUMPY_DTYPES = {np.dtype(name) for name in (
    "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")}
