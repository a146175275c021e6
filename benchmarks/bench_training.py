"""Training-step benchmark: numbanet vs PyTorch CPU on the tutorials' two MNIST models.

One *step* is what the training loop does per batch: ``zero_grad``, forward, loss,
``backward``, ``optimizer.step``. Each model is warmed up (Numba compiles or loads its
kernels on the first steps), then timed step by step; the table gives the median, so a
stray pause of the machine does not move it.

- MLP 784-128-10 (Linear, ReLU, Linear, LogSoftmax + NLLLoss), batch 64, Adam
- the tutorial CNN (conv 1->32, conv 32->64, max-pool, dropout, fc 9216->128->10,
  log_softmax + CrossEntropyLoss), batch 64, SGD with momentum 0.5

PyTorch runs the same step on the same inputs, when it is installed (``pip install
torch``), its steps taking turns with numbanet's; without it the table has numbanet's times
only. Each library runs in a process of its own (``step_process.py`` says why). Both use
the same number of threads: ``--threads``, else Numba's thread count (all cores unless
``NUMBA_NUM_THREADS`` says otherwise). On a machine busy with
other work, parallel kernels of both libraries wait for descheduled threads; ``--threads 1``
gives steadier figures there.

    python benchmarks/bench_training.py                   # both models, both libraries
    python benchmarks/bench_training.py --threads 1       # one core each
    python benchmarks/bench_training.py --profile mlp     # where numbanet's step spends time
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import math
import pstats
import statistics
import time
from collections.abc import Callable

import numpy as np
from step_process import StepProcess, use_threads

BATCH_SIZE = 64


def mlp(nn):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.LogSoftmax(dim=1)
    )


def cnn(nn, flatten):
    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = nn.functional.relu(self.conv1(x))
            x = nn.functional.relu(self.conv2(x))
            x = nn.functional.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = flatten(x, 1)
            x = nn.functional.relu(self.fc1(x))
            x = self.dropout2(x)
            return nn.functional.log_softmax(self.fc2(x), dim=1)

    return CNN()


def training_step(library, model_name: str, images: np.ndarray, labels: np.ndarray,
                  phase_clock: PhaseClock | None = None) -> Callable:
    """A closure running one training step of ``model_name`` in ``library`` (a torch-like
    module: numbanet or torch); ``phase_clock`` (profiling only) is told each phase."""
    library.manual_seed(0)
    nn = library.nn
    if model_name == "mlp":
        model, criterion = mlp(nn), nn.NLLLoss()
        optimizer = library.optim.Adam(model.parameters(), lr=1e-3)
    else:
        model, criterion = cnn(nn, library.flatten), nn.CrossEntropyLoss()
        optimizer = library.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()
    inputs, targets = library.from_numpy(images), library.from_numpy(labels)

    def step() -> None:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        loss.item()  # wait for the result, as a training loop printing the loss does

    def step_by_phase() -> None:
        phase_clock.start("zero_grad")
        optimizer.zero_grad()
        phase_clock.start("forward + loss")
        loss = criterion(model(inputs), targets)
        phase_clock.start("backward")
        loss.backward()
        phase_clock.start("optimizer step")
        optimizer.step()
        loss.item()
        phase_clock.start(None)

    return step if phase_clock is None else step_by_phase


class PhaseClock:
    """Wall time and kernel time per phase of a step: ``start(name)`` ends the running phase
    and begins the next (None: none); kernel launches count toward the running phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.kernel_seconds: dict[str, float] = {}
        self.launches: dict[str, int] = {}
        self.phase: str | None = None
        self.started = 0.0

    def start(self, phase: str | None) -> None:
        now = time.perf_counter()
        if self.phase is not None:
            self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self.started
        self.phase, self.started = phase, now

    def on_kernel(self, kernel, grid, block, compilation, seconds) -> None:
        if self.phase is not None:
            self.kernel_seconds[self.phase] = self.kernel_seconds.get(self.phase, 0.0) + seconds
            self.launches[self.phase] = self.launches.get(self.phase, 0) + 1

    def report(self, steps: int) -> None:
        """One row per phase: ms per step, in kernels, in Python (dispatch, autograd
        bookkeeping, argument checks, numpy glue)."""
        print(f"{'phase':<16} {'ms/step':>8} {'kernels':>8} {'launches':>8} {'Python':>8}")
        for phase, seconds in self.seconds.items():
            kernels = self.kernel_seconds.get(phase, 0.0)
            print(f"{phase:<16} {seconds / steps * 1e3:8.2f} {kernels / steps * 1e3:8.2f} "
                  f"{self.launches.get(phase, 0) / steps:8.0f} "
                  f"{(seconds - kernels) / steps * 1e3:8.2f}")


# a pause before each turn, for the other libraries' threads to stop spinning: OpenBLAS's
# (numpy's) keep polling for 2^28 CPU cycles after a call, 0.1 s at 2.6 GHz
SETTLE_SECONDS = 0.15
TURN_SECONDS = 0.05  # a turn runs at least this long (and at least ``run`` steps)


def median_step_seconds(timers: list[Callable[[int], list[float]]], warmup: int,
                        steps: int, run: int = 5) -> list[float]:
    """Median seconds per step of each timer: the medians of :func:`step_seconds`."""
    return [statistics.median(samples) for samples in step_seconds(timers, warmup, steps, run)]


def step_seconds(timers: list[Callable[[int], list[float]]], warmup: int, steps: int,
                 run: int = 5, turns: int = 1) -> list[list[float]]:
    """Seconds of each step of each timer (a ``StepProcess``'s ``timed_steps``, or
    :func:`in_this_process`: called with a count, it runs that many steps and returns
    their times), timed in turns (A A A A A, B B B B B, A ...), so that a busy spell of the
    machine slows every library alike; the first step of each turn is not counted. A turn
    is ``run`` steps, or more for a short step: as many as take ``TURN_SECONDS`` (judged
    from the warm-up), and about ``steps`` are timed per timer, in at least ``turns``
    turns each (a short call fills ``steps`` in one turn, one moment of a machine whose
    speed drifts; more turns spread the samples over time).

    Turns of one step each (A, B, A, B) measured something a training loop never does:
    each step began with the other library's weights and activations in the caches
    (PyTorch's MLP step took 1.25 ms that way against 0.82 ms in turns of 5), and at 2
    threads PyTorch's OpenMP threads, which keep spinning for a while after its calls,
    shared the cores with the numbanet step right after. Even in processes of their own,
    the threads of the library whose turn ended spin on for a few milliseconds (PyTorch's
    OpenMP threads, numbanet's workers), so each turn starts after a short pause
    (``SETTLE_SECONDS``), and lasts long enough for the machine to be back at speed
    after it: each library is timed as in a training loop of its own.
    """
    turn_lengths = []
    for timed in timers:
        warm = timed(max(warmup, 1))
        turn_lengths.append(max(run, math.ceil(TURN_SECONDS / max(min(warm), 1e-6))))
    times = [[] for _ in timers]
    done = 0
    while done < turns or any(len(samples) < steps for samples in times):
        done += 1
        for timed, samples, length in zip(timers, times, turn_lengths, strict=True):
            time.sleep(SETTLE_SECONDS)
            samples.extend(timed(length)[1:])  # the first settles this library's threads
    return times


def in_this_process(step: Callable[[], None], clock: Callable[[], float] = time.perf_counter
                    ) -> Callable[[int], list[float]]:
    """A timer for :func:`median_step_seconds` running ``step`` in this process."""

    def timed(count: int) -> list[float]:
        seconds = []
        for _ in range(count):
            started = clock()
            step()
            seconds.append(clock() - started)
        return seconds

    return timed


def model_step(library, model_name: str) -> Callable[[], None]:
    """The step :func:`main` times (in a ``StepProcess``): ``model_name`` on the fixed
    batch."""
    return training_step(library, model_name, *batch())


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((BATCH_SIZE, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, BATCH_SIZE).astype(np.int64)
    return images, labels


def profile(model_name: str, steps: int, top: int) -> None:
    """Where numbanet's step spends its time: kernels (timed at each launch) against
    everything else (Python: Tensor methods, Function.apply, the backward engine, argument
    checks), then cProfile's view of the Python side."""
    import numbanet
    from numbanet.kernels import launch

    step = training_step(numbanet, model_name, *batch())
    for _ in range(3):
        step()
    step_seconds = median_step_seconds([in_this_process(step)], 0, steps)[0]

    kernel_seconds: dict[str, list[float]] = {}

    def on_kernel(kernel, grid, block, compilation, seconds) -> None:
        # (a kernel run on threads, OnThreads, names the Numba kernel it runs __wrapped__)
        python_function = getattr(kernel, "py_func", None) or getattr(kernel, "__wrapped__",
                                                                       kernel)
        name = f"{python_function.__module__.rsplit('.', 1)[-1]}.{python_function.__name__}"
        kernel_seconds.setdefault(name, []).append(seconds)

    launch.set_listener(on_kernel)
    try:
        for _ in range(steps):
            step()
    finally:
        launch.set_listener(None)
    in_kernels = sum(sum(times) for times in kernel_seconds.values()) / steps
    launches = sum(len(times) for times in kernel_seconds.values()) / steps
    print(f"numbanet {model_name} step: {step_seconds * 1e3:.2f} ms (median of {steps}); "
          f"{launches:.0f} kernel launches taking {in_kernels * 1e3:.2f} ms "
          f"({100 * in_kernels / step_seconds:.0f}%), the rest Python and numpy glue")
    clock = PhaseClock()
    phased = training_step(numbanet, model_name, *batch(), phase_clock=clock)
    phased()
    clock.seconds.clear()
    for _ in range(steps):  # wall time per phase, without the listener's own cost
        phased()
    wall = dict(clock.seconds)
    launch.set_listener(clock.on_kernel)
    try:
        for _ in range(steps):  # kernel time per phase
            phased()
    finally:
        launch.set_listener(None)
    clock.seconds = wall
    print("\nBy phase (ms per step; 'Python' is the time outside kernels):")
    clock.report(steps)
    print(f"\n{'kernel':<44} {'calls':>6} {'ms/step':>8}")
    by_time = sorted(kernel_seconds.items(), key=lambda item: -sum(item[1]))
    for name, times in by_time[:top]:
        print(f"{name:<44} {len(times) / steps:6.0f} {sum(times) / steps * 1e3:8.3f}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    print(f"\ncProfile of {steps} steps (its own overhead inflates the Python side), by own "
          "time:")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", choices=["mlp", "cnn"],
                        help="cProfile numbanet's step of this model instead")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile")
    parser.add_argument("--threads", type=int,
                        help="threads for both libraries (default: Numba's, all cores)")
    args = parser.parse_args()

    import numba

    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    if args.profile:
        import numbanet

        use_threads(numbanet, threads)
        profile(args.profile, args.steps, args.top)
        return
    libraries = ["numbanet"]
    if importlib.util.find_spec("torch") is not None:
        libraries.append("torch")
    rows = []
    versions = {}
    for model_name in args.models:
        processes = [StepProcess("bench_training:model_step", library, model_name,
                                 threads=threads) for library in libraries]
        try:
            medians = median_step_seconds([process.timed_steps for process in processes],
                                          args.warmup, args.steps)
        finally:
            for process in processes:
                versions[process.name.split()[0]] = process.version
                process.close()
        rows.append((model_name, medians[0], medians[1] if len(medians) > 1 else None))

    torch_note = (f"PyTorch {versions['torch']}, {threads} threads" if "torch" in versions
                  else "PyTorch not installed")
    print(f"median training step, batch {BATCH_SIZE}, {args.steps} steps after {args.warmup} "
          f"warm-up, each library in a process of its own; numbanet on {threads} Numba "
          f"threads; {torch_note}")
    names = {"mlp": "MLP 784-128-10, Adam", "cnn": "tutorial CNN, SGD momentum"}
    header = f"{'model':<28} {'numbanet ms':>12} {'PyTorch ms':>11} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for model_name, ours, theirs in rows:
        theirs_text = f"{theirs * 1e3:11.2f}" if theirs is not None else f"{'-':>11}"
        ratio = f"{ours / theirs:6.1f}x" if theirs is not None else f"{'-':>7}"
        print(f"{names[model_name]:<28} {ours * 1e3:12.2f} {theirs_text} {ratio}")


if __name__ == "__main__":
    main()
