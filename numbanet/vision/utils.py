"""Looking at a batch of images, as ``torchvision.utils``: ``make_grid`` and ``save_image``.

``make_grid`` tiles a batch ``N x C x H x W`` into one image, ``nrow`` images per row with
``padding`` pixels of ``pad_value`` between and around them, ready for ``plt.imshow`` (after
``.permute(1, 2, 0)``) or for ``save_image``. The images are copied as they are; the grid is
a new tensor outside the autograd graph (it is for looking at, not for learning from).
"""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO

import numpy as np

import numbanet


def make_grid(
    tensor,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
):
    """Tile images into a grid: ``C x (rows * (H + padding) + padding) x (nrow * (W + padding)
    + padding)``.

    ``tensor`` is a batch ``N x C x H x W``, a list of ``C x H x W`` images, one image or a
    single ``H x W`` plane. One-channel images are repeated to three (RGB). With
    ``normalize=True`` each value becomes ``(clamp(x, low, high) - low) / (high - low)`` for
    ``(low, high) = value_range``, or the batch's min and max (each image's own with
    ``scale_each=True``), so the grid spans [0, 1]. A batch of one image is returned as that
    image, without padding.
    """
    if not isinstance(tensor, numbanet.Tensor):
        if not isinstance(tensor, list):
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
        for item in tensor:
            if not isinstance(item, numbanet.Tensor):
                raise TypeError(
                    f"tensor or list of tensors expected, got a list containing {type(item)}"
                )
        tensor = numbanet.stack(tensor, 0)
    images = tensor.detach().cpu().numpy()
    if images.ndim == 2:  # one plane: a one-channel image
        images = images[np.newaxis]
    if images.ndim == 3:  # one image: a batch of one
        images = images[np.newaxis]
    if images.shape[1] == 1:  # grey: shown as RGB
        images = np.concatenate([images] * 3, axis=1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError(
                "value_range has to be a tuple (min, max) if specified. min and max are numbers"
            )
        parts = list(images) if scale_each else [images]
        images = np.stack([_normalize(part, value_range) for part in parts]) if scale_each else (
            _normalize(images, value_range)
        )
    if images.shape[0] == 1:
        return numbanet.from_numpy(np.ascontiguousarray(images[0])).to(tensor.device)
    count, channels, height, width = images.shape
    columns = min(nrow, count)
    rows = int(math.ceil(count / columns))
    cell_height, cell_width = height + padding, width + padding
    grid = np.full(
        (channels, cell_height * rows + padding, cell_width * columns + padding),
        pad_value,
        dtype=images.dtype,
    )
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * cell_height + padding, column * cell_width + padding
        grid[:, top : top + height, left : left + width] = images[index]
    return numbanet.from_numpy(grid).to(tensor.device)


def _normalize(images: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """``(clamp(x, low, high) - low) / max(high - low, 1e-5)`` in the images' dtype."""
    if value_range is None:
        low, high = float(images.min()), float(images.max())
    else:
        low, high = value_range
    clamped = np.clip(images, low, high).astype(images.dtype)
    return ((clamped - images.dtype.type(low)) / images.dtype.type(max(high - low, 1e-5))).astype(
        images.dtype
    )


def save_image(
    tensor, fp: str | os.PathLike | BinaryIO, format: str | None = None, **kwargs: Any  # noqa: A002
) -> None:
    """Save a tensor of images (values in [0, 1]) as one image file, through ``make_grid``.

    Pixels become ``uint8`` as ``clamp(x * 255 + 0.5, 0, 255)`` truncated, i.e. rounded, as
    torchvision does; the format follows the file name (``.png``, ``.jpg``...) unless given.
    ``kwargs`` go to :func:`make_grid` (``nrow``, ``padding``, ``normalize``...).
    """
    from PIL import Image

    grid = make_grid(tensor, **kwargs).cpu().numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.save(fp, format=format)
