"""One door for every kernel call, so the trace can see which kernel ran.

Backends call ``launch(kernel, *args)`` instead of ``kernel(*args)``. While no trace is
recording, ``launch`` is a single extra function call. While one is, the listener installed
by :mod:`numbanet.trace` receives the kernel, its launch configuration (CUDA grid and block),
whether Numba compiled it during this call or loaded it from its on-disk cache, and the
wall time.

The per-op fast path of the elementwise kernels (``x + y``) saves even that call: it runs
the kernel itself when ``_listener`` is None and calls ``launch`` otherwise, so every
kernel still passes this door while a trace listens.
"""

import time
from collections.abc import Callable

_listener: Callable | None = None
_arguments: Callable | None = None  # numbanet.compile's recorder: told each launch's arguments


def set_listener(listener: Callable | None) -> None:
    """Install (or remove, with None) the function told about every kernel launch."""
    global _listener
    _listener = listener


def set_arguments_listener(listener: Callable | None) -> None:
    """Install (or remove) the function told ``(kernel, args, grid, block)`` of every launch
    while a listener (:func:`set_listener`) is installed too: ``numbanet.compile`` records
    the arrays each kernel ran on, to replay the launch itself."""
    global _arguments
    _arguments = listener


def _compile_counts(kernel) -> tuple[int, int, int]:
    """(signatures, cache hits, cache misses) of a Numba dispatcher, zeros for others."""
    signatures = len(getattr(kernel, "signatures", ()) or ())
    stats = getattr(kernel, "stats", None)
    hits = sum(getattr(stats, "cache_hits", {}).values()) if stats else 0
    misses = sum(getattr(stats, "cache_misses", {}).values()) if stats else 0
    return signatures, hits, misses


def launch(kernel, *args, grid=None, block=None):
    """Run ``kernel(*args)`` (or ``kernel[grid, block](*args)`` for a CUDA kernel)."""
    if _listener is None:
        if grid is None:
            return kernel(*args)
        return kernel[grid, block](*args)
    if _arguments is not None:
        _arguments(kernel, args, grid, block)
    before = _compile_counts(kernel)
    start = time.perf_counter()
    result = kernel(*args) if grid is None else kernel[grid, block](*args)
    seconds = time.perf_counter() - start
    after = _compile_counts(kernel)
    if after[1] > before[1]:
        compilation = "loaded from cache"
    elif after[0] > before[0] or after[2] > before[2]:
        compilation = "compiled now"
    else:
        compilation = "already in memory"
    _listener(kernel, grid, block, compilation, seconds)
    return result
