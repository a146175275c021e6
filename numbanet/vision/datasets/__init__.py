"""Datasets of images, as ``torchvision.datasets``: ``MNIST``, ``FashionMNIST``, ``CIFAR10``
and ``CIFAR100``."""

from numbanet.vision.datasets.cifar import CIFAR10, CIFAR100
from numbanet.vision.datasets.idx import IDXFormatError, read_idx
from numbanet.vision.datasets.mnist import MNIST, FashionMNIST
from numbanet.vision.datasets.safe_pickle import UnsafePickleError

__all__ = [
    "CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "IDXFormatError", "UnsafePickleError",
    "read_idx",
]
