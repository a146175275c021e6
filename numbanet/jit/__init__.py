"""Capture-and-replay of training steps: ``numbanet.compile`` (PyTorch's spelling).

:mod:`numbanet.jit.capture` records the kernel calls of one call of a step and replays
them; :mod:`numbanet.jit.compiled` decides when to run eagerly, capture or replay.
"""

from numbanet.jit.capture import CaptureError
from numbanet.jit.compiled import CompiledFunction, OptimizedModule, compile  # noqa: A004 - torch.compile's name

__all__ = ["CaptureError", "CompiledFunction", "OptimizedModule", "compile"]
