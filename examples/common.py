"""What the MNIST examples share besides the tutorial code: finding the data, a split of
the test set when it is all there is, and a progress bar.

Not part of any tutorial: the tutorials download MNIST; here machines may be offline, so the
examples read the files from a folder (``--data``) and, when only the 10,000 test digits
are there, train on the first 8,000 and test on the last 2,000.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from numbanet.utils.data import Subset
from numbanet.vision import datasets

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO / ".." / "shared" / "data" / "mnist"
TRAIN_DIGITS = 8000  # of the test set's 10,000, when the training set is missing


def default_data_dir() -> Path:
    """``../shared/data/mnist`` beside the repository when present, else ``./data``."""
    return SHARED_MNIST if SHARED_MNIST.is_dir() else REPO / "data"


def train_and_test_sets(data_dir, transform):
    """(train set, test set, a line saying which digits they are)."""
    root = Path(data_dir).resolve()
    test_data = datasets.MNIST(root=root, train=False, transform=transform)
    try:
        train_data = datasets.MNIST(root=root, train=True, transform=transform)
    except RuntimeError:  # only the test split is there: split it
        indices = list(range(len(test_data)))
        train_data = Subset(test_data, indices[:TRAIN_DIGITS])
        test_data = Subset(test_data, indices[TRAIN_DIGITS:])
        return train_data, test_data, (f"training on test digits 0-{TRAIN_DIGITS - 1}, "
                                       f"testing on {TRAIN_DIGITS}-{len(indices) - 1}")
    return train_data, test_data, "training on the 60,000 training digits, testing on 10,000"


class ProgressBar:
    """``Epoch 1/3 [########------------] 40/125  loss 0.4321  2,345 img/s`` on one line."""

    def __init__(self, label: str, total_batches: int, width: int = 24):
        self.label, self.total, self.width = label, total_batches, width
        self.started = time.perf_counter()
        self.items = 0

    def update(self, batch: int, batch_size: int, loss: float) -> None:
        self.items += batch_size
        if not sys.stdout.isatty() and batch < self.total:
            return  # a log file, not a terminal: one line per epoch, not one per batch
        done = int(self.width * batch / self.total)
        rate = self.items / max(time.perf_counter() - self.started, 1e-9)
        bar = "#" * done + "-" * (self.width - done)
        print(f"\r{self.label} [{bar}] {batch}/{self.total}  loss {loss:.4f}  "
              f"{rate:,.0f} img/s", end="", flush=True)

    def close(self) -> float:
        seconds = time.perf_counter() - self.started
        print(f"  ({seconds:.1f} s)")
        return seconds

