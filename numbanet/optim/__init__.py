"""Optimizers, as ``torch.optim``: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``,
``Adadelta`` and ``lr_scheduler``.

Each optimizer's docstring gives its update formula; for SGD, Adam and RMSprop the update
runs as one fused kernel per parameter (``numbanet/kernels/<device>/optimizers.py``), for
AdamW, Adagrad and Adadelta as a few Tensor operations under ``no_grad``.
"""

from numbanet.optim import lr_scheduler
from numbanet.optim.adadelta import Adadelta
from numbanet.optim.adagrad import Adagrad
from numbanet.optim.adam import Adam
from numbanet.optim.adamw import AdamW
from numbanet.optim.optimizer import Optimizer
from numbanet.optim.rmsprop import RMSprop
from numbanet.optim.sgd import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop",
           "lr_scheduler"]
