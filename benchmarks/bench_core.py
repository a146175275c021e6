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

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(function, number: int, repeat: int = 7) -> float:
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
        mine = median_seconds(ours, 2000)
        reference = median_seconds(theirs, 2000) if theirs else None
        rows.append((name, mine, reference))
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


def main() -> None:
    print("Per-op overhead (median of 7 x 2000 calls)")
    print(f"{'op':28} {'numbanet':>12} {'PyTorch':>12} {'ratio':>8}")
    for name, mine, reference in per_op_overhead():
        ratio = f"{mine / reference:7.2f}x" if reference else "   n/a"
        theirs = f"{reference * 1e6:9.2f} us" if reference else "        n/a"
        print(f"{name:28} {mine * 1e6:9.2f} us {theirs} {ratio}")
    print("\nTime to first result: import + small MLP forward/backward, fresh process")
    with tempfile.TemporaryDirectory() as cache_dir:
        print("  cold Numba cache (compiles every kernel it meets; first run only) ...",
              flush=True)
        cold = time_to_first_result(cache_dir)
        warm = statistics.median(time_to_first_result(cache_dir) for _ in range(3))
    print(f"  cold cache: {cold:6.2f} s")
    print(f"  warm cache: {warm:6.2f} s (median of 3; goal <= 2 s)")


if __name__ == "__main__":
    main()
