"""Matrix multiplication on the GPU: shared-memory tiles plus register blocking.

``C = A @ B`` with ``A`` ``(n, k)`` and ``B`` ``(k, m)`` costs ``2·n·k·m`` floating-point
operations but only ``n·k + k·m`` distinct inputs, so a fast kernel is one that fetches each
input from slow global memory as few times as possible:

1. **Block tiles.** Each thread block owns a ``BLOCK_ROWS x BLOCK_COLUMNS`` (128 x 128) tile
   of ``C``. It walks along ``k`` in steps of ``TILE_DEPTH`` (8): all 256 threads copy a
   128 x 8 slab of ``A`` and an 8 x 128 slab of ``B`` into shared memory (fast, on-chip,
   visible to the whole block), wait at a barrier, compute, and wait again before the next
   slab overwrites the tiles. Every global element is now read once per block, not once
   per output.
2. **Register blocks.** Each thread computes ``THREAD_ROWS x THREAD_COLUMNS`` (8 x 8 = 64)
   outputs, kept in registers. Per step along ``k`` it reads 8 values of ``A`` and 8 of
   ``B`` from shared memory and does 64 multiply-adds with them — 4 multiply-adds per value
   read instead of the plain 16 x 16 tile's 1/2. This is what lifts the kernel above the
   shared-memory bandwidth ceiling that holds the plain tile back.

Thread ``(ty, tx)`` of the 16 x 16 block owns two groups of 4 neighbouring rows — rows
``4 ty .. 4 ty + 3`` and ``64 + 4 ty .. 64 + 4 ty + 3`` of the block tile — and likewise two
groups of 4 neighbouring columns. Four neighbours are 16 bytes of float32, which the
assembler (ptxas places the shared arrays, so it knows their alignment) fetches with *one*
128-bit shared-memory load; the 16 threads along ``x`` then read 256 consecutive bytes of
``B`` (no bank conflicts) and write 64 consecutive elements of each row of ``C``
(coalesced).

The ``A`` slab is stored transposed (``a_tile[kk, row]``) so that a thread's rows for one
``kk`` are neighbours too, and padded by 4 words per row so that the transposing stores land
in 32 different banks.

The shared tiles are 1-D and indexed with ``uint64`` offsets: for unsigned indices numba
skips its negative-index check (``a[-1]`` is the last element in Python), which otherwise
costs more instructions in the inner loop than the multiply-adds themselves.

Batched ``(B, n, k) @ (B, k, m)`` runs the same kernel with ``blockIdx.z`` picking the batch;
2-D inputs are viewed as a batch of one.
"""

import numpy as np
from numba import cuda, uint64

from numbanet.kernels.cuda.layout import SIMULATED, DeviceArray, contiguous_strides, make_view
from numbanet.kernels.cuda.memory import astype, contiguous, empty, fill
from numbanet.kernels.cuda.reductions import sum as sum_over
from numbanet.kernels.cuda.views import permute
from numbanet.kernels.launch import launch

BLOCK_ROWS = 128  # rows of C computed by one block
BLOCK_COLUMNS = 128  # columns of C computed by one block
TILE_DEPTH = 8  # length along k of the slabs staged in shared memory per step
THREAD_ROWS = 8  # rows of C computed by one thread ...
THREAD_COLUMNS = 8  # ... and columns
GROUP = 4  # a thread's outputs come in groups of 4 neighbours (one 128-bit float32 load)
THREADS_X = BLOCK_COLUMNS // THREAD_COLUMNS  # 16
THREADS_Y = BLOCK_ROWS // THREAD_ROWS  # 16
THREADS = THREADS_X * THREADS_Y  # 256
ROW_GROUP_SPACING = THREADS_Y * GROUP  # 64: a thread's second group of rows, this far down
COLUMN_GROUP_SPACING = THREADS_X * GROUP  # 64: its second group of columns, this far right
A_TILE_PITCH = BLOCK_ROWS + 4  # row length of the transposed A slab, padded against conflicts
A_TILE_SIZE = TILE_DEPTH * A_TILE_PITCH
B_TILE_SIZE = TILE_DEPTH * BLOCK_COLUMNS
A_LOADS_PER_THREAD = BLOCK_ROWS * TILE_DEPTH // THREADS  # 4
B_LOADS_PER_THREAD = TILE_DEPTH * BLOCK_COLUMNS // THREADS  # 4


@cuda.jit(cache=True)
def matmul_kernel(c, a, b):
    """c[z] = a[z] @ b[z] for 3-D C-contiguous arrays of one dtype.

    Grid: (ceil(m / 128), ceil(n / 128), batch) blocks of 16 x 16 threads; block (x, y, z)
    computes the 128 x 128 tile of c[z] whose top-left corner is (128 y, 128 x).
    """
    a_tile = cuda.shared.array(A_TILE_SIZE, dtype=c.dtype)
    b_tile = cuda.shared.array(B_TILE_SIZE, dtype=c.dtype)
    sums = cuda.local.array((THREAD_ROWS, THREAD_COLUMNS), dtype=c.dtype)
    a_values = cuda.local.array(THREAD_ROWS, dtype=c.dtype)
    b_values = cuda.local.array(THREAD_COLUMNS, dtype=c.dtype)

    batch = cuda.blockIdx.z
    first_row = cuda.blockIdx.y * BLOCK_ROWS
    first_column = cuda.blockIdx.x * BLOCK_COLUMNS
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    thread = ty * THREADS_X + tx
    rows, depth, columns = a.shape[1], a.shape[2], b.shape[2]

    for i in range(THREAD_ROWS):
        for j in range(THREAD_COLUMNS):
            sums[i, j] = 0

    for tile_start in range(0, depth, TILE_DEPTH):
        # Stage the slabs: 1024 elements of each, 4 per thread; zeros past the edges.
        for load in range(A_LOADS_PER_THREAD):
            slot = thread + load * THREADS
            tile_row, kk = slot // TILE_DEPTH, slot % TILE_DEPTH
            row, k = first_row + tile_row, tile_start + kk
            value = a[batch, row, k] if row < rows and k < depth else 0
            a_tile[uint64(kk * A_TILE_PITCH + tile_row)] = value
        for load in range(B_LOADS_PER_THREAD):
            slot = thread + load * THREADS
            kk, tile_column = slot // BLOCK_COLUMNS, slot % BLOCK_COLUMNS
            k, column = tile_start + kk, first_column + tile_column
            value = b[batch, k, column] if k < depth and column < columns else 0
            b_tile[uint64(slot)] = value
        cuda.syncthreads()

        # Multiply: per kk, 8 + 8 shared values feed 64 multiply-adds held in registers.
        # a_at / b_at: this thread's first value in row kk of each slab; one row per step.
        a_at = uint64(ty * GROUP)
        b_at = uint64(tx * GROUP)
        for _kk in range(TILE_DEPTH):
            for i in range(THREAD_ROWS):
                a_values[i] = a_tile[a_at + uint64(group_offset(i, ROW_GROUP_SPACING))]
            for j in range(THREAD_COLUMNS):
                b_values[j] = b_tile[b_at + uint64(group_offset(j, COLUMN_GROUP_SPACING))]
            for i in range(THREAD_ROWS):
                for j in range(THREAD_COLUMNS):
                    sums[i, j] += a_values[i] * b_values[j]
            a_at += uint64(A_TILE_PITCH)
            b_at += uint64(BLOCK_COLUMNS)
        cuda.syncthreads()

    for i in range(THREAD_ROWS):
        row = first_row + ty * GROUP + group_offset(i, ROW_GROUP_SPACING)
        for j in range(THREAD_COLUMNS):
            column = first_column + tx * GROUP + group_offset(j, COLUMN_GROUP_SPACING)
            if row < rows and column < columns:
                c[batch, row, column] = sums[i, j]


@cuda.jit(device=True)
def group_offset(index, spacing):
    """Where a thread's output number ``index`` sits relative to its first: groups of
    GROUP neighbours, the next group ``spacing`` further on."""
    return (index // GROUP) * spacing + index % GROUP


# float32 is capped at 128 registers so that two 256-thread blocks fit on one SM's 65536
# registers (the compiler spills a few loop-invariant values to L1 outside the inner loop).
# float64 accumulators take two registers each, so that kernel runs uncapped.
_REGISTER_CAP = {} if SIMULATED else {"max_registers": 128}  # the simulator has no registers
matmul_float32_kernel = cuda.jit(**_REGISTER_CAP, cache=True)(matmul_kernel.py_func)


def matmul(a: DeviceArray, b: DeviceArray) -> DeviceArray:
    """``a @ b`` for 2-D ``(n, k) @ (k, m)`` or batched 3-D ``(B, n, k) @ (B, k, m)``.

    The result dtype is numpy's (``float32 @ float32`` is ``float32``, ``int64 @ float32``
    is ``float64``); both operands are converted to it, and made C-contiguous (a transposed
    operand is copied once, O(n·k), so the O(n·k·m) loop reads memory in order).
    """
    if a.ndim != b.ndim or a.ndim not in (2, 3):
        raise ValueError(f"matmul takes two 2-D or two 3-D arrays, got {a.ndim}-D and {b.ndim}-D")
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    if a_shape[-1] != b_shape[-2] or (a.ndim == 3 and a_shape[0] != b_shape[0]):
        raise ValueError(f"matmul: shapes {a_shape} and {b_shape} do not match")
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype == np.bool_:
        raise TypeError("matmul is not implemented for bool arrays; convert them to float")
    batched_a, batched_b = (_as_batch(_prepared(x, dtype)) for x in (a, b))
    batch, rows, depth = batched_a.shape
    columns = batched_b.shape[2]
    out_shape = (rows, columns) if a.ndim == 2 else (batch, rows, columns)
    out = empty(out_shape, dtype)
    if out.size == 0:
        return out
    if depth == 0:
        fill(out, 0)
        return out
    grid = (
        (columns + BLOCK_COLUMNS - 1) // BLOCK_COLUMNS,
        (rows + BLOCK_ROWS - 1) // BLOCK_ROWS,
        batch,
    )
    kernel = matmul_float32_kernel if dtype == np.float32 else matmul_kernel
    launch(kernel, _as_batch(out), batched_a, batched_b, grid=grid, block=(THREADS_X, THREADS_Y))
    return out


def _prepared(x: DeviceArray, dtype: np.dtype) -> DeviceArray:
    """``x`` converted to ``dtype`` and C-contiguous (copied only when needed)."""
    return contiguous(x) if x.dtype == dtype else astype(x, dtype)


def _as_batch(x: DeviceArray) -> DeviceArray:
    """A C-contiguous 2-D array viewed as a batch of one; 3-D arrays unchanged."""
    if x.ndim == 3:
        return x
    shape = (1, *x.shape)
    return make_view(x, shape, contiguous_strides(shape))


def addmm_backward(grad: DeviceArray, mat1: DeviceArray, mat2: DeviceArray,
                   needs: tuple[bool, bool, bool]):
    """The gradients of ``out = bias + mat1 @ mat2`` for a 2-D ``grad``: ``(grad summed
    over its rows, grad @ mat2^T, (grad^T @ mat1)^T)``, None where ``needs`` says so (the
    CPU backend's docstring has the whole story)."""
    needs_bias, needs_mat1, needs_mat2 = needs
    grad_bias = sum_over(grad, (0,), False) if needs_bias else None
    grad_mat1 = matmul(grad, permute(mat2, (1, 0))) if needs_mat1 else None
    grad_mat2 = permute(matmul(permute(grad, (1, 0)), mat1), (1, 0)) if needs_mat2 else None
    return grad_bias, grad_mat1, grad_mat2
