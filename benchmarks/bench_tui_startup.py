"""Time from ``numbanet step`` to the first node on screen (goal: at most 3 s, warm cache).

Run: ``.venv/bin/python benchmarks/bench_tui_startup.py [LESSON.py] [--runs N]``.

Each run is a fresh Python process, as when a learner types ``numbanet step``: the clock
starts just before the process is spawned and stops when the app, driven by Textual's
``auto_pilot`` in headless mode, has drawn the first node — so it counts interpreter start,
importing numba, numbanet and Textual, running the lesson file, loading the kernels from
Numba's on-disk cache, recording one iteration and the first screen. The first run may
compile kernels (a cold cache); it is reported separately, and the following runs — the
warm-cache case the goal is about — give the median. ``--cold`` adds one run with an empty
kernel cache (a fresh ``NUMBA_CACHE_DIR``): what a learner's very first start costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 3.0

CHILD = r"""
import sys, time
started = float(sys.argv[1])
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

async def first_node_shown(pilot):
    app = pilot.app
    while app.stepper.is_empty:  # the recording worker has not delivered yet
        await pilot.pause(0.005)
    await pilot.pause()  # one refresh: the first node is on the screen
    print(f"{time.time() - started:.4f}", flush=True)
    app.exit()

lesson = sys.argv[2] if sys.argv[2] != "-" else None
StepperApp(TraceSource(lesson)).run(headless=True, size=(120, 40), auto_pilot=first_node_shown)
"""


def seconds_to_first_node(lesson: str | None, environment: dict | None = None) -> float:
    """One fresh process: launch -> first node drawn, in seconds."""
    started = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD, repr(started), lesson or "-"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600,
                            env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"the app failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lesson", nargs="?", default=None, help="default: built-in lesson")
    parser.add_argument("--runs", type=int, default=5, help="warm runs (default 5)")
    parser.add_argument("--cold", action="store_true",
                        help="also time one start with an empty kernel cache")
    arguments = parser.parse_args()
    print(f"lesson: {arguments.lesson or 'built-in (two spirals)'}")
    if arguments.cold:
        with tempfile.TemporaryDirectory() as empty_cache:
            cold = seconds_to_first_node(arguments.lesson,
                                         {**os.environ, "NUMBA_CACHE_DIR": empty_cache})
        print(f"cold cache (every kernel compiled): {cold:.2f} s")
    first = seconds_to_first_node(arguments.lesson)
    print(f"first run (compiles whatever the cache lacks): {first:.2f} s")
    warm = [seconds_to_first_node(arguments.lesson) for _ in range(arguments.runs)]
    median = statistics.median(warm)
    print(f"warm cache, {arguments.runs} runs: median {median:.2f} s, "
          f"min {min(warm):.2f} s, max {max(warm):.2f} s")
    verdict = "meets" if median <= GOAL_SECONDS else "MISSES"
    print(f"{verdict} the goal of {GOAL_SECONDS:.0f} s from 'numbanet step' to the first node")


if __name__ == "__main__":
    main()
