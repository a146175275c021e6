"""Replayed training steps (``numbanet.compile``) against eager numbanet and eager PyTorch.

Run: ``.venv/bin/python benchmarks/bench_compile.py`` (add ``--steps 300`` for steadier
figures). Two steps, both as a training loop writes them (zero_grad, forward, loss,
backward, optimizer step, then ``loss.item()`` outside the step):

- ``mlp``: 784-128-10 with ReLU and LogSoftmax, NLLLoss, Adam, batch 64 (MNIST-shaped);
- ``linreg``: the seeds' linear regression, ``nn.Linear(1, 1)`` on 4 points, MSELoss, SGD.

For each thread count (1 and 2 by default, both in this run: Numba's and PyTorch's thread
counts are set alike) the three steps, each in a process of its own (``step_process.py``),
are timed in turns of five steps (A, B, C, A, B, C, ...) so that a busy spell of the
machine slows all of them alike; figures are medians per step. The
issue's targets: the replayed step at most 0.5x PyTorch eager, for both steps.

``--device cuda`` runs the same steps on the GPU (model and batch moved with ``.to``),
against PyTorch's CUDA eager step; ``benchmarks/bench_gpu.py`` runs it after its matmul
table when a GPU is lent.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import median_step_seconds, mlp  # noqa: E402 - shared with the training benchmark
from step_process import StepProcess  # noqa: E402

BATCH_SIZE = 64


def mlp_step(library, device: str = "cpu") -> Callable:
    """One Adam step of the 784-128-10 MLP on a fixed MNIST-shaped batch."""
    library.manual_seed(0)
    rng = np.random.default_rng(0)
    images = library.from_numpy(rng.standard_normal((BATCH_SIZE, 1, 28, 28)).astype(np.float32))
    labels = library.from_numpy(rng.integers(0, 10, BATCH_SIZE).astype(np.int64))
    images, labels = images.to(device), labels.to(device)
    model, criterion = mlp(library.nn).to(device), library.nn.NLLLoss()
    optimizer = library.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, (images, labels)


def linreg_step(library, device: str = "cpu") -> Callable:
    """One SGD step of the seeds' linear regression (tutorial 001)."""
    library.manual_seed(0)
    x = library.tensor([[1.0], [2.0], [3.0], [4.0]], device=device)
    y = library.tensor([[2.0], [4.0], [6.0], [8.0]], device=device)
    model, criterion = library.nn.Linear(1, 1).to(device), library.nn.MSELoss()
    optimizer = library.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, (x, y)


def looped(library, name: str, replayed: bool, device: str = "cpu") -> Callable[[], None]:
    """The closure timed in a ``StepProcess``: step ``name`` ("mlp" or "linreg") in
    ``library`` on ``device``, through ``numbanet.compile`` when ``replayed``."""
    step, inputs = STEPS[name](library, device)
    if replayed:
        step = library.compile(step)

    def run() -> None:
        step(*inputs).item()  # wait for the result, as a loop printing the loss does

    return run


STEPS = {"mlp": mlp_step, "linreg": linreg_step}


def ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}x" if b else "-"


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per closure")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts to measure, in this one run")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default), or this process's CPU time: on a machine "
                             "shared with other work, time spent descheduled is not counted")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the model and the batch live (cuda: the GPU, against "
                             "PyTorch's CUDA step when its build has CUDA)")
    args = parser.parse_args(arguments)

    have_torch = importlib.util.find_spec("torch") is not None
    if have_torch and args.device == "cuda":
        import torch

        have_torch = torch.cuda.is_available()
    print(f"numbanet.compile benchmark on {args.device}: medians of {args.steps} steps after "
          f"{args.warmup} warm-up, {args.clock} clock, each step in a process of its own")
    print(f"{'step':<8} {'threads':>7} {'eager ms':>9} {'replay ms':>10} {'torch ms':>9} "
          f"{'replay/torch':>13} {'eager/torch':>12} {'replay/eager':>13}")
    versions = set()
    for threads in args.threads:
        for name in STEPS:
            runs = [("numbanet", False), ("numbanet", True)] + ([("torch", False)]
                                                                if have_torch else [])
            processes = [StepProcess("bench_compile:looped", library, name, replayed,
                                     args.device, threads=threads, clock=args.clock)
                         for library, replayed in runs]
            try:
                eager, replay, *reference = median_step_seconds(
                    [process.timed_steps for process in processes], args.warmup, args.steps)
            finally:
                for process in processes:
                    versions.add(f"{process.name.split()[0]} {process.version}")
                    process.close()
            theirs = reference[0] if reference else None
            print(f"{name:<8} {threads:>7} {eager * 1e3:>9.3f} {replay * 1e3:>10.3f} "
                  f"{theirs * 1e3 if theirs else float('nan'):>9.3f} "
                  f"{ratio(replay, theirs):>13} {ratio(eager, theirs):>12} "
                  f"{ratio(replay, eager):>13}")
    print("versions: " + ", ".join(sorted(versions)))

if __name__ == "__main__":
    main()
