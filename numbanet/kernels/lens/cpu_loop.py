"""The lens on a CPU kernel's ``prange`` loop: which iteration read and wrote which element.

Numba's ``prange`` hands the iterations of a loop to the CPU's threads; like a GPU kernel,
it is correct only if no two iterations write the same element. The CPU kernels that split
their work this way have a ``*_parallel`` twin of their one-thread loop (numbanet uses it
only where it was measured to pay). To watch one, the lens runs the twin's *Python source*
(``.py_func``: what Numba compiles) with logging arrays, and with ``prange`` replaced by a
range that tells the log which iteration is running. Every iteration becomes one "thread"
of a single "block" in the record, so :mod:`.analysis` reads it like a GPU launch.

Accesses outside the loop (a serial prologue) are counted, not attributed.
"""

from __future__ import annotations

import importlib
import inspect
import types

import numpy as np
from numba.core.dispatcher import Dispatcher

from numbanet.kernels.lens import ACCESS_CAP
from numbanet.kernels.lens.simulate import LaunchTooLarge, LoggingArray


class LoopLog:
    """The accesses of one run of a kernel's Python source, by ``prange`` iteration."""

    def __init__(self, kernel, access_cap: int):
        python_function = kernel.py_func
        self.kernel = f"{python_function.__module__}.{python_function.__qualname__}"
        self.source_file = inspect.getsourcefile(python_function)
        self.source_line = inspect.getsourcelines(python_function)[1]
        self.access_cap = access_cap
        self.arrays: dict[str, dict] = {}
        self.rows: list[list] = []
        self.iteration: int | None = None  # None: outside any prange loop
        self.iterations = 0
        self.outside = 0

    def add_array(self, name: str, array: np.ndarray, memory: str) -> str:
        self.arrays[name] = {"shape": list(array.shape), "dtype": array.dtype.name,
                             "memory": memory}
        return name

    def log(self, kind: str, name: str, index, value, line: int, in_range: bool) -> None:
        if self.iteration is None:
            self.outside += 1
            return
        if len(self.rows) >= self.access_cap:
            raise LaunchTooLarge(f"more than {self.access_cap} element accesses")
        self.rows.append([0, self.iteration, 0, kind, name, index, value, line, in_range])

    def prange(self, *arguments):
        """``range(*arguments)``, telling the log which iteration runs (numbered from 0
        across all the kernel's prange loops)."""
        for value in range(*arguments):
            self.iteration, self.iterations = self.iterations, self.iterations + 1
            yield value
        self.iteration = None

    def finished(self) -> dict:
        return {"kernel": self.kernel, "kind": "prange", "source_file": self.source_file,
                "source_line": self.source_line, "grid": [1, 1, 1],
                "block": [max(self.iterations, 1), 1, 1], "arrays": self.arrays,
                "accesses": self.rows, "barriers": [], "outside_loop_accesses": self.outside}


def parallel_twin(kernel):
    """The ``prange`` version of a CPU kernel (itself if it is one), or None."""
    python_function = getattr(kernel, "py_func", None)
    if python_function is None:
        return None
    if python_function.__name__.endswith("_parallel"):
        return kernel
    module = importlib.import_module(python_function.__module__)
    return getattr(module, f"{python_function.__name__}_parallel", None)


def python_version(kernel, log: LoopLog):
    """``kernel``'s Python source as a function whose ``prange`` is the log's, and whose
    calls to other Numba functions of its module run their Python source too."""
    module = importlib.import_module(kernel.py_func.__module__)
    namespace = dict(vars(module))
    for name, value in vars(module).items():
        if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
            source = value.py_func
            namespace[name] = types.FunctionType(source.__code__, namespace, source.__name__,
                                                 source.__defaults__, source.__closure__)
    namespace["prange"] = log.prange
    source = kernel.py_func
    return types.FunctionType(source.__code__, namespace, source.__name__,
                              source.__defaults__, source.__closure__)


def record_loop(kernel, *args, access_cap: int = ACCESS_CAP) -> tuple[dict, object]:
    """Run ``kernel``'s ``prange`` twin on ``args`` in Python, logging each iteration's
    element accesses; the arrays in ``args`` are updated as the kernel would. Returns the
    record and what the kernel returned."""
    twin = parallel_twin(kernel)
    if twin is None:
        raise ValueError(f"{kernel.py_func.__name__} has no prange loop: it runs as one "
                         "serial loop (measured faster on these machines)")
    log = LoopLog(twin, access_cap)
    names = list(inspect.signature(twin.py_func).parameters)
    wrapped = [LoggingArray(argument, log.add_array(names[position], argument, "global"), log)
               if isinstance(argument, np.ndarray) and argument.ndim > 0 else argument
               for position, argument in enumerate(args)]
    result = python_version(twin, log)(*wrapped)
    return log.finished(), result


def record_cpu_call(recorded_kernel: str, function, *args, **keywords) -> list[dict]:
    """Call a CPU contract ``function``; the launches of kernels from the module of
    ``recorded_kernel`` that have a ``prange`` twin run as :func:`record_loop`. Returns
    their records."""
    module = importlib.import_module(recorded_kernel.rpartition(".")[0])
    original = module.launch
    loops: list[dict] = []

    def lens_launch(kernel, *arguments, grid=None, block=None):
        if parallel_twin(kernel) is None:
            return original(kernel, *arguments, grid=grid, block=block)
        record, result = record_loop(kernel, *arguments)
        loops.append(record)
        return result

    module.launch = lens_launch
    try:
        function(*args, **keywords)
    finally:
        module.launch = original
    return loops
