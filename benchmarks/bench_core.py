"""Core benchmarks: per-op overhead vs PyTorch, and time to first result (cold/warm cache).

Run: ``.venv/bin/python benchmarks/bench_core.py``. Every figure is a median of repeated
measurements taken in this run; ratios compare numbanet with PyTorch CPU (when installed)
measured right after it, so machine noise hits both alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import pytorch_first  # noqa: F401 - before numbanet: PyTorch keeps its OpenMP defaults

ROOT = Path(__file__).resolve().parents[1]


REPEATS = 7  # timings of 2,000 calls per op and library


def median_seconds(function, number: int, repeat: int = REPEATS) -> float:
    return statistics.median(timeit.repeat(function, number=number, repeat=repeat)) / number


def per_op_overhead() -> list[tuple[str, float, float | None]]:
    """Seconds per call of tiny ops, where Python overhead is all there is."""
    import numbanet as nb

    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    rows = []
    a, b = nb.ones(4), nb.ones(4)
    w = nb.ones(4, requires_grad=True)
    cases = {
        "a + b (4 elements)": (lambda: a + b, None),
        "a * w (needs grad)": (lambda: a * w, None),
        "x.relu().sum() fwd+bwd": (lambda: (a * w).relu().sum().backward(), None),
    }
    if torch is not None:
        ta, tb = torch.ones(4), torch.ones(4)
        tw = torch.ones(4, requires_grad=True)
        cases["a + b (4 elements)"] = (cases["a + b (4 elements)"][0], lambda: ta + tb)
        cases["a * w (needs grad)"] = (cases["a * w (needs grad)"][0], lambda: ta * tw)
        cases["x.relu().sum() fwd+bwd"] = (cases["x.relu().sum() fwd+bwd"][0],
                                           lambda: (ta * tw).relu().sum().backward())
    for name, (ours, theirs) in cases.items():
        ours()
        if theirs is None:
            rows.append((name, median_seconds(ours, 2000), None))
            continue
        theirs()
        mine, reference = [], []
        for _ in range(REPEATS):  # taking turns: a drift of the machine's speed hits both
            mine.append(median_seconds(ours, 2000, repeat=1))
            reference.append(median_seconds(theirs, 2000, repeat=1))
        rows.append((name, statistics.median(mine), statistics.median(reference)))
    return rows


FIRST_RESULT_SCRIPT = """
import time
start = time.perf_counter()
import numbanet as nb
import numbanet.nn as nn
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
loss = nn.CrossEntropyLoss()(model(nb.randn(3, 4)), nb.tensor([0, 1, 1]))
loss.backward()
print(time.perf_counter() - start)
"""


def time_to_first_result(cache_dir: str) -> float:
    """Seconds from interpreter start to a first forward+backward, in a fresh process."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIRST_RESULT_SCRIPT], env=environment, check=True,
                   capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


QUICKSTART = ROOT / "tests" / "tutorials" / "basics_quickstart.py"


def write_fashion_mnist(root: Path, images: int = 512) -> None:
    """Tiny Fashion-MNIST IDX files (random pixels) where the quickstart looks for them."""
    import numpy as np

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        pixels = rng.integers(0, 256, (images, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, images, dtype=np.uint8)
        for kind, array in (("images-idx3", pixels), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(
                int(size).to_bytes(4, "big") for size in array.shape)
            (raw / f"{split}-{kind}-ubyte").write_bytes(header + array.tobytes())


def quickstart_to_first_step(work: Path, cache_dir: str) -> tuple[float, float, int]:
    """``numbanet run`` PyTorch's quickstart (tests/tutorials/) in a fresh process: wall and
    CPU seconds of that process until its first ``train loss`` line (printed after the
    first training step), and how many progress lines it wrote on stderr meanwhile. The
    process is stopped there; a background compiler it started goes on filling the cache
    (see :func:`quickstart_start_up`)."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONUNBUFFERED="1")
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user runs it: with .pyc files
    command = [sys.executable, "-m", "numbanet", "run", QUICKSTART.name]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=work, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wall = cpu = float("nan")
    for line in process.stdout:
        if line.startswith("train loss"):
            wall = time.perf_counter() - start
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            break
    process.terminate()
    _, errors = process.communicate()
    return wall, cpu, len(errors.splitlines())


def quickstart_start_up(runs: int = 3) -> None:
    """Cold (a new empty Numba cache each run) and warm, medians of ``runs``."""
    if not Path("/proc/self/stat").exists():
        print("  (needs Linux's /proc to read the process's CPU time)")
        return
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        write_fashion_mnist(work / "data")
        (work / QUICKSTART.name).write_text(QUICKSTART.read_text())
        cold, warm = [], []
        for run in range(runs):
            cache_dir = str(work / f"cache-{run}")
            cold.append(quickstart_to_first_step(work, cache_dir))
            lock = Path(cache_dir) / "numbanet-precompile.lock"
            for _ in range(600):  # the background compiler finishes: the next run is warm
                if not lock.exists():
                    break
                time.sleep(0.2)
            warm.append(quickstart_to_first_step(work, cache_dir))
    for name, rows, goal in (("cold", cold, 15), ("warm", warm, 2)):
        wall = statistics.median(row[0] for row in rows)
        cpu = statistics.median(row[1] for row in rows)
        lines = statistics.median(row[2] for row in rows)
        low, high = min(row[0] for row in rows), max(row[0] for row in rows)
        print(f"  {name} cache: {wall:6.2f} s wall ({low:.2f}-{high:.2f}), {cpu:6.2f} s CPU of "
              f"the script's process, {lines:.0f} progress lines (median of {runs}; goal <= "
              f"{goal} s)")


def mnist_epoch_loading(runs: int = 3) -> None:
    """One training epoch of MNIST-sized data (the shared 10,000-digit test set, six times
    over) read through ``DataLoader`` with ToTensor + Normalize, batch 64, shuffled."""
    import numpy as np

    from numbanet.utils.data import DataLoader
    from numbanet.vision import datasets, transforms

    shared = ROOT.parent / "shared" / "data" / "mnist"
    if not (shared / "t10k-images-idx3-ubyte.gz").is_file():
        print(f"  skipped: the MNIST test set is not at {shared}")
        return
    with tempfile.TemporaryDirectory() as root:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            (raw / name).symlink_to(shared / name)
        pipeline = transforms.Compose([transforms.ToTensor(),
                                       transforms.Normalize((0.1307,), (0.3081,))])
        dataset = datasets.MNIST(root, train=False, transform=pipeline)
        dataset.data = np.tile(dataset.data.numpy(), (6, 1, 1))
        dataset.targets = np.tile(dataset.targets.numpy(), 6)
        loader = DataLoader(dataset, batch_size=64, shuffle=True)
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            batches = sum(1 for _ in loader)
            seconds.append(time.perf_counter() - started)
    print(f"  {batches} batches of 64: {statistics.median(seconds):.2f} s (median of {runs}; "
          f"{min(seconds):.2f}-{max(seconds):.2f})")


def main() -> None:
    print(f"Per-op overhead (median of {REPEATS} x 2000 calls, the libraries taking turns)")
    print(f"{'op':28} {'numbanet':>12} {'PyTorch':>12} {'ratio':>8}")
    for name, mine, reference in per_op_overhead():
        ratio = f"{mine / reference:7.2f}x" if reference else "   n/a"
        theirs = f"{reference * 1e6:9.2f} us" if reference else "        n/a"
        print(f"{name:28} {mine * 1e6:9.2f} us {theirs} {ratio}")
    print("\nTime to first result: import + small MLP forward/backward, fresh process")
    print("  cold Numba cache (compiles every kernel it meets; first run only) ...",
          flush=True)
    cold, warm = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(time_to_first_result(cache_dir))
            warm.append(time_to_first_result(cache_dir))
    print(f"  cold cache: {statistics.median(cold):6.2f} s (median of 3, a new cache each; "
          f"{min(cold):.2f}-{max(cold):.2f})")
    print(f"  warm cache: {statistics.median(warm):6.2f} s (median of 3; {min(warm):.2f}-"
          f"{max(warm):.2f}; goal <= 2 s)")
    print("\nOne 60,000-image MNIST epoch through DataLoader (ToTensor, Normalize)")
    mnist_epoch_loading()
    print("\nPyTorch's quickstart through `numbanet run`, fresh process, to its first "
          "training step")
    quickstart_start_up()


if __name__ == "__main__":
    main()
