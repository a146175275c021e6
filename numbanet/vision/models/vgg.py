"""VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks", 2014), as torchvision.

The simplest deep convnet: stacks of 3x3 convolutions (padding 1, so the size is kept) each
followed by ReLU, with a 2x2 max pool halving the size between stacks; then three linear
layers. VGG-11 ("configuration A") has 8 convolutions::

    64 M 128 M 256 256 M 512 512 M 512 512 M       (numbers: channels, M: max pool)

A 224x224 image leaves the features 512 x 7 x 7; ``avgpool`` (adaptive, to 7x7) makes other
sizes fit the classifier ``25088 -> 4096 -> 4096 -> num_classes`` (a 32x32 CIFAR image leaves
1x1, repeated 49 times). ``vgg11_bn`` puts a batch norm after each convolution. Names are
torchvision's (``features.0.weight``, ``classifier.6.bias``), so torchvision's state dicts load.
"""

from __future__ import annotations

from typing import Any

import numbanet
from numbanet import nn
from numbanet.vision.models._weights import (
    Weights,
    WeightsEnum,
    check_num_classes,
    legacy_pretrained,
    load_weights,
)
from numbanet.vision.models.resnet import default_norm_layer

CONFIGURATIONS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
}


def make_layers(configuration: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: ``conv3x3 [-> BatchNorm2d] -> ReLU`` per number, a max pool per M."""
    layers: list[nn.Module] = []
    in_channels = 3
    for entry in configuration:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, entry, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(default_norm_layer()(entry))
        layers.append(nn.ReLU(inplace=True))
        in_channels = entry
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``classifier(flatten(avgpool(features(x))))``.

    Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out")`` with bias 0,
    linear layers ``normal_(0, 0.01)`` with bias 0.
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    if module.bias is not None:
                        nn.init.constant_(module.bias, 0)
                elif isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, 0, 0.01)
                    nn.init.constant_(module.bias, 0)

    def forward(self, x):
        x = numbanet.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


class VGG11_Weights(WeightsEnum):  # noqa: N801 - torchvision's name
    IMAGENET1K_V1 = Weights("https://download.pytorch.org/models/vgg11-8a719046.pth")
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):  # noqa: N801
    IMAGENET1K_V1 = Weights("https://download.pytorch.org/models/vgg11_bn-6002323d.pth")
    DEFAULT = IMAGENET1K_V1


def _vgg(configuration, batch_norm, weights_enum, weights, kwargs) -> VGG:
    weights = weights_enum.verify(legacy_pretrained(weights, kwargs, weights_enum.DEFAULT))
    check_num_classes(weights, kwargs)
    if weights is not None:
        kwargs["init_weights"] = False  # the loaded values replace them anyway
    model = VGG(make_layers(CONFIGURATIONS[configuration], batch_norm), **kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


def vgg11(*, weights: VGG11_Weights | str | None = None, progress: bool = True,
          **kwargs: Any) -> VGG:
    """VGG-11 (133 M parameters, most in the first linear layer): configuration A."""
    return _vgg("A", False, VGG11_Weights, weights, kwargs)


def vgg11_bn(*, weights: VGG11_BN_Weights | str | None = None, progress: bool = True,
             **kwargs: Any) -> VGG:
    """VGG-11 with a batch norm after each convolution (needs ``nn.BatchNorm2d``)."""
    return _vgg("A", True, VGG11_BN_Weights, weights, kwargs)
