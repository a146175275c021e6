"""Reading numpy data from a pickle without letting the pickle run code.

A pickle is a small program: besides building lists, dicts and strings, its ``GLOBAL`` /
``STACK_GLOBAL`` instructions import any name (``os.system``, ``builtins.eval``...) and
``REDUCE`` calls it with arguments the file chooses. ``pickle.load`` on a file from the
internet therefore runs whatever its author wrote.

Every import goes through ``Unpickler.find_class(module, name)``, so overriding it with an
allow-list closes that door: the CIFAR batches need only the few functions numpy uses to
rebuild an array from its bytes, and any other name is refused with
:class:`UnsafePickleError` *before* anything is called. Lists, dicts, strings and numbers
are built by the pickle machine itself and need no import.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from typing import Any, BinaryIO

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that is not on the allow-list; nothing was called."""


def _checked_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype(...)`` as pickles call it, refusing object dtypes (arrays of Python
    objects are rebuilt by calling arbitrary objects' constructors)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise UnsafePickleError("refusing a numpy array of Python objects (dtype object)")
    return dtype


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles written by Python 3 store bytes."""
    return codecs.encode(text, encoding)


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, any version
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (pickle protocol 5)

# (module, name) -> the object to hand to the pickle. numpy moved numpy.core to numpy._core
# in 2.0; files written by either numpy name either module.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
    ("_codecs", "encode"): _encode,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that admits plain data and numpy arrays, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: this file may only contain numpy arrays, "
                "lists, dicts, strings and numbers (a pickle naming anything else could run "
                "code, so nothing in it was executed)"
            ) from None


def load_numpy_pickle(
    source: str | os.PathLike | bytes | BinaryIO, encoding: str = "latin1"
) -> Any:
    """Unpickle ``source`` (a path, bytes or a binary file) with :class:`NumpyOnlyUnpickler`.

    ``encoding="latin1"`` reads Python 2 pickles (as the CIFAR files are) the way torchvision
    does: their byte strings become ``str``, and numpy arrays keep their raw bytes.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:
            return load_numpy_pickle(file, encoding)
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    return NumpyOnlyUnpickler(source, encoding=encoding).load()
