"""PyTorch's checkpoint file format, written and read by numbanet without running any code.

``torch.save`` (PyTorch 1.6 and later) writes a ZIP archive, every entry stored uncompressed::

    archive/data.pkl               the saved object, a pickle (protocol 2)
    archive/.format_version        "1"
    archive/.storage_alignment     "64": each entry's bytes start at a multiple of 64
    archive/byteorder              "little"
    archive/data/0, data/1, ...    each storage's raw bytes, little-endian
    archive/version                "3"
    archive/.data/serialization_id an id for this save

A tensor in ``data.pkl`` is a call ``torch._utils._rebuild_tensor_v2(storage, storage_offset,
size, stride, requires_grad, backward_hooks)``; its storage is not pickled but named by a
*persistent id* ``("storage", torch.FloatStorage, "0", "cpu", numel)``: entry ``data/0``
holds ``numel`` float32 elements, and the tensor's element ``[i, j]`` is storage element
``storage_offset + i * stride[0] + j * stride[1]``. A Parameter wraps that call in
``torch._utils._rebuild_parameter(tensor, requires_grad, backward_hooks)``.

Writing: :func:`save` emits the pickle opcodes itself (numbanet has no torch classes to pickle);
every tensor gets its own contiguous storage, as ``tensor.contiguous().clone()`` would.
Reading: :func:`load` checks the archive (CRCs, sizes) and interprets ``data.pkl`` with
:class:`numbanet.safe_unpickler.Unpickler`, which allows only what PyTorch's
``weights_only=True`` loader allows and never imports or calls anything a file names.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

import numbanet
from numbanet import safe_unpickler
from numbanet.device import as_device
from numbanet.dtypes import as_dtype
from numbanet.serialization import SerializationError

ALIGNMENT = 64
# what zipfile raises for damaged archives: bad CRC/headers, short files, odd versions, encryption
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError,
              NotImplementedError, RuntimeError, struct.error, UnicodeDecodeError)
ARCHIVE = "archive"
# numbanet dtype name -> the storage class torch pickles for it
STORAGE_NAMES = {
    dtype: name for name, dtype in safe_unpickler.STORAGE_DTYPES.items()
    if dtype is not None and not name.startswith("Q")  # QInt8Storage: quantized levels only
}
QUANTIZED_STORAGE_NAMES = {"qint8": "QInt8Storage", "quint8": "QUInt8Storage",
                           "qint32": "QInt32Storage"}


# ----------------------------------------------------------------------------- writing


class _PickleWriter:
    """Emit pickle protocol 2 opcodes for tensors and plain Python data, as torch.save would."""

    def __init__(self):
        self.out = io.BytesIO()
        self.storages: list[bytes] = []
        self.storage_key_by_id: dict[int, int] = {}
        self.keep_alive: list = []  # ids stay unique while the objects live

    def op(self, name: str, payload: bytes = b"") -> None:
        self.out.write(getattr(__import__("pickle"), name) + payload)

    def global_(self, module: str, name: str) -> None:
        self.op("GLOBAL", f"{module}\n{name}\n".encode())

    def dump(self, obj: Any) -> bytes:
        self.op("PROTO", b"\x02")
        self.save(obj, "obj")
        self.op("STOP")
        return self.out.getvalue()

    def save(self, obj: Any, where: str) -> None:
        if obj is None:
            self.op("NONE")
        elif isinstance(obj, bool | np.bool_):
            self.op("NEWTRUE" if obj else "NEWFALSE")
        elif isinstance(obj, int | np.integer):
            self.save_int(int(obj))
        elif isinstance(obj, float | np.floating):
            self.op("BINFLOAT", struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            encoded = obj.encode("utf-8", "surrogatepass")
            self.op("BINUNICODE", struct.pack("<I", len(encoded)) + encoded)
        elif isinstance(obj, numbanet.Tensor):
            self.save_tensor(obj)
        elif isinstance(obj, numbanet.device):
            self.global_("torch", "device")
            self.save((str(obj),), where)
            self.op("REDUCE")
        elif isinstance(obj, numbanet.dtype):
            self.global_("torch", obj.name)
        elif isinstance(obj, numbanet.Size):
            self.global_("torch", "Size")
            self.save(tuple(obj), where)
            self.op("TUPLE1")
            self.op("REDUCE")
        elif isinstance(obj, tuple):
            self.op("MARK")
            for i, item in enumerate(obj):
                self.save(item, f"{where}[{i}]")
            self.op("TUPLE")
        elif isinstance(obj, list):
            self.op("EMPTY_LIST")
            if obj:
                self.op("MARK")
                for i, item in enumerate(obj):
                    self.save(item, f"{where}[{i}]")
                self.op("APPENDS")
        elif isinstance(obj, dict):
            if isinstance(obj, OrderedDict):
                self.global_("collections", "OrderedDict")
                self.op("EMPTY_TUPLE")
                self.op("REDUCE")
            else:
                self.op("EMPTY_DICT")
            if obj:
                self.op("MARK")
                for key, value in obj.items():
                    self.save(key, f"a key of {where}")
                    self.save(value, f"{where}[{key!r}]")
                self.op("SETITEMS")
        else:
            raise TypeError(
                f"numbanet.save cannot store {where}, of type {type(obj).__qualname__}: it "
                "saves tensors, dict, OrderedDict, list, tuple, str, int, float, bool, None, "
                "numbanet.device, numbanet.dtype and numbanet.Size"
            )

    def save_int(self, value: int) -> None:
        if 0 <= value < 256:
            self.op("BININT1", bytes([value]))
        elif 0 <= value < 65536:
            self.op("BININT2", struct.pack("<H", value))
        elif -(2**31) <= value < 2**31:
            self.op("BININT", struct.pack("<i", value))
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.op("LONG1", bytes([len(raw)]) + raw)

    def save_tensor(self, tensor) -> None:
        if tensor.is_quantized:
            self.save_quantized_tensor(tensor)
            return
        is_parameter = isinstance(tensor, numbanet.nn.Parameter)
        if is_parameter:
            self.global_("torch._utils", "_rebuild_parameter")
            self.op("MARK")
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.op("MARK")
        self.save_storage(tensor, lambda: tensor.detach().cpu().numpy(),
                          STORAGE_NAMES[tensor.dtype.name])
        self.save(bool(tensor.requires_grad) and not is_parameter, "")
        self.global_("collections", "OrderedDict")
        self.op("EMPTY_TUPLE")
        self.op("REDUCE")
        self.op("TUPLE")
        self.op("REDUCE")
        if is_parameter:
            self.save(bool(tensor.requires_grad), "")
            self.global_("collections", "OrderedDict")
            self.op("EMPTY_TUPLE")
            self.op("REDUCE")
            self.op("TUPLE")
            self.op("REDUCE")

    def save_quantized_tensor(self, tensor) -> None:
        """``torch._utils._rebuild_qtensor(storage, offset, size, stride, quantizer_params,
        requires_grad, hooks)``, as PyTorch pickles a quantized tensor: the levels in a
        ``QInt8Storage`` / ``QUInt8Storage`` / ``QInt32Storage``, and ``(qscheme, scale,
        zero_point)`` or ``(qscheme, scales, zero_points, axis)``."""
        self.global_("torch._utils", "_rebuild_qtensor")
        self.op("MARK")
        self.save_storage(tensor, lambda: tensor.int_repr().cpu().numpy(),
                          QUANTIZED_STORAGE_NAMES[tensor.dtype.name])
        self.op("MARK")
        if tensor.qscheme().name.startswith("per_tensor"):
            self.global_("torch", "per_tensor_affine")
            self.save(tensor.q_scale(), "")
            self.save_int(tensor.q_zero_point())
        else:
            self.global_("torch", "per_channel_affine")
            self.save(tensor.q_per_channel_scales(), "")
            self.save(tensor.q_per_channel_zero_points(), "")
            self.save_int(tensor.q_per_channel_axis())
        self.op("TUPLE")
        self.save(False, "")
        self.global_("collections", "OrderedDict")
        self.op("EMPTY_TUPLE")
        self.op("REDUCE")
        self.op("TUPLE")
        self.op("REDUCE")

    def save_storage(self, tensor, host_values, storage_name: str) -> None:
        """The persistent id of ``tensor``'s storage (its bytes kept once per tensor), then
        the storage offset, size and stride."""
        if id(tensor) not in self.storage_key_by_id:  # a tensor saved twice: one storage
            host = host_values()
            self.storage_key_by_id[id(tensor)] = len(self.storages)
            self.keep_alive.append(tensor)
            little = np.ascontiguousarray(host, host.dtype.newbyteorder("<"))
            self.storages.append(little.tobytes())
        key = self.storage_key_by_id[id(tensor)]
        shape = tuple(tensor.shape)
        strides, step = [], 1
        for size in reversed(shape):  # contiguous, row-major strides in elements
            strides.insert(0, step)
            step *= max(size, 1)
        device = tensor.device
        location = "cpu" if device.type == "cpu" else f"cuda:{device.index or 0}"
        self.op("MARK")
        self.save("storage", "")
        self.global_("torch", storage_name)
        self.save(str(key), "")
        self.save(location, "")
        self.save_int(math.prod(shape))
        self.op("TUPLE")
        self.op("BINPERSID")
        self.save_int(0)
        self.save(shape, "")
        self.save(tuple(strides), "")


def _padding(offset: int, name: str) -> bytes:
    """The local-header extra field ("FB", length, "Z"...) that puts data at a multiple of 64."""
    start = offset + 30 + len(name.encode()) + 4
    pad = (-start) % ALIGNMENT
    return b"FB" + struct.pack("<H", pad) + b"Z" * pad


def archive_bytes(obj: Any) -> bytes:
    """The bytes of PyTorch's zip checkpoint holding ``obj``."""
    writer = _PickleWriter()
    pickled = writer.dump(obj)
    records = [
        ("data.pkl", pickled),
        (".format_version", b"1"),
        (".storage_alignment", str(ALIGNMENT).encode()),
        ("byteorder", b"little"),
        *((f"data/{key}", raw) for key, raw in enumerate(writer.storages)),
        ("version", b"3\n"),
        (".data/serialization_id", str(int.from_bytes(os.urandom(8), "little")).zfill(20).encode()),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, data in records:
            full_name = f"{ARCHIVE}/{name}"
            info = zipfile.ZipInfo(full_name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.extra = _padding(buffer.tell(), full_name)
            archive.writestr(info, data)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- reading


def is_zip(content: bytes) -> bool:
    return content[:4] == b"PK\x03\x04"


class _Storage:
    """One ``data/<key>`` entry read as a flat numpy array, plus its saved location."""

    def __init__(self, array: np.ndarray, location: str):
        self.array = array
        self.location = location


def _map_device(location: str, map_location, source: str):
    if isinstance(map_location, dict):
        location = map_location.get(location, location)
        if isinstance(location, numbanet.device):
            return location
    elif map_location is not None:
        return as_device(map_location)
    try:
        return as_device(location)
    except (RuntimeError, ValueError, TypeError):
        raise SerializationError(source, f"unknown storage location {location!r}") from None


def load(content: bytes, source: str, map_location=None) -> Any:
    """Read a PyTorch zip checkpoint from ``content`` (see the module docstring)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = archive.namelist()
    except ZIP_ERRORS as error:
        raise SerializationError(
            source, f"not a readable ZIP archive (truncated or corrupted?): {error}"
        ) from None
    pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise SerializationError(source, "a PyTorch archive holds exactly one <name>/data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    if any(not name.startswith(prefix) for name in names):
        raise SerializationError(source, "archive entries do not share one top-level folder")

    def record(name: str) -> bytes:
        try:
            info = archive.getinfo(prefix + name)
        except KeyError:
            raise SerializationError(source, f"the archive has no entry {prefix + name}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise SerializationError(
                source, f"entry {info.filename} is compressed; PyTorch stores entries as they are"
            )
        if info.file_size > len(content):
            raise SerializationError(
                source, f"entry {info.filename} claims {info.file_size} bytes, more than the file"
            )
        try:
            return archive.read(info)
        except ZIP_ERRORS as error:
            raise SerializationError(
                source, f"entry {info.filename} is corrupted or truncated: {error}"
            ) from None

    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = record("byteorder").decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise SerializationError(source, f"unknown byteorder {byteorder!r}")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        if type(pid) is not tuple or len(pid) != 5:
            raise safe_unpickler.UnpicklingError("a storage id is a 5-tuple")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, safe_unpickler.StorageType):
            raise safe_unpickler.UnpicklingError(f"{storage_type!r} is not a storage type")
        if storage_type.dtype_name is None:
            raise safe_unpickler.UnpicklingError(
                f"numbanet has no dtype for torch.{storage_type.name}"
            )
        if type(key) is not str or type(location) is not str or type(numel) is not int:
            raise safe_unpickler.UnpicklingError("malformed storage id")
        dtype = as_dtype(storage_type.dtype_name)
        if key in storages:
            if storages[key].array.dtype != dtype.numpy:
                raise safe_unpickler.UnpicklingError(f"storage {key} is read as two dtypes")
            return storages[key]
        raw = record(f"data/{key}")
        if numel < 0 or numel * dtype.itemsize > len(raw):
            raise safe_unpickler.UnpicklingError(
                f"storage {key} claims {numel} elements of {dtype.name} "
                f"({max(numel, 0) * dtype.itemsize} bytes) but its entry has {len(raw)} bytes"
            )
        array = np.frombuffer(raw, dtype.numpy.newbyteorder("<" if byteorder == "little" else ">"),
                              count=numel)
        if dtype.numpy.kind == "b" and array.view(np.uint8).max(initial=0) > 1:
            raise safe_unpickler.UnpicklingError(f"storage {key}: bool bytes must be 0 or 1")
        storages[key] = _Storage(array.astype(dtype.numpy), location)
        return storages[key]

    def rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
        del backward_hooks, metadata  # hooks cannot be pickled by value; metadata is advisory
        if not isinstance(storage, _Storage):
            raise safe_unpickler.UnpicklingError("_rebuild_tensor_v2 needs a storage")
        ok = (
            type(storage_offset) is int and storage_offset >= 0
            and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) <= 64
            and all(type(n) is int and n >= 0 for n in size)
            and all(type(s) is int and s >= 0 for s in stride)
            and type(requires_grad) is bool
        )
        if not ok:
            raise safe_unpickler.UnpicklingError(
                f"invalid tensor geometry: offset {storage_offset!r}, size {size!r}, "
                f"stride {stride!r}"
            )
        numel = len(storage.array)
        if math.prod(size) > 0:
            last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
            if last >= numel:
                raise safe_unpickler.UnpicklingError(
                    f"tensor of size {size} with stride {stride} at offset {storage_offset} "
                    f"reaches element {last} of a storage of {numel} elements"
                )
            itemsize = storage.array.itemsize
            view = np.lib.stride_tricks.as_strided(
                storage.array[storage_offset:], size, tuple(s * itemsize for s in stride),
                writeable=False,
            )
        else:
            view = np.empty(size, storage.array.dtype)
        tensor = numbanet.from_numpy(np.array(view))  # a writable copy
        device = _map_device(storage.location, map_location, source)
        if device.type == "cuda" and not numbanet.cuda.is_available():
            raise RuntimeError(
                f"{source}: a tensor was saved on {storage.location} but CUDA is not available. "
                "On a CPU-only machine, pass map_location='cpu' to numbanet.load."
            )
        if device != tensor.device:
            tensor = tensor.to(device)
        if requires_grad:
            tensor.requires_grad_(True)
        return tensor

    def rebuild_tensor_v1(storage, storage_offset, size, stride):
        return rebuild_tensor(storage, storage_offset, size, stride)

    def rebuild_parameter(data, requires_grad, backward_hooks, state=None):
        del backward_hooks
        if not isinstance(data, numbanet.Tensor) or type(requires_grad) is not bool:
            raise safe_unpickler.UnpicklingError("_rebuild_parameter needs a tensor and a bool")
        if state:
            raise safe_unpickler.UnpicklingError("numbanet cannot restore Parameter attributes")
        return numbanet.nn.Parameter(data.detach(), requires_grad=requires_grad)

    def rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params,
                        requires_grad=False, backward_hooks=None):
        from numbanet.ao.quantization.qtensor import from_levels

        levels = rebuild_tensor(storage, storage_offset, size, stride)
        if type(quantizer_params) is not tuple or not quantizer_params:
            raise safe_unpickler.UnpicklingError("_rebuild_qtensor needs quantizer params")
        try:
            return from_levels(levels, *quantizer_params)
        except (TypeError, ValueError) as error:
            raise safe_unpickler.UnpicklingError(f"_rebuild_qtensor: {error}") from None

    def make_device(spec, index=None):
        if type(spec) is not str or (index is not None and type(index) is not int):
            raise safe_unpickler.UnpicklingError("torch.device takes a str and an optional int")
        return numbanet.device(spec if index is None else f"{spec}:{index}")

    def make_size(dims=()):
        if not isinstance(dims, tuple | list) or not all(type(n) is int for n in dims):
            raise safe_unpickler.UnpicklingError("torch.Size takes a tuple of ints")
        return numbanet.Size(dims)

    unpickler = safe_unpickler.Unpickler(
        record("data.pkl"),
        persistent_load=persistent_load,
        rebuilders={
            "_rebuild_tensor_v2": rebuild_tensor,
            "_rebuild_tensor": rebuild_tensor_v1,
            "_rebuild_parameter": rebuild_parameter,
            "_rebuild_parameter_with_state": rebuild_parameter,
            "_rebuild_qtensor": rebuild_qtensor,
        },
        device=make_device,
        size=make_size,
        tensor_types=(numbanet.Tensor,),
    )
    try:
        return unpickler.load()
    except safe_unpickler.UnpicklingError as error:
        raise CheckpointUnpicklingError(source, str(error)) from None
    except (RecursionError, MemoryError):
        raise SerializationError(source, "data.pkl is nested too deeply or too large") from None
    except (TypeError, ValueError, OverflowError) as error:
        if isinstance(error, SerializationError):
            raise
        raise CheckpointUnpicklingError(source, f"malformed data.pkl: {error}") from None


class CheckpointUnpicklingError(SerializationError, safe_unpickler.UnpicklingError):
    """data.pkl asked for something the weights-only reader refuses (nothing of it was run).

    Both a ``SerializationError`` (a ``ValueError``) and a ``pickle.UnpicklingError``, the
    exception ``torch.load(weights_only=True)`` raises for the same files.
    """

    def __init__(self, source: str, problem: str):
        super().__init__(source, f"Weights only load failed. {problem}")
