"""Reading the IDX file format, in which MNIST and Fashion-MNIST are distributed.

An IDX file is a tiny header followed by one flat array, all numbers big-endian::

    byte 0-1   0x00 0x00                 always zero
    byte 2     element type code         0x08 uint8, 0x09 int8, 0x0B int16,
                                         0x0C int32, 0x0D float32, 0x0E float64
    byte 3     number of dimensions d    (3 for images: N, rows, columns; 1 for labels)
    then       d sizes, uint32 each      e.g. 10000, 28, 28
    then       the elements, row-major   prod(sizes) * element size bytes

So ``t10k-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 27 10 | 00 00 00 1c | 00 00 00 1c``:
uint8, three dimensions, 10000 x 28 x 28. The files are usually shipped gzipped; this reader
recognises gzip by its first two bytes (``1f 8b``), not by the file name.

Anything that does not follow the layout exactly raises :class:`IDXFormatError`, whose
message names the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"

# Element type code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """An IDX file that is corrupt, truncated or not an IDX file at all."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzipped) into a native-endian numpy array.

    >>> images = read_idx("MNIST/raw/t10k-images-idx3-ubyte.gz")
    >>> images.shape, images.dtype
    ((10000, 28, 28), dtype('uint8'))
    """
    return parse_idx(_read_bytes(path), path)


def parse_idx(content: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file; ``path`` only names it in errors."""
    if len(content) < 4:
        raise IDXFormatError(
            path, f"truncated: {len(content)} bytes, shorter than the 4-byte IDX magic number"
        )
    if content[0:2] != b"\x00\x00":
        raise IDXFormatError(
            path,
            f"not an IDX file: the magic number must start with two zero bytes, "
            f"found {content[:4].hex(' ')}",
        )
    type_code, ndim = content[2], content[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IDXFormatError(
            path,
            f"unknown element type code 0x{type_code:02X} in the magic number (known: {known})",
        )
    dtype = IDX_DTYPES[type_code]

    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise IDXFormatError(
            path,
            f"truncated header: {ndim} dimension sizes need {header_size} bytes, "
            f"the file has {len(content)}",
        )
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", count=ndim, offset=4))

    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found < expected:
        raise IDXFormatError(
            path,
            f"truncated: shape {shape} of {dtype.name} needs {expected} bytes of data "
            f"after the {header_size}-byte header, found {found}",
        )
    if found > expected:
        raise IDXFormatError(
            path,
            f"{found - expected} extra byte(s) after the data: shape {shape} of "
            f"{dtype.name} needs exactly {expected}",
        )
    data = np.frombuffer(content, dtype, count=math.prod(shape), offset=header_size)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    with open(path, "rb") as file:
        content = file.read()
    if content[:2] != GZIP_MAGIC:
        return content
    try:
        return gzip.decompress(content)
    except EOFError:
        raise IDXFormatError(path, "truncated gzip stream (the download was cut short?)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise IDXFormatError(path, f"corrupt gzip stream: {error}") from None
