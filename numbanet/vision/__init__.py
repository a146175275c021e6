"""Computer vision, as torchvision: ``numbanet.vision.datasets``, ``.transforms``, ``.models``,
``.utils`` (``make_grid``, ``save_image``) and ``.io`` (``read_image``).

``from torchvision import datasets, transforms`` becomes
``from numbanet.vision import datasets, transforms``.
"""

from numbanet.vision import datasets, io, models, transforms, utils

__all__ = ["datasets", "io", "models", "transforms", "utils"]
