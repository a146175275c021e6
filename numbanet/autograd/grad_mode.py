"""Switching gradient recording off and on: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

While recording is off, ops build no graph: their results have no ``grad_fn`` and
``requires_grad=False``. The test loop of every tutorial runs under ``no_grad``.
"""

import functools
import threading


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _mode.enabled


class set_grad_enabled:  # noqa: N801 - PyTorch's spelling
    """Context manager (and decorator) that sets gradient recording on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self):
        self.previous = _mode.enabled
        _mode.enabled = self.mode
        return self

    def __exit__(self, *exc_info):
        _mode.enabled = self.previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self.__class__(self.mode) if type(self) is set_grad_enabled else type(self)():
                return function(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):  # noqa: N801
    """``with numbanet.no_grad():`` — ops inside record no graph (evaluation, updates)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):  # noqa: N801
    """``with numbanet.enable_grad():`` — record again inside a ``no_grad`` block."""

    def __init__(self):
        super().__init__(True)
