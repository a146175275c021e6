"""``numbanet.backends``: PyTorch's ``torch.backends`` — what a script asks about the
accelerator libraries before choosing a device.

numbanet's kernels are its own (Numba on the CPU, numba.cuda on the GPU: the package
``numbanet.kernels``), so the answers are honest ones: no Apple MPS, no cuDNN. The flags a
script sets (``torch.backends.cudnn.benchmark = True``) are kept and change nothing.
"""

from numbanet.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
