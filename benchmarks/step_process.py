"""A training step (or any timed call) in a Python process of its own, one per library.

Why not time numbanet and PyTorch in one process: both run their parallel loops on an
OpenMP runtime, and PyTorch brings its own copy (``torch/lib/libgomp.so.1``). Loaded first,
that copy is also the one Numba's ``prange`` kernels get, with PyTorch's settings: its
threads keep spinning for a while after each parallel loop, on the core numbanet's matmul
and convolution threads then need. With PyTorch merely *imported* (never called), the
tutorial CNN's numbanet step at 2 threads took 73-85 ms against 53-61 ms without it, in
alternating runs. A learner's program imports one library; so does each process here.

The parent process starts one child per step (``python step_process.py SPEC``), and asks
each in turn for a few steps, so that a busy spell of the machine slows all of them
alike (see ``bench_training.median_step_seconds``). A child imports nothing but its
library and the benchmark module that builds the step, and answers each request with
the step times as a JSON line::

    with StepProcess("bench_training:training_step", "torch", "cnn", threads=2) as torch_cnn:
        seconds = torch_cnn.timed_steps(5)   # five steps, each timed
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent


class StepProcess:
    """A step built by ``maker`` (``"module:function"`` in ``benchmarks/``, called with
    ``library`` as an imported module and then ``arguments``; it returns a closure running
    one step) in a child process using ``threads`` threads. ``clock`` is ``"wall"``
    (``time.perf_counter``) or ``"cpu"`` (the child's ``time.process_time``)."""

    def __init__(self, maker: str, library: str, *arguments, threads: int,
                 clock: str = "wall") -> None:
        spec = json.dumps({"maker": maker, "library": library, "arguments": arguments,
                           "threads": threads, "clock": clock})
        self.name = f"{library} {maker.split(':')[1]}{tuple(arguments)}"
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), spec], cwd=BENCHMARKS,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        handshake = self._answer()
        self.version = handshake["version"]
        self.torch_imported = handshake["torch_imported"]  # in a numbanet child: never

    def timed_steps(self, count: int) -> list[float]:
        """Run ``count`` steps in the child; the seconds each took."""
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        return self._answer()["seconds"]

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"the process timing {self.name} ended (exit status "
                               f"{self.process.returncode}); its error is printed above")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()

    def __enter__(self) -> StepProcess:
        return self

    def __exit__(self, *exception) -> None:
        self.close()


def use_threads(library, threads: int) -> None:
    """Give ``library`` (numbanet, torch or numpy) ``threads`` threads for its kernels
    (numpy's BLAS reads its count when it is loaded: :func:`serve` sets it before)."""
    if library.__name__ == "torch":
        library.set_num_threads(threads)
    elif library.__name__ == "numbanet":
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def limit_blas_threads(threads: int) -> None:
    """Tell numpy's BLAS (OpenBLAS, or MKL) to use ``threads`` threads, before numpy is
    imported."""
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(threads)


def serve(spec: dict) -> None:
    """The child: build the step, then answer each request line (a step count) with the
    times of that many steps, until the parent closes the pipe."""
    if spec["library"] == "numpy":
        limit_blas_threads(spec["threads"])
    library = importlib.import_module(spec["library"])
    use_threads(library, spec["threads"])
    module_name, function_name = spec["maker"].split(":")
    step = getattr(importlib.import_module(module_name), function_name)(
        library, *spec["arguments"])
    clock = time.perf_counter if spec["clock"] == "wall" else time.process_time
    print(json.dumps({"version": library.__version__,
                      "torch_imported": "torch" in sys.modules}), flush=True)
    for request in sys.stdin:
        seconds = []
        for _ in range(int(request)):
            started = clock()
            step()
            seconds.append(clock() - started)
        print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCHMARKS))
    serve(json.loads(sys.argv[1]))
