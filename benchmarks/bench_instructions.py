"""Per-op overhead and training steps counted in CPU instructions, under valgrind.

Wall-clock times on a shared 2-core machine move by 10-30% from one run to the next, which
hides the change a Python-level optimisation makes. The number of instructions a call
executes does not move: valgrind's ``callgrind`` counts them exactly. Each case runs in a
worker process twice, with 0 and with N calls inside the counted window (instrumentation
switched on and off around the loop with ``callgrind_control``, the garbage collector off),
and the difference divided by N is the cost of one call, start-up excluded.

Run: ``.venv/bin/python benchmarks/bench_instructions.py`` (needs ``valgrind``:
``apt-get install valgrind``). ``--baseline PATH`` counts the same cases in another checkout
(its own ``.venv``), e.g. a git worktree of an older commit, for a before/after table;
PyTorch's column appears when torch is installed. Instructions are not time — PyTorch's C++
runs more instructions per cycle than Python's interpreter — but a change that removes
instructions from numbanet's Python removes time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# case -> (calls counted, one-line description)
CASES = {
    "add": (1000, "a + b (4 elements)"),
    "mul_grad": (1000, "a * w (w needs grad)"),
    "mul_number": (1000, "a * 2.0"),
    "forward_backward": (200, "(a * w).relu().sum().backward()"),
    "add_floor": (1000, "a + b's parts with no Python logic"),
    "linreg": (100, "seed linear regression step, SGD"),
    "mlp": (5, "MLP 784-128-10 batch-64 Adam step, 1 thread"),
}


def make_case(library, case: str):
    """A closure running one call of ``case`` with ``library`` (numbanet or torch)."""
    if case in ("add", "mul_grad", "mul_number", "forward_backward"):
        a, b = library.ones(4), library.ones(4)
        w = library.ones(4, requires_grad=True)
        return {"add": lambda: a + b, "mul_grad": lambda: a * w,
                "mul_number": lambda: a * 2.0,
                "forward_backward": lambda: (a * w).relu().sum().backward()}[case]
    if case == "add_floor":
        return add_floor(library)
    if case == "linreg":
        library.manual_seed(0)
        x = library.tensor([[1.0], [2.0], [3.0], [4.0]])
        y = library.tensor([[2.0], [4.0], [6.0], [8.0]])
        model, criterion = library.nn.Linear(1, 1), library.nn.MSELoss()
        optimizer = library.optim.SGD(model.parameters(), lr=0.01)

        def step():
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()

        return step
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_training

    images, labels = bench_training.batch()
    return bench_training.training_step(library, "mlp", images, labels)


def add_floor(library):
    """The parts of ``a + b`` no Python code can remove: the Numba kernel call, numpy's
    allocation of the result and the result Tensor's life (made, then freed), with no
    dispatch, autograd or checks around them. (PyTorch: plain ``a + b``, to compare.)"""
    a, b = library.ones(4), library.ones(4)
    if library.__name__ == "torch":
        return lambda: a + b
    import numpy as np

    from numbanet.kernels.cpu.elementwise import KERNELS

    kernel = KERNELS["add"].contiguous
    x, y = a._data, b._data
    shape, dtype, wrap = x.shape, x.dtype, type(a)._from_data

    def floor():
        out = np.empty(shape, dtype)
        kernel(x, y, out)
        return wrap(out)

    return floor


def worker(library_name: str, case: str, calls: int) -> None:
    """Inside valgrind: warm up, then run ``calls`` calls with instrumentation on."""
    import gc

    if library_name == "torch":
        import torch as library

        library.set_num_threads(1)
    else:
        import numbanet as library
    function = make_case(library, case)
    for _ in range(5):
        function()
    gc.collect()
    gc.disable()
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=False)
    for _ in range(calls):
        function()
    subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=False)


def counted(python: str, cwd: Path, library_name: str, case: str, calls: int) -> int:
    """Instructions valgrind counted in the window of a worker making ``calls`` calls."""
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={scratch}/callgrind.out", python, str(Path(__file__)),
             "--worker", library_name, case, str(calls)],
            cwd=cwd, capture_output=True, text=True,
            env=dict(os.environ, NUMBA_NUM_THREADS="1", NUMBANET_QUIET_COMPILE="1"))
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{library_name} {case} failed under valgrind:\n"
                           f"{result.stderr[-2000:]}")
    return int(found.group(1))


def per_call(python: str, cwd: Path, library_name: str, case: str) -> float:
    calls = CASES[case][0]
    return (counted(python, cwd, library_name, case, calls)
            - counted(python, cwd, library_name, case, 0)) / calls


def has_torch(python: str) -> bool:
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to count as 'before'")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library_name, case, calls = args.worker
        worker(library_name, case, int(calls))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed (apt-get install valgrind)")
    python = sys.executable
    torch = has_torch(python)
    columns = (["before"] if args.baseline else []) + ["numbanet"] + (["PyTorch"] if torch else [])
    header = f"{'case':<42}" + "".join(f"{c:>13}" for c in columns)
    header += "  after/before" if args.baseline else ""
    header += "  numbanet/PyTorch" if torch else ""
    print("instructions per call (valgrind callgrind; exact, 1 thread)")
    print(header)
    for case in args.cases:
        row = {}
        if args.baseline:
            baseline = args.baseline.resolve()
            row["before"] = per_call(str(baseline / ".venv" / "bin" / "python"), baseline,
                                     "numbanet", case)
        row["numbanet"] = per_call(python, ROOT, "numbanet", case)
        if torch:
            row["PyTorch"] = per_call(python, ROOT, "torch", case)
        line = f"{CASES[case][1]:<42}" + "".join(f"{row[c]:>13,.0f}" for c in columns)
        if args.baseline:
            line += f"  {row['numbanet'] / row['before']:>12.2f}x"
        if torch:
            line += f"  {row['numbanet'] / row['PyTorch']:>15.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
