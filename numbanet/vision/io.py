"""Reading image files into tensors, as ``torchvision.io``: ``read_image`` and ``decode_image``.

A file (PNG, JPEG, GIF, BMP...) is decoded with Pillow into a ``uint8`` tensor
``C x H x W``, the layout a convolution expects: C is 1 (grey), 2 (grey + alpha), 3 (RGB) or
4 (RGB + alpha). ``mode`` converts on the way: ``ImageReadMode.RGB`` always gives 3 channels.
Values stay 0..255; ``transforms.ConvertImageDtype(torch.float32)`` scales them to [0, 1].
"""

from __future__ import annotations

import io
import os
from enum import Enum

import numpy as np

import numbanet


class ImageReadMode(Enum):
    """The channels ``read_image`` returns: as stored, or converted."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4  # an alias of RGB_ALPHA, as torchvision's


_PIL_MODES = {
    ImageReadMode.GRAY: "L",
    ImageReadMode.GRAY_ALPHA: "LA",
    ImageReadMode.RGB: "RGB",
    ImageReadMode.RGB_ALPHA: "RGBA",
}


def read_image(
    path: str | os.PathLike,
    mode: ImageReadMode | str = ImageReadMode.UNCHANGED,
    apply_exif_orientation: bool = False,
):
    """The image file at ``path`` as a ``uint8`` tensor ``C x H x W`` (see the module text)."""
    with open(path, "rb") as file:
        return _decode(file.read(), mode, apply_exif_orientation)


def decode_image(
    input,  # noqa: A002 - torchvision's name
    mode: ImageReadMode | str = ImageReadMode.UNCHANGED,
    apply_exif_orientation: bool = False,
):
    """Decode an image from a path or from a 1-D ``uint8`` tensor of the file's bytes."""
    if isinstance(input, str | os.PathLike):
        return read_image(input, mode, apply_exif_orientation)
    if not isinstance(input, numbanet.Tensor) or input.dtype != numbanet.uint8 or input.ndim != 1:
        raise RuntimeError("Expected a 1-D uint8 tensor of encoded bytes, or a path")
    return _decode(input.numpy().tobytes(), mode, apply_exif_orientation)


def read_file(path: str | os.PathLike):
    """The bytes of the file at ``path`` as a 1-D ``uint8`` tensor (for ``decode_image``)."""
    with open(path, "rb") as file:
        return numbanet.from_numpy(np.frombuffer(file.read(), dtype=np.uint8).copy())


def _decode(data: bytes, mode: ImageReadMode | str, apply_exif_orientation: bool):
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(mode, str):
        mode = ImageReadMode[mode.upper()]
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except UnidentifiedImageError:
        raise RuntimeError("Unsupported image file. Only jpeg, png, gif, webp and bmp "
                           "(and what Pillow reads) are supported.") from None
    if apply_exif_orientation:
        image = ImageOps.exif_transpose(image)
    if mode != ImageReadMode.UNCHANGED:
        image = image.convert(_PIL_MODES[mode])
    elif image.mode == "P":  # a palette: its colours, with alpha if it has transparency
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode == "CMYK":  # torchvision's JPEG decoder turns CMYK into RGB
        image = image.convert("RGB")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        raise RuntimeError(
            f"read_image: images of Pillow mode {image.mode!r} (16-bit or float pixels) are not "
            "supported; pass mode=ImageReadMode.GRAY or RGB to convert them to 8 bits"
        )
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return numbanet.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
