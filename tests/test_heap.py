"""numbanet/kernels/cpu/heap.py: a training step's large arrays reuse freed memory instead
of taking a page fault every 4 KiB of fresh memory."""

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="tunes glibc's malloc; elsewhere malloc keeps its defaults")

STEPS = """
import resource
import numpy as np
import numbanet
from numbanet.kernels import cpu

def step():  # six 8 MB activations, made, written and freed, as a CNN step does
    arrays = [np.empty(2 * 1024 * 1024, np.float32) for _ in range(6)]
    for array in arrays:
        array.fill(1.0)

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
print(cpu.KEPT_FREED_MEMORY, int(faults))
"""


def run_steps(**environment) -> tuple[bool, int]:
    result = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True,
                            env={**os.environ, **environment}, timeout=300, check=True)
    kept, faults = result.stdout.split()
    return kept == "True", int(faults)


def test_freed_activations_are_reused_without_page_faults():
    kept, faults = run_steps()
    assert kept
    assert faults < 100  # 48 MB a step: 12,288 pages if each were fresh


def test_the_switch_leaves_malloc_alone():
    kept, faults = run_steps(NUMBANET_KEEP_FREED_MEMORY="0")
    assert not kept
    assert faults > 1000  # glibc gives most of it back, and faults it in again
