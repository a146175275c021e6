"""The kernel lens: which GPU thread read and wrote which element.

A CUDA kernel is one function run by thousands of threads at once; what makes it click is
seeing *who touched what*. The lens re-runs one launch under numba's CUDA simulator (which
runs every thread as a Python thread, so no GPU is needed) with its arrays wrapped, so that
every read and write is logged as (block, thread, barrier step, array, element, value).

Where to read what:

- ``simulate.py``   the logging arrays and the recording of one launch (simulator only)
- ``requests.py``   from a trace event to the kernel call to re-run: operands, shrinking
- ``worker.py``     the helper process (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba
                    is imported, so the recording never runs in the caller's process)
- ``analysis.py``   the facts, from the plain-data recording: writes per element (races),
                    elements never written, out-of-range accesses, global reads per output,
                    reads saved by shared-memory tiles, the reduction tree step by step
- ``cpu_loop.py``   the same question for a CPU kernel's ``prange`` loop: which iteration
                    wrote what (its Python source run with logging arrays)

The public entry point is :mod:`numbanet.kernel_lens`.
"""

THREAD_CAP = 2048
"""Threads (grid x block) in one recorded launch; larger launches are shown as examples."""
ACCESS_CAP = 250_000
"""Element accesses logged in one launch, all threads together."""
