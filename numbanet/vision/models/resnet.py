"""ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015), as torchvision.

A residual block learns a *correction* to its input instead of a whole new representation::

    out = relu( F(x) + shortcut(x) )      F(x) = bn2(conv2( relu(bn1(conv1(x))) ))

``shortcut`` is ``x`` itself, or a 1x1 convolution + batch norm (``downsample``) when the
block changes the number of channels or halves the resolution. The gradient of ``out``
reaches ``x`` through the ``+`` unchanged, so even a deep stack of blocks trains.

ResNet-18: a 7x7 stride-2 convolution and a 3x3 max pool (224 -> 56 pixels), four stages of
two ``BasicBlock``s each with 64, 128, 256, 512 channels (each stage after the first halves the
resolution), a global average pool and one ``Linear`` layer. Module and parameter names are
torchvision's (``layer1.0.conv1.weight``, ``fc.bias``...), so torchvision's state dicts load.
"""

from __future__ import annotations

from collections.abc import Callable
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


def default_norm_layer() -> Callable[[int], nn.Module]:
    """``nn.BatchNorm2d``, with a clear error where this numbanet has none yet."""
    batch_norm = getattr(nn, "BatchNorm2d", None)
    if batch_norm is None:
        raise NotImplementedError(
            "ResNet needs nn.BatchNorm2d, which this version of numbanet does not have yet; "
            "pass norm_layer= a module class taking the channel count"
        )
    return batch_norm


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the size (padding 1), or halves it with stride 2."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution: mixes channels at each pixel (used by shortcuts and bottlenecks)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``: two 3x3 convolutions."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or default_norm_layer()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (narrow), 3x3, 1x1 (widen by 4) convolutions plus the shortcut (ResNet-50 up)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or default_norm_layer()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A stem, four stages of residual ``block``s (``layers[i]`` blocks in stage i), a global
    average pool and a linear classifier.

    Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out")`` (keeps the
    variance of the gradients through ReLUs), norm layers weight 1 and bias 0, ``fc`` as any
    ``nn.Linear``. ``zero_init_residual=True`` starts each block's last norm at 0, so that
    every block begins as the identity.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int],
                 num_classes: int = 1000, zero_init_residual: bool = False,
                 norm_layer: Callable[[int], nn.Module] | None = None):
        super().__init__()
        self._norm_layer = norm_layer or default_norm_layer()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif _is_affine_norm(module, self._norm_layer):
                nn.init.constant_(module.weight, 1)  # an affine norm layer starts as identity
                nn.init.constant_(module.bias, 0)
        if zero_init_residual:
            for module in self.modules():
                last_norm = module.bn3 if isinstance(module, Bottleneck) else (
                    module.bn2 if isinstance(module, BasicBlock) else None)
                if last_norm is not None and getattr(last_norm, "weight", None) is not None:
                    nn.init.constant_(last_norm.weight, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: the first block may change size (and gets a projection shortcut)."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                self._norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self._norm_layer)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, norm_layer=self._norm_layer)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = numbanet.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _is_affine_norm(module: nn.Module, norm_layer) -> bool:
    is_norm = isinstance(norm_layer, type) and isinstance(module, norm_layer)
    return is_norm and getattr(module, "weight", None) is not None


_MODELS = "https://download.pytorch.org/models/"


class ResNet18_Weights(WeightsEnum):  # noqa: N801 - torchvision's name
    IMAGENET1K_V1 = Weights(_MODELS + "resnet18-f37072fd.pth")
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):  # noqa: N801
    IMAGENET1K_V1 = Weights(_MODELS + "resnet34-b627a593.pth")
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):  # noqa: N801
    IMAGENET1K_V1 = Weights(_MODELS + "resnet50-0676ba61.pth")
    IMAGENET1K_V2 = Weights(_MODELS + "resnet50-11ad3fa6.pth")
    DEFAULT = IMAGENET1K_V2


def _resnet(block, layers, weights_enum, weights, progress, kwargs) -> ResNet:
    weights = weights_enum.verify(legacy_pretrained(weights, kwargs, weights_enum.DEFAULT))
    check_num_classes(weights, kwargs)
    model = ResNet(block, layers, **kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


def resnet18(*, weights: ResNet18_Weights | str | None = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-18 (11.7 M parameters): ``BasicBlock`` x [2, 2, 2, 2].

    ``weights=None`` (the default): randomly initialised. ``weights="DEFAULT"`` or
    ``ResNet18_Weights.IMAGENET1K_V1``: torchvision's ImageNet weights, read from the local
    torchvision cache (see ``_weights.py``).
    """
    return _resnet(BasicBlock, [2, 2, 2, 2], ResNet18_Weights, weights, progress, kwargs)


def resnet34(*, weights: ResNet34_Weights | str | None = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-34: ``BasicBlock`` x [3, 4, 6, 3]."""
    return _resnet(BasicBlock, [3, 4, 6, 3], ResNet34_Weights, weights, progress, kwargs)


def resnet50(*, weights: ResNet50_Weights | str | None = None, progress: bool = True,
             **kwargs: Any) -> ResNet:
    """ResNet-50: ``Bottleneck`` x [3, 4, 6, 3]."""
    return _resnet(Bottleneck, [3, 4, 6, 3], ResNet50_Weights, weights, progress, kwargs)
