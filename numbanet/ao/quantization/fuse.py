"""``fuse_modules``: merge a layer with the ReLU (or BatchNorm) that follows it.

Quantized, ``conv -> relu`` as two modules would requantize the convolution's output to
uint8, then clamp it; fused, one requantization does both (levels below the zero point
are clamped to it), which is faster and loses less precision. A BatchNorm after a
convolution, in eval mode, is an affine map per channel and folds into the convolution's
weight and bias::

    w' = w * gamma / sqrt(var + eps)       b' = (b - mean) * gamma / sqrt(var + eps) + beta

The fused module takes the first name; the others become ``nn.Identity()``.
"""

from __future__ import annotations

import copy

from numbanet.ao.nn.intrinsic.modules import ConvReLU2d, LinearReLU
from numbanet.autograd import grad_mode
from numbanet.nn.activation import ReLU
from numbanet.nn.conv import Conv2d
from numbanet.nn.flatten import Identity
from numbanet.nn.linear import Linear
from numbanet.nn.module import Module
from numbanet.nn.normalization import BatchNorm2d
from numbanet.nn.parameter import Parameter


def fuse_conv_bn_eval(conv: Conv2d, bn: BatchNorm2d) -> Conv2d:
    """A copy of ``conv`` with the eval-mode BatchNorm ``bn`` folded into its weight and
    bias."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(conv)
    with grad_mode.no_grad():
        factor = bn.weight / (bn.running_var + bn.eps).sqrt()
        fused.weight = Parameter(conv.weight * factor.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else bn.running_mean * 0
        fused.bias = Parameter((bias - bn.running_mean) * factor + bn.bias)
    return fused


def _fuse(modules: list[Module]) -> Module:
    kinds = tuple(type(module) for module in modules)
    if kinds == (Conv2d, ReLU):
        return ConvReLU2d(*modules)
    if kinds == (Linear, ReLU):
        return LinearReLU(*modules)
    if kinds == (Conv2d, BatchNorm2d):
        return fuse_conv_bn_eval(*modules)
    if kinds == (Conv2d, BatchNorm2d, ReLU):
        return ConvReLU2d(fuse_conv_bn_eval(*modules[:2]), modules[2])
    names = ", ".join(kind.__name__ for kind in kinds)
    raise NotImplementedError(f"Cannot fuse modules: ({names}). numbanet fuses Conv2d+ReLU, "
                              "Linear+ReLU, Conv2d+BatchNorm2d and Conv2d+BatchNorm2d+ReLU")


def _set(model: Module, name: str, module: Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def fuse_modules(model: Module, modules_to_fuse, inplace: bool = False) -> Module:
    """Fuse each list of module names in ``modules_to_fuse`` (``["conv1", "relu1"]``, or a
    list of such lists). Returns the model (a fused copy unless ``inplace``)."""
    if not inplace:
        model = copy.deepcopy(model)
    groups = modules_to_fuse
    if groups and isinstance(groups[0], str):
        groups = [groups]
    for names in groups:
        modules = [model.get_submodule(name) for name in names]
        fused = _fuse(modules)
        _set(model, names[0], fused)
        for name in names[1:]:
            _set(model, name, Identity())
    return model
