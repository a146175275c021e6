"""MNIST and Fashion-MNIST: 28x28 grey images in ten classes, as ``torchvision.datasets``.

Files live where torchvision keeps them, so a folder torchvision already downloaded is
reused as is::

    root/MNIST/raw/train-images-idx3-ubyte(.gz)   60,000 training images
    root/MNIST/raw/train-labels-idx1-ubyte(.gz)   their labels, 0..9
    root/MNIST/raw/t10k-images-idx3-ubyte(.gz)    10,000 test images
    root/MNIST/raw/t10k-labels-idx1-ubyte(.gz)    their labels
    root/FashionMNIST/raw/...                     the same names, for Fashion-MNIST

Each file may be gzipped or not (see ``idx.py`` for the format). ``download=True`` fetches
the missing ``.gz`` files from the mirrors torchvision uses, checks each against its
published MD5, moves it into place with an atomic rename and unpacks it beside the archive,
as torchvision does.

An item is ``(image, label)``: without a transform the image is a ``uint8`` numpy array
``28 x 28`` (torchvision returns a PIL image; numbanet needs no PIL), the label an ``int``.
``ToTensor()`` turns the image into a float32 ``1 x 28 x 28`` tensor in [0, 1].

``get_batch(indices)`` implements the DataLoader's batch protocol: one fancy-indexing
operation picks the batch's images and labels, and when the transform can work on stacks of
images (``ToTensor``, ``Normalize`` and a ``Compose`` of them can, see ``transforms.py``)
it prepares all of them in a few numpy operations, so an MNIST epoch costs milliseconds of
loading instead of 60,000 Python calls.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
import uuid
from collections.abc import Callable

import numpy as np

import numbanet
from numbanet.utils.data.collate import default_collate
from numbanet.utils.data.dataset import Dataset
from numbanet.vision.datasets.idx import IDXFormatError, read_idx
from numbanet.vision.transforms import batch_transform

DOWNLOAD_TIMEOUT_SECONDS = 60


class MNIST(Dataset):
    """The MNIST handwritten digits (LeCun, Cortes and Burges; CC BY-SA 3.0).

    >>> test_set = MNIST("data", train=False, transform=transforms.ToTensor())
    >>> image, label = test_set[0]           # image: float32 1x28x28, label: 7
    >>> test_set.data.shape, test_set.targets.dtype
    ((10000, 28, 28), numbanet.int64)
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [  # (file name, MD5 of the .gz), the values torchvision checks
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]

    def __init__(
        self,
        root: str | os.PathLike,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ):
        self.root = os.path.expanduser(os.fspath(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()
        self._images, self._labels = self._load()

    # ------------------------------------------------------------------ the files

    @property
    def raw_folder(self) -> str:
        """``root/<class name>/raw``, the folder torchvision uses."""
        return os.path.join(self.root, type(self).__name__, "raw")

    def _split_files(self) -> tuple[str, str]:
        split = "train" if self.train else "t10k"
        return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"

    def _find(self, name: str) -> str | None:
        """The path of ``name``, extracted or gzipped, or None: in the raw folder first,
        then directly in ``root`` (a folder holding just the official files)."""
        for folder in (self.raw_folder, self.root):
            for candidate in (name, f"{name}.gz"):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path):
                    return path
        return None

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        """Read and check this split's images (uint8 N x H x W) and labels (int64 N)."""
        image_name, label_name = self._split_files()
        image_path, label_path = self._find(image_name), self._find(label_name)
        if image_path is None or label_path is None:
            raise RuntimeError(
                "Dataset not found. You can use download=True to download it. "
                f"{type(self).__name__} looks for {image_name} and {label_name} "
                f"(plain or .gz) in {self.raw_folder} or directly in {self.root}"
            )
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise IDXFormatError(
                image_path,
                f"expected uint8 images N x rows x columns, found {images.dtype} {images.shape}",
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise IDXFormatError(
                label_path,
                f"expected a uint8 vector of labels, found {labels.dtype} {labels.shape}",
            )
        if len(labels) != len(images):
            raise IDXFormatError(
                label_path, f"{len(labels)} labels for the {len(images)} images in {image_path}"
            )
        if len(labels) and labels.max() >= len(self.classes):
            raise IDXFormatError(
                label_path, f"label {labels.max()} is not one of the {len(self.classes)} classes"
            )
        return images, labels.astype(np.int64)

    def download(self) -> None:
        """Fetch every missing file (train and test) into :attr:`raw_folder`, MD5-checked."""
        os.makedirs(self.raw_folder, exist_ok=True)
        for archive_name, md5 in self.resources:
            extracted_name = archive_name.removesuffix(".gz")
            if self._find(extracted_name) is not None:
                continue
            archive_path = os.path.join(self.raw_folder, archive_name)
            self._download_from_mirrors(archive_name, md5, archive_path)
            _extract_gzip(archive_path, os.path.join(self.raw_folder, extracted_name))

    def _download_from_mirrors(self, archive_name: str, md5: str, destination: str) -> None:
        failures = []
        for mirror in self.mirrors:
            url = f"{mirror}{archive_name}"
            try:
                _download(url, destination, md5)
                return
            except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
                failures.append(f"  {url}: {error}")
        names = ", ".join(name for name, _ in self.resources)
        raise RuntimeError(
            f"could not download {archive_name} from any mirror:\n"
            + "\n".join(failures)
            + f"\nWithout internet access, copy {names} (gzipped or extracted) into "
            f"{self.raw_folder} and create the dataset with download=False."
        )

    # ------------------------------------------------------------------ the items

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> tuple:
        image, target = self._images[index].copy(), int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> list:
        """``default_collate([self[i] for i in indices])``, computed batch-wide when it can.

        The batch's images and labels are picked with one fancy index each. Images then go
        through the transform's batch version when it has one (:func:`batch_transform`),
        else through the transform image by image; labels become one int64 tensor, or go
        through ``target_transform`` one by one.
        """
        images, labels = self._images[indices], self._labels[indices]
        return [self._transform_images(images), self._transform_labels(labels)]

    def _transform_images(self, images: np.ndarray):
        if self.transform is None:
            return numbanet.from_numpy(images)
        transform_batch = batch_transform(self.transform)
        if transform_batch is not None:
            return transform_batch(images)
        return default_collate([self.transform(image) for image in images])

    def _transform_labels(self, labels: np.ndarray):
        if self.target_transform is None:
            return numbanet.from_numpy(labels)
        return default_collate([self.target_transform(int(label)) for label in labels])

    # ------------------------------------------------------------------ torchvision's attributes

    @property
    def data(self):
        """All images of the split, a uint8 tensor N x 28 x 28 (sharing the dataset's memory)."""
        return numbanet.from_numpy(self._images)

    @data.setter
    def data(self, images) -> None:
        self._images = _as_numpy(images)

    @property
    def targets(self):
        """All labels of the split, an int64 tensor of N class indices."""
        return numbanet.from_numpy(self._labels)

    @targets.setter
    def targets(self, labels) -> None:
        self._labels = _as_numpy(labels)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.classes)}

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Root location: {self.root}",
            f"    Split: {'Train' if self.train else 'Test'}",
        ]
        if self.transform is not None:
            lines.append("    Transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grey photos of clothing, a drop-in MNIST replacement."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


def _as_numpy(values) -> np.ndarray:
    return values.numpy() if isinstance(values, numbanet.Tensor) else np.asarray(values)


def _download(url: str, destination: str, md5: str) -> None:
    """Download ``url`` to ``destination`` only if its MD5 matches; never leave a partial file."""
    partial = f"{destination}.{uuid.uuid4().hex}.part"
    request = urllib.request.Request(url, headers={"User-Agent": "numbanet"})
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with (
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
            open(partial, "xb") as file,
        ):
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                file.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"MD5 mismatch: expected {md5}, got {digest.hexdigest()}")
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _extract_gzip(archive: str, destination: str) -> None:
    """Unpack ``archive`` to ``destination`` through a temporary file and an atomic rename."""
    partial = f"{destination}.{uuid.uuid4().hex}.part"
    try:
        with gzip.open(archive, "rb") as source, open(partial, "xb") as target:
            shutil.copyfileobj(source, target)
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
