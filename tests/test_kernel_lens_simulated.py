"""The kernel lens on real kernels, thread by thread, under the CUDA simulator.

Run in the simulator's own process: ``NUMBA_ENABLE_CUDASIM=1 pytest -m cuda
tests/test_kernel_lens_simulated.py``. Each test records one launch of a small kernel and
checks what the lens says about its access pattern against what the kernel's source
promises: an elementwise add writes each element once from its own thread; a block sum is
a tree whose active threads halve step by step; the tiled matmul loads every tile element
once per block and reads each input once per block instead of once per output; a kernel
whose threads all add into one element is flagged as a race.
"""

import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("the kernel lens records under the CUDA simulator: NUMBA_ENABLE_CUDASIM=1",
                allow_module_level=True)

from numba import cuda  # noqa: E402

import numbanet.kernels.cuda as gpu  # noqa: E402
from numbanet.kernels.lens import analysis  # noqa: E402
from numbanet.kernels.lens.simulate import (  # noqa: E402
    LaunchTooLarge,
    record_launch,
    recording,
)

pytestmark = pytest.mark.cuda


@cuda.jit
def racy_total(out, values):
    """Deliberately wrong: every thread adds its value into out[0] with a plain read-add-
    write, so threads overwrite each other's sums (cuda.atomic.add is the fix)."""
    i = cuda.grid(1)
    if i < values.size:
        out[0] = out[0] + values[i]


@cuda.jit
def unguarded_copy(out, values):
    """Deliberately wrong: no ``if i < values.size`` guard, so the last threads read past
    the end of ``values``."""
    i = cuda.grid(1)
    out[i] = values[i]


def test_elementwise_add_writes_each_element_once_from_its_own_thread():
    a = gpu.from_host(np.arange(40, dtype=np.float32))
    b = gpu.from_host(np.full(40, 0.5, dtype=np.float32))
    with recording() as launches:
        gpu.add(a, b)
    launch = launches[-1]
    assert launch["grid"] == [1, 1, 1] and launch["block"] == [64, 1, 1]
    writers = analysis.writers(launch, "out")
    assert writers == {i: [i] for i in range(40)}  # element i by thread i, once
    facts = analysis.facts(launch)
    assert facts["races"] == [] and facts["never_written"] == {}
    assert facts["global_reads_per_output"] == 2  # a[i] and b[i]
    assert facts["idle_threads"] == 24  # 64 threads, 40 elements: the loop guard stops 24
    story = analysis.element_story(launch, "out", 7)
    assert story["writers"] == [7] and story["value"] == 7.5
    assert [(row[analysis.ARRAY], row[analysis.INDEX], row[analysis.VALUE])
            for row in story["reads"]] == [("a", 7, 7.0), ("b", 7, 0.5)]


def test_block_sum_shows_its_tree_step_by_step():
    rows = gpu.from_host(np.arange(2 * 50, dtype=np.float64).reshape(2, 50))
    with recording() as launches:
        totals = gpu.sum(rows, (1,))
    np.testing.assert_allclose(gpu.to_host(totals), np.arange(100.0).reshape(2, 50).sum(1))
    launch = launches[-1]
    assert launch["block"] == [64, 1, 1]
    steps = [s for s in analysis.shared_steps(launch) if s["block"] == 0]
    # step 0: every thread writes its partial sum; then each step halves the active threads,
    # each reading its own slot and its partner's: 32, 16, 8, 4, 2, 1 threads
    assert (steps[0]["writes"], steps[0]["threads"]) == (64, 64)
    tree = steps[1:7]
    assert [s["threads"] for s in tree] == [32, 16, 8, 4, 2, 1]
    assert [s["reads"] for s in tree] == [64, 32, 16, 8, 4, 2]
    assert steps[7]["reads"] == 64  # every thread reads the total from slot 0
    facts = analysis.facts(launch)
    assert facts["shared_races"] == [] and facts["races"] == []
    assert facts["global_reads"] == 100  # each input element once
    assert analysis.writers(launch, "out") == {0: [0], 1: [64]}  # thread 0 of each block


def test_tiled_matmul_loads_each_tile_element_once_and_saves_reads():
    n, k, m = 16, 8, 16
    a_host = np.arange(n * k, dtype=np.float32).reshape(n, k) / 8
    b_host = np.arange(k * m, dtype=np.float32).reshape(k, m) / 16
    launch = None
    with recording() as launches:
        product = gpu.matmul(gpu.from_host(a_host), gpu.from_host(b_host))
    launch = launches[-1]
    np.testing.assert_allclose(gpu.to_host(product), a_host @ b_host, rtol=1e-6)
    assert launch["block"] == [16, 16, 1]
    facts = analysis.facts(launch)
    # every element of a and b is read from global memory once by this one block ...
    assert facts["global_reads_by_array"] == {"a": n * k, "b": k * m}
    # ... where a naive kernel reads a row of a and a column of b for every output
    naive = 2 * n * m * k
    launch["naive_global_reads"] = naive
    facts = analysis.facts(launch)
    assert facts["reads_saved"] == naive - (n * k + k * m) == 3840
    # each tile element is loaded exactly once per block and step; 256 threads x 4 loads
    for tile in ("a_tile", "b_tile"):
        assert facts["tiles"][tile]["most_writes_of_one_element_in_a_step"] == 1
        assert facts["tiles"][tile]["elements_per_step"] == 1024
    # loads happen before the first barrier, the multiply-adds read between the two
    steps = analysis.shared_steps(launch)
    assert [(s["step"], s["writes"] > 0, s["reads"] > 0) for s in steps] == [
        (0, True, False), (1, False, True)]
    assert facts["shared_races"] == [] and facts["races"] == []
    # which thread copied which input element into the tiles: each exactly once
    loaders = analysis.tile_loaders(launch)
    assert sorted(loaders["a"]) == list(range(n * k)) and sorted(loaders["b"]) == list(
        range(k * m))
    assert all(len(threads) == 1 for elements in loaders.values()
               for threads in elements.values())
    assert loaders["a"][5 * k + 2] == [(5 * k + 2)]  # slot = thread: a[r, kk] by thread 8r+kk
    assert facts["tile_copies"] == {"a": {"elements": 128, "copies_per_block": 1},
                                    "b": {"elements": 128, "copies_per_block": 1}}
    # 16 x 16 outputs: thread (tx, ty) writes rows 4ty..4ty+3, columns 4tx..4tx+3
    grid = analysis.writer_grid(launch, "c", [n, m])
    assert grid[5][9] == 1 * 16 + 2  # row 5: ty = 1; column 9: tx = 2
    assert len({thread for row in grid for thread in row}) == 16
    story = analysis.element_story(launch, "c", 5 * m + 9)
    assert story["value"] == pytest.approx(float(a_host[5] @ b_host[:, 9]))
    # every shared value it multiplied was stored by some thread of its block: copied from
    # a or b where inside the matrices, else a guard's padding zero
    writes = analysis.shared_writes(launch)
    origins = [analysis.shared_origin(launch, row, writes) for row in story["reads"]
               if launch["arrays"][row[analysis.ARRAY]]["memory"] == "shared"]
    assert len(origins) == 8 * (8 + 8) and all(origin is not None for origin in origins)
    sources = [o["source"] for o in origins if o["source"] is not None]
    assert {row[analysis.ARRAY] for row in sources} == {"a", "b"}
    row_five = [s for s in sources if s[analysis.ARRAY] == "a"
                and s[analysis.INDEX] // k == 5]
    assert sorted(s[analysis.INDEX] % k for s in row_five) == list(range(k))  # all of a[5]
    # outside a recording the simulator is itself again: its two shared tiles stay apart
    again = gpu.matmul(gpu.from_host(a_host), gpu.from_host(b_host))
    np.testing.assert_allclose(gpu.to_host(again), a_host @ b_host, rtol=1e-6)


def test_a_racy_kernel_is_flagged():
    out = np.zeros(1, dtype=np.float32)
    values = np.ones(8, dtype=np.float32)
    launch = record_launch(racy_total, 1, 8, out, values)
    facts = analysis.facts(launch)
    assert facts["races"] == [{"array": "out", "index": 0, "threads": list(range(8))}]
    assert analysis.writer_grid(launch, "out") == [[-2]]


def test_an_unguarded_read_past_the_end_is_reported_not_crashed():
    out = np.zeros(32, dtype=np.float32)
    values = np.arange(20, dtype=np.float32)
    launch = record_launch(unguarded_copy, 1, 32, out, values)
    outside = analysis.facts(launch)["out_of_range"]
    assert [(o["array"], o["index"], o["kind"], o["thread"]) for o in outside] == [
        ("values", [i], "r", i) for i in range(20, 32)]


def test_launches_beyond_the_caps_are_refused():
    with pytest.raises(LaunchTooLarge, match="threads"):
        record_launch(racy_total, 3, 1024, np.zeros(1), np.ones(4), thread_cap=2048)
    with pytest.raises(LaunchTooLarge, match="element accesses"):
        record_launch(racy_total, 1, 64, np.zeros(1), np.ones(64), access_cap=50)
