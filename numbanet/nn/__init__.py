"""``numbanet.nn``: layers, losses and the ``Module`` base class, with PyTorch's names.

Read in this order: ``parameter.py`` (a learnable tensor), ``module.py`` (how a model finds
its parameters, saves them and runs), ``linear.py`` (the simplest layer), ``functional.py``
(the stateless functions layers call), then ``ops/neural.py`` for the formulas and
gradients of softmax, the losses, convolution, pooling and dropout.
"""

from numbanet.nn import functional, init, utils
from numbanet.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from numbanet.nn.container import ModuleDict, ModuleList, ParameterList, Sequential
from numbanet.nn.conv import Conv2d
from numbanet.nn.dropout import Dropout, Dropout2d
from numbanet.nn.flatten import Flatten, Identity
from numbanet.nn.linear import Linear
from numbanet.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from numbanet.nn.module import Module
from numbanet.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from numbanet.nn.padding import (
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad2d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
)
from numbanet.nn.parallel import DataParallel
from numbanet.nn.parameter import Parameter
from numbanet.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from numbanet.nn.sparse import Embedding

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "Conv2d",
    "CrossEntropyLoss", "DataParallel", "Dropout", "Dropout2d", "Flatten", "Identity",
    "L1Loss", "LeakyReLU",
    "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleList", "NLLLoss",
    "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
    "BatchNorm1d", "BatchNorm2d", "Embedding", "GELU", "LayerNorm", "ModuleDict",
    "ParameterList", "parallel", "utils",
    "ConstantPad1d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "ZeroPad1d",
    "ZeroPad2d",
]
