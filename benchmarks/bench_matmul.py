"""GFLOP/s of numbanet's CPU matmul against numpy's BLAS (and PyTorch when installed).

    python benchmarks/bench_matmul.py [--repeats 30] [--dtype float32] [--threads 1 2]

A product (n, k) @ (k, m) costs 2·n·k·m floating-point operations. Each contender runs in a
process of its own (``step_process.py``: BLAS and OpenMP threads keep spinning after each
call, and in one process they would take the cores from the next library's call), in turns
of at least 50 ms each after a short pause, so a background process slows them all alike;
the table shows the median over all runs (and the best run in brackets), and numbanet's
speed as a fraction of numpy's and PyTorch's. The first two shapes are an MLP's first
layer on a batch of 64 and 256 MNIST images; the third is the classic square benchmark.
The fourth repeats the first with B given as ``W.T``, a transposed view of a (128, 784)
weight, which is how ``nn.Linear`` calls matmul: B's columns are then contiguous and
numbanet's dot products read them in place (in the first two, B fits in L2 and the
outer-product kernel reads its rows). The last is that layer's weight gradient ``grad.T @
x``: A a transposed view of the (64, 128) gradient, k = 64 the batch, which numbanet reads
in place, row by row of B.

``--threads 1 2`` measures every shape once per thread count, with Numba's, numpy's BLAS
(``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` in its process) and PyTorch's thread
counts all set to that count for the row.
"""

import argparse
import importlib.util
from importlib import import_module

import numba
import numpy as np
from bench_training import step_seconds
from step_process import StepProcess

TURNS = 8  # turns per contender: a product of 0.1 ms fills its 30 runs in one turn of 50 ms

CASES = [  # (n, k, m), operand passed as a transposed view ("A", "B" or "")
    ((64, 784, 128), ""), ((256, 784, 128), ""), ((1024, 1024, 1024), ""),
    ((64, 784, 128), "B"), ((128, 64, 784), "A"),
]


def operands(n: int, k: int, m: int, transposed: str, dtype: str):
    """``a`` (n, k) and ``b`` (k, m); ``transposed`` names the operand ("A" or "B") given as
    the transposed view of a contiguous array."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, n) if transposed == "A" else (n, k)).astype(dtype)
    a = a.T if transposed == "A" else a
    b = rng.standard_normal((m, k) if transposed == "B" else (k, m)).astype(dtype)
    b = b.T if transposed == "B" else b
    return a, b


def product(library, n: int, k: int, m: int, transposed: str, dtype: str):
    """The call a ``StepProcess`` times: one ``a @ b`` in ``library`` (numbanet's CPU kernel,
    numpy, or torch)."""
    a, b = operands(n, k, m, transposed, dtype)
    if library.__name__ == "numbanet":
        # the kernel module (the package re-exports the function under the same name)
        cpu_matmul = import_module("numbanet.kernels.cpu.matmul").matmul
        np.testing.assert_allclose(cpu_matmul(a, b), a @ b, rtol=1e-3, atol=1e-3)
        return lambda: cpu_matmul(a, b)
    if library.__name__ == "torch":
        ta, tb = library.from_numpy(a), library.from_numpy(b)
        return lambda: ta @ tb
    return lambda: a @ b


def measure(n: int, k: int, m: int, transposed: str, dtype: str, repeats: int,
            threads: int) -> dict:
    """name -> (median, best) GFLOP/s over at least ``repeats`` runs, in ``TURNS`` turns
    or more."""
    names = ["numbanet", "numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    processes = [StepProcess("bench_matmul:product", name, n, k, m, transposed, dtype,
                             threads=threads) for name in names]
    try:
        seconds = step_seconds([process.timed_steps for process in processes], 3, repeats,
                               turns=TURNS)
    finally:
        for process in processes:
            process.close()
    flops = 2.0 * n * k * m
    return {name: (flops / np.median(times) / 1e9, flops / np.min(times) / 1e9)
            for name, times in zip(names, seconds, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="runs per contender")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, nargs="+", metavar="N",
                        help="thread counts to measure, each for every library alike "
                             "(default: Numba's thread count)")
    arguments = parser.parse_args()
    dtype = np.dtype(arguments.dtype)

    results = {}
    for threads in arguments.threads or [numba.config.NUMBA_NUM_THREADS]:
        for shape, transposed in CASES:
            results[shape, transposed, threads] = measure(*shape, transposed, dtype.name,
                                                          arguments.repeats, threads)
    names = list(next(iter(results.values())))
    header = f"{'shape (n, k, m)':<24}{'threads':>8}"
    header += "".join(f"{name + ' GFLOP/s':>24}" for name in names)
    ratio_names = [name for name in names if name != "numbanet"]
    print(f"{dtype} matmul, median (best) over at least {arguments.repeats} runs in {TURNS} "
          "turns per contender")
    print(header + "".join(f"{'numbanet / ' + name:>22}" for name in ratio_names))
    for (shape, transposed, threads), speeds in results.items():
        cells = "".join(f"{f'{median:.1f} ({best:.1f})':>24}" for median, best in speeds.values())
        for name in ratio_names:
            ratios = [ours / theirs for ours, theirs in zip(speeds["numbanet"], speeds[name],
                                                            strict=True)]
            cells += f"{f'{ratios[0]:.2f} ({ratios[1]:.2f})':>22}"
        label = str(shape) + {"A": " A=grad.T", "B": " B=W.T", "": ""}[transposed]
        print(f"{label:<24}{threads:>8}{cells}")


if __name__ == "__main__":
    main()
