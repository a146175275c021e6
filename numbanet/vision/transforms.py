"""Image transforms, as in ``torchvision.transforms``: ``Compose``, ``ToTensor``, ``Normalize``
(and, from ``image_transforms.py``, ``Resize``, ``CenterCrop``, ``RandomCrop``, ``Pad``, the
flips, ``Grayscale``, ``ToPILImage``, ``Lambda``).

A dataset item starts as an image array: ``H x W`` (grey, like MNIST's ``uint8`` digits) or
``H x W x C`` (colour). The usual pipeline for MNIST is::

    transform = transforms.Compose([
        transforms.ToTensor(),                       # uint8 28x28 -> float32 1x28x28 in [0, 1]
        transforms.Normalize((0.1307,), (0.3081,)),  # -> (x - mean) / std, per channel
    ])

Transforms run on the host, with numpy, before the data reaches the model: preparing inputs
is not part of the computation a model learns from, so it never enters the autograd graph or
a recorded trace.

Batches at once. Calling a transform on one image per dataset item costs a Python call per
image — 60,000 per MNIST epoch. So transforms that can, also offer a ``batch`` method that
does the same work on a stack of images along a new first axis (``N x H x W`` in,
``N x C x H x W`` out). :func:`batch_transform` tells whether a transform (a ``Compose``
included) can run that way; ``MNIST.get_batch`` and the ``DataLoader`` use it to prepare a
whole batch with a few numpy operations. A transform without ``batch`` (your own function,
say) still works: it is applied one image at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import numbanet
from numbanet.vision.image_transforms import (  # noqa: F401  (re-exported: transforms.Resize)
    CenterCrop,
    ConvertImageDtype,
    Grayscale,
    InterpolationMode,
    Lambda,
    Pad,
    PILToTensor,
    RandomCrop,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    Resize,
    ToPILImage,
    is_pil_image,
    pil_to_numpy,
)


class Compose:
    """Apply several transforms one after the other: ``Compose([ToTensor(), Normalize(...)])``."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self) -> str:
        lines = "".join(f"\n    {transform}" for transform in self.transforms)
        return f"{type(self).__name__}({lines}\n)"


class ToTensor:
    """Image array ``H x W (x C)`` -> tensor ``C x H x W``; ``uint8`` 0..255 becomes float32 0..1.

    Like torchvision: channels move first (the layout convolutions expect), a 2-D image gets
    one channel, and only ``uint8`` images are rescaled — other dtypes keep their values.
    """

    def __call__(self, image: np.ndarray):
        if is_pil_image(image):
            image = pil_to_numpy(image)
        return numbanet.from_numpy(_images_to_channels_first(image, batch_axes=0))

    def batch(self, images: np.ndarray):
        """``N x H x W (x C)`` array -> tensor ``N x C x H x W``, as ``__call__`` per image."""
        return numbanet.from_numpy(_images_to_channels_first(images, batch_axes=1))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``output[c] = (input[c] - mean[c]) / std[c]`` for each channel ``c``.

    Works on any float tensor shaped ``(..., C, H, W)``: one image or a batch of them.
    With MNIST's mean 0.1307 and std 0.3081 the pixels end up with mean 0 and variance 1,
    which keeps the first layer's outputs in a range where training is well behaved.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.inplace = inplace  # accepted for PyTorch code; the result is always a new tensor
        self.mean = tuple(float(value) for value in np.atleast_1d(mean))
        self.std = tuple(float(value) for value in np.atleast_1d(std))

    def __call__(self, tensor):
        values = tensor.numpy()
        if values.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if values.ndim < 3:
            raise ValueError(
                "Expected tensor to be a tensor image of size (..., C, H, W). "
                f"Got tensor.size() = {tuple(values.shape)}."
            )
        # Per-channel statistics shaped (C, 1, 1) broadcast over rows and columns.
        mean = np.asarray(self.mean, dtype=values.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=values.dtype).reshape(-1, 1, 1)
        if (std == 0).any():
            raise ValueError(
                f"std evaluated to zero after conversion to {tensor.dtype}, "
                "leading to division by zero."
            )
        return numbanet.from_numpy((values - mean) / std)

    batch = __call__  # (..., C, H, W) already covers a stacked batch

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={list(self.mean)}, std={list(self.std)})"


def batch_transform(transform: Callable) -> Callable | None:
    """The function that applies ``transform`` to a stacked batch at once, or None.

    None means some step of ``transform`` only knows single images, and the caller must
    apply it image by image.
    """
    if isinstance(transform, Compose):
        steps = [batch_transform(step) for step in transform.transforms]
        if any(step is None for step in steps):
            return None

        def apply_steps(images):
            for step in steps:
                images = step(images)
            return images

        return apply_steps
    return getattr(transform, "batch", None)


def _images_to_channels_first(images: np.ndarray, batch_axes: int) -> np.ndarray:
    """Move each image's channel axis in front of its rows; scale uint8 to [0, 1] float32.

    ``batch_axes`` is the number of leading axes that index images (0 for one image, 1 for a
    stacked batch); the axes after them are rows, columns and optionally channels.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"pic should be an ndarray (H x W or H x W x C). Got {type(images)}.")
    image_ndim = images.ndim - batch_axes
    if image_ndim == 2:  # grey: give it a channel axis of size 1
        images = images[..., np.newaxis]
    elif image_ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {image_ndim} dimensions.")
    channels_first = np.moveaxis(images, -1, batch_axes)
    if images.dtype == np.uint8:
        return np.ascontiguousarray(channels_first, dtype=np.float32) / np.float32(255)
    return np.ascontiguousarray(channels_first)
