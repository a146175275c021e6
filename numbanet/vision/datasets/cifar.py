"""CIFAR-10 and CIFAR-100: 32x32 colour photos, as ``torchvision.datasets``.

The files are read where torchvision keeps them, in the "python version" that Alex
Krizhevsky distributes (``cifar-10-python.tar.gz`` unpacked into ``root``)::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5   10,000 training images each
    root/cifar-10-batches-py/test_batch                      10,000 test images
    root/cifar-10-batches-py/batches.meta                    {"label_names": [10 names], ...}

    root/cifar-100-python/train, test                        50,000 / 10,000 images
    root/cifar-100-python/meta                               {"fine_label_names": [100], ...}

Each batch file is a Python pickle of a dict: ``"data"``, a ``uint8`` array ``N x 3072``
(each row the 1024 red, then 1024 green, then 1024 blue pixels of one image, row by row),
and ``"labels"`` (CIFAR-100: ``"fine_labels"``), a list of N class indices. A pickle can run
code, so it is read with a restricted unpickler (``safe_pickle.py``) that builds numpy
arrays and plain data and refuses anything else.

An item is ``(image, label)``: the image a ``uint8`` numpy array ``32 x 32 x 3`` (height,
width, channels — torchvision returns the same pixels as a PIL image), the label an ``int``.
``transforms.ToTensor()`` turns the image into float32 ``3 x 32 x 32`` in [0, 1]. As for
MNIST, ``get_batch`` prepares a whole DataLoader batch with a few numpy operations when the
transform allows it.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable

import numpy as np

import numbanet
from numbanet.utils.data.collate import default_collate
from numbanet.utils.data.dataset import Dataset
from numbanet.vision.datasets.mnist import _download
from numbanet.vision.datasets.safe_pickle import load_numpy_pickle
from numbanet.vision.transforms import batch_transform


class CIFAR10(Dataset):
    """CIFAR-10: 60,000 colour images 32x32 in 10 classes (Krizhevsky, 2009).

    >>> train_set = CIFAR10("./data", train=True, transform=transforms.ToTensor())
    >>> image, label = train_set[0]        # float32 3x32x32, an int 0..9
    >>> train_set.classes[label]
    'frog'
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    labels_key = "labels"

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
        missing = [name for name in self._all_files() if not os.path.isfile(self._path(name))]
        if missing:
            raise RuntimeError(
                "Dataset not found or corrupted. You can use download=True to download it. "
                f"{type(self).__name__} looks for {', '.join(missing)} in "
                f"{os.path.join(self.root, self.base_folder)} (unpack {self.filename} "
                f"into {self.root})"
            )
        self.data, self.targets = self._load_split()
        self._load_meta()

    # ------------------------------------------------------------------ the files

    def _path(self, name: str) -> str:
        return os.path.join(self.root, self.base_folder, name)

    def _all_files(self) -> list[str]:
        return [*self.train_list, *self.test_list, self.meta["filename"]]

    def _load_split(self) -> tuple[np.ndarray, list[int]]:
        """All batches of the split: images ``N x 32 x 32 x 3`` uint8, labels a list."""
        images, labels = [], []
        for name in self.train_list if self.train else self.test_list:
            path = self._path(name)
            entry = _str_keys(load_numpy_pickle(path))
            data = np.asarray(entry.get("data"))
            batch_labels = entry.get(self.labels_key)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise RuntimeError(
                    f"{path}: 'data' should be a uint8 array N x 3072, "
                    f"found {data.dtype} {data.shape}"
                )
            if not isinstance(batch_labels, list) or len(batch_labels) != len(data):
                raise RuntimeError(
                    f"{path}: '{self.labels_key}' should be a list of {len(data)} labels"
                )
            images.append(data)
            labels.extend(int(label) for label in batch_labels)
        # Each row is channel-major (R plane, G plane, B plane): N x 3 x 32 x 32, then HWC.
        data = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(data), labels

    def _load_meta(self) -> None:
        path = self._path(self.meta["filename"])
        self.classes = [str(name) for name in _str_keys(load_numpy_pickle(path))[self.meta["key"]]]
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    def download(self) -> None:
        """Fetch and unpack the archive into ``root``, unless its files are already there."""
        if all(os.path.isfile(self._path(name)) for name in self._all_files()):
            return
        os.makedirs(self.root, exist_ok=True)
        archive = os.path.join(self.root, self.filename)
        if not os.path.isfile(archive):
            try:
                _download(self.url, archive, self.tgz_md5)
            except (OSError, ValueError) as error:
                raise RuntimeError(
                    f"could not download {self.url}: {error}\nWithout internet access, put "
                    f"{self.filename} (or its unpacked folder {self.base_folder}/) into "
                    f"{self.root} and create the dataset with download=False."
                ) from None
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(self.root, filter="data")  # no absolute paths, links or devices

    # ------------------------------------------------------------------ the items

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple:
        image, target = self.data[index].copy(), self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> list:
        """``default_collate([self[i] for i in indices])``, batch-wide when the transforms
        allow (the DataLoader's batch protocol, see ``utils/data/dataset.py``)."""
        images = self.data[indices]
        transform_batch = None if self.transform is None else batch_transform(self.transform)
        if self.transform is None:
            images = numbanet.from_numpy(images)
        elif transform_batch is not None:
            images = transform_batch(images)
        else:
            images = default_collate([self.transform(image) for image in images])
        labels = [self.targets[index] for index in indices.tolist()]
        if self.target_transform is not None:
            labels = [self.target_transform(label) for label in labels]
        return [images, default_collate(labels)]

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Root location: {self.root}",
            f"    {self.extra_repr()}",
        ]
        if self.transform is not None:
            lines.append("    StandardTransform")
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n           "))
        return "\n".join(lines)


class CIFAR100(CIFAR10):
    """CIFAR-100: the same images' format, 100 fine classes (grouped in 20 coarse ones)."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}
    labels_key = "fine_labels"


def _str_keys(entry) -> dict:
    """The pickled dict with ``str`` keys (a pickle read as bytes has ``bytes`` keys)."""
    if not isinstance(entry, dict):
        raise RuntimeError(f"a CIFAR file should hold a dict, found {type(entry).__name__}")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value
            for key, value in entry.items()}
