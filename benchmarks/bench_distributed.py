"""Data-parallel training benchmark: an MNIST MLP epoch on 1 and 2 processes (MPI).

The model and loop of ``examples/mnist_ddp.py``: MLP 784-128-10, Adam, batch 64 *per
process*, a ``DistributedSampler`` giving each process half of the epoch when there are
two. Three configurations, each a fresh ``mpiexec`` job, taking turns for ``--rounds``
rounds so that the machine's background load hits them alike:

- 1 process, one Numba thread per core (the best a single process does here);
- 1 process, 1 thread;
- 2 processes, 1 thread each (``numbanet run -n 2`` sets this on a 2-core machine).

Each job trains one warm-up epoch (Numba loads its kernels), then times ``--epochs`` epochs
(a barrier before and after each; the slowest rank's time counts). Reported:

- **epoch time** (median over every timed epoch of every round) and images per second;
- **speedup** = T(1 process) / T(2 processes) and **scaling efficiency** = speedup / 2,
  against both 1-process baselines;
- **all-reduce per step**: the time DDP spends in its gradient all-reduce per step, which
  includes waiting for the slower rank; and a bare ``all_reduce`` of the same 101,770
  float32 gradients between barriers, the communication alone.

    python benchmarks/bench_distributed.py                 # 3 rounds x 3 epochs
    python benchmarks/bench_distributed.py --rounds 1 --epochs 2 --data DIR
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
TRAIN_DIGITS = 8000  # of the test set, when the training set is not there (as the examples)
BATCH_SIZE = 64  # per process


def worker(arguments) -> None:
    """One job: every rank trains; rank 0 prints one JSON line of results."""
    import numpy as np

    import numbanet as torch
    import numbanet.distributed as dist
    import numbanet.nn as nn
    from numbanet.nn.parallel import DistributedDataParallel
    from numbanet.utils.data import DataLoader, DistributedSampler, Subset
    from numbanet.vision import datasets, transforms

    dist.init_process_group(backend="mpi")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    try:
        train_data = datasets.MNIST(root=arguments.data, train=True, transform=transform)
    except RuntimeError:  # only the 10,000 test digits: train on the first 8,000
        test_data = datasets.MNIST(root=arguments.data, train=False, transform=transform)
        train_data = Subset(test_data, list(range(TRAIN_DIGITS)))
    sampler = DistributedSampler(train_data, seed=0)
    loader = DataLoader(train_data, batch_size=BATCH_SIZE, sampler=sampler)
    model = DistributedDataParallel(nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)))
    criterion = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(number: int) -> float:
        sampler.set_epoch(number)
        dist.barrier()
        start = time.perf_counter()
        for inputs, labels in loader:
            optimizer.zero_grad()
            criterion(model(inputs), labels).backward()
            optimizer.step()
        seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
        return seconds.item()

    epoch(0)  # warm-up: kernels loaded or compiled
    reduce_before = model.all_reduce_seconds
    epochs = [epoch(number) for number in range(1, arguments.epochs + 1)]
    per_step = torch.tensor([(model.all_reduce_seconds - reduce_before)
                             / (arguments.epochs * len(loader))], dtype=torch.float64)
    dist.all_reduce(per_step, op=dist.ReduceOp.AVG)

    gradients = torch.zeros(sum(p.numel() for p in model.parameters()))
    bare = []
    for _ in range(50):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(gradients)
        bare.append(time.perf_counter() - start)
    if rank == 0:
        print(json.dumps({
            "processes": world_size, "threads": int(os.environ.get("NUMBA_NUM_THREADS", 0)),
            "steps_per_epoch": len(loader), "images": len(train_data), "epochs": epochs,
            "all_reduce_per_step": per_step.item(),
            "bare_all_reduce": float(np.median(bare)),
            "gradient_values": gradients.numel(),
        }), flush=True)
    dist.destroy_process_group()


def run_job(processes: int, threads: int, arguments) -> dict:
    from numbanet.distributed.launch import find_mpiexec

    environment = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS="1")
    command = [find_mpiexec(), "-n", str(processes), sys.executable, str(HERE), "--worker",
               "--epochs", str(arguments.epochs), "--data", str(arguments.data)]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment,
                              timeout=1200, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{finished.stdout}\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per job")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return 0
    cores = os.cpu_count() or 1
    configurations = [(1, cores), (1, 1), (2, max(1, cores // 2))]
    results: dict[tuple, list[dict]] = {c: [] for c in configurations}
    for round_number in range(arguments.rounds):
        for processes, threads in configurations:
            result = run_job(processes, threads, arguments)
            results[(processes, threads)].append(result)
            print(f"round {round_number + 1}: {processes} process(es) x {threads} thread(s): "
                  f"epochs {', '.join(f'{s:.2f}' for s in result['epochs'])} s", flush=True)

    def epoch_time(configuration) -> float:
        return statistics.median(s for r in results[configuration] for s in r["epochs"])

    images = results[configurations[0]][0]["images"]
    print(f"\nMNIST MLP 784-128-10, Adam, batch {BATCH_SIZE} per process, {images} images "
          f"per epoch, {cores} cores; medians of {arguments.rounds} rounds x "
          f"{arguments.epochs} epochs")
    print(f"{'configuration':<28} {'epoch':>8} {'images/s':>9} {'steps':>6} "
          f"{'all-reduce/step':>16} {'bare all-reduce':>16}")
    for processes, threads in configurations:
        runs = results[(processes, threads)]
        seconds = epoch_time((processes, threads))
        reduce_ms = 1e3 * statistics.median(r["all_reduce_per_step"] for r in runs)
        bare_ms = 1e3 * statistics.median(r["bare_all_reduce"] for r in runs)
        label = f"{processes} process(es) x {threads} thread(s)"
        print(f"{label:<28} {seconds:>7.2f}s {images / seconds:>9,.0f} "
              f"{runs[0]['steps_per_epoch']:>6} {reduce_ms:>13.3f} ms {bare_ms:>13.3f} ms")
    two = epoch_time(configurations[2])
    for baseline in configurations[:2]:
        speedup = epoch_time(baseline) / two
        print(f"2 processes vs 1 process x {baseline[1]} thread(s): speedup {speedup:.2f}x, "
              f"scaling efficiency {100 * speedup / 2:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
