"""numbanet/kernels/cpu/threads.py: shares of a kernel handed to spinning worker threads.
Every share runs once, errors reach the caller, a worker that went to sleep wakes for the
next share, and callers on several Python threads at once all get their results."""

import threading
import time
from importlib import import_module

import numba
import numpy as np
import pytest

threads = import_module("numbanet.kernels.cpu.threads")


@numba.njit(nogil=True, cache=True)
def add_part_number(out, caller, part, parts):
    """Share ``part`` writes ``part + 1`` into its own element of ``out``."""
    threads.caller_started(caller, part)
    out[part] += part + 1


@numba.njit(nogil=True, cache=True)
def fail_in_share_one(out, caller, part, parts):
    threads.caller_started(caller, part)
    if part == 1:
        raise ValueError("share one failed")
    out[part] = 1.0


def test_every_share_runs_once():
    out = np.zeros(4)
    threads.OnThreads(add_part_number)(out, 4)
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_an_error_in_a_workers_share_is_raised_by_the_caller():
    out = np.zeros(2)
    with pytest.raises(ValueError, match="share one failed"):
        threads.OnThreads(fail_in_share_one)(out, 2)
    assert out[0] == 1.0  # the caller's own share ran
    again = np.zeros(2)  # and the worker is ready for the next call
    threads.OnThreads(add_part_number)(again, 2)
    assert again.tolist() == [1.0, 2.0]


def test_a_sleeping_worker_wakes_for_the_next_share():
    worker = threads.Worker(polls=1, name="test-worker")  # spins for one read only
    out = np.zeros(2)
    caller = np.zeros(16, dtype=np.int64)  # (no share 0 runs here)
    for call in range(1, 4):
        time.sleep(0.01)  # long past its spin: it sleeps on its condition
        worker.post(add_part_number, (out, caller, 1, 2), call)
        worker.wait()
    assert out.tolist() == [0.0, 6.0]


def test_the_mailbox_reads_are_atomic_and_see_the_other_threads_writes():
    cells = np.zeros(16, dtype=np.int64)
    assert threads.wait_for_change(cells, threads.POSTED, 0, 10) == 0  # nothing came
    writer = threading.Timer(0.01, lambda: cells.__setitem__(threads.POSTED, 7))
    writer.start()
    assert threads.wait_for_change(cells, threads.POSTED, 0, 10**9) == 7
    writer.join()


def test_callers_on_several_python_threads_all_get_their_results():
    """One caller at a time hands shares to the workers; another runs its shares itself."""
    results = {}

    def caller(name):
        out = np.zeros(2)
        for _ in range(50):
            out[:] = 0
            threads.OnThreads(add_part_number)(out, 2)
            if out.tolist() != [1.0, 2.0]:
                results[name] = out.tolist()
                return
        results[name] = "ok"

    callers = [threading.Thread(target=caller, args=(name,)) for name in range(4)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(60)
    assert results == {0: "ok", 1: "ok", 2: "ok", 3: "ok"}
