"""Model architectures, as ``torchvision.models``: ResNet and VGG, built from numbanet's layers.

``resnet18(weights=None)`` is randomly initialised as torchvision's; with ``weights=`` it is
loaded from the local torchvision cache (``_weights.py``). Parameter names and shapes are
torchvision's, so state dicts move between the two.
"""

from numbanet.vision.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    resnet18,
    resnet34,
    resnet50,
)
from numbanet.vision.models.vgg import VGG, VGG11_BN_Weights, VGG11_Weights, vgg11, vgg11_bn

__all__ = [
    "VGG", "BasicBlock", "Bottleneck", "ResNet", "ResNet18_Weights", "ResNet34_Weights",
    "ResNet50_Weights", "VGG11_BN_Weights", "VGG11_Weights", "resnet18", "resnet34", "resnet50",
    "vgg11", "vgg11_bn",
]
