"""``numbanet.backends.mps``: Apple's Metal backend (``torch.backends.mps``), which numbanet
does not have: ``is_available()`` and ``is_built()`` are False, so the tutorials' device
choice (``"cuda" if ... else "mps" if torch.backends.mps.is_available() else "cpu"``) falls
through to the CPU or CUDA."""


def is_available() -> bool:
    """False: numbanet runs on the CPU (Numba) and on NVIDIA GPUs (numba.cuda), not on MPS."""
    return False


def is_built() -> bool:
    """False: numbanet has no MPS backend to build."""
    return False
