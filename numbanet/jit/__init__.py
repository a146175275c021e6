"""Capture-and-replay of training steps: ``numbanet.compile`` (PyTorch's spelling).

:mod:`numbanet.jit.capture` records the kernel calls of one call of a step and replays
them; :mod:`numbanet.jit.compiled` decides when to run eagerly, capture or replay;
:mod:`numbanet.jit.lesson_step` captures a lesson's step for the stepper (key ``j``).
"""

from numbanet.jit.capture import CaptureError
from numbanet.jit.compiled import CompiledFunction, OptimizedModule, compile  # noqa: A004 - torch.compile's name
from numbanet.jit.lesson_step import StepCapture, capture_lesson_step

__all__ = ["CaptureError", "CompiledFunction", "OptimizedModule", "StepCapture",
           "capture_lesson_step", "compile"]
