"""A pickle reader that runs no code: numbanet's copy of PyTorch's ``weights_only`` loader.

A pickle is a small program for a stack machine. Most of its instructions (*opcodes*) only
build data: push an int, a string, an empty list, append to it. Two kinds are dangerous:
``GLOBAL``/``STACK_GLOBAL`` name any importable Python object (``os.system``,
``builtins.eval``) and ``REDUCE`` calls whatever is on the stack. Python's own ``pickle.load``
imports and calls anything, which is why loading an untrusted pickle runs its author's code.

:class:`Unpickler` interprets the opcodes itself, as ``torch/_weights_only_unpickler.py`` does:

- a ``GLOBAL`` is looked up in :data:`ALLOWED_GLOBALS`, a table of names mapped to numbanet's
  own stand-ins (``torch._utils._rebuild_tensor_v2`` becomes a function that builds a numbanet
  tensor from checked numbers); nothing is ever imported. Any other name raises
  :class:`pickle.UnpicklingError` before a single later opcode is read;
- ``REDUCE`` calls only those stand-ins, ``BUILD`` only sets attributes of an ``OrderedDict``,
  ``APPEND``/``SETITEM`` only add to lists and dicts;
- any opcode not in the table (``INST``, ``OBJ``, ``EXT1``...) is refused, as in PyTorch.

Storages (the tensors' bytes) are not in the pickle: ``BINPERSID`` hands a tuple
``("storage", storage_type, key, location, numel)`` to the ``persistent_load`` callback.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import pickle
import struct
import sys
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from numbanet.dtypes import as_dtype

UnpicklingError = pickle.UnpicklingError


BLOCKED_MODULES = ("sys", "os", "posix", "nt")  # as PyTorch's _blocklisted_modules


class StorageType:
    """What ``torch.FloatStorage`` and the like become: a name and a numbanet dtype name."""

    def __init__(self, name: str, dtype_name: str | None):
        self.name = name
        self.dtype_name = dtype_name  # None: PyTorch has it, numbanet has no such dtype

    def __repr__(self) -> str:
        return f"StorageType(torch.{self.name})"


# torch.<Name>Storage -> numbanet dtype name (None where numbanet has no such dtype)
STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "BFloat16Storage": None, "ComplexFloatStorage": None, "ComplexDoubleStorage": None,
    "QInt8Storage": "int8", "QUInt8Storage": "uint8", "QInt32Storage": "int32",  # the levels
    "QUInt4x2Storage": None, "QUInt2x4Storage": None,
}
TORCH_DTYPES = {  # str(torch.float32) == "torch.float32" names the dtype global
    "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
}
UNSUPPORTED_TORCH_DTYPES = {
    "bfloat16", "complex32", "complex64", "complex128", "uint16", "uint32", "uint64",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "qint8", "quint8",
    "qint32", "quint4x2", "quint2x4",
}
# Globals PyTorch's weights_only loader allows that numbanet has nothing to build from.
UNREPRESENTABLE = {
    "torch._utils._rebuild_sparse_tensor": "sparse tensors",
    "torch._utils._rebuild_nested_tensor": "nested tensors",
    "torch._utils._rebuild_meta_tensor_no_storage": "meta tensors",
    "torch._utils._rebuild_wrapper_subclass": "tensor subclasses",
    "torch._utils._rebuild_device_tensor_from_numpy": "tensors on a non-CPU, non-CUDA device",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": "tensors on another device",
    "torch._utils._rebuild_tensor_v3": "tensors of a dtype saved by name (such as bfloat16)",
    "torch._tensor._rebuild_from_type_v2": "tensor subclasses or tensors with attributes",
    "torch.serialization._get_layout": "sparse tensor layouts",
    "torch.per_channel_affine_float_qparams": "quantized tensors with float zero points",
}
# Quantization schemes, read as their names (``_rebuild_qtensor`` turns them into numbanet's)
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")


def _build_allowed(rebuilders: dict[str, Callable], device: Callable, size: Callable) -> dict:
    allowed: dict[str, Any] = {
        "collections.OrderedDict": OrderedDict,
        "collections.Counter": Counter,
        "torch.device": device,
        "torch.Size": size,
        "_codecs.encode": _codecs_encode,
        "builtins.bytearray": _bytearray,
        "builtins.set": set,
        "builtins.complex": complex,
        "torch.UntypedStorage": StorageType("UntypedStorage", "uint8"),
        "torch.storage.UntypedStorage": StorageType("UntypedStorage", "uint8"),
    }
    for name, dtype_name in STORAGE_DTYPES.items():
        allowed[f"torch.{name}"] = StorageType(name, dtype_name)
    for name in TORCH_DTYPES:
        allowed[f"torch.{name}"] = as_dtype(name)  # torch.float32 -> numbanet.float32
    for name in QSCHEMES:
        allowed[f"torch.{name}"] = name
    for name, function in rebuilders.items():
        allowed[f"torch._utils.{name}"] = function
    return allowed


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    """Protocol 2 pickles bytes as ``_codecs.encode(str, "latin1")``; only that is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnpicklingError("_codecs.encode is only allowed as encode(str, 'latin1')")
    return codecs.encode(text, "latin1")


def _bytearray(data=b""):
    """``bytearray(bytes)`` only: ``bytearray(10**12)`` would allocate a terabyte."""
    if not isinstance(data, bytes | bytearray):
        raise UnpicklingError("bytearray is only allowed from bytes")
    return bytearray(data)


def _opcode(name: str) -> int:
    return getattr(pickle, name)[0]


class Unpickler:
    """Read one pickle from ``data`` (bytes), allowing only :data:`ALLOWED_GLOBALS`-style names.

    ``rebuilders`` maps ``torch._utils`` function names (``_rebuild_tensor_v2``,
    ``_rebuild_parameter``...) to numbanet functions; ``device`` and ``size`` stand in for
    ``torch.device`` and ``torch.Size``; ``persistent_load`` receives each storage tuple.
    """

    def __init__(self, data: bytes, *, persistent_load: Callable, rebuilders: dict,
                 device: Callable, size: Callable, tensor_types: tuple = ()):
        self.data = memoryview(data)
        self.position = 0
        self.persistent_load = persistent_load
        self.allowed = _build_allowed(rebuilders, device, size)
        self.callables = {id(v): v for v in self.allowed.values() if callable(v)}
        self.callables.pop(id(self.allowed["torch.Size"]), None)
        self.callables[id(size)] = size
        self.tensor_types = tensor_types

    # -- reading primitives
    def read(self, count: int) -> bytes:
        if count < 0 or self.position + count > len(self.data):
            raise UnpicklingError("pickle data was truncated")
        chunk = bytes(self.data[self.position : self.position + count])
        self.position += count
        return chunk

    def readline(self) -> bytes:
        end = bytes(self.data[self.position : self.position + 1024]).find(b"\n")
        if end < 0:
            raise UnpicklingError("pickle data was truncated (a GLOBAL name without newline)")
        return self.read(end + 1)[:-1]

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.read(size))[0]

    def pop_mark(self) -> list:
        if not self.metastack:
            raise UnpicklingError("could not find MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def pop(self):
        if not self.stack:
            raise UnpicklingError("unpickling stack underflow")
        return self.stack.pop()

    def top(self):
        if not self.stack:
            raise UnpicklingError("unpickling stack underflow")
        return self.stack[-1]

    def resolve_global(self, module: str, name: str):
        full_path = f"{module}.{name}"
        if module in BLOCKED_MODULES:
            raise UnpicklingError(
                f"Trying to load unsupported GLOBAL {full_path} whose module {module} is "
                "blocked. numbanet.load never imports or calls anything a file names; nothing "
                "from this file was run."
            )
        if full_path in self.allowed:
            return self.allowed[full_path]
        if full_path in UNREPRESENTABLE:
            raise UnpicklingError(
                f"GLOBAL {full_path} is allowed by PyTorch's weights_only loader but numbanet "
                f"cannot load {UNREPRESENTABLE[full_path]}"
            )
        if module == "torch" and name in UNSUPPORTED_TORCH_DTYPES:
            raise UnpicklingError(f"numbanet has no dtype torch.{name} (GLOBAL {full_path})")
        raise UnpicklingError(
            f"Unsupported global: GLOBAL {full_path} was not an allowed global by default. "
            "numbanet.load reads weights only (PyTorch's weights_only=True allow-list) and "
            "never imports or calls anything a file names; nothing from this file was run."
        )

    # -- the interpreter
    def load(self) -> Any:
        self.stack: list = []
        self.metastack: list = []
        self.memo: dict = {}
        op = _opcode
        while True:
            code = self.read(1)[0]
            if code == op("PROTO"):
                if self.read(1)[0] > pickle.HIGHEST_PROTOCOL:
                    raise UnpicklingError("unsupported pickle protocol")
            elif code == op("FRAME"):
                self.read(8)  # a frame is only a hint for buffering
            elif code == op("STOP"):
                return self.pop()
            elif code == op("MARK"):
                self.metastack.append(self.stack)
                self.stack = []
            elif code == op("POP"):
                if self.stack:
                    self.stack.pop()
                else:
                    self.pop_mark()
            elif code == op("POP_MARK"):
                self.pop_mark()
            elif code == op("DUP"):
                self.stack.append(self.top())
            elif code == op("NONE"):
                self.stack.append(None)
            elif code == op("NEWTRUE"):
                self.stack.append(True)
            elif code == op("NEWFALSE"):
                self.stack.append(False)
            elif code == op("BININT"):
                self.stack.append(self.unpack("<i"))
            elif code == op("BININT1"):
                self.stack.append(self.read(1)[0])
            elif code == op("BININT2"):
                self.stack.append(self.unpack("<H"))
            elif code == op("LONG1"):
                self.stack.append(int.from_bytes(self.read(self.read(1)[0]), "little",
                                                 signed=True))
            elif code == op("LONG4"):
                length = self.unpack("<i")
                if length > 1 << 16:  # 500,000 decimal digits: no tensor metadata needs more
                    raise UnpicklingError("LONG4 integer is too long")
                self.stack.append(int.from_bytes(self.read(length), "little", signed=True))
            elif code == op("BINFLOAT"):
                self.stack.append(self.unpack(">d"))
            elif code in (op("BINUNICODE"), op("SHORT_BINUNICODE"), op("BINUNICODE8")):
                length = self._length(code, "BINUNICODE", "SHORT_BINUNICODE")
                self.stack.append(str(self.read(length), "utf-8", "surrogatepass"))
            elif code in (op("BINBYTES"), op("SHORT_BINBYTES"), op("BINBYTES8")):
                self.stack.append(self.read(self._length(code, "BINBYTES", "SHORT_BINBYTES")))
            elif code == op("BYTEARRAY8"):
                self.stack.append(bytearray(self.read(self.unpack("<Q"))))
            elif code == op("EMPTY_LIST"):
                self.stack.append([])
            elif code == op("EMPTY_DICT"):
                self.stack.append({})
            elif code == op("EMPTY_TUPLE"):
                self.stack.append(())
            elif code == op("EMPTY_SET"):
                self.stack.append(set())
            elif code == op("LIST"):
                items = self.pop_mark()
                self.stack.append(items)
            elif code == op("TUPLE"):
                items = self.pop_mark()  # first: it swaps self.stack
                self.stack.append(tuple(items))
            elif code in (op("TUPLE1"), op("TUPLE2"), op("TUPLE3")):
                count = {op("TUPLE1"): 1, op("TUPLE2"): 2, op("TUPLE3"): 3}[code]
                if len(self.stack) < count:
                    raise UnpicklingError("unpickling stack underflow")
                items = tuple(self.stack[-count:])
                del self.stack[-count:]
                self.stack.append(items)
            elif code == op("DICT"):
                items = self.pop_mark()
                self.stack.append(self._pairs_into({}, items))
            elif code == op("FROZENSET"):
                items = self.pop_mark()
                self.stack.append(frozenset(items))
            elif code == op("APPEND"):
                item = self.pop()
                self._list(self.top(), "append").append(item)
            elif code == op("APPENDS"):
                items = self.pop_mark()
                self._list(self.top(), "extend").extend(items)
            elif code == op("SETITEM"):
                value, key = self.pop(), self.pop()
                self._pairs_into(self._dict(self.top(), "SETITEM"), [key, value])
            elif code == op("SETITEMS"):
                items = self.pop_mark()
                self._pairs_into(self._dict(self.top(), "SETITEMS"), items)
            elif code == op("ADDITEMS"):
                items = self.pop_mark()
                target = self.top()
                if type(target) is not set:
                    raise UnpicklingError(f"Can only ADDITEMS to sets, but got {type(target)}")
                target.update(items)
            elif code == op("GLOBAL"):
                module = self.readline().decode("utf-8", "strict")
                name = self.readline().decode("utf-8", "strict")
                # protocol 2 writes Python 2 names (__builtin__.set): map them back, as
                # pickle and PyTorch's reader do
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                elif module in _compat_pickle.IMPORT_MAPPING:
                    module = _compat_pickle.IMPORT_MAPPING[module]
                self.stack.append(self.resolve_global(module, name))
            elif code == op("STACK_GLOBAL"):
                name, module = self.pop(), self.pop()
                if type(module) is not str or type(name) is not str:
                    raise UnpicklingError("STACK_GLOBAL requires str module and name")
                self.stack.append(self.resolve_global(module, name))
            elif code == op("REDUCE"):
                args, func = self.pop(), self.pop()
                if id(func) not in self.callables or self.callables[id(func)] is not func:
                    raise UnpicklingError(
                        f"Trying to call reduce for unrecognized function {func!r}"
                    )
                if type(args) is not tuple:
                    raise UnpicklingError("REDUCE arguments must be a tuple")
                self.stack.append(func(*args))
            elif code == op("NEWOBJ"):
                args, cls = self.pop(), self.pop()
                raise UnpicklingError(
                    "Can only create new object for nn.Parameter or classes allowlisted "
                    f"via `add_safe_globals` but got {cls!r}"
                )
            elif code == op("BUILD"):
                state = self.pop()
                self._build(self.top(), state)
            elif code == op("BINPERSID"):
                pid = self.pop()
                if type(pid) is not tuple and type(pid) is not int:
                    raise UnpicklingError(
                        f"persistent_load id must be tuple or int, but got {type(pid)}"
                    )
                if type(pid) is tuple and (not pid or pid[0] != "storage"):
                    raise UnpicklingError(
                        "Only persistent_load of storage is allowed, but got "
                        f"{type(pid[0]) if pid else 'an empty tuple'}"
                    )
                self.stack.append(self.persistent_load(pid))
            elif code in (op("BINPUT"), op("LONG_BINPUT")):
                index = self.read(1)[0] if code == op("BINPUT") else self.unpack("<I")
                self.memo[index] = self.top()
            elif code == op("MEMOIZE"):
                self.memo[len(self.memo)] = self.top()
            elif code in (op("BINGET"), op("LONG_BINGET")):
                index = self.read(1)[0] if code == op("BINGET") else self.unpack("<I")
                if index not in self.memo:
                    raise UnpicklingError(f"Memo value not found at index {index}")
                self.stack.append(self.memo[index])
            else:
                raise UnpicklingError(f"Unsupported operand {code}")

    def _length(self, code: int, four: str, one: str) -> int:
        if code == _opcode(one):
            return self.read(1)[0]
        length = self.unpack("<I") if code == _opcode(four) else self.unpack("<Q")
        if length > sys.maxsize:
            raise UnpicklingError("String is too long")
        if self.position + length > len(self.data):
            raise UnpicklingError(f"pickle data was truncated ({length}-byte string)")
        return length

    @staticmethod
    def _list(target, verb: str) -> list:
        if type(target) is not list:
            raise UnpicklingError(f"Can only {verb} to lists, but got {type(target)}")
        return target

    @staticmethod
    def _dict(target, opcode: str) -> dict:
        if type(target) not in (dict, OrderedDict, Counter):
            raise UnpicklingError(
                f"Can only {opcode} for dict, collections.OrderedDict, "
                f"collections.Counter, but got {type(target)}"
            )
        return target

    @staticmethod
    def _pairs_into(target: dict, items: list) -> dict:
        if len(items) % 2:
            raise UnpicklingError("odd number of items for a dict")
        for key, value in zip(items[::2], items[1::2], strict=True):
            try:
                target[key] = value
            except TypeError:
                raise UnpicklingError(f"unhashable dict key of type {type(key)}") from None
        return target

    def _build(self, inst, state) -> None:
        if type(inst) is OrderedDict and type(state) is dict:
            if not all(type(key) is str for key in state):
                raise UnpicklingError("BUILD state keys must be strings")
            inst.__dict__.update(state)  # a state dict's _metadata: plain data
            return
        if isinstance(inst, self.tensor_types) and not state:
            return
        raise UnpicklingError(
            "Can only build Tensor, Parameter, OrderedDict or types allowlisted "
            f"via `add_safe_globals`, but got {type(inst)}"
        )
