"""``numbanet.save`` and ``numbanet.load``: checkpoints that never run code when loaded.

``numbanet.save`` writes PyTorch's own zip checkpoint (:mod:`numbanet.checkpoint_format`), so
``torch.load(path, weights_only=True)`` reads it. ``numbanet.load`` reads three formats and
runs code from none of them: PyTorch's zip checkpoints, through a pickle interpreter that only
builds tensors and plain data (:mod:`numbanet.safe_unpickler`, PyTorch's ``weights_only``
allow-list); safetensors files (:mod:`numbanet.safetensors`); and the older numbanet format
below, which ``save(obj, f, _use_new_zipfile_serialization=False)`` still writes.

Why care: loading a pickle with Python's ``pickle.load`` runs whatever code the file's author
put in it, so opening a checkpoint from the internet that way is as risky as running a script
from it. A file in the older numbanet format is data only::

    offset  size  field
    0        8    magic bytes b"NUMBANET"
    8        4    format version, uint32 little-endian (currently 1)
    12       8    header length H in bytes, uint64 little-endian
    20       8    payload length P in bytes, uint64 little-endian
    28      32    SHA-256 of the header and payload bytes that follow
    60       H    header: UTF-8 JSON describing the saved object and every tensor in it
    60+H     P    payload: the tensors' elements, raw little-endian bytes, one after another

The header's ``"object"`` is the saved structure as tagged JSON nodes, for example
``{"type": "dict", "items": [[{"type": "str", "value": "fc1.weight"},
{"type": "tensor", "index": 0}]]}``; tags keep apart what JSON alone would merge (tuples and
lists, integer and string dictionary keys such as an optimizer's ``state[0]``). Its
``"tensors"`` list gives each tensor's dtype, shape, device, ``requires_grad`` and where its
bytes lie in the payload. What can be saved: tensors, dicts, lists, tuples, str, int, float,
bool and None, nested in any way — model and optimizer state dicts, epochs, losses.

Loading checks, in order, and raises :class:`SerializationError` (a ``ValueError``) naming
the file and the problem: the magic bytes (a PyTorch or pickle file is recognised and refused
with a way to convert it), the format version, the length (a truncated file), the SHA-256
(a corrupted or edited file), and then every header field before any byte is interpreted.
The checksum detects accidents, not forgery: a file anyone could have written is still read
as nothing but numbers and strings.

Saving writes a temporary file beside the target and renames it over the target with
``os.replace``, so an interrupted save never leaves a half-written checkpoint behind. As with
``torch.save``, saving over an existing file keeps its permission bits, and saving to a
symbolic link writes the file it points to (the link stays a link): the temporary file is made
in the directory of the link's target, so the rename stays atomic.

A PyTorch checkpoint can be brought over without unpickling it in numbanet::

    # where PyTorch is installed
    state = torch.load("model.pth", weights_only=True)  # PyTorch's restricted unpickler
    numpy.savez("model.npz", **{name: t.numpy() for name, t in state.items()})
    # in numbanet
    state = {name: numbanet.from_numpy(a) for name, a in numpy.load("model.npz").items()}
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
import struct
import sys
import uuid
from typing import Any, BinaryIO, NamedTuple

import numpy as np

import numbanet
from numbanet.device import as_device
from numbanet.dtypes import DType, as_dtype

MAGIC = b"NUMBANET"
FORMAT_VERSION = 1
# magic, format version, header length, payload length, SHA-256 of header + payload
PREAMBLE = struct.Struct("<8sIQQ32s")

ZIP_MAGIC = b"PK\x03\x04"
MAX_DIMS = 32  # numpy 1's limit (numpy 2 allows 64), far above any real tensor
PICKLE_PROTOCOL_OPCODE = 0x80  # pickle protocol 2+ files start with PROTO, then the version

FileLike = str | os.PathLike | BinaryIO

CONVERSION_HINT = (
    "numbanet never unpickles, because unpickling runs whatever code the file's author chose. "
    "Convert it where PyTorch is installed: "
    "state = torch.load(path, weights_only=True); "
    "numpy.savez('model.npz', **{k: v.numpy() for k, v in state.items()}); "
    "then in numbanet: {k: numbanet.from_numpy(a) for k, a in numpy.load('model.npz').items()}"
)


class SerializationError(ValueError):
    """A file that numbanet.load cannot read: not numbanet's, truncated, corrupted or edited."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


def save(obj: Any, f: FileLike, _use_new_zipfile_serialization: bool = True) -> None:
    """Save ``obj`` (tensors and plain Python data, nested) to a path or binary file object.

    >>> numbanet.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.pth")

    The file is PyTorch's own checkpoint format (see :mod:`numbanet.checkpoint_format`), so
    ``torch.load(path, weights_only=True)`` reads it. ``_use_new_zipfile_serialization=False``
    writes the older numbanet format this module's docstring describes instead.
    Raises ``TypeError`` naming where in ``obj`` a value of an unsupported type sits.
    """
    if _use_new_zipfile_serialization:
        from numbanet import checkpoint_format

        _write([checkpoint_format.archive_bytes(obj)], f)
        return
    tensors: list = []
    structure = _encode(obj, tensors, {}, "obj")
    tensor_entries, payload_chunks, offset = [], [], 0
    for tensor in tensors:
        host_array = tensor.detach().cpu().numpy()
        little_endian = np.ascontiguousarray(host_array, host_array.dtype.newbyteorder("<"))
        raw = little_endian.tobytes()
        tensor_entries.append(
            {
                "dtype": tensor.dtype.name,
                "shape": list(host_array.shape),
                "device": str(tensor.device),
                "requires_grad": bool(tensor.requires_grad),
                "offset": offset,
                "nbytes": len(raw),
            }
        )
        payload_chunks.append(raw)
        offset += len(raw)
    header = json.dumps(
        {"object": structure, "tensors": tensor_entries},
        allow_nan=False,
        separators=(",", ":"),
    ).encode("utf-8")

    checksum = hashlib.sha256(header)
    for chunk in payload_chunks:
        checksum.update(chunk)
    preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), offset, checksum.digest())
    _write([preamble, header, *payload_chunks], f)


def load(f: FileLike, map_location=None, weights_only: bool | None = None) -> Any:
    """Load a checkpoint, putting tensors on ``map_location``.

    Reads PyTorch's zip checkpoints (what ``torch.save`` and :func:`save` write) through a
    reader that allows only what ``torch.load(weights_only=True)`` allows and runs nothing
    (:mod:`numbanet.safe_unpickler`), safetensors files, and the older numbanet format.
    A ``dict`` map_location maps saved locations to new ones (``{"cuda:0": "cpu"}``).

    ``map_location``: None puts each tensor back on the device it was saved from (as PyTorch
    does); ``"cpu"``, ``"cuda"``, ``"cuda:0"`` or a ``numbanet.device`` puts every tensor
    there. ``weights_only`` is accepted so PyTorch code runs unchanged; a numbanet file holds
    only data, so loading is always as safe as PyTorch's ``weights_only=True``.
    """
    del weights_only  # always weights only: numbanet never runs code named in a file
    source = _name_of(f)
    content = _read(f)
    if content.startswith(ZIP_MAGIC):
        from numbanet import checkpoint_format

        return checkpoint_format.load(content, source, _check_map_location(map_location))
    if _looks_like_safetensors(content):
        from numbanet import safetensors

        return safetensors.load_bytes(content, source, _check_map_location(map_location))
    target = _resolve_map_location(map_location)
    header, payload = _split_and_verify(content, source)
    layouts = [
        _tensor_layout(entry, index, len(payload), source)
        for index, entry in enumerate(_field(header, "tensors", list, source))
    ]
    _check_disjoint(layouts, source)
    tensors = [
        _decode_tensor(entry, layout, payload, index, target, source)
        for index, (entry, layout) in enumerate(zip(header["tensors"], layouts, strict=True))
    ]
    try:
        return _decode(_field(header, "object", dict, source), tensors, source)
    except RecursionError:
        raise SerializationError(source, "the saved object is nested too deeply") from None


# ----------------------------------------------------------------------------- saving


def _encode(obj: Any, tensors: list, tensor_index_by_id: dict, where: str) -> dict:
    """Turn ``obj`` into tagged JSON nodes, appending each distinct tensor to ``tensors``."""
    if obj is None:
        return {"type": "none"}
    if isinstance(obj, bool | np.bool_):
        return {"type": "bool", "value": bool(obj)}
    if isinstance(obj, int | np.integer):
        return {"type": "int", "value": int(obj)}
    if isinstance(obj, float | np.floating):
        return {"type": "float", "value": repr(float(obj))}  # repr round-trips, nan/inf too
    if isinstance(obj, str):
        return {"type": "str", "value": obj}
    if isinstance(obj, numbanet.Tensor):
        if id(obj) not in tensor_index_by_id:  # a tensor saved twice is stored once
            tensor_index_by_id[id(obj)] = len(tensors)
            tensors.append(obj)
        return {"type": "tensor", "index": tensor_index_by_id[id(obj)]}
    if isinstance(obj, list | tuple):
        items = [
            _encode(item, tensors, tensor_index_by_id, f"{where}[{i}]")
            for i, item in enumerate(obj)
        ]
        return {"type": "tuple" if isinstance(obj, tuple) else "list", "items": items}
    if isinstance(obj, dict):
        items = [
            [
                _encode(key, tensors, tensor_index_by_id, f"a key of {where}"),
                _encode(value, tensors, tensor_index_by_id, f"{where}[{key!r}]"),
            ]
            for key, value in obj.items()
        ]
        return {"type": "dict", "items": items}
    raise TypeError(
        f"numbanet.save cannot store {where}, of type {type(obj).__qualname__}: it saves "
        "tensors, dict, list, tuple, str, int, float, bool and None"
    )


def _write(chunks: list[bytes], f: FileLike) -> None:
    """Write ``chunks`` to a file object, or atomically to a path (temp file + os.replace).

    A symbolic link is followed to the file it names, and an existing file's permission bits
    are copied to the replacement, so the result looks as if the file had been overwritten in
    place (what ``open(path, "wb")`` in ``torch.save`` does) without its risk of a torn file.
    """
    if hasattr(f, "write"):
        for chunk in chunks:
            f.write(chunk)
        return
    path = os.path.realpath(f)  # through symlinks: the link stays, its target is replaced
    try:
        existing_mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        existing_mode = None  # a new file gets open()'s default, 0o666 less the umask
    if existing_mode is not None and not os.access(path, os.W_OK):
        # overwriting in place would fail here; renaming over a read-only file would not
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(f))
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"  # same folder, so os.replace is atomic
    try:
        with open(temporary, "xb") as file:
            if existing_mode is not None:
                os.chmod(file.fileno(), existing_mode)
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ----------------------------------------------------------------------------- loading


def _name_of(f: FileLike) -> str:
    if hasattr(f, "read"):
        return str(getattr(f, "name", "<file object>"))
    return os.fspath(f)


def _read(f: FileLike) -> bytes:
    if hasattr(f, "read"):
        return f.read()
    with open(f, "rb") as file:
        return file.read()


def _check_map_location(map_location):
    """For PyTorch archives: None, a device, or a dict from saved to new locations."""
    if isinstance(map_location, dict):
        for key, value in map_location.items():
            if not isinstance(key, str) or not isinstance(value, str | numbanet.device):
                raise TypeError("a map_location dict maps location strings to devices")
        return {key: as_device(value) for key, value in map_location.items()}
    return _resolve_map_location(map_location)


def _looks_like_safetensors(content: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    if len(content) < 10:
        return False
    (length,) = struct.unpack_from("<Q", content)
    return content[8:9] == b"{" and length <= len(content) - 8


def _resolve_map_location(map_location):
    """None keeps each tensor's saved device; anything else names one device for all."""
    if map_location is None:
        return None
    if isinstance(map_location, str | numbanet.device):
        return as_device(map_location)
    raise TypeError(
        "map_location must be None, a device string such as 'cpu' or 'cuda', or a "
        f"numbanet.device, not {type(map_location).__qualname__}"
    )


def _split_and_verify(content: bytes, source: str) -> tuple[dict, memoryview]:
    """Check magic, version, length and checksum; return the parsed header and the payload."""
    _check_magic(content, source)
    if len(content) < PREAMBLE.size:
        raise SerializationError(
            source,
            f"truncated: {len(content)} bytes, shorter than the {PREAMBLE.size}-byte preamble",
        )
    _, version, header_length, payload_length, checksum = PREAMBLE.unpack_from(content)
    if version != FORMAT_VERSION:
        raise SerializationError(
            source,
            f"format version {version}; this numbanet reads version {FORMAT_VERSION} "
            "(was the file written by a newer numbanet?)",
        )
    expected_length = PREAMBLE.size + header_length + payload_length
    if len(content) < expected_length:
        raise SerializationError(
            source,
            f"truncated: the file should be {expected_length} bytes long but has "
            f"{len(content)} (an interrupted copy or download?)",
        )
    if len(content) > expected_length:
        raise SerializationError(
            source, f"{len(content) - expected_length} unexpected bytes after the payload"
        )
    body = memoryview(content)[PREAMBLE.size :]
    if hashlib.sha256(body).digest() != checksum:
        raise SerializationError(
            source, "SHA-256 checksum mismatch: the file is corrupted or was modified"
        )
    try:
        header = json.loads(bytes(body[:header_length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise SerializationError(source, f"the header is not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise SerializationError(source, "the header is not a JSON object")
    return header, body[header_length:]


def _check_magic(content: bytes, source: str) -> None:
    """Refuse, with a reason, anything that does not start with numbanet's magic bytes."""
    if content.startswith(MAGIC):
        return
    if MAGIC.startswith(content):  # empty, or cut off inside the magic bytes
        raise SerializationError(source, f"truncated: the file has only {len(content)} bytes")
    if content.startswith(ZIP_MAGIC):
        raise SerializationError(
            source,
            "this is a ZIP archive, the format torch.save has written since PyTorch 1.6, "
            f"which stores a Python pickle inside. {CONVERSION_HINT}",
        )
    if len(content) >= 2 and content[0] == PICKLE_PROTOCOL_OPCODE and 2 <= content[1] <= 5:
        raise SerializationError(
            source,
            "this is a Python pickle (written by pickle.dump or an old torch.save). "
            f"{CONVERSION_HINT}",
        )
    raise SerializationError(
        source,
        f"not a numbanet file: it does not start with the magic bytes {MAGIC!r} "
        f"(it starts with {content[:8]!r})",
    )


def _field(mapping: dict, key: str, expected_type: type, source: str):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    # JSON true/false arrive as Python bools, which are ints too: keep the two apart.
    if type(value) is not expected_type:
        raise SerializationError(
            source, f"header field {key!r} is missing or not a {expected_type.__name__}"
        )
    return value


class TensorLayout(NamedTuple):
    """Where one tensor's elements lie in the payload, and how to read them."""

    dtype: DType
    shape: list[int]
    offset: int
    nbytes: int


def _tensor_layout(entry: dict, index: int, payload_length: int, source: str) -> TensorLayout:
    """Check tensor ``index``'s dtype, shape, offset and size fields against each other and
    against the payload, before a single byte is read."""
    try:
        dtype = as_dtype(_field(entry, "dtype", str, source))
    except TypeError:
        raise SerializationError(source, f"tensor {index} has an unknown dtype") from None
    shape = _field(entry, "shape", list, source)
    if (
        len(shape) > MAX_DIMS
        or not all(type(size) is int and 0 <= size <= sys.maxsize for size in shape)
        or math.prod(size for size in shape if size) > sys.maxsize  # what numpy can index
    ):
        raise SerializationError(source, f"tensor {index} has an invalid shape {shape}")
    offset = _field(entry, "offset", int, source)
    nbytes = _field(entry, "nbytes", int, source)
    if nbytes != math.prod(shape) * dtype.itemsize:
        raise SerializationError(
            source, f"tensor {index}: {nbytes} bytes do not hold shape {shape} of {dtype.name}"
        )
    if offset < 0 or offset + nbytes > payload_length:
        raise SerializationError(source, f"tensor {index} lies outside the payload")
    return TensorLayout(dtype, shape, offset, nbytes)


def _check_disjoint(layouts: list[TensorLayout], source: str) -> None:
    """Refuse tensors whose byte ranges overlap: save never writes one byte for two tensors."""
    ranges = sorted(
        (layout.offset, layout.offset + layout.nbytes, index)
        for index, layout in enumerate(layouts)
        if layout.nbytes
    )
    for (_, end, first), (start, _, second) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            first, second = sorted((first, second))
            raise SerializationError(
                source, f"tensors {first} and {second} overlap in the payload"
            )


def _decode_tensor(entry: dict, layout: TensorLayout, payload: memoryview, index: int,
                   target, source: str):
    """Build tensor number ``index`` from its checked layout and its remaining fields."""
    dtype, shape, offset, _ = layout
    little_endian = dtype.numpy.newbyteorder("<")
    array = np.frombuffer(payload, little_endian, count=math.prod(shape), offset=offset)
    if dtype.numpy.kind == "b" and array.view(np.uint8).max(initial=0) > 1:
        # numpy would keep the byte as it is: a "bool" that is neither True nor False
        raise SerializationError(source, f"tensor {index}: bool bytes must be 0 or 1")
    array = array.reshape(shape).astype(dtype.numpy)  # a writable, native-endian copy

    tensor = numbanet.from_numpy(array)
    if target is not None:
        device = target
    else:
        try:
            device = as_device(_field(entry, "device", str, source))
        except (RuntimeError, ValueError):
            raise SerializationError(source, f"tensor {index} has an unknown device") from None
    if device.type == "cuda" and not numbanet.cuda.is_available():
        raise RuntimeError(
            f"{source}: tensor {index} was saved on {device} but CUDA is not available. "
            "On a CPU-only machine, pass map_location='cpu' to numbanet.load."
        )
    if device != tensor.device:
        tensor = tensor.to(device)
    if _field(entry, "requires_grad", bool, source):
        try:
            tensor.requires_grad_(True)
        except RuntimeError:  # only floating-point tensors can require gradients
            raise SerializationError(
                source, f"tensor {index} of {dtype.name} cannot require gradients"
            ) from None
    return tensor


def _decode(node: dict, tensors: list, source: str) -> Any:
    """Rebuild the saved object from its tagged JSON nodes (see the module docstring)."""
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "none":
        return None
    if kind == "bool":
        return _field(node, "value", bool, source)
    if kind == "int":
        return _field(node, "value", int, source)
    if kind == "float":
        try:
            return float(_field(node, "value", str, source))
        except ValueError:
            raise SerializationError(source, f"invalid float {node['value']!r}") from None
    if kind == "str":
        return _field(node, "value", str, source)
    if kind == "tensor":
        index = _field(node, "index", int, source)
        if not 0 <= index < len(tensors):
            raise SerializationError(source, f"reference to tensor {index}, which does not exist")
        return tensors[index]
    if kind in ("list", "tuple"):
        items = [_decode(item, tensors, source) for item in _field(node, "items", list, source)]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        result = {}
        for pair in _field(node, "items", list, source):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise SerializationError(source, "a dict entry is not a [key, value] pair")
            key = _decode(pair[0], tensors, source)
            try:
                result[key] = _decode(pair[1], tensors, source)
            except TypeError:  # an unhashable key, such as a list
                raise SerializationError(source, f"unhashable dict key {key!r}") from None
        return result
    raise SerializationError(source, f"unknown node type {kind!r} in the header")
