"""``numbanet warmup``: compile, once, the kernels the tutorials and lessons use.

Numba compiles a kernel the first time it meets it with new argument types (a second or
so each) and keeps the machine code in its on-disk cache. A learner's first script would
otherwise pay for dozens of them before its first training step; ``numbanet warmup``
(which ``make demo`` runs) pays for them up front, with a progress bar, so every later
run starts from the cache.

``--jobs 2`` (the default on a machine with two cores) runs a second process through the
same workloads from the middle of the list on, silently: Numba compiles one kernel at a
time per process, and each process loads from the shared cache what the other has
compiled already.

Each workload below is a small piece of tutorial code at the sizes tutorials use: the
sizes matter because large arrays take the multi-threaded (``parallel``) twin of a
kernel, small ones the single-threaded one, and each twin is compiled separately.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _tensor_basics(torch) -> None:
    """Tensor tutorial: arithmetic, math functions, comparisons, reductions, matmul."""
    a = torch.rand(64, 512)
    b = torch.rand(64, 512)
    c = (a + b) * (a - b) / (b + 1) - a.neg()
    d = c.exp().log()
    e = d.sqrt().pow(2).abs() + a.sigmoid() + a.tanh() + a.relu() + a.sin() + a.cos()
    (e > 0.5).float().sum(dim=1).mean().item()
    e.max(dim=1), e.argmax(dim=1), e.min(), e.std(), e.var()
    (a @ b.T).softmax(dim=1).sum().item()
    torch.tensor([[1, 2], [3, 4]]) * 2 + 1


def _linear_regression(torch) -> None:
    """The seeds' linear regression: nn.Linear(1, 1), MSELoss, SGD."""
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[2.0], [4.0], [6.0], [8.0]])
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        loss = torch.nn.MSELoss()(model(x), y)
        loss.backward()
        optimizer.step()
    loss.item()


def _classifier_step(torch, optimizer_class, **options) -> None:
    """PyTorch's quickstart: a 784-512-512-10 MLP on a batch of 64 images, then accuracy."""
    _classifier_accuracy(torch, *_classifier_training(torch, optimizer_class, **options))


def _classifier_training(torch, optimizer_class, **options):
    """Two training steps of the quickstart's MLP; returns (model, images, labels)."""
    nn = torch.nn
    rng = np.random.default_rng(0)
    images = torch.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    labels = torch.tensor(rng.integers(0, 10, 64))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                          nn.ReLU(), nn.Linear(512, 10))
    optimizer = optimizer_class(model.parameters(), **options)
    for _ in range(2):
        loss = nn.CrossEntropyLoss()(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    loss.item()
    return model, images, labels


def _classifier_accuracy(torch, model, images, labels) -> None:
    """The quickstart's test loop: how many predictions are right."""
    with torch.no_grad():
        (model(images).argmax(1) == labels).type(torch.float).sum().item()


def _cnn_step(torch) -> None:
    """pytorch/examples' MNIST CNN: conv, max-pool, dropout, log_softmax, NLLLoss."""
    nn, functional = torch.nn, torch.nn.functional
    rng = np.random.default_rng(0)
    images = torch.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32))
    labels = torch.tensor(rng.integers(0, 10, 16))
    conv1, conv2 = nn.Conv2d(1, 8, 3, 1), nn.Conv2d(8, 16, 3, 1)
    fc = nn.Linear(16 * 12 * 12, 10)
    parameters = [*conv1.parameters(), *conv2.parameters(), *fc.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.5)
    for _ in range(2):
        x = functional.max_pool2d(functional.relu(conv2(functional.relu(conv1(images)))), 2)
        x = nn.Dropout(0.25)(torch.flatten(x, 1))
        loss = functional.nll_loss(functional.log_softmax(fc(x), dim=1), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    loss.item()


def _builtin_lesson(torch) -> None:
    """The stepper's built-in lesson (``make demo``): two spirals, one recorded iteration."""
    from numbanet.lesson import load_lesson, record_iteration

    record_iteration(load_lesson(None), 0)


WORKLOADS: list[tuple[str, Callable]] = [
    ("tensor basics", _tensor_basics),
    ("linear regression (SGD)", _linear_regression),
    ("quickstart MLP (SGD)", lambda torch: _classifier_step(torch, torch.optim.SGD, lr=1e-3)),
    ("quickstart MLP (Adam)", lambda torch: _classifier_step(torch, torch.optim.Adam)),
    ("MNIST CNN (SGD, momentum)", _cnn_step),
    ("built-in lesson: two spirals", _builtin_lesson),
]


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def run_workloads(indices: list[int]) -> None:
    """Run the workloads at these positions of :data:`WORKLOADS`, silently: the work of
    one extra ``numbanet warmup --jobs`` process."""
    import numbanet as torch

    for index in indices:
        torch.manual_seed(0)
        WORKLOADS[index][1](torch)


DEFAULT_JOBS = min(2, os.cpu_count() or 1)  # processes compiling at once

_JOB = ("import sys; sys.path[0] = sys.argv[1]; from numbanet.warmup import run_workloads; "
        "run_workloads([int(i) for i in sys.argv[2:]])")


def _start_jobs(jobs: int) -> list[subprocess.Popen]:
    """``jobs - 1`` processes that run every workload too, each starting at another point
    of the list (the second one halfway), so that they compile what this process reaches
    last while it compiles what comes first; each loads from the shared cache what
    another has compiled already. They print nothing."""
    from numba.core import config

    environment = dict(os.environ, NUMBANET_PRECOMPILE="0", NUMBANET_QUIET_COMPILE="1")
    if config.CACHE_DIR:  # ensure_writable_cache may have chosen a temporary folder
        environment["NUMBA_CACHE_DIR"] = str(config.CACHE_DIR)
    package_parent = str(Path(__file__).resolve().parent.parent)
    count = len(WORKLOADS)
    started = []
    for job in range(1, jobs):
        offset = job * count // jobs
        order = [str((offset + step) % count) for step in range(count)]
        started.append(subprocess.Popen(
            [sys.executable, "-c", _JOB, package_parent, *order], env=environment,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
    return started


def _stop_jobs(started: list[subprocess.Popen]) -> None:
    for job in started:
        if job.poll() is None:
            job.terminate()
        job.wait()


def warm_up(stream=None, jobs: int = 1) -> tuple[int, float]:
    """Run every workload, printing a progress bar on ``stream`` (stderr by default), with
    ``jobs - 1`` more processes compiling alongside (see :func:`_start_jobs`).
    Returns how many kernels this process compiled (0 when the cache had them all) and
    seconds."""
    from numbanet import compile_progress

    stream = stream or sys.stderr
    live = getattr(stream, "isatty", lambda: False)()
    compile_progress.ensure_writable_cache()
    import numbanet as torch

    compiled: list[str] = []
    state = {"index": 0, "workload": ""}

    def show(kernel: str = "") -> None:
        line = f"numbanet warmup {_bar(state['index'], len(WORKLOADS))} {state['workload']}"
        if kernel:
            line += f": compiling {kernel} ({len(compiled)} kernels so far)"
        if live:
            print(f"\r\x1b[K{line[:160]}", end="", file=stream, flush=True)
        elif not kernel:
            print(line, file=stream, flush=True)

    def on_compile(stage: str, name: str) -> None:
        if stage == "start":
            compiled.append(name)
            show(name.rsplit(".", 1)[-1])

    start = time.perf_counter()
    started = _start_jobs(jobs)
    try:
        with compile_progress.report_compilation(on_compile):
            for index, (name, workload) in enumerate(WORKLOADS):
                state["index"], state["workload"] = index, name
                show()
                torch.manual_seed(0)
                workload(torch)
    finally:
        _stop_jobs(started)
    seconds = time.perf_counter() - start
    state["index"], state["workload"] = len(WORKLOADS), "done"
    show()
    if live:
        print(file=stream)
    where = compile_progress.cache_directory()
    here = f" here ({jobs} processes compiling)" if jobs > 1 else ""
    summary = (f"compiled {len(compiled)} kernels{here} in {seconds:.1f} s, cached in {where}"
               if compiled else f"every kernel was already cached ({where}); {seconds:.1f} s")
    print(f"numbanet warmup: {summary}", file=stream, flush=True)
    return len(compiled), seconds
