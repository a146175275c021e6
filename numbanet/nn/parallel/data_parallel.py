"""``DataParallel``: PyTorch's single-process wrapper, here running the model on one device.

In PyTorch, ``nn.DataParallel(model)`` splits each batch across the GPUs of one machine,
runs a replica of the model on each from one Python process, and gathers the outputs.
numbanet drives one device per process, so ``DataParallel`` runs the wrapped module as it
is — code written for it runs unchanged, with the ``module.`` prefix in ``state_dict()``
keys. To train on several processes (several GPUs or machines), use
:class:`~numbanet.nn.parallel.DistributedDataParallel`, which PyTorch also recommends
over ``DataParallel``.
"""

from __future__ import annotations

import warnings

from numbanet.nn.module import Module

_noted = False  # the note pointing to DistributedDataParallel is printed once per process


class DataParallel(Module):
    """Run ``module`` on its device; ``state_dict()`` keys start with ``module.``.

    For several processes use :class:`~numbanet.nn.parallel.DistributedDataParallel`.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        global _noted
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel wraps an nn.Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else None
        self.output_device = output_device
        self.dim = dim
        if not _noted:
            _noted = True
            warnings.warn("numbanet's nn.DataParallel runs the module on one device in this "
                          "process; to train on several processes use "
                          "nn.parallel.DistributedDataParallel (numbanet run -n N script.py)",
                          UserWarning, stacklevel=2)

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
