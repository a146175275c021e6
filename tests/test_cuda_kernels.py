"""The CUDA backend's kernels, checked against numpy (or the CPU backend where it exports
the same name).

Runs on a GPU, or without one under the CUDA simulator: ``NUMBA_ENABLE_CUDASIM=1`` in the
environment before numba is imported. The simulator runs every GPU thread as a Python
thread, so every array here is tiny; inputs include non-contiguous views (transposes,
step slices) and broadcasting so that the strided kernels are exercised, not only the
contiguous fast paths.
"""

import os

import numpy as np
import pytest


def _cuda_usable() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    from numba import cuda

    return cuda.is_available()


if not _cuda_usable():
    pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

import numbanet.kernels.cuda as gpu  # noqa: E402
from numbanet.kernels import launch as launch_module  # noqa: E402

try:
    import numbanet.kernels.cpu as cpu_backend
except ImportError:
    cpu_backend = None

pytestmark = pytest.mark.cuda

DTYPES = [np.bool_, np.int64, np.float32, np.float64]
RNG = np.random.default_rng(0)


# ------------------------------------------------------------------------------- helpers


def reference(name: str, numpy_version):
    """The CPU backend's ``name`` when it exports it, else the numpy version."""
    function = getattr(cpu_backend, name, None)
    return function if function is not None else numpy_version


def on_gpu(values) -> object:
    return gpu.from_host(np.asarray(values))


def host(array) -> np.ndarray:
    return gpu.to_host(array)


def transposed_view(values: np.ndarray):
    """A non-contiguous device view holding ``values``: the reversed-axes copy, permuted
    back."""
    axes = tuple(reversed(range(values.ndim)))
    return gpu.permute(on_gpu(np.ascontiguousarray(values.transpose(axes))), axes)


def every_other_view(values: np.ndarray):
    """A non-contiguous device view holding ``values``: every other element of an array
    twice as long along each axis."""
    bigger = np.zeros(tuple(2 * extent for extent in values.shape), dtype=values.dtype)
    bigger[tuple(slice(None, None, 2) for _ in values.shape)] = values
    return gpu.basic_index(on_gpu(bigger), tuple(slice(None, None, 2) for _ in values.shape))


def sample(shape, dtype, low=-3, high=3) -> np.ndarray:
    """Random values of ``dtype``: integers in [low, high), booleans, or floats."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype.kind == "i":
        return RNG.integers(low, high, size=shape).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


def assert_same(actual: np.ndarray, expected: np.ndarray, rtol: float | None = None):
    """Same shape, dtype and values (NaNs equal; float tolerance by dtype)."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if actual.dtype.kind == "f":
        default = 1e-5 if actual.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=rtol or default, atol=rtol or default,
                                   equal_nan=True)
    else:
        np.testing.assert_array_equal(actual, expected)


def numpy_result_dtype(ufunc, *dtypes) -> np.dtype:
    """numpy's result dtype, except float32 / int64 where numpy turns bools into float16 /
    int8 (as the backend documents)."""
    dtype = ufunc.resolve_dtypes((*map(np.dtype, dtypes), None))[-1]
    if dtype != np.bool_ and all(np.dtype(each) == np.bool_ for each in dtypes):
        return np.dtype(np.float32 if dtype.kind == "f" else np.int64)
    return dtype


# ---------------------------------------------------------------------------- memory


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_host_and_to_host_round_trip(dtype):
    values = sample((2, 3), dtype)
    assert_same(host(on_gpu(values)), values)
    assert_same(host(on_gpu(np.asarray(values[0, 0]))), values[0, 0])


def test_empty_full_and_fill():
    assert host(gpu.empty((2, 3), np.float32)).shape == (2, 3)
    assert_same(host(gpu.full((2, 3), 1.5, np.float32)), np.full((2, 3), 1.5, np.float32))
    assert_same(host(gpu.full((2,), 7, np.int64)), np.array([7, 7]))
    assert_same(host(gpu.full((), True, np.bool_)), np.array(True))

    base = on_gpu(np.zeros((4, 5)))
    gpu.fill(gpu.basic_index(base, (slice(None, None, 2), slice(1, 4))), 2.0)
    expected = np.zeros((4, 5))
    expected[::2, 1:4] = 2.0
    assert_same(host(base), expected)


@pytest.mark.parametrize(
    "start, stop, step, dtype",
    [(0, 10, 3, np.int64), (0.5, 2.0, 0.25, np.float32), (5, 0, -2, np.float64), (3, 3, 1, None)],
)
def test_arange(start, stop, step, dtype):
    expected = reference("arange", np.arange)(start, stop, step, dtype)
    assert_same(host(gpu.arange(start, stop, step, dtype)), expected)


@pytest.mark.parametrize("source, target", [(np.float32, np.int64), (np.float64, np.bool_),
                                            (np.int64, np.float32), (np.bool_, np.float64)])
def test_astype_converts_like_numpy(source, target):
    values = sample((3, 4), source)
    expected = reference("astype", lambda array, dtype: array.astype(dtype))(values, target)
    assert_same(host(gpu.astype(transposed_view(values), target)), expected)


def test_contiguous_returns_itself_or_a_packed_copy():
    packed = on_gpu(np.arange(6.0).reshape(2, 3))
    assert gpu.contiguous(packed) is packed
    view = gpu.permute(packed, (1, 0))
    copy = gpu.contiguous(view)
    assert copy is not view
    assert_same(host(copy), np.arange(6.0).reshape(2, 3).T)


def test_copy_into_broadcasts_into_a_strided_view_and_converts():
    destination = on_gpu(np.zeros((3, 4), np.float32))
    column_pair = gpu.basic_index(destination, (slice(None), slice(1, 3)))
    gpu.copy_into(column_pair, on_gpu(np.array([5, 6], np.int64)))
    expected = np.zeros((3, 4), np.float32)
    expected[:, 1:3] = [5, 6]
    assert_same(host(destination), expected)

    gpu.copy_into(gpu.basic_index(destination, 0), 9.0)
    expected[0] = 9.0
    assert_same(host(destination), expected)


def test_copy_into_overlapping_source_reads_the_old_values():
    values = np.arange(6.0)
    array = on_gpu(values)
    gpu.copy_into(gpu.basic_index(array, slice(1, None)), gpu.basic_index(array, slice(0, 5)))
    expected = values.copy()
    expected[1:] = values[:5]
    assert_same(host(array), expected)


# ----------------------------------------------------------------------------- views


def test_reshape_of_a_contiguous_array_is_a_view():
    array = on_gpu(np.arange(12.0))
    view = gpu.reshape(array, (3, -1))
    assert view.shape == (3, 4)
    gpu.fill(gpu.basic_index(view, (1, slice(None))), -1.0)
    expected = np.arange(12.0)
    expected[4:8] = -1.0
    assert_same(host(array), expected)


def test_reshape_splitting_an_axis_of_a_permuted_array_is_a_view():
    values = np.arange(24.0).reshape(2, 3, 4)
    array = on_gpu(values)
    permuted = gpu.permute(array, (1, 0, 2))  # (3, 2, 4), strides (4, 12, 1)
    split = gpu.reshape(permuted, (3, 2, 2, 2))
    assert_same(host(split), values.transpose(1, 0, 2).reshape(3, 2, 2, 2))
    gpu.fill(split, 0.0)
    assert_same(host(array), np.zeros((2, 3, 4)))


def test_reshape_merging_non_adjacent_memory_copies():
    values = np.arange(24.0).reshape(2, 3, 4)
    array = on_gpu(values)
    merged = gpu.reshape(gpu.permute(array, (1, 0, 2)), (3, 8))
    assert_same(host(merged), values.transpose(1, 0, 2).reshape(3, 8))
    gpu.fill(merged, 0.0)
    assert_same(host(array), values)  # a copy: the original is untouched
    with pytest.raises(ValueError):
        gpu.reshape(array, (5, -1))


def test_permute_and_broadcast_to_are_views():
    values = np.arange(6.0).reshape(2, 3)
    array = on_gpu(values)
    assert_same(host(gpu.permute(array, (-1, 0))), values.T)
    stretched = gpu.broadcast_to(gpu.basic_index(array, (slice(None), slice(0, 1))), (4, 2, 3))
    assert 0 in stretched.strides
    assert_same(host(stretched), np.broadcast_to(values[:, :1], (4, 2, 3)))
    with pytest.raises(ValueError):
        gpu.broadcast_to(array, (3, 3))
    with pytest.raises(ValueError):
        gpu.permute(array, (0, 0))


@pytest.mark.parametrize("key", [
    1,
    -1,
    (slice(None), 2),
    (-1, slice(None, None, 2)),
    (None, slice(1, 3), Ellipsis, None),
    (Ellipsis, 0),
    (1, 2, 3),
    slice(5, 2),
    (slice(0, 3, 2), slice(None), slice(1, None, 3)),
])
def test_basic_index_matches_numpy(key):
    values = np.arange(60.0).reshape(3, 4, 5)
    expected = reference("basic_index", lambda array, key: array[key])(values, key)
    assert_same(host(gpu.basic_index(on_gpu(values), key)), expected)


def test_basic_index_of_a_view_writes_through_to_the_base():
    values = np.arange(20.0).reshape(4, 5)
    array = on_gpu(values)
    inner = gpu.basic_index(gpu.permute(array, (1, 0)), (slice(1, 4, 2), 2))
    gpu.fill(inner, -5.0)
    expected = values.copy()
    expected.T[1:4:2, 2] = -5.0
    assert_same(host(array), expected)


def test_basic_index_refuses_what_pytorch_refuses():
    array = on_gpu(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="step must be greater than zero"):
        gpu.basic_index(array, slice(None, None, -1))
    with pytest.raises(IndexError):
        gpu.basic_index(array, (0, 3))
    with pytest.raises(IndexError):
        gpu.basic_index(array, (0, 0, 0))


# ----------------------------------------------------------------------- elementwise

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal,
    "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}


def _numpy_binary(ufunc, a, b):
    with np.errstate(all="ignore"):
        dtype = numpy_result_dtype(ufunc, a.dtype, b.dtype)
        return ufunc(a, b).astype(dtype)


@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_follow_numpy_dtypes_and_broadcasting(name):
    """Every pair of dtypes, a strided (2, 1, 3) operand against a contiguous (4, 3) one."""
    ufunc = BINARY[name]
    for a_dtype in DTYPES:
        for b_dtype in DTYPES:
            a = sample((2, 1, 3), a_dtype)
            b = sample((4, 3), b_dtype, low=0)  # no negative integer powers
            try:
                expected = _numpy_binary(ufunc, a, b)
            except TypeError:
                with pytest.raises(TypeError):
                    getattr(gpu, name)(on_gpu(a), on_gpu(b))
                continue
            with np.errstate(all="ignore"):
                actual = host(getattr(gpu, name)(every_other_view(a), on_gpu(b)))
            assert_same(actual, expected)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "lt", "logical_or"])
def test_binary_ops_match_the_reference_on_floats(name):
    a, b = sample((3, 4), np.float32), sample((3, 4), np.float32)
    a[0, 0] = np.nan
    expected = reference(name, lambda a, b: _numpy_binary(BINARY[name], a, b))(a, b)
    assert_same(host(getattr(gpu, name)(on_gpu(a), transposed_view(b))), expected)


UNARY = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.absolute,
    "sign": np.sign, "tanh": np.tanh, "logical_not": np.logical_not, "bitwise_not": np.invert,
    "relu": lambda x: np.maximum(x, x.dtype.type(0)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}
UNARY_DTYPE_RULE = {"relu": np.maximum, "sigmoid": np.exp}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_ops_follow_numpy(name, dtype):
    values = sample((2, 3, 2), dtype)
    if dtype == np.float32:
        values[0, 0, 0], values[1, 2, 1] = 0.0, 100.0  # log(0) = -inf, exp(100) = inf
        if name != "sign":
            values[0, 1, 1] = np.nan
    rule = UNARY_DTYPE_RULE.get(name, UNARY[name])
    try:
        dtype_out = numpy_result_dtype(rule, *[dtype] * rule.nin)
    except TypeError:
        with pytest.raises(TypeError):
            getattr(gpu, name)(on_gpu(values))
        return
    with np.errstate(all="ignore"):
        expected = UNARY[name](values.astype(dtype_out) if dtype_out.kind == "f" else values)
        actual = host(getattr(gpu, name)(transposed_view(values)))
    assert_same(actual, expected.astype(dtype_out), rtol=1e-6 if dtype == np.float32 else None)


def test_python_numbers_are_weak_operands():
    floats = on_gpu(np.array([1.0, 2.0], np.float32))
    assert host(gpu.mul(floats, 2.0)).dtype == np.float32
    assert_same(host(gpu.sub(3, floats)), np.array([2.0, 1.0], np.float32))
    assert_same(host(gpu.add(on_gpu(np.array([1, 2])), 0.5)), np.array([1.5, 2.5]))
    assert_same(host(gpu.lt(floats, 1.5)), np.array([True, False]))


def test_out_argument_may_be_a_view_or_an_input():
    a, b = sample((3, 4), np.float64), sample((4,), np.float64)
    base = on_gpu(np.zeros((3, 8)))
    out = gpu.basic_index(base, (slice(None), slice(0, 8, 2)))
    assert gpu.add(on_gpu(a), on_gpu(b), out=out) is out
    expected = np.zeros((3, 8))
    expected[:, ::2] = a + b
    assert_same(host(base), expected)

    in_place = on_gpu(a)
    gpu.mul(in_place, on_gpu(b), out=in_place)
    assert_same(host(in_place), a * b)

    shifted = on_gpu(np.arange(5.0))
    gpu.add(gpu.basic_index(shifted, slice(0, 4)), 10.0, out=gpu.basic_index(shifted, slice(1, 5)))
    assert_same(host(shifted), np.array([0.0, 10.0, 11.0, 12.0, 13.0]))

    with pytest.raises(ValueError):
        gpu.add(on_gpu(a), on_gpu(b), out=on_gpu(np.zeros((4, 4))))


def test_clamp_and_its_backward():
    values = np.array([[-2.0, -0.5, 0.0], [0.5, np.nan, 3.0]], np.float32)
    grad = sample((2, 3), np.float32)
    for low, high in [(-1.0, 1.0), (None, 0.25), (0.0, None)]:
        expected = reference("clamp", lambda a, low, high: np.clip(a, low, high))(
            values, low, high)
        assert_same(host(gpu.clamp(transposed_view(values), low, high)), expected)
        inside = np.ones_like(values, dtype=bool)
        with np.errstate(invalid="ignore"):
            inside &= values >= (-np.inf if low is None else low)
            inside &= values <= (np.inf if high is None else high)
        assert_same(host(gpu.clamp_backward(on_gpu(grad), on_gpu(values), low, high)),
                    np.where(inside, grad, 0).astype(np.float32))
    assert_same(host(gpu.clamp(on_gpu(np.array([1, 5, 9])), 2, 6)), np.array([2, 5, 6]))


def test_where_broadcasts_all_three_operands():
    condition = np.array([[True], [False], [True]])
    a, b = sample((1, 4), np.float32), sample((3, 4), np.float32)
    expected = reference("where", np.where)(condition, a, b)
    assert_same(host(gpu.where(on_gpu(condition), on_gpu(a), transposed_view(b))), expected)
    assert_same(host(gpu.where(on_gpu(condition), on_gpu(a), 0.0)),
                np.where(condition, a, np.float32(0)))


def test_activation_backward_rules():
    grad, x = sample((3, 4), np.float64), sample((3, 4), np.float64)
    y_sigmoid, y_tanh = 1 / (1 + np.exp(-x)), np.tanh(x)
    cases = [
        ("relu_backward", x, lambda grad, x: grad * (x > 0)),
        ("sigmoid_backward", y_sigmoid, lambda grad, y: grad * y * (1 - y)),
        ("tanh_backward", y_tanh, lambda grad, y: grad * (1 - y * y)),
    ]
    for name, saved, formula in cases:
        expected = reference(name, formula)(grad, saved)
        assert_same(host(getattr(gpu, name)(transposed_view(grad), on_gpu(saved))), expected)


# ------------------------------------------------------------------------ reductions


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (2, 0), (), (0, 1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_over_axes_of_a_strided_view(axes, keepdim):
    values = sample((3, 4, 5), np.float64)
    numpy_sum = lambda array, axes, keepdim: np.sum(  # noqa: E731
        array, axis=tuple(axes) or None, keepdims=keepdim)
    expected = reference("sum", numpy_sum)(values, axes, keepdim)
    assert_same(host(gpu.sum(transposed_view(values), axes, keepdim)), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_dtypes(dtype):
    values = sample((2, 300), dtype)  # 300 columns: more than one block's worth of threads
    expected_dtype = np.int64 if dtype in (np.bool_, np.int64) else dtype
    actual = host(gpu.sum(on_gpu(values), (1,), False))
    assert_same(actual, values.sum(axis=1, dtype=expected_dtype),
                rtol=1e-5 if dtype == np.float32 else None)
    assert_same(host(gpu.sum(on_gpu(np.zeros((2, 0), dtype)), (1,), False)),
                np.zeros(2, expected_dtype))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_take_the_first_extreme(name):
    values = np.array([[3.0, 1.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0, np.nan, 5.0, np.nan]])
    pick, arg = (np.max, np.argmax) if name == "max" else (np.min, np.argmin)
    for axis in (0, 1):
        def numpy_extreme(array, axis, keepdim):
            return (pick(array, axis=axis, keepdims=keepdim),
                    np.expand_dims(arg(array, axis=axis), axis) if keepdim
                    else arg(array, axis=axis))

        for keepdim in (False, True):
            expected_values, expected_indices = reference(name, numpy_extreme)(
                values, axis, keepdim)
            actual_values, actual_indices = getattr(gpu, name)(
                transposed_view(values), axis, keepdim)
            assert_same(host(actual_values), expected_values)
            assert_same(host(actual_indices), expected_indices.astype(np.int64))


def test_max_of_everything_ints_bools_and_errors():
    values = sample((3, 4), np.int64, low=0, high=3)
    top, where = gpu.max(on_gpu(values), None)
    assert_same(host(top), np.array(values.max()))
    assert_same(host(where), np.array(values.argmax()))
    assert_same(host(gpu.max(on_gpu(values), -1)[1]), values.argmax(axis=-1))
    flags = np.array([False, True, True])
    assert_same(host(gpu.min(on_gpu(flags), 0)[1]), np.array(0))
    assert_same(host(gpu.max(on_gpu(np.array(2.5)), 0)[0]), np.array(2.5))
    with pytest.raises(IndexError):
        gpu.max(on_gpu(np.zeros((2, 0))), 1)


def test_integer_sums_are_exact():
    """int64 accumulates in int64: 2**53 + 2 is no float64."""
    values = np.array([2**53, 1, 1], np.int64)
    assert_same(host(gpu.sum(on_gpu(values), (), False)), np.array(2**53 + 2))
    assert_same(host(gpu.sum(on_gpu(values.reshape(3, 1)), (0,), False)), np.array([2**53 + 2]))


def test_reductions_of_size_zero_dimensions():
    empty = on_gpu(np.zeros((0, 3), np.float32))
    assert_same(host(gpu.sum(empty, (), False)), np.array(0, np.float32))
    assert_same(host(gpu.sum(empty, (0,), False)), np.zeros(3, np.float32))
    assert_same(host(gpu.sum(empty, (1,), True)), np.zeros((0, 1), np.float32))
    values, indices = gpu.max(empty, 1, False)  # the reduced dimension has 3 elements
    assert_same(host(values), np.zeros(0, np.float32))
    assert_same(host(indices), np.zeros(0, np.int64))
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero"):
        gpu.min(empty, 0, False)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3, 0), (2, 0, 4)), ((3, 0), (0, 2)),  # k = 0: zeros
    ((0, 3, 2), (0, 2, 4)), ((2, 0, 3), (2, 3, 4)), ((0, 3), (3, 2)),  # B or n = 0: empty
])
def test_matmul_with_size_zero_dimensions(a_shape, b_shape):
    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    assert_same(host(gpu.matmul(on_gpu(a), on_gpu(b))), a @ b)


def test_log_softmax_keeps_the_differences_of_large_logits():
    x = np.array([[1e8, 1e8, 5e7], [-np.inf, -np.inf, -np.inf]], np.float32)
    expected = np.array([[-0.6931472, -0.6931472, -5e7], [np.nan] * 3], np.float32)
    assert_same(host(gpu.log_softmax(on_gpu(x))), expected)
    assert_same(host(gpu.softmax(on_gpu(x))), np.exp(expected))


# ---------------------------------------------------------------------------- matmul


@pytest.mark.parametrize("a_shape, b_shape, dtype", [
    ((5, 7), (7, 3), np.float32),
    ((2, 4, 19), (2, 19, 3), np.float64),  # k spans three 8-deep slabs
    ((129, 2), (2, 3), np.float32),  # two block rows
    ((2, 3), (3, 130), np.float64),  # two block columns
    ((3, 4), (4, 2), np.int64),
])
def test_matmul_matches_numpy(a_shape, b_shape, dtype):
    a, b = sample(a_shape, dtype), sample(b_shape, dtype)
    expected = reference("matmul", np.matmul)(a, b)
    assert_same(host(gpu.matmul(on_gpu(a), on_gpu(b))), expected)


def test_matmul_of_transposed_and_mixed_operands():
    a, b = sample((4, 6), np.float32), sample((6, 3), np.int64)
    assert_same(host(gpu.matmul(transposed_view(a), on_gpu(b))), a @ b)  # float64 result
    assert_same(host(gpu.matmul(on_gpu(a[:, :0]), on_gpu(b[:0]))), np.zeros((4, 3), np.float64))
    with pytest.raises(ValueError):
        gpu.matmul(on_gpu(a), on_gpu(a))
    with pytest.raises(TypeError):
        gpu.matmul(on_gpu(a > 0), on_gpu(a.T > 0))


# -------------------------------------------------------------------------- indexing


def test_gather_reads_flat_positions_of_a_strided_source():
    values = sample((3, 4), np.float32)
    positions = np.array([[0, 5], [11, 3]])
    expected = reference("gather", lambda source, index: source.ravel()[index])(
        values, positions)
    assert_same(host(gpu.gather(transposed_view(values), on_gpu(positions))), expected)
    out_of_range = gpu.gather(on_gpu(values), on_gpu(np.array([1, 12])))
    with pytest.raises(IndexError, match="index 12 is out of bounds"):  # at the next read
        host(out_of_range)


def test_scatter_add_accumulates_repeated_positions():
    values = np.arange(4.0)
    destination_values = np.zeros((2, 3))
    destination = transposed_view(destination_values)
    positions = np.array([0, 4, 4, 5])
    gpu.scatter_add(destination, on_gpu(positions), on_gpu(values))
    expected = destination_values.copy()
    np.add.at(expected.reshape(-1), positions, values)
    assert_same(host(destination), expected)
    gpu.scatter_add(destination, on_gpu(np.array([-1])), on_gpu(values[:1]))
    with pytest.raises(IndexError):  # at the next read
        host(destination)
    assert_same(host(destination), expected)  # nothing written


# --------------------------------------------------------------- softmax and NLL loss


def _numpy_log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_rows(dtype):
    x = sample((3, 40), dtype)
    x[1] += 1000  # stable: the row maximum is subtracted first
    log_probs = reference("log_softmax", _numpy_log_softmax)(x)
    probs = reference("softmax", lambda x: np.exp(_numpy_log_softmax(x)))(x)
    assert_same(host(gpu.log_softmax(transposed_view(x))), log_probs.astype(dtype))
    assert_same(host(gpu.softmax(on_gpu(x))), probs.astype(dtype))


def test_softmax_backward_rules():
    x, grad = sample((2, 5), np.float64), sample((2, 5), np.float64)
    y_log = _numpy_log_softmax(x)
    y = np.exp(y_log)
    expected_log = reference(
        "log_softmax_backward",
        lambda grad, output: grad - np.exp(output) * grad.sum(axis=1, keepdims=True),
    )(grad, y_log)
    expected = reference(
        "softmax_backward",
        lambda grad, output: output * (grad - (grad * output).sum(axis=1, keepdims=True)),
    )(grad, y)
    assert_same(host(gpu.log_softmax_backward(on_gpu(grad), on_gpu(y_log))), expected_log)
    assert_same(host(gpu.softmax_backward(transposed_view(grad), on_gpu(y))), expected)


def test_nll_loss_rows_and_backward():
    log_probs = _numpy_log_softmax(sample((4, 3), np.float32))
    targets = np.array([2, 0, 0, 1])
    weight = np.array([0.5, 2.0, 3.0], np.float32)
    for ignored, class_weight in ((-100, None), (0, weight)):
        expected = reference("nll_loss_rows", None)(log_probs, targets, class_weight, ignored)
        actual = gpu.nll_loss_rows(on_gpu(log_probs), on_gpu(targets),
                                   None if class_weight is None else on_gpu(class_weight),
                                   ignored)
        for got, wanted in zip(actual, expected, strict=True):
            assert_same(host(got), wanted)
    losses, *_ = gpu.nll_loss_rows(on_gpu(log_probs), on_gpu(np.array([2, 0, -100, 1])), None,
                                   -1)
    with pytest.raises(IndexError, match="Target -100 is out of bounds"):  # at the next read
        host(losses)

    grad_rows = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    row_weights = np.array([3.0, 0.0, 0.5, 2.0], np.float32)
    expected = np.zeros((4, 3), np.float32)
    expected[np.arange(4), targets] = -grad_rows * row_weights
    actual = gpu.nll_loss_backward(on_gpu(grad_rows), on_gpu(targets), on_gpu(row_weights),
                                   None, 3, np.float32)
    assert_same(host(actual), expected)
    mean = gpu.nll_loss_backward(on_gpu(np.float32(0.25)), on_gpu(targets),
                                 on_gpu(row_weights), on_gpu(np.float32(5.5)), 3, np.float32)
    assert_same(host(mean), (expected != 0) * -(np.float32(0.25) * row_weights[:, None])
                / np.float32(5.5))


# ------------------------------------------------------------------------ convolution


def _numpy_conv2d(x, weight, bias, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    out_h = (padded.shape[2] - kh) // sh + 1
    out_w = (padded.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], weight.shape[0], out_h, out_w), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def _numpy_conv2d_grads(grad_y, x, weight, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_padded, grad_weight = np.zeros_like(padded), np.zeros_like(weight)
    kh, kw = weight.shape[2:]
    for i in range(grad_y.shape[2]):
        for j in range(grad_y.shape[3]):
            window = (slice(None), slice(None), slice(i * sh, i * sh + kh),
                      slice(j * sw, j * sw + kw))
            grad_padded[window] += np.einsum("no,ochw->nchw", grad_y[:, :, i, j], weight)
            grad_weight += np.einsum("nchw,no->ochw", padded[window], grad_y[:, :, i, j])
    height, width = x.shape[2:]
    return grad_padded[:, :, ph:ph + height, pw:pw + width], grad_weight


@pytest.mark.parametrize("stride, padding, with_bias", [
    ((1, 1), (0, 0), True),
    ((2, 2), (1, 1), False),
    ((2, 1), (1, 0), True),
])
def test_conv2d_forward_and_gradients(stride, padding, with_bias):
    x = sample((2, 2, 5, 4), np.float64)
    weight = sample((3, 2, 3, 2), np.float64)
    bias = sample((3,), np.float64) if with_bias else None
    y = reference("conv2d_forward", _numpy_conv2d)(x, weight, bias, stride, padding)
    grad_y = sample(y.shape, np.float64)
    grad_x, grad_weight = _numpy_conv2d_grads(grad_y, x, weight, stride, padding)

    actual_y = gpu.conv2d_forward(transposed_view(x), on_gpu(weight),
                                  None if bias is None else on_gpu(bias), stride, padding)
    assert_same(host(actual_y), y)
    assert_same(host(gpu.conv2d_input_grad(on_gpu(grad_y), on_gpu(weight), x.shape, stride,
                                           padding)), grad_x)
    assert_same(host(gpu.conv2d_weight_grad(on_gpu(grad_y), on_gpu(x), weight.shape, stride,
                                            padding)), grad_weight)


def test_conv2d_and_max_pool2d_accept_ints():
    x, weight = sample((1, 1, 4, 4), np.float32), sample((2, 1, 2, 2), np.float32)
    expected = _numpy_conv2d(x, weight, None, (2, 2), (1, 1))
    assert_same(host(gpu.conv2d_forward(on_gpu(x), on_gpu(weight), None, 2, 1)), expected)
    y, argmax = gpu.max_pool2d_forward(on_gpu(x), 2)  # stride defaults to the kernel
    expected_y, expected_argmax = _numpy_max_pool2d(x, 2, 2, 0)
    assert_same(host(y), expected_y)
    assert_same(host(argmax), expected_argmax)


# ---------------------------------------------------------------------------- pooling


def _numpy_max_pool2d(x, kernel, stride, padding):
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                    constant_values=-np.inf)
    out_h = (padded.shape[2] - kernel) // stride + 1
    out_w = (padded.shape[3] - kernel) // stride + 1
    y = np.empty(x.shape[:2] + (out_h, out_w), x.dtype)
    argmax = np.empty(y.shape, np.int64)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            flat = window.reshape(x.shape[0], x.shape[1], -1)
            best = flat.argmax(axis=2)  # first maximum
            y[:, :, i, j] = flat.max(axis=2)
            h = i * stride - padding + best // kernel
            w = j * stride - padding + best % kernel
            argmax[:, :, i, j] = h * x.shape[3] + w
    return y, argmax


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool2d_forward_and_backward(kernel, stride, padding):
    x = sample((2, 2, 5, 5), np.float32, low=0, high=3).round()  # many ties
    expected_y, expected_argmax = reference(
        "max_pool2d_forward", lambda x, k, s, p: _numpy_max_pool2d(x, k[0], s[0], p[0]))(
        x, (kernel, kernel), (stride, stride), (padding, padding))
    y, argmax = gpu.max_pool2d_forward(transposed_view(x), (kernel, kernel), (stride, stride),
                                       (padding, padding))
    assert_same(host(y), expected_y)
    assert_same(host(argmax), expected_argmax)

    grad_y = sample(expected_y.shape, np.float32)
    expected_grad = np.zeros_like(x)
    planes = expected_grad.reshape(2, 2, -1)
    for n in range(2):
        for c in range(2):
            np.add.at(planes[n, c], expected_argmax[n, c].ravel(), grad_y[n, c].ravel())
    assert_same(host(gpu.max_pool2d_backward(on_gpu(grad_y), argmax, x.shape)), expected_grad)


# ---------------------------------------------------------------------------- dropout


@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaWarning")
def test_dropout_mask_is_seeded_and_scaled():
    mask = host(gpu.dropout_mask((3, 50), 0.75, np.float32, 1234))
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {np.float32(0), np.float32(1 / 0.75)}
    assert 0.55 < (mask != 0).mean() < 0.95
    assert_same(host(gpu.dropout_mask((3, 50), 0.75, np.float32, 1234)), mask)
    assert not np.array_equal(host(gpu.dropout_mask((3, 50), 0.75, np.float32, 99)), mask)
    assert_same(host(gpu.dropout_mask((2, 2), 1.0, np.float64, 5)), np.ones((2, 2)))
    assert_same(host(gpu.dropout_mask((2, 2), 0.0, np.float64, 5)), np.zeros((2, 2)))


# ------------------------------------------------------------------------- optimizers


def _numpy_sgd(param, grad, buffer, lr, momentum, dampening, nesterov, weight_decay, first):
    step = grad + weight_decay * param
    if momentum != 0:
        buffer[...] = step if first else momentum * buffer + (1 - dampening) * step
        step = step + momentum * buffer if nesterov else buffer
    param -= lr * step


def _numpy_adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    grad = grad + weight_decay * param
    m += (1 - beta1) * (grad - m)
    v[...] = beta2 * v + (1 - beta2) * grad * grad
    denominator = np.sqrt(v) / np.sqrt(1 - beta2**step) + eps
    param -= lr / (1 - beta1**step) * m / denominator


def _numpy_rmsprop(param, grad, square_avg, buffer, grad_avg, lr, alpha, eps, weight_decay,
                   momentum, centered):
    grad = grad + weight_decay * param
    square_avg[...] = alpha * square_avg + (1 - alpha) * grad * grad
    if centered:
        grad_avg += (1 - alpha) * (grad - grad_avg)
        average = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        average = np.sqrt(square_avg) + eps
    if momentum > 0:
        buffer[...] = momentum * buffer + grad / average
        param -= lr * buffer
    else:
        param -= lr * grad / average


@pytest.mark.parametrize("momentum, dampening, nesterov, weight_decay", [
    (0.0, 0.0, False, 0.0), (0.9, 0.1, False, 0.01), (0.9, 0.0, True, 0.0)])
def test_sgd_update(momentum, dampening, nesterov, weight_decay):
    param = sample((3, 4), np.float64)
    buffer = np.zeros_like(param)
    device_param, device_buffer = on_gpu(param), on_gpu(buffer)
    for step in range(3):
        grad = sample((3, 4), np.float64)
        options = (0.1, momentum, dampening, nesterov, weight_decay, step == 0)
        _numpy_sgd(param, grad, buffer, *options)
        gpu.sgd_update(device_param, transposed_view(grad),
                       device_buffer if momentum else None, *options)
    assert_same(host(device_param), param)
    assert_same(host(device_buffer), buffer)


@pytest.mark.parametrize("dtype, weight_decay", [(np.float32, 0.0), (np.float64, 0.01)])
def test_adam_update(dtype, weight_decay):
    param = sample((2, 5), dtype)
    m, v = np.zeros_like(param), np.zeros_like(param)
    device = [on_gpu(array) for array in (param, m, v)]
    for step in range(1, 4):
        grad = sample((2, 5), dtype)
        options = (0.01, 0.9, 0.999, 1e-8, weight_decay, step)
        _numpy_adam(param, grad, m, v, *options)
        gpu.adam_update(device[0], on_gpu(grad), device[1], device[2], *options)
    for actual, expected in zip(device, (param, m, v), strict=True):
        assert_same(host(actual), expected, rtol=1e-5 if dtype == np.float32 else None)


@pytest.mark.parametrize("momentum, centered, weight_decay", [
    (0.0, False, 0.0), (0.5, True, 0.01)])
def test_rmsprop_update(momentum, centered, weight_decay):
    param = sample((3, 3), np.float64)
    square_avg, buffer, grad_avg = (np.zeros_like(param) for _ in range(3))
    device = [on_gpu(array) for array in (param, square_avg, buffer, grad_avg)]
    for _ in range(3):
        grad = sample((3, 3), np.float64)
        _numpy_rmsprop(param, grad, square_avg, buffer, grad_avg, 0.01, 0.99, 1e-8,
                       weight_decay, momentum, centered)
        gpu.rmsprop_update(device[0], on_gpu(grad), device[1],
                           device[2] if momentum else None, device[3] if centered else None,
                           0.01, 0.99, 1e-8, weight_decay, momentum, centered)
    for actual, expected in zip(device, (param, square_avg, buffer, grad_avg), strict=True):
        assert_same(host(actual), expected)


# -------------------------------------------------------------------------- launching


def test_launches_report_their_grid_and_block():
    seen = []
    launch_module.set_listener(lambda kernel, grid, block, *_: seen.append(
        (getattr(kernel, "py_func", kernel).__qualname__, grid, block)))
    try:
        gpu.add(on_gpu(np.ones(3)), on_gpu(np.ones(3)))
        gpu.matmul(on_gpu(np.ones((2, 2))), on_gpu(np.ones((2, 2))))
    finally:
        launch_module.set_listener(None)
    names = [name for name, _, _ in seen]
    assert "add_contiguous_kernel" in names
    assert "matmul_kernel" in names
    assert all(grid is not None and block is not None for _, grid, block in seen)
