"""The CPU matmul on several threads: OnThreads runs a kernel's task shares on worker
threads (numbanet/kernels/cpu/threads.py). The result must not depend on the number
of threads, bit for bit, and the pool must keep working in a forked child."""

import multiprocessing
import threading
from importlib import import_module

import numba
import numpy as np
import pytest

from numbanet import trace
from numbanet.kernels import launch

matmul = import_module("numbanet.kernels.cpu.matmul")
threads = import_module("numbanet.kernels.cpu.threads")


@pytest.fixture(autouse=True)
def share_small_products(monkeypatch):
    """These tests check how a product is shared out between threads, on shapes small
    enough to run fast; from which size a second thread pays is a tuning of its own."""
    monkeypatch.setattr(matmul, "PARALLEL_THRESHOLD", 1 << 18)

two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                 reason="needs 2 Numba threads")


def operands(n, k, m, layout, seed=0):
    """``a @ b`` operands of shapes (n, k) and (k, m); ``layout`` "A" makes A a transposed
    view (a weight gradient's ``grad.T``), "B" makes B one (``x @ W.T``)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, n)).astype(np.float32).T if layout == "A" else \
        rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((m, k)).astype(np.float32).T if layout == "B" else \
        rng.standard_normal((k, m)).astype(np.float32)
    return a, b


def on_threads(threads, function, *arguments):
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return function(*arguments)
    finally:
        numba.set_num_threads(previous)


CASES = [  # (n, k, m, layout): each kernel and task split the quickstart's layers use
    (64, 784, 512, "B"),  # x @ W.T: dot products over B's rows, 8 column chunks
    (64, 1100, 700, ""),  # B packed into columns
    (64, 512, 512, ""),  # grad @ W: the outer-product kernel, rows split across threads
    (512, 64, 784, "A"),  # grad.T @ x: the same kernel on a transposed A
    (9, 200, 1000, "A"),  # ragged rows and two column chunks
]


@two_threads
@pytest.mark.parametrize("n, k, m, layout", CASES)
def test_two_threads_give_the_bits_of_one(n, k, m, layout):
    a, b = operands(n, k, m, layout)
    assert n * k * m >= matmul.PARALLEL_THRESHOLD  # two threads really share it
    one = on_threads(1, matmul.matmul, a, b)
    np.testing.assert_array_equal(on_threads(2, matmul.matmul, a, b), one)
    np.testing.assert_allclose(one, a @ b, rtol=1e-4, atol=1e-4)


@two_threads
def test_a_batch_is_shared_out_matrix_by_matrix():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 40, 300)).astype(np.float32)
    b = rng.standard_normal((3, 300, 90)).astype(np.float32)
    np.testing.assert_array_equal(on_threads(2, matmul.matmul, a, b),
                                  on_threads(1, matmul.matmul, a, b))


def recording_kernel():
    """A stand-in kernel that notes each share it is asked for, and the thread that ran it."""
    calls = []
    lock = threading.Lock()

    def kernel(*arguments):
        with lock:
            calls.append((arguments, threading.get_ident()))

    kernel.py_func = kernel  # as a Numba dispatcher's Python function
    return kernel, calls


def test_every_share_runs_once_each_on_a_thread_of_its_own():
    kernel, calls = recording_kernel()
    threads.OnThreads(kernel)("x", 7, 2)
    shares = sorted(calls, key=lambda call: call[0][-2])
    assert [arguments for arguments, _ in shares] == [("x", 7, threads.CALLER, 0, 2),
                                                      ("x", 7, threads.CALLER, 1, 2)]
    assert shares[0][1] == threading.get_ident()  # the first share on the calling thread
    assert shares[1][1] != threading.get_ident()


def multiply_in_child(queue):
    a, b = operands(64, 784, 512, "B")
    queue.put(np.array_equal(on_threads(2, matmul.matmul, a, b), on_threads(1, matmul.matmul,
                                                                            a, b)))


@two_threads
def test_a_forked_child_makes_its_own_threads():
    """The parent's pool threads do not exist in a forked child (a DataLoader worker): a
    child that queued work on them would wait forever."""
    a, b = operands(64, 784, 512, "B")
    on_threads(2, matmul.matmul, a, b)  # the parent's pool is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=multiply_in_child, args=(queue,))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung on its parent's thread pool")
    assert child.exitcode == 0 and queue.get(timeout=5) is True


@two_threads
def test_the_trace_names_the_kernel_that_ran_on_the_threads():
    a, b = operands(64, 784, 512, "B")
    seen = []
    launch.set_listener(lambda kernel, grid, block, compilation, seconds: seen.append(kernel))
    try:
        on_threads(2, matmul.matmul, a, b)
    finally:
        launch.set_listener(None)
    kernel, = seen
    assert kernel is matmul.batched_matmul_on_threads
    name, source_file, _ = trace._kernel_identity(kernel)
    assert name == "numbanet.kernels.cpu.matmul.batched_matmul"
    assert source_file == matmul.__file__
    assert kernel.signatures == matmul.batched_matmul.signatures != []  # compiled, or not
