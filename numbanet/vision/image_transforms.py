"""Image transforms that move or resample pixels, as ``torchvision.transforms``: ``Resize``,
``CenterCrop``, ``RandomCrop``, ``Pad``, the random flips, ``Grayscale``, ``ToPILImage``,
``PILToTensor``, ``ConvertImageDtype`` and ``Lambda``. ``transforms.py`` re-exports them, so
use them as ``transforms.Resize``.

Each accepts the three kinds of image torchvision code passes around and returns the same kind:

=================  ==========================================  =============================
input              layout                                      e.g.
=================  ==========================================  =============================
PIL image          ``W x H``, a mode such as ``"L"``, ``"RGB"``  ``Image.open("cat.png")``
numpy array        ``H x W`` or ``H x W x C`` (uint8 usually)   a numbanet dataset's image
Tensor             ``(..., C, H, W)``                          after ``ToTensor()``
=================  ==========================================  =============================

(numbanet's datasets return numpy arrays where torchvision returns PIL images: the same
pixels, so a numpy image is treated as the PIL image it stands for.)

Cropping, padding and flipping are index operations on the two spatial axes: rows and
columns are axes 0 and 1 of a numpy image, the last two of a tensor. Resampling (``Resize``)
and colour conversion of PIL and numpy images use Pillow itself, as torchvision does, so the
pixels match torchvision's exactly.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np

import numbanet
from numbanet.random import numpy_generator

try:  # Pillow is needed for PIL images and for resampling; the rest works without it
    from PIL import Image
except ImportError:  # pragma: no cover - exercised only where Pillow is missing
    Image = None


class InterpolationMode(Enum):
    """How ``Resize`` computes a new pixel from the old ones around it."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _pil_filter(mode: InterpolationMode) -> int:
    names = {
        InterpolationMode.NEAREST: "NEAREST", InterpolationMode.NEAREST_EXACT: "NEAREST",
        InterpolationMode.BILINEAR: "BILINEAR", InterpolationMode.BICUBIC: "BICUBIC",
        InterpolationMode.BOX: "BOX", InterpolationMode.HAMMING: "HAMMING",
        InterpolationMode.LANCZOS: "LANCZOS",
    }
    return getattr(Image.Resampling, names[mode])


def _require_pillow(what: str) -> None:
    if Image is None:
        raise ImportError(f"{what} needs Pillow: pip install Pillow")


def is_pil_image(image: Any) -> bool:
    return Image is not None and isinstance(image, Image.Image)


# ---------------------------------------------------------------------- one view of every image


def image_size(image) -> tuple[int, int]:
    """``(height, width)`` of a PIL image, numpy image or tensor image."""
    if is_pil_image(image):
        return image.height, image.width
    if isinstance(image, numbanet.Tensor):
        return tuple(image.shape[-2:])
    if isinstance(image, np.ndarray) and image.ndim in (2, 3):
        return image.shape[0], image.shape[1]
    raise TypeError(f"img should be PIL Image, numpy array or Tensor. Got {type(image)}")


def _apply_to_pixels(image, operation: Callable[[np.ndarray, tuple[int, int]], np.ndarray]):
    """Run ``operation(array, (row_axis, column_axis))`` on the image's pixels and give the
    result back as the input's kind (a PIL image keeps its mode, a tensor its device)."""
    if is_pil_image(image):
        pixels = operation(np.asarray(image), (0, 1))
        result = Image.fromarray(np.ascontiguousarray(pixels), mode=image.mode)
        if image.mode == "P":  # the pixels are palette indices: keep the palette
            result.putpalette(image.getpalette())
        return result
    if isinstance(image, numbanet.Tensor):
        pixels = operation(image.detach().cpu().numpy(), (image.ndim - 2, image.ndim - 1))
        return numbanet.from_numpy(np.ascontiguousarray(pixels)).to(image.device)
    image_size(image)  # type check with torchvision's message
    return np.ascontiguousarray(operation(image, (0, 1)))


def _to_pil(array: np.ndarray):
    return Image.fromarray(np.ascontiguousarray(array))


# ---------------------------------------------------------------------- geometry


def crop(image, top: int, left: int, height: int, width: int):
    """The ``height x width`` window whose top-left pixel is (``top``, ``left``).

    A window reaching outside the image is filled with zeros there, as torchvision does.
    """
    rows, columns = image_size(image)
    pad_left, pad_top = max(-left, 0), max(-top, 0)
    pad_right = max(left + width - columns, 0)
    pad_bottom = max(top + height - rows, 0)
    if pad_left or pad_top or pad_right or pad_bottom:
        image = pad(image, [pad_left, pad_top, pad_right, pad_bottom])
        top, left = top + pad_top, left + pad_left

    def window(pixels, axes):
        index = [slice(None)] * pixels.ndim
        index[axes[0]] = slice(top, top + height)
        index[axes[1]] = slice(left, left + width)
        return pixels[tuple(index)]

    return _apply_to_pixels(image, window)


def pad(image, padding, fill=0, padding_mode: str = "constant"):
    """Add ``padding`` pixels around the image: ``int`` (every side), ``(left/right,
    top/bottom)`` or ``(left, top, right, bottom)``.

    ``padding_mode``: ``"constant"`` (the value ``fill``), ``"edge"`` (repeat the border
    pixel), ``"reflect"`` (mirror without repeating the border: ``3 2 | 1 2 3``) or
    ``"symmetric"`` (mirror repeating it: ``2 1 | 1 2 3``).
    """
    left, top, right, bottom = _parse_padding(padding)
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")

    def add_border(pixels, axes):
        widths = [(0, 0)] * pixels.ndim
        widths[axes[0]], widths[axes[1]] = (top, bottom), (left, right)
        if padding_mode != "constant":
            return np.pad(pixels, widths, mode=padding_mode)
        padded = np.pad(pixels, widths, mode="constant")
        if fill is not None and np.any(np.asarray(fill) != 0):
            channel_fill = np.asarray(fill, dtype=pixels.dtype)
            if channel_fill.ndim and pixels.ndim == 3 and axes == (0, 1):
                channel_fill = channel_fill.reshape(1, 1, -1)  # one value per channel (HWC)
            elif channel_fill.ndim and axes[0] >= 1:
                channel_fill = channel_fill.reshape(-1, 1, 1)  # one value per channel (CHW)
            border = np.ones(pixels.shape, dtype=bool)
            border = ~np.pad(border, widths, mode="constant", constant_values=False)
            padded = np.where(border, channel_fill, padded).astype(pixels.dtype)
        return padded

    return _apply_to_pixels(image, add_border)


def _parse_padding(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, numbers.Number) and not isinstance(padding, bool):
        padding = [padding]
    if not isinstance(padding, Sequence) or isinstance(padding, str):
        raise TypeError("Got inappropriate padding arg")
    if len(padding) not in (1, 2, 4):
        raise ValueError(
            f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} "
            "element tuple"
        )
    if len(padding) == 1:
        return (int(padding[0]),) * 4
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    return tuple(int(value) for value in padding)


def center_crop(image, output_size):
    """The centred ``output_size`` window (zero-padded first when it is larger than the image).

    The top-left corner is ``round((H - h) / 2), round((W - w) / 2)``.
    """
    crop_height, crop_width = _pair(output_size, "size")
    rows, columns = image_size(image)
    if crop_width > columns or crop_height > rows:
        image = pad(image, [
            (crop_width - columns) // 2 if crop_width > columns else 0,
            (crop_height - rows) // 2 if crop_height > rows else 0,
            (crop_width - columns + 1) // 2 if crop_width > columns else 0,
            (crop_height - rows + 1) // 2 if crop_height > rows else 0,
        ])
        rows, columns = image_size(image)
        if (crop_height, crop_width) == (rows, columns):
            return image
    top = int(round((rows - crop_height) / 2.0))
    left = int(round((columns - crop_width) / 2.0))
    return crop(image, top, left, crop_height, crop_width)


def hflip(image):
    """Mirror left-right: column ``j`` becomes column ``W - 1 - j``."""
    return _apply_to_pixels(image, lambda pixels, axes: np.flip(pixels, axes[1]))


def vflip(image):
    """Mirror top-bottom: row ``i`` becomes row ``H - 1 - i``."""
    return _apply_to_pixels(image, lambda pixels, axes: np.flip(pixels, axes[0]))


def _pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"Please provide only two dimensions (h, w) for {name}.")


# ---------------------------------------------------------------------- resampling


def resized_shape(height: int, width: int, size, max_size: int | None = None) -> tuple[int, int]:
    """The output ``(height, width)`` of ``Resize(size)``.

    ``size=(h, w)`` is the output itself. An ``int`` (or ``[int]``) is the new *shorter* side;
    the longer one keeps the aspect ratio, ``int(size * long / short)``, capped at ``max_size``.
    """
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    requested = int(size[0] if isinstance(size, Sequence) else size)
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = requested, int(requested * long / short)
    if max_size is not None:
        if max_size <= requested:
            raise ValueError(
                f"max_size = {max_size} must be strictly greater than the requested size for "
                f"the smaller edge size = {size}"
            )
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(image, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resample the image to ``resized_shape(H, W, size, max_size)``.

    PIL and numpy images go through Pillow's ``Image.resize`` (what torchvision calls).
    Tensors: ``NEAREST`` takes source pixel ``floor(i * H / h)`` as ``F.interpolate`` does;
    the other modes resample each channel with Pillow in float32 ("F" mode), which is the
    antialiased filter torchvision's tensor path was written to reproduce;
    ``antialias=False`` shrinks with plain bilinear interpolation, as PyTorch.
    """
    _require_pillow("Resize")
    interpolation = InterpolationMode(interpolation)
    rows, columns = image_size(image)
    new_rows, new_columns = resized_shape(rows, columns, size, max_size)
    if (new_rows, new_columns) == (rows, columns):
        return image
    resample = _pil_filter(interpolation)
    if is_pil_image(image):
        return image.resize((new_columns, new_rows), resample)
    if isinstance(image, np.ndarray):
        image_size(image)
        return np.asarray(_to_pil(image).resize((new_columns, new_rows), resample))
    pixels = image.detach().cpu().numpy()
    shrinking = new_rows < rows or new_columns < columns
    if interpolation == InterpolationMode.BILINEAR and not antialias and shrinking:
        resized = _bilinear_without_antialias(pixels, new_rows, new_columns)
        if pixels.dtype == np.uint8:
            resized = np.clip(np.round(resized), 0, 255)
        resized = resized.astype(pixels.dtype)
    elif interpolation == InterpolationMode.NEAREST:
        row_index = np.floor(np.arange(new_rows) * (rows / new_rows)).astype(np.int64)
        column_index = np.floor(np.arange(new_columns) * (columns / new_columns)).astype(np.int64)
        resized = pixels[..., row_index, :][..., column_index]
    else:
        planes = pixels.reshape(-1, rows, columns)
        resized = np.stack([
            np.asarray(Image.fromarray(plane.astype(np.float32), mode="F")
                       .resize((new_columns, new_rows), resample))
            for plane in planes
        ]).reshape(*pixels.shape[:-2], new_rows, new_columns)
        if pixels.dtype == np.uint8:
            resized = np.clip(np.round(resized), 0, 255)
        resized = resized.astype(pixels.dtype)
    return numbanet.from_numpy(np.ascontiguousarray(resized)).to(image.device)


def _bilinear_without_antialias(pixels: np.ndarray, new_rows: int, new_columns: int):
    """``F.interpolate(mode="bilinear", align_corners=False)``: output pixel ``i`` reads the
    input at ``(i + 0.5) * in / out - 0.5`` (clamped at 0) and mixes its two neighbours
    linearly, rows then columns. Shrinking this way skips pixels (aliasing), hence the default
    ``antialias=True``."""

    def along(values: np.ndarray, axis: int, size: int) -> np.ndarray:
        length = values.shape[axis]
        source = np.maximum((np.arange(size) + 0.5) * (length / size) - 0.5, 0)
        low = np.minimum(np.floor(source).astype(np.int64), length - 1)
        high = np.minimum(low + 1, length - 1)
        weight = (source - low).astype(np.float32)
        shape = [1] * values.ndim
        shape[axis] = size
        weight = weight.reshape(shape)
        return np.take(values, low, axis) * (1 - weight) + np.take(values, high, axis) * weight

    values = pixels.astype(np.float32) if pixels.dtype.kind != "f" else pixels
    return along(along(values, values.ndim - 2, new_rows), values.ndim - 1, new_columns)


# ---------------------------------------------------------------------- colour


def rgb_to_grayscale(image, num_output_channels: int = 1):
    """Luma ``L = 0.299 R + 0.587 G + 0.114 B`` (tensors: torchvision's 0.2989), repeated
    ``num_output_channels`` (1 or 3) times. PIL and numpy images use Pillow's ``convert("L")``.
    """
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if is_pil_image(image):
        grey = image.convert("L")
        return grey if num_output_channels == 1 else Image.merge("RGB", [grey, grey, grey])
    if isinstance(image, np.ndarray):
        _require_pillow("Grayscale of a numpy image")
        grey = np.asarray(_to_pil(image).convert("L"))
        return grey if num_output_channels == 1 else np.stack([grey] * 3, axis=-1)
    pixels = image.detach().cpu().numpy()
    channels = pixels.shape[-3] if pixels.ndim >= 3 else None
    if channels not in (1, 3):
        raise TypeError(
            f"Input image tensor permitted channel values are [1, 3], but found {channels}"
        )
    if pixels.shape[-3] == 3:
        red, green, blue = pixels[..., 0, :, :], pixels[..., 1, :, :], pixels[..., 2, :, :]
        luma = (0.2989 * red + 0.587 * green + 0.114 * blue).astype(pixels.dtype)
        pixels = luma[..., np.newaxis, :, :]
    pixels = np.repeat(pixels, num_output_channels, axis=-3)
    return numbanet.from_numpy(np.ascontiguousarray(pixels)).to(image.device)


def to_pil_image(picture, mode: str | None = None):
    """A tensor ``C x H x W`` or numpy ``H x W (x C)`` as a PIL image.

    Float tensors are taken to hold [0, 1] and become ``uint8`` as ``(x * 255)`` truncated
    (torchvision's ``mul(255).byte()``), unless ``mode="F"``. The mode follows the channels:
    1 -> ``"L"`` (or ``"I;16"``, ``"I"``, ``"F"`` for int16, int32, float32 pixels), 2 -> ``"LA"``,
    3 -> ``"RGB"``, 4 -> ``"RGBA"``.
    """
    _require_pillow("ToPILImage")
    if isinstance(picture, numbanet.Tensor):
        if picture.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {picture.ndim} dimensions.")
        pixels = picture.detach().cpu().numpy()
        if pixels.ndim == 2:
            pixels = pixels[np.newaxis]
        if pixels.dtype.kind == "f" and mode != "F":
            pixels = (pixels * 255).astype(np.uint8)
        pixels = np.transpose(pixels, (1, 2, 0))
    elif isinstance(picture, np.ndarray):
        if picture.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {picture.ndim} dimensions.")
        pixels = picture[:, :, np.newaxis] if picture.ndim == 2 else picture
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(picture)}.")
    channels = pixels.shape[2]
    if channels == 1:
        pixels = pixels[:, :, 0]
        default = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16",
                   np.dtype(np.int32): "I", np.dtype(np.float32): "F"}.get(pixels.dtype)
        if default is None:
            raise TypeError(f"Input type {pixels.dtype} is not supported")
        if mode is not None and mode != default and not (mode == "L" and default == "L"):
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {pixels.dtype}. "
                             f"Should be {default}")
        mode = default
    elif channels in (2, 3, 4):
        default = {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        mode = default if mode is None else mode
        pixels = pixels.astype(np.uint8)
    else:
        raise ValueError(f"pic should not have > 4 channels. Got {channels} channels.")
    if mode in ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "HSV"):
        pixels = pixels.astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return image if image.mode == mode else image.convert(mode)


# ---------------------------------------------------------------------- the transform classes


class Lambda:
    """Apply your own function, e.g. a one-hot label:
    ``Lambda(lambda y: torch.zeros(10).scatter_(0, torch.tensor(y), value=1))``."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, image):
        return self.lambd(image)

    def __repr__(self) -> str:
        return "Lambda()"


class Resize:
    """Resample to ``size``: ``(h, w)``, or an ``int`` for the shorter side (aspect kept)."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        if not (isinstance(size, int) or (isinstance(size, Sequence) and len(size) in (1, 2))):
            raise TypeError(f"Size should be int or sequence. Got {type(size)}")
        self.size, self.max_size, self.antialias = size, max_size, antialias
        self.interpolation = InterpolationMode(interpolation)

    def __call__(self, image):
        return resize(image, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, "
                f"interpolation={self.interpolation.value}, max_size={self.max_size}, "
                f"antialias={self.antialias})")


class CenterCrop:
    """The centred ``size`` window (``int``: a square)."""

    def __init__(self, size):
        self.size = _pair(size, "size")

    def __call__(self, image):
        return center_crop(image, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class Pad:
    """Add a border (see :func:`pad`): ``Pad(4)`` makes a 32x32 image 40x40."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant"):
        _parse_padding(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, image):
        return pad(image, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class RandomCrop:
    """A ``size`` window at a random place: data augmentation.

    With ``padding`` the image is padded first (``RandomCrop(32, padding=4)``, the classic
    CIFAR augmentation: shifts of up to 4 pixels). ``pad_if_needed`` pads an image smaller than
    ``size``. The corner is drawn uniformly: ``top`` in ``0..H-h``, ``left`` in ``0..W-w``.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "size")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    @staticmethod
    def get_params(image, output_size) -> tuple[int, int, int, int]:
        """A random ``(top, left, height, width)`` for a crop of ``output_size``."""
        rows, columns = image_size(image)
        height, width = output_size
        if rows < height or columns < width:
            raise ValueError(
                f"Required crop size {(height, width)} is larger than input image size "
                f"{(rows, columns)}"
            )
        if (rows, columns) == (height, width):
            return 0, 0, rows, columns
        rng = numpy_generator()
        top = int(rng.integers(0, rows - height + 1))
        left = int(rng.integers(0, columns - width + 1))
        return top, left, height, width

    def __call__(self, image):
        if self.padding is not None:
            image = pad(image, self.padding, self.fill, self.padding_mode)
        rows, columns = image_size(image)
        if self.pad_if_needed and columns < self.size[1]:
            image = pad(image, [self.size[1] - columns, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and rows < self.size[0]:
            image = pad(image, [0, self.size[0] - rows], self.fill, self.padding_mode)
        return crop(image, *self.get_params(image, self.size))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (a fresh draw per image)."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, image):
        return hflip(image) if numpy_generator().random() < self.p else image

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    def __call__(self, image):
        return vflip(image) if numpy_generator().random() < self.p else image


class Grayscale:
    """Colour to grey (see :func:`rgb_to_grayscale`), ``num_output_channels`` 1 or 3."""

    def __init__(self, num_output_channels: int = 1):
        self.num_output_channels = num_output_channels

    def __call__(self, image):
        return rgb_to_grayscale(image, self.num_output_channels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_output_channels={self.num_output_channels})"


class ToPILImage:
    """Tensor or numpy image -> PIL image (see :func:`to_pil_image`)."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def __call__(self, picture):
        return to_pil_image(picture, self.mode)

    def __repr__(self) -> str:
        mode = "" if self.mode is None else f"mode={self.mode}"
        return f"{type(self).__name__}({mode})"


class PILToTensor:
    """PIL (or numpy) image ``H x W (x C)`` -> tensor ``C x H x W`` of the same dtype, values
    unchanged (``ToTensor`` would also scale uint8 to [0, 1])."""

    def __call__(self, picture):
        pixels = pil_to_numpy(picture) if is_pil_image(picture) else picture
        if not isinstance(pixels, np.ndarray) or pixels.ndim not in (2, 3):
            raise TypeError(f"pic should be PIL Image. Got {type(picture)}")
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        return numbanet.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ConvertImageDtype:
    """Change a tensor image's dtype *and* rescale its values, as torchvision.

    Integer images hold ``0..max`` (255 for uint8) and float images ``[0, 1]``, so
    uint8 -> float is ``x / 255``, float -> uint8 is ``x * (255 + 1 - 0.001)`` truncated
    (every value of [0, 1] lands in one of 256 equal bins), and float -> float just casts.
    """

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, image):
        pixels = image.detach().cpu().numpy()
        target = np.dtype(numbanet.empty(0, dtype=self.dtype).numpy().dtype)
        if pixels.dtype == target:
            return image
        if pixels.dtype.kind == "f" and target.kind == "f":
            converted = pixels.astype(target)
        elif pixels.dtype.kind == "f":
            if (pixels.dtype, target) in ((np.float32, np.int32), (np.float32, np.int64),
                                          (np.float64, np.int64)):
                raise RuntimeError(
                    f"The cast from {image.dtype} to {self.dtype} cannot be performed safely."
                )
            converted = (pixels * (np.iinfo(target).max + 1.0 - 1e-3)).astype(target)
        elif target.kind == "f":
            converted = pixels.astype(target) / target.type(np.iinfo(pixels.dtype).max)
        else:  # integer to integer: shift the bits
            shift = 8 * (target.itemsize - pixels.dtype.itemsize)
            converted = (pixels.astype(target) << shift if shift > 0
                         else (pixels >> -shift).astype(target))
        return numbanet.from_numpy(np.ascontiguousarray(converted)).to(image.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dtype={self.dtype})"


def pil_to_numpy(image) -> np.ndarray:
    """A PIL image's pixels as numpy ``H x W (x C)`` (mode ``"1"``: uint8 0 / 255, as
    torchvision's ``ToTensor`` does)."""
    pixels = np.array(image, copy=True)
    if image.mode == "1":
        pixels = pixels.astype(np.uint8) * 255
    return pixels
