"""Running one kernel on several cores at once, without ``prange``: :class:`OnThreads`.

A kernel that can be cut into independent shares takes three extra arguments, ``caller``
(see "Who holds the GIL" below), ``part`` and ``parts``, and does share ``part`` of
``parts`` (the matmul's tasks, the convolution's images, an optimizer's elements).
Compiled with ``nogil=True``, it lets go of Python's global lock (the GIL) while it runs,
so plain Python threads can run several shares at the same time, on as many cores. The
calling thread runs share 0 and a *worker* thread each of the others.

Numba's own way, a ``prange`` loop in a ``parallel=True`` kernel, costs far more to compile:
Numba turns the loop into a function of its own and LLVM optimises all the kernel's code
again inside it (the quickstart's three matmul kernels took 9 s of CPU to compile that way
against 4.6 s for plain loops). It also runs on an OpenMP runtime, which a forked process
(a DataLoader worker) cannot use again.

**Handing over a share in microseconds.** A thread that waits by sleeping (a lock, a
condition variable, a ``concurrent.futures`` pool) is woken by the operating system, and on
a virtual machine whose other core went idle, the hypervisor must first wake that core:
20 to 90 microseconds here, more than half of a small layer's whole matmul (a (64, 784) @
(784, 128) product took 116 us on one thread and 149-157 us on two that way). So a worker
that has just finished a share does not go to sleep at once: for about a millisecond it
*spins*, reading its mailbox over and over (:func:`wait_for_change`, compiled ``nogil``, so
it holds no lock while it waits), and a share posted in that time starts within a
microsecond. This is what OpenMP runtimes do between parallel loops (``OMP_WAIT_POLICY``,
``GOMP_SPINCOUNT``), and PyTorch's threads do it too. A worker that spun for its
millisecond in vain sleeps on a condition variable until the next share, so an idle
program costs no CPU.

**Who holds the GIL.** A worker that sees its share posted still needs the GIL for a
moment: Numba checks and unpacks a kernel's arguments before it lets go of the lock. If
the caller holds it just then (it is unpacking the arguments of its own share), the worker
would sleep on the lock and be woken like any sleeper, tens of microseconds later. So it
first spins a little longer, until the caller's share says it is running: the first
statement of every kernel run this way is :func:`caller_started`, which share 0 uses to
write the call's number into the :data:`CALLER` mailbox, and a kernel's body only runs once
the GIL is let go. Handing a do-nothing share to a second thread and waiting for it took
23 us without this step and 5 us with it.

The mailboxes are small int64 arrays: the caller writes the number of the call it posts,
the worker writes the number of the call whose share it finished. The reads and writes
between threads are *atomic* (:func:`load_acquire`, :func:`store_release`): the compiler may not
keep the value in a register (a loop re-reading a plain array element could be compiled
into a loop that never looks again), and everything written before the store (the share's
results) is visible to the thread that sees the stored number.
"""

import os
import threading
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from numbanet.kernels.launch import launch

POSTED = 0  # a worker's mailbox cells (a cache line apart, so that the caller's writes and
FINISHED = 8  # the worker's do not collide)
CALL = 0  # the caller's mailbox: the number of the call being handed out...
STARTED = 8  # ...and of the call whose share 0 is running, without the GIL
SPIN_SECONDS = 1e-3  # how long a worker keeps polling after a share before it sleeps


@intrinsic
def load_acquire(typingctx, cells, index):
    """``cells[index]`` read as an atomic load with *acquire* ordering: read from memory
    every time, and nothing the other thread wrote before its matching release store is
    missed."""

    def codegen(context, builder, signature, arguments):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, arguments[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array,
                                           [arguments[1]], wraparound=False)
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(cells, index), codegen


@intrinsic
def store_release(typingctx, cells, index, value):
    """``cells[index] = value`` as an atomic store with *release* ordering: every write this
    thread made before it is visible to a thread that reads ``value`` with
    :func:`load_acquire`."""

    def codegen(context, builder, signature, arguments):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, arguments[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array,
                                           [arguments[1]], wraparound=False)
        builder.store_atomic(arguments[2], pointer, "release", 8)
        return context.get_dummy_value()

    return types.none(cells, index, value), codegen


@intrinsic
def let_others_run(typingctx):
    """Offer this core to any other thread that is ready to run on it (``sched_yield``),
    and carry on at once if there is none. A spinning worker calls it between two reads of
    its mailbox, so that it never keeps the core from real work: an OpenMP thread of a
    ``prange`` kernel woken on the same core, another program. (A no-op on Windows.)"""

    def codegen(context, builder, signature, arguments):
        if os.name == "posix":
            function_type = ir.FunctionType(ir.IntType(32), [])
            sched_yield = cgutils.get_or_insert_function(builder.module, function_type,
                                                         "sched_yield")
            builder.call(sched_yield, [])
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, nogil=True)
def wait_for_change(cells, index, seen, polls):
    """Read ``cells[index]`` until it is no longer ``seen``, at most ``polls`` times; the
    value last read (still ``seen`` if the wait ran out)."""
    value = load_acquire(cells, index)
    for _ in range(polls):
        if value != seen:
            break
        let_others_run()
        value = load_acquire(cells, index)
    return value


@njit(cache=True, inline="always")
def share(count, part, parts):
    """``(start, stop)``: the items of ``range(count)`` that share ``part`` of ``parts``
    does, as evenly as integer division spreads them."""
    return part * count // parts, (part + 1) * count // parts


@njit(cache=True, inline="always")
def caller_started(caller, part):
    """The first statement of a kernel run by :class:`OnThreads`: share 0 (the calling
    thread's) says, through the ``caller`` mailbox, that it is running (so it has let go of
    the GIL, which the workers need to start theirs)."""
    if part == 0:
        store_release(caller, STARTED, load_acquire(caller, CALL))


@njit(cache=True, nogil=True)
def finish_then_wait(cells, caller, finished, polls):
    """A worker's step between shares, in one call without the GIL: report the share of
    call ``finished`` as done, wait (:func:`wait_for_change`) for the next call to be
    posted, then for its share 0 to be running (see the module's docstring); the posted
    call's number, or ``finished`` if nothing came. Reporting here rather than in Python
    means the caller, which is spinning on ``FINISHED``, never finds the worker still
    holding the GIL it needs to go on."""
    store_release(cells, FINISHED, finished)
    posted = wait_for_change(cells, POSTED, finished, polls)
    if posted != finished:
        for _ in range(polls):
            if load_acquire(caller, STARTED) >= posted:
                break
            let_others_run()
    return posted


@njit(cache=True, nogil=True)
def wait_until_finished(cells, share, polls):
    """The caller's wait: read ``FINISHED`` until it reaches ``share`` (at most ``polls``
    times); whether it did."""
    for _ in range(polls):
        if load_acquire(cells, FINISHED) == share:
            return True
        let_others_run()
    return load_acquire(cells, FINISHED) == share


def polls_per_second() -> float:
    """How many mailbox reads :func:`wait_for_change` makes in a second on this machine
    (measured once, over half a millisecond or so), to turn :data:`SPIN_SECONDS` into a
    count."""
    cells = np.zeros(16, dtype=np.int64)
    wait_for_change(cells, POSTED, 0, 1)  # compiled (or loaded from the cache) first
    polls = 256
    while True:
        started = time.perf_counter()
        wait_for_change(cells, POSTED, 0, polls)
        elapsed = time.perf_counter() - started
        if elapsed >= 5e-4 or polls >= 1 << 30:
            return polls / max(elapsed, 1e-9)
        polls *= 2


class Worker:
    """A thread that runs the shares posted to it, spinning between them (see the module's
    docstring), sleeping once it has spun for :data:`SPIN_SECONDS` with nothing to do."""

    def __init__(self, polls: int, name: str) -> None:
        self.cells = np.zeros(16, dtype=np.int64)  # the mailbox
        self.polls = polls
        self.job = None
        self.error: BaseException | None = None
        self.posted = 0  # the call last posted, as a Python int (Numba types it fastest)
        self.wake = threading.Condition()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def post(self, kernel, arguments: tuple, call: int) -> None:
        """Hand ``kernel(*arguments)``, the share of call number ``call``, to the worker;
        returns at once."""
        self.job = (kernel, arguments)
        self.posted = call
        with self.wake:  # a worker that stopped spinning sleeps on this condition
            self.cells[POSTED] = call
            self.wake.notify()

    def wait(self) -> None:
        """Return once the posted share is done; raise the error it raised, if any."""
        while not wait_until_finished(self.cells, self.posted, self.polls):
            time.sleep(50e-6)  # a long share: stop spinning, look again in ~50-100 us
        error, self.error = self.error, None
        if error is not None:
            raise error

    def _serve(self) -> None:
        finished = 0
        while True:
            posted = finish_then_wait(self.cells, CALLER, finished, self.polls)
            if posted == finished:  # nothing came while spinning: sleep until it does
                with self.wake:
                    while self.cells[POSTED] == finished:
                        self.wake.wait()
                    posted = int(self.cells[POSTED])
            kernel, arguments = self.job
            try:
                kernel(*arguments)
            except BaseException as error:  # handed to the caller, which raises it
                self.error = error
            finished = posted


class OnThreads:
    """A kernel run on several threads at once (the matmul's, the convolution's workers,
    the optimizers' updates): ``OnThreads(kernel)(*args, parts)`` calls ``kernel(*args,
    CALLER, part, parts)`` for every ``part`` in ``range(parts)``, share 0 on the calling
    thread and each other one on a :class:`Worker`, and returns when all are done. Each
    share writes its own part of the result, so it does not matter which thread runs it,
    and the result is bit for bit the same on any number of threads.

    For the trace it passes as the kernel it runs (its source, and whether this call
    compiled it).
    """

    def __init__(self, kernel):
        self.kernel = kernel
        self.__wrapped__ = kernel.py_func
        self.__name__ = kernel.py_func.__name__

    @property
    def signatures(self):
        return self.kernel.signatures

    @property
    def stats(self):
        return self.kernel.stats

    def run(self, parts: int, *arguments) -> None:
        """Launch the kernel's ``parts`` shares: on this thread alone when ``parts`` is 1
        (the plain kernel, as the trace then shows it), else one share per thread. The
        kernel is called as ``kernel(*arguments, caller, part, parts)``, ``caller`` being
        the :data:`CALLER` mailbox."""
        if parts > 1:
            launch(self, *arguments, parts)
        else:
            launch(self.kernel, *arguments, CALLER, 0, 1)

    def __call__(self, *arguments_and_parts) -> None:
        *arguments, parts = arguments_and_parts
        if not _in_use.acquire(blocking=False):  # another Python thread has the workers
            for part in range(parts):
                self.kernel(*arguments, CALLER, part, parts)
            return
        try:
            workers = _workers(parts - 1)
            call = int(CALLER[CALL]) + 1
            CALLER[CALL] = call
            for part, worker in enumerate(workers, start=1):
                worker.post(self.kernel, (*arguments, CALLER, part, parts), call)
            try:
                self.kernel(*arguments, CALLER, 0, parts)
            finally:
                errors = []
                for worker in workers:
                    try:
                        worker.wait()
                    except BaseException as error:
                        errors.append(error)
            if errors:
                raise errors[0]
        finally:
            _in_use.release()


# The workers share the cores with the OpenMP threads that run Numba's ``prange`` kernels
# (pooling's, softmax's, the sums', dropout's). By default OpenMP keeps its threads spinning for
# a while after each such kernel, ready for the next one, without letting others run, and a
# matmul's second share then has to share its core with a spinning thread (an MLP's Adam
# step at 2 threads, on a loaded machine: 3.9 and 2.8 ms, against 1.4 and 1.4 ms with them
# asleep). Set before Numba starts OpenMP (at its first ``prange`` kernel); a value of the
# user's own is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CALLER = np.zeros(16, dtype=np.int64)  # the caller's mailbox (CALL, STARTED)
_in_use = threading.Lock()  # one caller at a time hands shares to the workers
_pool: list[Worker] = []
_pool_process = 0  # the process that made them: a forked child makes its own


def _workers(count: int) -> list[Worker]:
    """``count`` workers (made on first use)."""
    global _pool, _pool_process
    if _pool_process != os.getpid():
        _pool, _pool_process = [], os.getpid()
    if len(_pool) < count:
        polls = max(1, int(SPIN_SECONDS * polls_per_second()))
        while len(_pool) < count:
            _pool.append(Worker(polls, f"numbanet-kernel-{len(_pool) + 1}"))
    return _pool[:count]
