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

A plain script gets :func:`announce_slow_compiles` (installed by ``import numbanet``): as
soon as compiling has taken half a second, a line on stderr says what is compiling and
how many kernels so far, so a first run never looks hung (and :func:`announce_waiting`
says so when it waits for a kernel the background compiler is finishing). Callers that show progress
themselves (the stepper, ``numbanet graph``, ``numbanet warmup``) use
:func:`report_compilation`, which silences that line while it runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
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


_reporters = 0  # report_compilation blocks running: they show progress their own way


@contextmanager
def report_compilation(callback: Callable[[str, str], None]):
    """Call ``callback("start", kernel_name)`` / ``callback("end", "")`` around each
    Numba compilation that happens inside the block (and keep the automatic notice of
    :func:`announce_slow_compiles` quiet meanwhile)."""
    global _reporters
    listener = _CompileListener(callback)
    event.register("numba:compile", listener)
    _reporters += 1
    try:
        yield listener
    finally:
        _reporters -= 1
        event.unregister("numba:compile", listener)


SLOW_COMPILE_SECONDS = 0.5  # compiling for longer than this gets a line on stderr


class _SlowCompileNotice(event.Listener):
    """Prints ``numbanet: compiling kernel 3 (relu_contiguous) ...`` lines on stderr once
    this process has spent :data:`SLOW_COMPILE_SECONDS` compiling, then one line per
    kernel (in a terminal: one line, rewritten). A timer thread catches a single compile
    that runs past the threshold: Numba holds no lock that keeps it from printing."""

    def __init__(self, stream=None):
        self.stream = stream
        self.depth = 0  # Numba compiles a kernel's callees inside its own compile
        self.count = 0  # kernels compiled so far in this process
        self.spent = 0.0  # seconds spent compiling so far
        self.started = 0.0
        self.name = ""
        self.announced = False
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()

    def on_start(self, evt):
        self.depth += 1
        if self.depth > 1:
            return
        dispatcher = evt.data.get("dispatcher") if isinstance(evt.data, dict) else None
        function = getattr(dispatcher, "py_func", None)
        self.name = getattr(function, "__name__", None) or str(dispatcher)
        self.count += 1
        self.started = time.perf_counter()
        if self.announced or self.spent >= SLOW_COMPILE_SECONDS:
            self._announce()
        else:
            self.timer = threading.Timer(SLOW_COMPILE_SECONDS - self.spent, self._announce)
            self.timer.daemon = True
            self.timer.start()

    def on_end(self, evt):
        self.depth -= 1
        if self.depth > 0:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.spent += time.perf_counter() - self.started

    def _announce(self, line: str | None = None) -> None:
        if _reporters:
            return
        stream = self.stream or sys.stderr
        with self.lock:
            live = getattr(stream, "isatty", lambda: False)()
            line = line or (f"numbanet: compiling kernel {self.count} ({self.name}); first "
                            "run only, cached for next time")
            if live:
                print(f"\r\x1b[K{line}", end="", file=stream, flush=True)
            else:
                print(line, file=stream, flush=True)
            self.announced = True


_notice: _SlowCompileNotice | None = None


def announce_slow_compiles(stream=None) -> None:
    """Install the stderr notice of slow compiles (once per process). Set the environment
    variable ``NUMBANET_QUIET_COMPILE=1`` to do without it."""
    global _notice
    if _notice is not None or os.environ.get("NUMBANET_QUIET_COMPILE"):
        return
    _notice = _SlowCompileNotice(stream)
    event.register("numba:compile", _notice)


def announce_waiting(name: str) -> None:
    """The stderr notice (when installed) while this process waits for kernel ``name``
    from the background compiler of :mod:`numbanet.precompile`."""
    if _notice is not None:
        _notice._announce(f"numbanet: waiting for kernel {name} from the background "
                          "compiler; first run only, cached for next time")


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
