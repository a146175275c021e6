"""Record a CUDA launch thread by thread, under numba's CUDA simulator.

The simulator runs a kernel one block at a time; inside a block every thread is a Python
thread running the kernel's Python source, and ``cuda.syncthreads()`` is a barrier that
waits until each thread of the block has reached it. Each array argument reaches the kernel
as a thin wrapper over a numpy array. The lens swaps in its own wrapper,
:class:`LoggingArray`, which logs every element access as one row::

    [block, thread, step, kind, array, index, value, line, in_range]

- ``block``, ``thread``: linear numbers (``x + X * (y + Y * z)``, as CUDA numbers them),
- ``step``: how many ``syncthreads()`` barriers this thread had passed — accesses with the
  same step happened between the same two barriers, so only they can race,
- ``kind``: ``"r"`` or ``"w"``; ``array``: the kernel parameter's name, or the variable a
  ``cuda.shared.array`` was assigned to,
- ``index``: the flat (row-major) element number, or the raw index when it was outside the
  array (a real GPU reads garbage there or faults; here a read gives 0 and a write is
  dropped, and ``in_range`` is false),
- ``value``: what was read, or what the element holds after the write,
- ``line``: the source line of the kernel (or device function) that made the access.

Rows are sorted by (block, step, thread, order within the thread): the simulator's
threads interleave at random, but a thread's own accesses and the barriers between them do
not, so the recording is the same on every run.

Only importable under the simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is imported):
:mod:`numbanet.kernels.lens.worker` runs it in a helper process.
"""

from __future__ import annotations

import inspect
import linecache
import re
import sys
import threading
from contextlib import contextmanager

import numpy as np
from numba import config

if not config.ENABLE_CUDASIM:
    raise ImportError("numbanet.kernels.lens.simulate needs numba's CUDA simulator: set "
                      "NUMBA_ENABLE_CUDASIM=1 before numba is imported (numbanet.kernel_lens "
                      "runs it in a helper process for you)")

from numba.cuda import types as cuda_types  # noqa: E402
from numba.cuda.np import numpy_support  # noqa: E402
from numba.cuda.simulator import kernel as simulator_kernel  # noqa: E402
from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray  # noqa: E402
from numba.cuda.simulator.kernelapi import FakeCUDAShared  # noqa: E402

from numbanet.kernels.lens import ACCESS_CAP, THREAD_CAP  # noqa: E402


class LaunchTooLarge(RuntimeError):
    """A launch beyond the lens's caps: record a smaller example of it instead."""


class LaunchLog:
    """The accesses of one launch while it runs (appended to from every simulated thread)."""

    def __init__(self, kernel, grid: tuple, block: tuple, access_cap: int):
        python_function = kernel.py_func
        self.kernel = f"{python_function.__module__}.{python_function.__qualname__}"
        self.grid, self.block = grid, block
        self.access_cap = access_cap
        self.arrays: dict[str, dict] = {}
        self.rows: list[list] = []  # with a sort key in front until finished
        self.barriers: dict[tuple[int, int], int] = {}  # (block, step) -> line of the barrier
        self.shared: dict[tuple[str, int], LoggingArray] = {}
        try:
            self.source_file = inspect.getsourcefile(python_function)
            self.source_line = inspect.getsourcelines(python_function)[1]
        except (TypeError, OSError):
            self.source_file, self.source_line = None, None

    def add_array(self, name: str, array: np.ndarray, memory: str) -> str:
        """Register an array under a unique name; returns the name used."""
        unique, number = name, 2
        while unique in self.arrays:
            unique, number = f"{name}{number}", number + 1
        self.arrays[unique] = {"shape": list(array.shape), "dtype": array.dtype.name,
                               "memory": memory}
        return unique

    def where(self) -> tuple[int, int, int, threading.Thread]:
        """(block, thread, step) numbers of the simulated thread running now, and itself."""
        current = threading.current_thread()
        bx, by, bz = current.blockIdx
        gx, gy, _ = self.grid
        block = bx + gx * (by + gy * bz)
        return block, current.thread_id, getattr(current, "lens_step", 0), current

    def log(self, kind: str, name: str, index, value, line: int, in_range: bool) -> None:
        block, thread, step, current = self.where()
        order = getattr(current, "lens_order", 0)
        current.lens_order = order + 1
        if len(self.rows) >= self.access_cap:
            raise LaunchTooLarge(f"more than {self.access_cap} element accesses")
        self.rows.append([(block, step, thread, order),
                          block, thread, step, kind, name, index, value, line, in_range])

    def finished(self) -> dict:
        """The plain-data record of the launch (see the module docstring)."""
        self.rows.sort(key=lambda row: row[0])
        return {
            "kernel": self.kernel,
            "source_file": self.source_file,
            "source_line": self.source_line,
            "grid": list(self.grid),
            "block": list(self.block),
            "arrays": self.arrays,
            "accesses": [row[1:] for row in self.rows],
            "barriers": [[block, step, line] for (block, step), line
                         in sorted(self.barriers.items())],
        }


def _plain(value):
    """A numpy scalar as a Python number (JSON-able)."""
    return value.item() if hasattr(value, "item") else value


class LoggingArray:
    """An array as a kernel sees it, logging every element read and write.

    Kernels only use ``shape``, ``size``, ``ndim``, ``dtype``, ``len()`` and indexing;
    anything else is passed to the numpy array underneath. Indexing with fewer indices
    than dimensions (``x[i]``: a row) gives a logging view whose accesses are logged as
    elements of the whole array (``flat_map``: view position -> element number).
    """

    def __init__(self, array: np.ndarray, name: str, log, flat_map: np.ndarray | None = None):
        self._array, self._name, self._log = array, name, log
        self._flat_map = flat_map
        self.shape, self.size, self.ndim, self.dtype = (array.shape, array.size, array.ndim,
                                                        array.dtype)

    def __len__(self) -> int:
        return len(self._array)

    def __getattr__(self, name):
        return getattr(self._array, name)

    def _locate(self, index) -> tuple[object, bool]:
        """(flat element number, True) for an index inside the array, else (raw index,
        False). Negative indices count from the end, as numba does for signed ints."""
        components = index if isinstance(index, tuple) else (index,)
        raw = [int(component) for component in components]
        if not all(-extent <= i < extent for i, extent in zip(raw, self.shape, strict=True)):
            return raw, False
        wrapped = tuple(i % extent for i, extent in zip(raw, self.shape, strict=True))
        return int(np.ravel_multi_index(wrapped, self.shape)), all(i >= 0 for i in raw)

    def _is_element(self, index) -> bool:
        components = index if isinstance(index, tuple) else (index,)
        return len(components) == self.ndim and all(
            isinstance(c, (int, np.integer)) for c in components)

    def _view(self, index) -> LoggingArray:
        """A logging view of ``self._array[index]`` (a row, a slice)."""
        positions = self._flat_map if self._flat_map is not None else np.arange(
            self.size).reshape(self.shape)
        return LoggingArray(self._array[index], self._name, self._log, positions[index])

    def _element(self, where: int) -> int:
        """The element number in the whole array of position ``where`` of this view."""
        return where if self._flat_map is None else int(self._flat_map.flat[where])

    def __getitem__(self, index):
        if not self._is_element(index):
            return self._view(index)
        where, in_range = self._locate(index)
        if isinstance(where, list):  # past the end: a real GPU reads whatever lies there
            value = self.dtype.type(0)
        else:
            value = self._array.flat[where]
            where = self._element(where)
        self._log.log("r", self._name, where, _plain(value), sys._getframe(1).f_lineno,
                      in_range)
        return value

    def __setitem__(self, index, value) -> None:
        if not self._is_element(index):  # x[:] = v, row[a:b] = v: element by element
            view = self._view(index)
            for position in np.ndindex(*view.shape):
                view.__setitem__(position, value if np.ndim(value) == 0 else value[position])
            return
        where, in_range = self._locate(index)
        if not isinstance(where, list):
            self._array.flat[where] = value
            value = self._array.flat[where]
            where = self._element(where)
        self._log.log("w", self._name, where, _plain(value), sys._getframe(1).f_lineno,
                      in_range)


# ---- the simulator, with the lens's hooks -------------------------------------------------

_log: LaunchLog | None = None  # the launch being recorded
_launches: list[dict] | None = None  # the finished launches of the recording in progress
_access_cap = ACCESS_CAP
_thread_cap = THREAD_CAP

_original_call = simulator_kernel.FakeCUDAKernel.__call__
_original_syncthreads = simulator_kernel.BlockThread.syncthreads
_original_shared_array = FakeCUDAShared.array
_SHARED_NAME = re.compile(r"(\w+)\s*=\s*cuda\.shared\.array")
_shared_lock = threading.Lock()  # the block's threads all ask for the shared array at once


def _logged_call(self, *args):
    """FakeCUDAKernel.__call__, with the arguments wrapped while a recording runs."""
    global _log
    if _launches is None or self._device or simulator_kernel._get_kernel_context():
        return _original_call(self, *args)
    grid, block = tuple(self.grid_dim), tuple(self.block_dim)
    threads = int(np.prod(grid)) * int(np.prod(block))
    if threads > _thread_cap:
        raise LaunchTooLarge(f"{threads} threads (grid {list(grid)} x block {list(block)}), "
                             f"more than the lens's cap of {_thread_cap}")
    _log = log = LaunchLog(self, grid, block, _access_cap)
    names = list(inspect.signature(self.py_func).parameters)
    wrapped = []
    for position, argument in enumerate(args):
        array = argument._ary if isinstance(argument, FakeCUDAArray) else argument
        if isinstance(array, np.ndarray) and array.ndim > 0:
            name = log.add_array(names[position] if position < len(names) else
                                 f"argument{position}", array, "global")
            argument = LoggingArray(array, name, log)
        wrapped.append(argument)
    try:
        _original_call(self, *wrapped)
    finally:
        _log = None
    _launches.append(log.finished())


def _counted_syncthreads(self):
    """BlockThread.syncthreads, counting the barriers each thread has passed."""
    log = _log
    if log is not None:
        step = getattr(self, "lens_step", 0)
        block = log.where()[0]
        # frames: this function <- FakeCUDAModule.syncthreads <- the kernel's line
        log.barriers.setdefault((block, step), sys._getframe(2).f_lineno)
    _original_syncthreads(self)
    self.lens_step = getattr(self, "lens_step", 0) + 1


def _logged_shared_array(self, shape, dtype, alignment=None):
    """FakeCUDAShared.array, returning a LoggingArray named after its variable.

    The simulator tells shared arrays apart by the line that declares them (each block
    thread runs that line, and must get the same array); so does this.
    """
    log = _log
    if log is None or shape == 0:
        return _original_shared_array(self, shape, dtype, alignment)
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)
    with _shared_lock:
        existing = log.shared.get(key)
        if existing is None:
            if isinstance(dtype, cuda_types.Type):  # float32 as numba spells it
                dtype = numpy_support.as_dtype(dtype)
            array = np.zeros(shape, dtype)  # zeros, not garbage: the same picture every run
            found = _SHARED_NAME.search(linecache.getline(*key))
            name = log.add_array(found.group(1) if found else f"shared{key[1]}", array,
                                 "shared")
            existing = log.shared[key] = LoggingArray(array, name, log)
    return existing


_HOOKS = ((simulator_kernel.FakeCUDAKernel, "__call__", _original_call, _logged_call),
          (simulator_kernel.BlockThread, "syncthreads", _original_syncthreads,
           _counted_syncthreads),
          (FakeCUDAShared, "array", _original_shared_array, _logged_shared_array))
"""The simulator's methods the lens replaces, only while it records: the simulator tells
shared arrays apart by the line that asked for them, which a wrapper left in place would
hide from launches the lens does not record."""


@contextmanager
def recording(access_cap: int = ACCESS_CAP, thread_cap: int = THREAD_CAP):
    """Record every kernel launched inside the block; yields the list of launch records.

    A launch of more than ``thread_cap`` threads, or one making more than ``access_cap``
    element accesses, raises :class:`LaunchTooLarge`.
    """
    global _launches, _access_cap, _thread_cap
    if _launches is not None:
        raise RuntimeError("a kernel lens recording is already running; they do not nest")
    _launches, _access_cap, _thread_cap = [], access_cap, thread_cap
    for owner, name, _, hook in _HOOKS:
        setattr(owner, name, hook)
    try:
        yield _launches
    finally:
        for owner, name, original, _ in _HOOKS:
            setattr(owner, name, original)
        _launches = None


def record_launch(kernel, grid, block, *args, access_cap: int = ACCESS_CAP,
                  thread_cap: int = THREAD_CAP) -> dict:
    """Run ``kernel[grid, block](*args)`` and return the record of that one launch."""
    with recording(access_cap, thread_cap) as launches:
        kernel[grid, block](*args)
    return launches[-1]
