"""Convolution-kernel benchmark: numbanet's three conv2d kernels against PyTorch's, at the
shapes of the tutorial CNN (``cnn`` in ``bench_training.py``), batch 64.

- ``conv1``: 1 -> 32 channels, 3x3, on 28x28 images (no input gradient: it is the data)
- ``conv2``: 32 -> 64 channels, 3x3, on 26x26 feature maps

For each, the forward pass, the input gradient and the weight gradient, timed in turns
(numbanet, PyTorch, numbanet, ...) on the same float32 arrays; the table gives medians and
the ratio numbanet / PyTorch measured in this run. PyTorch's gradients are
``torch.ops.aten.convolution_backward`` with one output mask at a time, what its autograd
calls.
``--cpu-time`` times each call by the CPU time of the calling thread instead of the wall
clock: at one thread it leaves out the time the machine ran other programs, steadier on a
busy machine (meaningless with more threads, whose work runs on other threads).

    python benchmarks/bench_conv.py --threads 1 2
    python benchmarks/bench_conv.py --threads 1 --cpu-time
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pytorch_first  # noqa: F401 - before numbanet: PyTorch keeps its OpenMP defaults

BATCH_SIZE = 64
SHAPES = {"conv1": (1, 32, 28), "conv2": (32, 64, 26)}  # channels in, out, image side


def cases(torch):
    """(layer, kernel, numbanet closure, PyTorch closure) for each measured kernel."""
    from numbanet.kernels.cpu import conv

    rng = np.random.default_rng(0)
    for layer, (channels_in, channels_out, side) in SHAPES.items():
        x = rng.standard_normal((BATCH_SIZE, channels_in, side, side)).astype(np.float32)
        w = rng.standard_normal((channels_out, channels_in, 3, 3)).astype(np.float32)
        b = rng.standard_normal(channels_out).astype(np.float32)
        out = side - 2
        g = rng.standard_normal((BATCH_SIZE, channels_out, out, out)).astype(np.float32)
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))

        def torch_backward(mask, tx=tx, tw=tw, tg=tg):
            return lambda: torch.ops.aten.convolution_backward(
                tg, tx, tw, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)

        yield (layer, "forward", lambda x=x, w=w, b=b: conv.conv2d_forward(x, w, b),
               lambda tx=tx, tw=tw, tb=tb: torch.nn.functional.conv2d(tx, tw, tb))
        if channels_in > 1:
            yield (layer, "input grad",
                   lambda g=g, w=w, x=x: conv.conv2d_input_grad(g, w, x.shape),
                   torch_backward([True, False, False]))
        yield (layer, "weight grad", lambda g=g, x=x, w=w: conv.conv2d_weight_grad(g, x, w.shape),
               torch_backward([False, True, False]))


def medians(closures, repeats: int, clock=time.perf_counter, warmup: int = 3) -> list[float]:
    for closure in closures:
        for _ in range(warmup):
            closure()
    samples = [[] for _ in closures]
    for _ in range(repeats):
        for closure, times in zip(closures, samples, strict=True):
            started = clock()
            closure()
            times.append(clock() - started)
    return [statistics.median(times) for times in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by the calling thread's CPU time (one thread only)")
    args = parser.parse_args()
    if args.cpu_time and args.threads != [1]:
        parser.error("--cpu-time measures one thread: use it with --threads 1")
    clock = time.thread_time if args.cpu_time else time.perf_counter

    import numba
    import torch

    for threads in args.threads:
        numba.set_num_threads(threads)
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s), batch {BATCH_SIZE}, medians of {args.repeats}")
        print(f"{'layer':<6} {'kernel':<12} {'numbanet ms':>12} {'PyTorch ms':>11} {'ratio':>7}")
        for layer, kernel, ours, theirs in cases(torch):
            mine, reference = medians([ours, theirs], args.repeats, clock)
            print(f"{layer:<6} {kernel:<12} {mine * 1e3:12.3f} {reference * 1e3:11.3f} "
                  f"{mine / reference:6.2f}x")


if __name__ == "__main__":
    main()
