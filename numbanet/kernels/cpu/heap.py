"""Reusing freed memory for large arrays, instead of asking the operating system again.

Every op's result is a new numpy array, so a training step allocates its activations and
gradients afresh and frees the last step's. numpy asks the C library's ``malloc`` for the
memory, and glibc's ``malloc`` serves a large request (from 128 KiB, a threshold it raises
as it goes, up to 32 MiB) with fresh pages from the kernel (``mmap``), and gives them back
when the array is freed (``munmap``); freed memory at the top of its heap goes back too
(past ``M_TRIM_THRESHOLD``). A fresh page is mapped only when first written: one *page
fault* per 4 KiB, a trip into the kernel (and on a virtual machine, often out to the
hypervisor) in the middle of the kernel that writes it. The seed CNN's step at batch 64
allocates activations of 5-10 MB: 2,117 page faults a step, measured, and 51 ms a step at 2
threads without them against 59-68 ms with them.

:func:`keep_freed_memory` raises both thresholds (``mallopt``) to :data:`KEEP_BYTES`, so
arrays up to that size come from ``malloc``'s own heap and their memory, once freed, is
reused by the next step's arrays of the same sizes, without page faults. The price is that
memory a program freed stays with the process (up to :data:`KEEP_BYTES` at the top of the
heap) rather than going back to the system. Deep-learning frameworks keep such a cache
themselves (PyTorch's CUDA caching allocator; on the CPU it suggests preloading jemalloc or
tcmalloc). It is done once, at import, on Linux with glibc; elsewhere, or with
``NUMBANET_KEEP_FREED_MEMORY=0`` in the environment, ``malloc`` keeps its defaults.
"""

import ctypes
import os
import platform

KEEP_BYTES = 256 * 1024 * 1024
M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to serve arrays up to :data:`KEEP_BYTES` from its heap and to
    keep that much freed memory for reuse; whether it did."""
    if os.environ.get("NUMBANET_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
                and libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
