"""Matrix multiplication ``C = A @ B`` on the CPU, within reach of an optimised BLAS.

``C[i, j] = sum_p A[i, p] * B[p, j]``: every element of C is the dot product of row ``i``
of A with column ``j`` of B. The naive triple loop runs at a few GFLOP/s; the kernels below
run at 70% to 100% of OpenBLAS on one core (a 784-128 layer, batch 64; on an AMD EPYC Zen 4
core, 1.0x to 1.2x OpenBLAS and 85% to 95% of the 117 GFLOP/s its fused multiply-adds
can reach). Four ideas get them there, in this order:

1. **Packing.** Rows of A are contiguous in memory, columns of B are not. Each worker
   first copies ("packs") the columns of B it needs into the rows of a scratch buffer
   ``packed[j, p] = B[p, j]``, so both operands of every dot product are read in order,
   a whole vector register of floats per load. When B is itself a transposed view
   (``x @ W.T`` in a linear layer) its columns are already contiguous and nothing is
   packed.
2. **Register blocking.** :func:`dot_tile` computes a 4 x 3 tile of C at once: each step
   of its loop loads 4 values of A and 3 of B and does 12 multiply-adds, so every loaded
   value is used 3 or 4 times. The 12 running sums are plain local variables. Written as
   dot products they are *reductions*, which LLVM's loop vectoriser turns into 12 vector
   accumulators held in registers (12 of AVX2's 16; the other 4 hold loaded values),
   updated by fused multiply-add instructions (see "Vector width" below). (Numba
   disables LLVM's SLP vectoriser, so the textbook "outer product" micro-kernel, 4 x 16
   scalars updated from one row of B, would stay scalar; the dot-product form sidesteps
   that.)
3. **Cache blocking.** A task sweeps a chunk of columns of C whose packed columns of B fit
   in the L2 cache; the 4 rows of A in use stay in L1 while they meet every column of
   the chunk, so each byte brought from memory is used many times.
4. **Threads.** Tasks (a column chunk of one matrix of the batch, and a group of rows when
   there are few chunks) are shared out between threads by
   :class:`~numbanet.kernels.cpu.threads.OnThreads`; each packs
   its own columns, so packing runs in parallel too. Small products run on one thread.

**The other order, for row-major B.** A dot product over a short sum (k = 64, the batch,
in a linear layer's weight gradient ``grad.T @ x``) is mostly set-up and final horizontal
addition, and packing B costs as much as using it. :func:`multiply_rows` runs the loops
the other way round, ``C[i, :] += A[i, p] * B[p, :]``: rows of B and C are both
contiguous, so its inner loop over a whole row of C is what LLVM's *loop* vectoriser
handles (no SLP needed), 4 rows of C updated from 4 rows of B per pass. B is read where
it lies and A one number at a time, through any strides, so ``grad.T`` is neither copied
nor packed. It is used whenever B is row-major and the sum is short (for long sums the
dot products win again); C is cut into column chunks that fit in L2 (and row groups for
threads). A task keeps 4 rows of C in L1 and runs the whole sum into them before moving on,
so only B, which stays in L2, streams through; it zeroes those 4 rows just before, so the
zeros are written where they are used instead of in a separate pass over all of C. This
order needs no packing at all, so it also takes long sums whenever B fits in L2: in
``x @ W`` with a (784, 128) B it beats transposing B into packed columns (the transpose
cost about as much as the products).

**Vector width.** On CPUs with AVX-512 (32 registers of 16 floats) LLVM still vectorises
with 256-bit registers by default: on the first such CPUs the 512-bit units lowered the
clock, so the target's tuning says "prefer 256-bit". :func:`prefer_512_bit_vectors` marks
the two multiply-add kernels with LLVM's function attribute ``"prefer-vector-width"="512"``
(what ``clang -mprefer-vector-width=512`` writes), and only those two: every other kernel,
and every CPU without AVX-512, compiles exactly as before. Each fused multiply-add then
does 16 of them instead of 8: 1.2x to 1.4x the speed of the same kernels at (64, 784, 128),
measured on a Skylake-SP server.

**Compiling.** A learner's first run waits while Numba compiles these kernels (then they
are cached on disk), so they are built to compile quickly. Numba compiles each ``@njit``
function it calls as a function of its own, and links a callee's code into every caller,
where LLVM optimises it again: the small bookkeeping functions between a launched kernel
and the two multiply-add kernels (:func:`task_block`, :func:`multiply_block`,
:func:`run_task`, :func:`rows_task`) are therefore inlined into their callers
(``inline="always"``), which took a quarter off compiling the quickstart's three matmul
kernels (4.7 s of CPU to 3.4 s, medians of 6 alternating runs on a loaded machine). And
there is no ``prange`` (see :mod:`numbanet.kernels.cpu.threads`).

``fastmath`` lets LLVM reorder the additions of a dot product (that is what vectorising a
sum needs), so results differ from numpy's in the last bits.
"""

import math

import numpy as np
from numba import get_num_threads, njit, types
from numba.extending import intrinsic

from numbanet.kernels.cpu import reductions
from numbanet.kernels.cpu.memory import empty_aligned
from numbanet.kernels.cpu.threads import OnThreads, caller_started, share

TILE_ROWS = 4  # rows of A (and C) in one register tile
TILE_COLS = 3  # columns of B (and C) in one register tile
PACKED_CHUNK_BYTES = 256 * 1024  # packed columns of B one task sweeps: half of a 512 KiB L2
# multiply-adds below which one thread is faster than two: a share reaches a spinning
# worker in microseconds (numbanet/kernels/cpu/threads.py), so two threads pay from about a
# million: (64, 128, 64) 23 us on one thread and on two, (64, 256, 64) 40 and 32 us,
# (64, 512, 64) 72-78 and 51 us, (64, 784, 128) 171-188 and 96 us (a busy 2-vCPU machine)
PARALLEL_THRESHOLD = 1 << 20
ROWS_CHUNK_BYTES = 512 * 1024  # a column chunk of B the outer-product kernel sweeps
ROWS_LONGEST_SUM = 256  # longer sums run as dot products over packed columns of B...
ROWS_LARGEST_B = 1024 * 1024  # ...unless B fits in L2 (bytes per matrix)
# C from this size starts on a cache line (memory.empty_aligned). The outer-product
# kernel's (64, 784) @ (784, 128) into a C at 20 places, taking turns (1 thread): 127-149 us
# where C began a line, 148-168 us 16, 32, 48 or 80 bytes past one, and a process whose
# allocator kept handing out a misaligned C stayed slow. Aligning costs ~1.5 us, which a
# small product would feel.
ALIGNED_FROM_BYTES = 16 * 1024


@intrinsic
def prefer_512_bit_vectors(typingctx):
    """Let LLVM vectorise the calling kernel with 512-bit registers where the CPU has them.

    Called as the first statement of a kernel, it adds the function attribute
    ``"prefer-vector-width"="512"`` to the kernel's LLVM function and compiles to nothing.
    LLVM caps the width at what the CPU has, so without AVX-512 the attribute changes
    nothing. (llvmlite's IR builder only accepts LLVM's keyword attributes such as
    ``noinline``, so this string attribute is written into the function's attribute list
    directly; it appears verbatim in the ``define`` line of the kernel's IR.)
    """
    def codegen(context, builder, signature, arguments):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, error_model="numpy")
def store_tile_row(c, i, j, x0, x1, x2):
    """``C[i, j:j+3] = (x0, x1, x2)``, skipping positions past C's last row or column."""
    rows, cols = c.shape
    if i < rows:
        c[i, j] = x0
        if j + 1 < cols:
            c[i, j + 1] = x1
        if j + 2 < cols:
            c[i, j + 2] = x2


@njit(cache=True, fastmath=True, error_model="numpy")
def dot_tile(a, b_columns, c, i, j, packed_j):
    """``C[i:i+4, j:j+3] = A[i:i+4, :] @ B[:, j:j+3]``, the register-blocked micro-kernel.

    ``b_columns[packed_j + q]`` holds column ``j + q`` of B as a contiguous row. Rows and
    columns past the edge of C are clamped to the last one (they read valid memory and
    their sums are simply not stored), so edges need no second kernel.
    """
    prefer_512_bit_vectors()
    last_row = a.shape[0] - 1
    last_column = b_columns.shape[0] - 1
    a0 = a[i]
    a1 = a[min(i + 1, last_row)]
    a2 = a[min(i + 2, last_row)]
    a3 = a[min(i + 3, last_row)]
    b0 = b_columns[packed_j]
    b1 = b_columns[min(packed_j + 1, last_column)]
    b2 = b_columns[min(packed_j + 2, last_column)]
    zero = c.dtype.type(0)
    c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = zero
    for p in range(a.shape[1]):
        x0 = b0[p]
        x1 = b1[p]
        x2 = b2[p]
        y = a0[p]
        c00 += y * x0
        c01 += y * x1
        c02 += y * x2
        y = a1[p]
        c10 += y * x0
        c11 += y * x1
        c12 += y * x2
        y = a2[p]
        c20 += y * x0
        c21 += y * x1
        c22 += y * x2
        y = a3[p]
        c30 += y * x0
        c31 += y * x1
        c32 += y * x2
    store_tile_row(c, i, j, c00, c01, c02)
    store_tile_row(c, i + 1, j, c10, c11, c12)
    store_tile_row(c, i + 2, j, c20, c21, c22)
    store_tile_row(c, i + 3, j, c30, c31, c32)


@njit(cache=True, error_model="numpy")
def pack_columns(b, j_start, j_stop, packed):
    """``packed[q, p] = B[p, j_start + q]``: columns of B copied into contiguous rows.

    A transpose reads one array in order and writes the other out of order. Working on
    8 rows of B at a time, each read row stays in cache while its next 8 values go to 8
    packed rows, and each write of a packed row fills 8 neighbouring values.
    """
    k = b.shape[0]
    k_in_eights = k - k % 8
    for p in range(0, k_in_eights, 8):
        r0, r1, r2, r3 = b[p], b[p + 1], b[p + 2], b[p + 3]
        r4, r5, r6, r7 = b[p + 4], b[p + 5], b[p + 6], b[p + 7]
        for j in range(j_start, j_stop):
            out = packed[j - j_start, p : p + 8]
            out[0] = r0[j]
            out[1] = r1[j]
            out[2] = r2[j]
            out[3] = r3[j]
            out[4] = r4[j]
            out[5] = r5[j]
            out[6] = r6[j]
            out[7] = r7[j]
    for p in range(k_in_eights, k):
        for j in range(j_start, j_stop):
            packed[j - j_start, p] = b[p, j]


@njit(cache=True, inline="always", error_model="numpy")
def multiply_block(a, b_source, source_is_transposed, packed, c, i_start, i_stop, j_start,
                   j_stop):
    """``C[i_start:i_stop, j_start:j_stop] = A[i_start:i_stop] @ B[:, j_start:j_stop]``.

    One task: pack this block's columns of B (unless ``b_source`` already holds B
    transposed), then sweep its 4 x 3 tiles row band by row band, so that the four rows of
    A in use stay in L1 while they meet every packed column. ``i_start`` and ``j_start``
    are multiples of the tile size, and only the block at C's edge has a ragged end.
    """
    if source_is_transposed:
        b_columns = b_source
        offset = 0
    else:
        b_columns = packed[j_start:j_stop]
        pack_columns(b_source, j_start, j_stop, b_columns)
        offset = j_start
    for i in range(i_start, i_stop, TILE_ROWS):
        for j in range(j_start, j_stop, TILE_COLS):
            dot_tile(a, b_columns, c, i, j, j - offset)


@njit(cache=True, inline="always", error_model="numpy")
def task_block(task, n, m, row_groups, column_chunks):
    """The matrix of the batch, and C's rows and columns, that task number ``task`` owns.

    Boundaries fall on whole tiles, spread as evenly as integer division allows.
    """
    per_matrix = row_groups * column_chunks
    matrix = task // per_matrix
    group = task % per_matrix // column_chunks
    chunk = task % column_chunks
    row_tiles = (n + TILE_ROWS - 1) // TILE_ROWS
    column_tiles = (m + TILE_COLS - 1) // TILE_COLS
    i_start = group * row_tiles // row_groups * TILE_ROWS
    i_stop = min(n, (group + 1) * row_tiles // row_groups * TILE_ROWS)
    j_start = chunk * column_tiles // column_chunks * TILE_COLS
    j_stop = min(m, (chunk + 1) * column_tiles // column_chunks * TILE_COLS)
    return matrix, group, i_start, i_stop, j_start, j_stop


@njit(cache=True, inline="always", error_model="numpy")
def run_task(task, a, b_source, source_is_transposed, packed, c, row_groups, column_chunks):
    """Multiply the block of task number ``task``, packing into the task's own buffer."""
    matrix, group, i_start, i_stop, j_start, j_stop = task_block(
        task, c.shape[1], c.shape[2], row_groups, column_chunks)
    scratch = packed[0] if source_is_transposed else packed[matrix * row_groups + group]
    multiply_block(a[matrix], b_source[matrix], source_is_transposed, scratch, c[matrix],
                   i_start, i_stop, j_start, j_stop)


@njit(cache=True, nogil=True, error_model="numpy")
def batched_matmul(a, b_source, source_is_transposed, packed, c, row_groups, column_chunks,
                   caller, part, parts):
    """``C[t] = A[t] @ B[t]`` for every matrix ``t`` of the batch: share ``part`` of
    ``parts`` of the tasks (all of them when ``parts`` is 1; :class:`OnThreads` runs the
    shares on several threads at once).

    ``a``: (batch, n, k) C-contiguous. ``b_source``: B as (batch, k, m), or B transposed as
    (batch, m, k) when ``source_is_transposed``; C-contiguous either way. ``packed``:
    scratch of shape (batch * row_groups, m, k). ``c``: (batch, n, m), written.
    ``caller``: :class:`OnThreads`' mailbox, told first thing that share 0 runs.
    """
    caller_started(caller, part)
    tasks = c.shape[0] * row_groups * column_chunks
    first_task, stop_task = share(tasks, part, parts)
    for task in range(first_task, stop_task):
        run_task(task, a, b_source, source_is_transposed, packed, c, row_groups,
                 column_chunks)


@njit(cache=True, fastmath=True, error_model="numpy")
def multiply_rows(a, b, c, i_start, i_stop, j_start, j_stop):
    """``C[i_start:i_stop, j_start:j_stop] += A[i_start:i_stop] @ B[:, j_start:j_stop]``,
    with B's rows read in place.

    The *outer-product* order: ``C[i, :] += A[i, p] * B[p, :]``. Row ``p`` of B and row
    ``i`` of C are both contiguous, so the loop over ``j`` reads and writes in order and
    LLVM vectorises it; A is only read one number at a time, so it may be any strided view
    (``grad.T`` in a linear layer's weight gradient) and nothing is copied or packed.
    Register blocking: each pass of the ``j`` loop updates 4 rows of C from 4 rows of B,
    16 multiply-adds for 4 loads of B and 4 loads and stores of C, the 16 values of A held
    in registers. Cache blocking: those 4 rows of C stay in L1 while the whole sum over
    ``p`` runs into them; only B streams in, from L2. Rows of C past the last multiple of 4,
    and rows of B past the last multiple of 4, are finished one at a time.

    The vectorised loop runs only after a run-time check that the rows written do not
    overlap the rows read. Taking C's four rows through one slice ``c[i:i+4]`` keeps that
    check simple: with four separate lookups ``c[i]``, ``c[i+1]``, ... the scalar
    fallback loop ran instead at call sites where ``i_start`` is a constant (5x slower).
    The column bounds are made unsigned: a signed index might be negative, which Numba
    handles by counting from the end, a test in every step that LLVM cannot vectorise.
    """
    prefer_512_bit_vectors()
    k = a.shape[1]
    j_start = np.uint64(j_start)
    j_stop = np.uint64(j_stop)
    k_in_fours = k - k % 4
    i_in_fours = i_start + (i_stop - i_start) // 4 * 4
    for i in range(i_start, i_in_fours, 4):
        band = c[i : i + 4]
        c0, c1, c2, c3 = band[0], band[1], band[2], band[3]
        for p in range(0, k_in_fours, 4):
            b0, b1, b2, b3 = b[p], b[p + 1], b[p + 2], b[p + 3]
            a00, a01, a02, a03 = a[i, p], a[i, p + 1], a[i, p + 2], a[i, p + 3]
            a10, a11, a12, a13 = a[i + 1, p], a[i + 1, p + 1], a[i + 1, p + 2], a[i + 1, p + 3]
            a20, a21, a22, a23 = a[i + 2, p], a[i + 2, p + 1], a[i + 2, p + 2], a[i + 2, p + 3]
            a30, a31, a32, a33 = a[i + 3, p], a[i + 3, p + 1], a[i + 3, p + 2], a[i + 3, p + 3]
            for j in range(j_start, j_stop):
                y0, y1, y2, y3 = b0[j], b1[j], b2[j], b3[j]
                c0[j] += a00 * y0 + a01 * y1 + a02 * y2 + a03 * y3
                c1[j] += a10 * y0 + a11 * y1 + a12 * y2 + a13 * y3
                c2[j] += a20 * y0 + a21 * y1 + a22 * y2 + a23 * y3
                c3[j] += a30 * y0 + a31 * y1 + a32 * y2 + a33 * y3
        for p in range(k_in_fours, k):
            b0 = b[p]
            a00, a10, a20, a30 = a[i, p], a[i + 1, p], a[i + 2, p], a[i + 3, p]
            for j in range(j_start, j_stop):
                y0 = b0[j]
                c0[j] += a00 * y0
                c1[j] += a10 * y0
                c2[j] += a20 * y0
                c3[j] += a30 * y0
    for i in range(i_in_fours, i_stop):
        c0 = c[i]
        for p in range(k):
            b0 = b[p]
            a00 = a[i, p]
            for j in range(j_start, j_stop):
                c0[j] += a00 * b0[j]


@njit(cache=True, inline="always", error_model="numpy")
def rows_task(task, a, b, c, row_groups, column_chunks):
    """``C = A @ B`` on task number ``task``'s block of C: one matrix of the batch, a group
    of its rows (whole groups of 4) and a chunk of its columns, spread as evenly as integer
    division allows.

    :func:`multiply_rows` adds into C, so C must start at zero. Each band of 4 rows is
    zeroed just before the band's sum runs into it: the zeros are written into L1 and
    used there. Zeroing all of C first (``c.fill(0)``) was a pass of its own through
    memory, on one thread: at (128, 64, 784) 7.6 us beside the product's 120 us, and
    the whole call 2-3% slower than with the zeroing done here.
    """
    per_matrix = row_groups * column_chunks
    matrix = task // per_matrix
    group = task % per_matrix // column_chunks
    chunk = task % column_chunks
    rows, columns = c.shape[1], c.shape[2]
    row_fours = (rows + 3) // 4
    i_start = group * row_fours // row_groups * 4
    i_stop = min(rows, (group + 1) * row_fours // row_groups * 4)
    j_start = chunk * columns // column_chunks
    j_stop = (chunk + 1) * columns // column_chunks
    a_matrix, b_matrix, c_matrix = a[matrix], b[matrix], c[matrix]
    for i in range(i_start, i_stop, 4):
        band_stop = min(i + 4, i_stop)
        for row in range(i, band_stop):
            c_matrix[row, j_start:j_stop] = 0
        multiply_rows(a_matrix, b_matrix, c_matrix, i, band_stop, j_start, j_stop)


@njit(cache=True, nogil=True, error_model="numpy")
def batched_matmul_rows(a, b, c, row_groups, column_chunks, caller, part, parts):
    """``C[t] = A[t] @ B[t]`` for every matrix of the batch, B row-major: share ``part`` of
    ``parts`` of the tasks, as :func:`batched_matmul`.

    ``a``: (batch, n, k), any strides. ``b``: (batch, k, m) C-contiguous. ``c``: (batch,
    n, m), written. A column chunk of B stays in L2 while bands of C's rows meet it.
    """
    caller_started(caller, part)
    tasks = c.shape[0] * row_groups * column_chunks
    first_task, stop_task = share(tasks, part, parts)
    for task in range(first_task, stop_task):
        rows_task(task, a, b, c, row_groups, column_chunks)


batched_matmul_on_threads = OnThreads(batched_matmul)
batched_matmul_rows_on_threads = OnThreads(batched_matmul_rows)


def _task_grid(batch: int, n: int, k: int, m: int, itemsize: int, threads: int):
    """(row groups, column chunks) per matrix: enough tasks to feed every thread evenly."""
    column_tiles = -(-m // TILE_COLS)
    tiles_per_chunk = max(1, PACKED_CHUNK_BYTES // (TILE_COLS * max(k, 1) * itemsize))
    column_chunks = min(column_tiles, -(-column_tiles // tiles_per_chunk))
    if batch == 1 and threads > 1:  # a whole number of chunks per thread
        column_chunks = min(column_tiles, -(-column_chunks // threads) * threads)
    row_groups = 1
    if batch * column_chunks < threads:  # few, wide-and-short columns: split rows too
        row_groups = min(-(-n // TILE_ROWS), -(-threads // (batch * column_chunks)))
    return row_groups, column_chunks


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D (n, k) @ (k, m) or batched 3-D (B, n, k) @ (B, k, m) arrays.

    Any strides are accepted. When B is a transposed contiguous array (its columns are
    rows in memory) it is used as is, A is made C-contiguous, and the dot-product kernel
    runs. Otherwise B is made C-contiguous: a short sum, or a B that fits in L2, runs the
    outer-product kernel with A read in place; else B's columns are packed for the
    dot-product kernel.
    """
    if a.ndim not in (2, 3) or a.ndim != b.ndim:
        raise ValueError(f"matmul expects two 2-D or two 3-D arrays, got {a.shape} @ {b.shape}")
    if a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul shapes do not line up: {a.shape} @ {b.shape}")
    # (np.result_type alone takes 0.5 us, a tenth of a small layer's matmul)
    dtype = a.dtype if a.dtype == b.dtype else np.result_type(a.dtype, b.dtype)
    if dtype.kind not in "iuf":
        raise TypeError(f"matmul multiplies numbers, not {dtype} (as PyTorch, it has no "
                        "boolean matmul): convert the operands with .float() first")
    batched = a.ndim == 3
    a3 = a if batched else a[None]
    b3 = b if batched else b[None]
    batch, n, k = a3.shape
    m = b3.shape[2]
    shape = (batch, n, m)
    c = (empty_aligned(shape, dtype) if math.prod(shape) * dtype.itemsize >= ALIGNED_FROM_BYTES
         else np.empty(shape, dtype))
    if c.size == 0 or k == 0:
        c.fill(0)
        return c if batched else c[0]
    threads = get_num_threads() if batch * n * k * m >= PARALLEL_THRESHOLD else 1
    b_transposed = b3.transpose(0, 2, 1)
    source_is_transposed = b_transposed.flags.c_contiguous and b3.dtype == dtype
    b_bytes = k * m * dtype.itemsize
    if not source_is_transposed and (k <= ROWS_LONGEST_SUM or b_bytes <= ROWS_LARGEST_B):
        column_chunks = min(m, -(-b_bytes // ROWS_CHUNK_BYTES))
        a3 = a3 if a3.dtype == dtype else a3.astype(dtype)
        b3 = np.ascontiguousarray(b3, dtype=dtype)
        row_groups = 1
        if batch * column_chunks < threads:
            row_groups = min(-(-n // TILE_ROWS), -(-threads // (batch * column_chunks)))
        batched_matmul_rows_on_threads.run(min(threads, batch * row_groups * column_chunks),
                                           a3, b3, c, row_groups, column_chunks)
        return c if batched else c[0]
    a3 = np.ascontiguousarray(a3, dtype=dtype)
    b_source = b_transposed if source_is_transposed else np.ascontiguousarray(b3, dtype=dtype)
    row_groups, column_chunks = _task_grid(batch, n, k, m, dtype.itemsize, threads)
    if source_is_transposed:
        packed = np.empty((1, 0, 0), dtype=dtype)
    else:
        packed = np.empty((batch * row_groups, m, k), dtype=dtype)
    batched_matmul_on_threads.run(min(threads, batch * row_groups * column_chunks), a3,
                                  b_source, source_is_transposed, packed, c, row_groups,
                                  column_chunks)
    return c if batched else c[0]


def addmm_backward(grad: np.ndarray, mat1: np.ndarray, mat2: np.ndarray,
                   needs: tuple[bool, bool, bool]):
    """The gradients of ``out = bias + mat1 @ mat2`` (``nn.Linear``'s addmm, bias 1-D) for
    a 2-D ``grad`` of ``out``'s shape, in one call: ``(grad summed over its rows, grad @
    mat2^T, mat1^T @ grad)``, each None where ``needs`` says that input needs none.

    ``mat1^T @ grad`` is computed as ``(grad^T @ mat1)^T``: for ``nn.Linear``, ``mat2`` is
    ``weight^T``, so the transpose undoes itself and the weight's gradient arrives
    C-contiguous. The matmuls and the sum are the ones ``grad @ mat2.t()`` and
    ``grad.sum(0)`` run; one call saves their Tensors and graph bookkeeping.
    """
    needs_bias, needs_mat1, needs_mat2 = needs
    grad_bias = reductions.sum(grad, (0,), False) if needs_bias else None
    grad_mat1 = matmul(grad, mat2.T) if needs_mat1 else None
    grad_mat2 = matmul(grad.T, mat1).T if needs_mat2 else None
    return grad_bias, grad_mat1, grad_mat2
