"""Optimizers, as ``torch.optim``: ``SGD``, ``Adam``, ``RMSprop`` and ``lr_scheduler``.

Each optimizer's docstring gives its update formula; the update itself runs as one fused
kernel per parameter (``numbanet/kernels/<device>/optimizers.py``).
"""

from numbanet.optim import lr_scheduler
from numbanet.optim.adam import Adam
from numbanet.optim.optimizer import Optimizer
from numbanet.optim.rmsprop import RMSprop
from numbanet.optim.sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer", "RMSprop", "lr_scheduler"]
