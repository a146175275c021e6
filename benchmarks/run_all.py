"""Run every CPU benchmark in turn (``make bench``); the GPU one runs on a GPU machine.

Each script prints its own table of medians and ratios; run them one at a time on a quiet
machine — they share its two cores with whatever else is running.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_core.py", "bench_matmul.py", "bench_training.py", "bench_render.py",
           "bench_tui_startup.py", "bench_distributed.py", "bench_quantized.py"]


def main() -> int:
    failures = 0
    for script in SCRIPTS:
        print(f"\n=== {script} " + "=" * (60 - len(script)), flush=True)
        failures += subprocess.run([sys.executable, str(HERE / script)]).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
