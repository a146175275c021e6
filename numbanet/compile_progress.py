"""Telling the learner when Numba is compiling, instead of looking frozen.

The first call of a kernel with new argument types makes Numba compile it (a second or
so each), unless its on-disk cache (``cache=True``) already holds the machine code. Numba
announces every compilation through its event API (``numba:compile`` start/end events);
:func:`report_compilation` forwards them to a callback — the CLI prints a line, the
stepper shows a progress message.

Where kernels are cached: next to the source in ``__pycache__`` when that folder is
writable, else Numba's user-wide cache directory; ``NUMBA_CACHE_DIR`` overrides both.
When none of these can be written, :func:`ensure_writable_cache` points Numba at a
temporary folder so caching still works for the session.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from numba.core import config, event

PACKAGE_DIR = Path(__file__).resolve().parent


class _CompileListener(event.Listener):
    def __init__(self, callback: Callable[[str, str], None]):
        self.callback = callback

    def on_start(self, evt):
        dispatcher = evt.data.get("dispatcher") if isinstance(evt.data, dict) else None
        function = getattr(dispatcher, "py_func", None)
        name = getattr(function, "__qualname__", None) or str(dispatcher)
        self.callback("start", name)

    def on_end(self, evt):
        self.callback("end", "")


@contextmanager
def report_compilation(callback: Callable[[str, str], None]):
    """Call ``callback("start", kernel_name)`` / ``callback("end", "")`` around each
    Numba compilation that happens inside the block."""
    listener = _CompileListener(callback)
    event.register("numba:compile", listener)
    try:
        yield listener
    finally:
        event.unregister("numba:compile", listener)


def printing_progress(prefix: str = "numbanet: compiling"):
    """A callback for :func:`report_compilation` that prints one line per kernel."""
    import sys

    def callback(stage: str, name: str) -> None:
        if stage == "start":
            print(f"{prefix} {name} (first run only; cached afterwards)", file=sys.stderr,
                  flush=True)

    return callback


def cache_directory() -> Path:
    """Where Numba writes numbanet's compiled kernels."""
    if config.CACHE_DIR:
        return Path(config.CACHE_DIR)
    in_tree = PACKAGE_DIR / "kernels" / "cpu" / "__pycache__"
    return in_tree if os.access(in_tree.parent, os.W_OK) else Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "numba"


def ensure_writable_cache() -> None:
    """Point Numba at a temporary cache folder when no usual location is writable."""
    if config.CACHE_DIR or os.access(PACKAGE_DIR, os.W_OK):
        return
    user_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    try:
        user_cache.mkdir(parents=True, exist_ok=True)
        if os.access(user_cache, os.W_OK):
            return
    except OSError:
        pass
    config.CACHE_DIR = tempfile.mkdtemp(prefix="numbanet-numba-cache-")
