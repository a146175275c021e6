"""GPU matmul benchmark: numbanet's CUDA kernel against cuBLAS (through PyTorch).

Square float32 products at 1024, 2048 and 4096, TF32 disabled so cuBLAS does the same
full-precision FP32 arithmetic. Also timed: a plain 16 x 16 shared-memory tile kernel, the
textbook starting point, so the table shows what register blocking buys. Prints GFLOP/s
(``2 n^3`` operations per product) and the ratio to cuBLAS::

    python benchmarks/bench_gpu.py            # on a machine with a GPU and PyTorch (CUDA)

Then the replayed training steps of ``bench_compile.py --device cuda``: ``numbanet.compile``
on the GPU against PyTorch's CUDA eager step.

Exits politely (status 0) when there is no GPU, no CUDA build of PyTorch, or when the
CUDA simulator is switched on.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_compile  # noqa: E402 - a sibling script

SIZES = (1024, 2048, 4096)
PLAIN_TILE = 16


def _why_not_runnable() -> str | None:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1: the simulator has no speed to measure"
    from numba import cuda

    if not cuda.is_available():
        return "no CUDA GPU visible to numba"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return "PyTorch has no CUDA device"
    return None


def _plain_tile_kernel():
    """The textbook kernel: one thread per output, 16 x 16 tiles staged in shared memory."""
    from numba import cuda, float32

    @cuda.jit
    def plain_tile_matmul(c, a, b):
        a_tile = cuda.shared.array((PLAIN_TILE, PLAIN_TILE), float32)
        b_tile = cuda.shared.array((PLAIN_TILE, PLAIN_TILE), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        column, row = cuda.grid(2)
        rows, depth, columns = a.shape[0], a.shape[1], b.shape[1]
        total = float32(0)
        for start in range(0, depth, PLAIN_TILE):
            inside_a = row < rows and start + tx < depth
            inside_b = start + ty < depth and column < columns
            a_tile[ty, tx] = a[row, start + tx] if inside_a else 0
            b_tile[ty, tx] = b[start + ty, column] if inside_b else 0
            cuda.syncthreads()
            for k in range(PLAIN_TILE):
                total += a_tile[ty, k] * b_tile[k, tx]
            cuda.syncthreads()
        if row < rows and column < columns:
            c[row, column] = total

    return plain_tile_matmul


def _seconds_per_call(run, synchronize, repeats: int) -> float:
    """Median wall time of ``repeats`` synchronized calls, after two warm-up calls."""
    run()
    run()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _measure(n: int, plain_tile) -> tuple[float, float, float, float]:
    """(numbanet, plain tile, cuBLAS) GFLOP/s and numbanet's max relative error for n x n."""
    import torch
    from numba import cuda

    import numbanet.kernels.cuda as gpu

    rng = np.random.default_rng(n)
    a_host = rng.standard_normal((n, n), dtype=np.float32)
    b_host = rng.standard_normal((n, n), dtype=np.float32)
    a, b = gpu.from_host(a_host), gpu.from_host(b_host)
    a_torch, b_torch = torch.from_numpy(a_host).cuda(), torch.from_numpy(b_host).cuda()
    c_plain = cuda.device_array((n, n), np.float32)
    repeats = 20 if n <= 2048 else 5
    tiles = (n + PLAIN_TILE - 1) // PLAIN_TILE

    ours = _seconds_per_call(lambda: gpu.matmul(a, b), cuda.synchronize, repeats)
    plain = _seconds_per_call(
        lambda: plain_tile[(tiles, tiles), (PLAIN_TILE, PLAIN_TILE)](c_plain, a, b),
        cuda.synchronize, repeats)
    cublas = _seconds_per_call(lambda: a_torch @ b_torch, torch.cuda.synchronize, repeats)

    expected = (a_torch.double() @ b_torch.double()).cpu().numpy()
    error = np.abs(gpu.to_host(gpu.matmul(a, b)) - expected).max() / np.abs(expected).max()
    return (*(2 * n**3 / seconds / 1e9 for seconds in (ours, plain, cublas)), float(error))


def main() -> int:
    reason = _why_not_runnable()
    if reason is not None:
        print(f"bench_gpu: skipped ({reason})")
        return 0

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    plain_tile = _plain_tile_kernel()
    print(f"GPU: {torch.cuda.get_device_name()}   float32, TF32 off, median of repeats")
    header = (f"{'n':>6} {'numbanet GFLOP/s':>17} {'plain tile':>11} {'cuBLAS':>9} "
              f"{'numbanet/cuBLAS':>16} {'max rel. error':>15}")
    print(header)
    print("-" * len(header))
    for n in SIZES:
        ours, plain, cublas, error = _measure(n, plain_tile)
        print(f"{n:>6} {ours:>17.0f} {plain:>11.0f} {cublas:>9.0f} {ours / cublas:>16.2f} "
              f"{error:>15.1e}")
    print()
    bench_compile.main(["--device", "cuda", "--threads", "1", "--steps", "200"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
