"""GFLOP/s of numbanet's CPU matmul against numpy's BLAS (and PyTorch when installed).

    python benchmarks/bench_matmul.py [--repeats 30] [--dtype float32] [--threads 1 2]

A product (n, k) @ (k, m) costs 2·n·k·m floating-point operations. Each contender runs in
turn, round after round, so a background process slows them all alike; the table shows the
median over all runs (and the best run in brackets), and numbanet's speed as a fraction of
numpy's and PyTorch's. The first two shapes are an MLP's first layer on a batch of 64 and 256 MNIST
images; the third is the classic square benchmark. The fourth repeats the first with B
given as ``W.T``, a transposed view of a (128, 784) weight, which is how ``nn.Linear``
calls matmul: B's columns are then contiguous and numbanet's dot products read them in
place (in the first two, B fits in L2 and the outer-product kernel reads its rows). The last is
that layer's weight gradient ``grad.T @ x``: A a transposed view of the (64, 128) gradient,
k = 64 the batch, which numbanet reads in place, row by row of B.

``--threads 1 2`` measures every shape once per thread count, with Numba's, numpy's BLAS
and PyTorch's thread pools all set to that count for the row. numpy's BLAS is limited
through ``threadpoolctl`` (``pip install threadpoolctl``); without it the table says that
numpy keeps its own thread count.
"""

import argparse
import contextlib
import time
from importlib import import_module

import numba
import numpy as np
import pytorch_first  # noqa: F401 - before numbanet: PyTorch keeps its OpenMP defaults

# the kernel module (the package re-exports the function under the same name)
cpu_matmul = import_module("numbanet.kernels.cpu.matmul").matmul

CASES = [  # (n, k, m), operand passed as a transposed view ("A", "B" or "")
    ((64, 784, 128), ""), ((256, 784, 128), ""), ((1024, 1024, 1024), ""),
    ((64, 784, 128), "B"), ((128, 64, 784), "A"),
]


def thread_limits(threads: int | None) -> tuple[contextlib.AbstractContextManager, str]:
    """A context in which Numba, numpy's BLAS and PyTorch each use ``threads`` threads
    (``None``: leave every library at its default), and a note on what could not be set."""
    if threads is None:
        return contextlib.nullcontext(), ""
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise SystemExit(f"--threads {threads}: Numba was started with "
                         f"{numba.config.NUMBA_NUM_THREADS} threads (NUMBA_NUM_THREADS)")
    numba.set_num_threads(threads)
    with contextlib.suppress(ImportError):
        import torch
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), ("threadpoolctl is not installed: numpy's BLAS "
                                          "runs with its own default thread count")
    return threadpool_limits(limits=threads, user_api="blas"), ""


def contenders(a: np.ndarray, b: np.ndarray) -> dict:
    """name -> a function computing ``a @ b`` once."""
    runs = {"numbanet": lambda: cpu_matmul(a, b), "numpy": lambda: a @ b}
    try:
        import torch
    except ImportError:
        return runs
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    runs["torch"] = lambda: ta @ tb
    return runs


def measure(n: int, k: int, m: int, transposed: str, dtype, repeats: int) -> dict:
    """name -> (median, best) GFLOP/s over ``repeats`` interleaved runs; ``transposed``
    names the operand ("A" or "B") given as the transposed view of a contiguous array."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, n) if transposed == "A" else (n, k)).astype(dtype)
    a = a.T if transposed == "A" else a
    b = rng.standard_normal((m, k) if transposed == "B" else (k, m)).astype(dtype)
    b = b.T if transposed == "B" else b
    runs = contenders(a, b)
    np.testing.assert_allclose(runs["numbanet"](), a @ b, rtol=1e-3, atol=1e-3)
    seconds = {name: [] for name in runs}
    for run in runs.values():  # warm up: compile, fault in pages, start thread pools
        run()
    rounds = max(1, repeats // 5)
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(5):
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
    flops = 2.0 * n * k * m
    return {name: (flops / np.median(times) / 1e9, flops / np.min(times) / 1e9)
            for name, times in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="runs per contender")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, nargs="+", metavar="N",
                        help="thread counts to measure, each for every library alike "
                             "(default: each library's own)")
    arguments = parser.parse_args()
    dtype = np.dtype(arguments.dtype)

    results, notes = {}, set()
    for threads in arguments.threads or [None]:
        limits, note = thread_limits(threads)
        notes.add(note)
        with limits:
            for shape, transposed in CASES:
                results[shape, transposed, threads] = measure(*shape, transposed, dtype,
                                                              arguments.repeats)
    names = list(next(iter(results.values())))
    header = f"{'shape (n, k, m)':<24}{'threads':>8}"
    header += "".join(f"{name + ' GFLOP/s':>24}" for name in names)
    ratio_names = [name for name in names if name != "numbanet"]
    print(f"{dtype} matmul, median (best) of {arguments.repeats} runs")
    print(header + "".join(f"{'numbanet / ' + name:>22}" for name in ratio_names))
    for (shape, transposed, threads), speeds in results.items():
        cells = "".join(f"{f'{median:.1f} ({best:.1f})':>24}" for median, best in speeds.values())
        for name in ratio_names:
            ratios = [ours / theirs for ours, theirs in zip(speeds["numbanet"], speeds[name],
                                                            strict=True)]
            cells += f"{f'{ratios[0]:.2f} ({ratios[1]:.2f})':>22}"
        label = str(shape) + {"A": " A=grad.T", "B": " B=W.T", "": ""}[transposed]
        print(f"{label:<24}{threads or numba.get_num_threads():>8}{cells}")
    for note in sorted(filter(None, notes)):
        print(note)


if __name__ == "__main__":
    main()
