"""``numbanet.backends.cudnn``: the cuDNN switches of ``torch.backends.cudnn``.

numbanet's convolutions are its own kernels (``numbanet/kernels/cuda/conv.py``), never
cuDNN's, so ``is_available()`` is False and the flags scripts set for speed or
reproducibility are kept but change nothing: numbanet's kernels do not pick algorithms by
benchmark and give the same result on every run.
"""

enabled = True
"""``torch.backends.cudnn.enabled``: whether PyTorch may use cuDNN (no effect here)."""

benchmark = False
"""``torch.backends.cudnn.benchmark``: PyTorch times several convolution algorithms and keeps
the fastest; numbanet has one algorithm per layout, so nothing to choose."""

deterministic = False
"""``torch.backends.cudnn.deterministic``: PyTorch then avoids nondeterministic algorithms;
numbanet's kernels are deterministic either way."""

allow_tf32 = True
"""``torch.backends.cudnn.allow_tf32``: TensorFloat-32 in cuDNN convolutions (not used here)."""


def is_available() -> bool:
    """False: numbanet does not call cuDNN (its GPU kernels are numba.cuda kernels)."""
    return False


def version() -> None:
    """None, as PyTorch answers when cuDNN is not available."""
    return None
