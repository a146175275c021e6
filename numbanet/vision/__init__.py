"""Computer-vision data, as torchvision: ``numbanet.vision.datasets`` and ``.transforms``.

``from torchvision import datasets, transforms`` becomes
``from numbanet.vision import datasets, transforms``.
"""

from numbanet.vision import datasets, transforms

__all__ = ["datasets", "transforms"]
