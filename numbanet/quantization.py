"""``numbanet.quantization``: the older name of :mod:`numbanet.ao.quantization` (PyTorch
keeps ``torch.quantization`` as an alias too)."""

from numbanet.ao.quantization import *  # noqa: F403 - the alias re-exports everything
from numbanet.ao.quantization import __all__  # noqa: F401
