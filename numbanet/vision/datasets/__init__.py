"""Datasets of images, as ``torchvision.datasets``: ``MNIST`` and ``FashionMNIST``."""

from numbanet.vision.datasets.idx import IDXFormatError, read_idx
from numbanet.vision.datasets.mnist import MNIST, FashionMNIST

__all__ = ["MNIST", "FashionMNIST", "IDXFormatError", "read_idx"]
