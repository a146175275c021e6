"""``inference_mode``: ``no_grad`` for code that only evaluates (PyTorch's faster variant).

In PyTorch, tensors made inside ``inference_mode`` are "inference tensors" that can never
join a graph later, which lets it skip version counting. numbanet has no such tensors: here
``inference_mode`` switches gradient recording off exactly as ``no_grad`` does, so code
written for either runs and computes the same values::

    with numbanet.inference_mode():
        predictions = model(images)

    @numbanet.inference_mode()
    def evaluate(model, loader): ...
"""

from __future__ import annotations

import functools
import threading

from numbanet.autograd.grad_mode import set_grad_enabled


class _InferenceState(threading.local):
    depth = 0  # how many inference_mode(True) blocks are open in this thread


_state = _InferenceState()


def is_inference_mode_enabled() -> bool:
    """True inside an ``inference_mode()`` block."""
    return _state.depth > 0


class inference_mode:  # noqa: N801 - PyTorch's spelling
    """Context manager and decorator: no graph is recorded inside. ``inference_mode(False)``
    changes nothing (PyTorch's way to switch it off for one call)."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self._grad = set_grad_enabled(False)

    def __enter__(self):
        if self.mode:
            self._grad.__enter__()
            _state.depth += 1
        return self

    def __exit__(self, *exc_info):
        if self.mode:
            _state.depth -= 1
            self._grad.__exit__(*exc_info)
        return False

    def __call__(self, function):
        if not callable(function):  # @inference_mode used without ()
            raise TypeError("use @inference_mode() with parentheses")

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with inference_mode(self.mode):
                return function(*args, **kwargs)

        return wrapper
