"""The CPU matmul kernels' 512-bit vectors, and the outer-product path's long sums,
column chunks and zeroing of C.

:func:`numbanet.kernels.cpu.matmul.prefer_512_bit_vectors` marks exactly the two
multiply-add kernels with LLVM's ``"prefer-vector-width"="512"``; every other kernel must
compile as before (their results are compared bit for bit with the CUDA kernels). The
kernels are compiled afresh here (not from the on-disk cache) so that their LLVM IR can
be read.
"""

from importlib import import_module

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

matmul = import_module("numbanet.kernels.cpu.matmul")

ATTRIBUTE = '"prefer-vector-width"="512"'


def fresh_ir_and_assembly(kernel, *arguments, **options):
    """LLVM IR and machine code of ``kernel``'s Python source compiled anew for
    ``arguments``."""
    dispatcher = numba.njit(error_model="numpy", **options)(kernel.py_func)
    dispatcher(*arguments)
    signature = dispatcher.signatures[0]
    return dispatcher.inspect_llvm(signature), dispatcher.inspect_asm(signature)


def has_avx512():
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


def outer_product_arguments():
    a = np.ones((8, 64), np.float32)
    b = np.ones((64, 128), np.float32)
    return a, b, np.zeros((8, 128), np.float32), 0, 8, 0, 128


def test_the_outer_product_kernel_asks_for_512_bit_vectors():
    ir, assembly = fresh_ir_and_assembly(matmul.multiply_rows, *outer_product_arguments(),
                                         fastmath=True)
    assert ATTRIBUTE in ir
    if has_avx512():
        assert "vfmadd231ps\t%zmm" in assembly or "vfmadd213ps\t%zmm" in assembly


def test_the_dot_product_tile_asks_for_512_bit_vectors():
    a = np.ones((4, 64), np.float32)
    b_columns = np.ones((3, 64), np.float32)
    ir, _ = fresh_ir_and_assembly(matmul.dot_tile, a, b_columns, np.zeros((4, 3), np.float32),
                                  0, 0, 0, fastmath=True)
    assert ATTRIBUTE in ir


def test_other_kernels_keep_the_default_vector_width():
    b = np.ones((16, 32), np.float32)
    ir, _ = fresh_ir_and_assembly(matmul.pack_columns, b, 0, 32, np.empty((32, 16), np.float32))
    assert ATTRIBUTE not in ir


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, m", [(64, 784, 128), (7, 301, 45), (5, 999, 3)])
def test_long_sums_over_a_small_row_major_b_take_the_outer_product_path(dtype, n, k, m):
    """B of at most ``ROWS_LARGEST_B`` bytes: no packing, whatever the length of the sum
    (ragged rows and sums included)."""
    assert k > matmul.ROWS_LONGEST_SUM and k * m * 8 <= matmul.ROWS_LARGEST_B
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal((k, m)).astype(dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(matmul.matmul(a, b), a @ b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_short_sum_over_a_wide_b_is_cut_into_column_chunks(threads):
    """(9, 200, 1000): B is 800 kB, two column chunks of ``ROWS_CHUNK_BYTES``; C's rows
    are ragged (9 = 2 x 4 + 1) and split across threads when there are two."""
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("needs 2 Numba threads")
    assert 200 * 1000 * 4 > matmul.ROWS_CHUNK_BYTES
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 9)).astype(np.float32).T
    b = rng.standard_normal((200, 1000)).astype(np.float32)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        result = matmul.matmul(a, b)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_allclose(result, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("row_groups, column_chunks", [(1, 1), (2, 3)])
def test_the_outer_product_path_writes_c_over_whatever_it_held(row_groups, column_chunks):
    """Each task zeroes its bands of C itself: C may start as garbage (``np.empty``)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 11, 37)).astype(np.float32)
    b = rng.standard_normal((2, 37, 50)).astype(np.float32)
    c = np.full((2, 11, 50), np.nan, np.float32)
    caller = np.zeros(16, dtype=np.int64)  # OnThreads' mailbox, unused by one share
    matmul.batched_matmul_rows(a, b, c, row_groups, column_chunks, caller, 0, 1)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
