"""The CPU backend's compute kernels against independent references.

References are plain numpy (``a @ b``, ``np.add.at``, explicit loops over small arrays) and,
where it is installed, PyTorch (convolution, pooling, optimizers). Shapes are small, odd and
include one-row / one-column edges, non-contiguous views, and sizes just above the parallel
thresholds so both the serial and the ``prange`` kernels run.
"""

from importlib import import_module

import numpy as np
import pytest

# The kernel modules themselves (the package re-exports functions named like two of them).
conv, dropout, indexing, matmul, optimizers, pool, reductions, softmax = (
    import_module(f"numbanet.kernels.cpu.{name}")
    for name in ("conv", "dropout", "indexing", "matmul", "optimizers", "pool", "reductions",
                 "softmax"))

RNG = np.random.default_rng(0)
FLOATS = [np.float32, np.float64]


def sample(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def tolerance(dtype) -> dict:
    """Float32 sums of a few hundred terms of size ~1 carry errors around 1e-5."""
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-11,
                                                                      "atol": 1e-11}


def transposed(array: np.ndarray) -> np.ndarray:
    """A non-contiguous (Fortran-ordered) view holding the same values as ``array``."""
    return np.asfortranarray(array)


# --------------------------------------------------------------------------------- matmul


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n, k, m", [
    (1, 1, 1), (1, 7, 1), (5, 1, 4), (1, 9, 13), (13, 9, 1), (7, 5, 3), (4, 3, 8),
    (33, 17, 29),
    (70, 80, 61),  # 341,600 multiply-adds: the parallel kernel
])
def test_matmul_matches_numpy(dtype, n, k, m):
    a, b = sample((n, k), dtype), sample((k, m), dtype)
    result = matmul.matmul(a, b)
    assert result.shape == (n, m) and result.dtype == dtype
    assert result.flags.c_contiguous
    np.testing.assert_allclose(result, a @ b, **tolerance(dtype))


def test_large_matmul_results_start_on_a_cache_line():
    # a 512-bit store into a row of C that starts mid-line writes two lines (matmul.py)
    for _ in range(8):  # numpy's allocator gives 16-byte alignment, at varying offsets
        c = matmul.matmul(sample((64, 784), np.float32), sample((784, 128), np.float32))
        assert c.ctypes.data % 64 == 0 and c.flags.c_contiguous
        assert c.flags.writeable and c.shape == (64, 128) and c.dtype == np.float32


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_accepts_non_contiguous_operands(dtype):
    a, b = sample((37, 24), dtype), sample((24, 41), dtype)
    expected = a @ b
    for left in (a, transposed(a), np.ascontiguousarray(a[:, ::-1])[:, ::-1]):
        for right in (b, transposed(b), np.ascontiguousarray(b.T).T):
            np.testing.assert_allclose(matmul.matmul(left, right), expected, **tolerance(dtype))
    stepped = sample((74, 48), dtype)[::2, ::2]  # every other row and column
    np.testing.assert_allclose(matmul.matmul(stepped, b), stepped @ b, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_linear_backward_shapes(dtype):
    grad_out, x, weight = sample((64, 128), dtype), sample((64, 784), dtype), sample(
        (128, 784), dtype)
    np.testing.assert_allclose(matmul.matmul(grad_out.T, x), grad_out.T @ x, **tolerance(dtype))
    np.testing.assert_allclose(matmul.matmul(grad_out, weight), grad_out @ weight,
                               **tolerance(dtype))
    np.testing.assert_allclose(matmul.matmul(x, weight.T), x @ weight.T, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_batched(dtype):
    a, b = sample((3, 5, 7), dtype), sample((3, 7, 4), dtype)
    np.testing.assert_allclose(matmul.matmul(a, b), a @ b, **tolerance(dtype))
    big_a, big_b = sample((4, 40, 33), dtype), sample((4, 33, 65), dtype)
    np.testing.assert_allclose(matmul.matmul(big_a, big_b), big_a @ big_b, **tolerance(dtype))
    swapped = big_b.transpose(0, 2, 1).copy().transpose(0, 2, 1)  # each matrix transposed
    np.testing.assert_allclose(matmul.matmul(big_a, swapped), big_a @ big_b,
                               **tolerance(dtype))


def test_matmul_mixed_dtypes_and_empty_shapes():
    a, b = sample((3, 4), np.float32), sample((4, 2), np.float64)
    result = matmul.matmul(a, b)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, a.astype(np.float64) @ b, rtol=1e-12)
    assert matmul.matmul(np.ones((0, 3)), np.ones((3, 4))).shape == (0, 4)
    np.testing.assert_array_equal(matmul.matmul(np.ones((2, 0)), np.ones((0, 3))),
                                  np.zeros((2, 3)))


def test_matmul_of_integers_and_booleans():
    a, b = RNG.integers(-5, 5, size=(6, 9)), RNG.integers(-5, 5, size=(9, 4))
    np.testing.assert_array_equal(matmul.matmul(a, b), a @ b)
    with pytest.raises(TypeError, match="not bool"):
        matmul.matmul(a > 0, b > 0)


def test_matmul_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not line up"):
        matmul.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="2-D or two 3-D"):
        matmul.matmul(np.ones((2, 3)), np.ones((1, 3, 2)))


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3, 0), (2, 0, 4)), ((3, 0), (0, 2)),  # k = 0: zeros
    ((0, 3, 2), (0, 2, 4)), ((2, 0, 3), (2, 3, 4)), ((0, 3), (3, 2)),  # B or n = 0: empty
])
def test_matmul_with_size_zero_dimensions(a_shape, b_shape):
    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    result = matmul.matmul(a, b)
    assert result.shape == (a @ b).shape and result.dtype == np.float32
    np.testing.assert_array_equal(result, a @ b)


# ----------------------------------------------------------------------------- reductions


def test_integer_sums_are_exact():
    """int64 accumulates in int64: 2**53 + 2 is no float64."""
    values = np.array([2**53, 1, 1], np.int64)
    assert reductions.sum(values, (), False) == 2**53 + 2
    np.testing.assert_array_equal(reductions.sum(values.reshape(3, 1), (0,), False),
                                  [2**53 + 2])
    scattered = np.full((3, 2, 3), 2**53, np.int64)  # axes (0, 2): two runs
    scattered[:, :, 1:] = 1
    np.testing.assert_array_equal(reductions.sum(scattered, (0, 2), False),
                                  [3 * 2**53 + 6] * 2)
    flags = np.array([True, False, True])
    total = reductions.sum(flags, (), False)
    assert total == 2 and total.dtype == np.int64


def test_reductions_of_size_zero_dimensions():
    empty = np.zeros((0, 3), np.float32)
    assert reductions.sum(empty, (), False) == 0
    np.testing.assert_array_equal(reductions.sum(empty, (0,), False), np.zeros(3))
    assert reductions.sum(empty, (1,), True).shape == (0, 1)
    values, indices = reductions.max(empty, 1, False)  # the reduced dimension has 3 elements
    assert values.shape == indices.shape == (0,)
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero"):
        reductions.min(empty, 0, False)


# ------------------------------------------------------------------------------- indexing


def test_gather_reads_flat_positions():
    source = sample((4, 5))
    positions = np.array([[0, 19, 7], [7, 3, 0]])
    np.testing.assert_array_equal(indexing.gather(source, positions),
                                  source.ravel()[positions])
    np.testing.assert_array_equal(indexing.gather(transposed(source), positions),
                                  source.ravel()[positions])
    many = RNG.integers(0, 20, size=70_000)  # the parallel kernel
    np.testing.assert_array_equal(indexing.gather(source, many), source.ravel()[many])


@pytest.mark.parametrize("bad", [20, -1])
def test_gather_rejects_out_of_range_positions(bad):
    with pytest.raises(IndexError, match=f"index {bad} is out of bounds"):
        indexing.gather(sample((4, 5)), np.array([1, bad]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_scatter_add_accumulates_repeated_positions(dtype):
    destination = sample((3, 4), dtype)
    expected = destination.copy()
    positions = np.array([0, 5, 5, 11, 5, 0])
    values = sample(6, dtype)
    np.add.at(expected.reshape(-1), positions, values)
    indexing.scatter_add(destination, positions, values)
    np.testing.assert_allclose(destination, expected, **tolerance(dtype))


def test_scatter_add_broadcasts_values_and_handles_strided_destinations():
    destination = transposed(np.zeros((2, 3)))
    indexing.scatter_add(destination, np.array([[1, 1], [4, 5]]), 0.5)
    expected = np.zeros((2, 3))
    expected.reshape(-1)[[1, 4, 5]] = [1.0, 0.5, 0.5]
    np.testing.assert_array_equal(destination, expected)


def test_scatter_add_rejects_bad_positions_without_writing():
    destination = np.zeros(4)
    with pytest.raises(IndexError, match="index 4 is out of bounds"):
        indexing.scatter_add(destination, np.array([0, 4]), np.ones(2))
    np.testing.assert_array_equal(destination, np.zeros(4))


# ----------------------------------------------------------------- softmax and NLL loss


def numpy_log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (1, 7), (5, 10), (300, 129)])
def test_softmax_and_log_softmax(dtype, shape):
    x = sample(shape, dtype) * 3
    x[0] += 1000  # would overflow exp() without subtracting the row maximum
    expected = numpy_log_softmax(x.astype(np.float64))
    np.testing.assert_allclose(softmax.log_softmax(x), expected, **tolerance(dtype))
    np.testing.assert_allclose(softmax.softmax(transposed(x)), np.exp(expected),
                               **tolerance(dtype))
    assert softmax.softmax(x).dtype == dtype


SOFTMAX_EDGE_ROWS = [  # (row, PyTorch's log_softmax of it)
    ([1e8, 1e8, 5e7], [-0.6931471805599453, -0.6931471805599453, -5e7]),
    ([-np.inf, -np.inf, -np.inf], [np.nan] * 3),
    ([np.inf, 1.0, 2.0], [np.nan] * 3),
    ([np.nan, 1.0, 2.0], [np.nan] * 3),
    ([-np.inf, 0.0, 1.0], [-np.inf, -1.3132616875182228, -0.31326168751822286]),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("row, expected", SOFTMAX_EDGE_ROWS)
def test_log_softmax_and_softmax_at_the_edges(dtype, row, expected):
    """Large logits keep their differences (log-softmax is (x - max) - log sum exp(x - max));
    rows of -inf, +inf or NaN give NaN, as in PyTorch."""
    x = np.array([row], dtype=dtype)
    expected = np.array([expected], dtype=dtype)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(softmax.log_softmax(x), expected, rtol=1e-6)
        np.testing.assert_allclose(softmax.softmax(x), np.exp(expected), rtol=1e-6)
    targets = np.array([0])
    loss = softmax.nll_loss_rows(softmax.log_softmax(x), targets, None, -100)[0]
    np.testing.assert_allclose(loss, -expected[:, 0], rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (4, 6), (300, 129)])
def test_softmax_gradients(dtype, shape):
    x, grad = sample(shape, dtype), sample(shape, dtype)
    log_probs = softmax.log_softmax(x)
    probs = softmax.softmax(x)
    np.testing.assert_allclose(
        softmax.log_softmax_backward(grad, log_probs),
        grad - np.exp(log_probs) * grad.sum(axis=1, keepdims=True), **tolerance(dtype))
    np.testing.assert_allclose(
        softmax.softmax_backward(transposed(grad), probs),
        probs * (grad - (grad * probs).sum(axis=1, keepdims=True)), **tolerance(dtype))


def test_softmax_gradient_matches_finite_differences():
    x, grad = sample((2, 5)), sample((2, 5))
    step = 1e-6
    numeric = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = ((softmax.log_softmax(up) - softmax.log_softmax(down)) * grad).sum() / (
            2 * step)
    np.testing.assert_allclose(
        softmax.log_softmax_backward(grad, softmax.log_softmax(x)), numeric, rtol=1e-6,
        atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_nll_loss_rows_and_backward(dtype):
    log_probs = numpy_log_softmax(sample((5, 3), dtype))
    targets = np.array([2, 0, 0, 1, 2])
    picked = -log_probs[np.arange(5), targets]
    losses, safe_targets, row_weights = softmax.nll_loss_rows(log_probs, targets, None, -100)
    np.testing.assert_array_equal(losses, picked)
    np.testing.assert_array_equal(safe_targets, targets)
    np.testing.assert_array_equal(row_weights, np.ones(5, dtype))
    assert losses.dtype == row_weights.dtype == dtype and safe_targets.dtype == np.int64
    grad_rows = sample(5, dtype)
    expected = np.zeros((5, 3), dtype)
    expected[np.arange(5), targets] = -grad_rows
    result = softmax.nll_loss_backward(grad_rows, safe_targets, row_weights, None, 3, dtype)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)
    shared = softmax.nll_loss_backward(np.float32(0.5), safe_targets, row_weights, None, 3,
                                       dtype)
    np.testing.assert_array_equal(shared, (expected != 0) * dtype(-0.5))


@pytest.mark.parametrize("dtype", FLOATS)
def test_nll_loss_rows_weigh_classes_and_skip_the_ignored_index(dtype):
    """w_i = weight[t_i], 0 for an ignored row (its loss 0 even where its log-probability is
    -inf, as in PyTorch, and its safe target 0); the mean's gradient divides by sum w."""
    log_probs = numpy_log_softmax(sample((4, 3), dtype))
    log_probs[1, 0] = -np.inf
    weight = np.array([0.5, 2.0, 3.0], dtype)
    targets = np.array([2, 7, 0, 1])
    losses, safe_targets, row_weights = softmax.nll_loss_rows(log_probs, targets, weight, 7)
    np.testing.assert_array_equal(row_weights, np.array([3.0, 0.0, 0.5, 2.0], dtype))
    np.testing.assert_array_equal(safe_targets, [2, 0, 0, 1])
    np.testing.assert_array_equal(losses, [-log_probs[0, 2] * dtype(3.0), 0.0,
                                           -log_probs[2, 0] * dtype(0.5),
                                           -log_probs[3, 1] * dtype(2.0)])
    weight_sum = np.array(row_weights.sum(), dtype)
    grad = np.array(1.5, dtype)
    result = softmax.nll_loss_backward(grad, safe_targets, row_weights, weight_sum, 3, dtype)
    expected = np.zeros((4, 3), dtype)
    expected[np.arange(4), safe_targets] = -(grad * row_weights) / weight_sum
    np.testing.assert_array_equal(result, expected)
    nothing_kept = softmax.nll_loss_backward(grad, safe_targets, np.zeros(4, dtype),
                                             np.array(0, dtype), 3, dtype)
    np.testing.assert_array_equal(nothing_kept, np.zeros((4, 3), dtype))  # 0 / 1, not 0 / 0


@pytest.mark.parametrize("bad", [3, -1, -100])
def test_nll_loss_rejects_targets_outside_the_classes(bad):
    log_probs = numpy_log_softmax(sample((3, 3)))
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        softmax.nll_loss_rows(log_probs, np.array([0, bad, 1]), None, 5)
    losses, *_ = softmax.nll_loss_rows(log_probs, np.array([0, bad, 1]), None, bad)
    assert losses[1] == 0  # the same target, ignored


# ---------------------------------------------------------------------------- convolution


def numpy_conv2d(x, weight, bias, stride, padding):
    """The definition, one output position at a time."""
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    out_h = (padded.shape[2] - kh) // sh + 1
    out_w = (padded.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


CONV_CASES = [  # x shape, weight shape, stride, padding
    ((2, 1, 6, 5), (3, 1, 3, 3), (1, 1), (0, 0)),  # short patches: the axpy forward
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((1, 2, 9, 8), (5, 2, 4, 3), (2, 3), (2, 1)),
    ((3, 4, 5, 5), (1, 4, 1, 1), (2, 2), (0, 0)),
    ((2, 5, 8, 7), (3, 5, 2, 4), (3, 1), (1, 2)),
    ((2, 3, 5, 4), (2, 3, 1, 2), (1, 1), (1, 1)),  # stride 1, padding >= kernel: col2im
    ((8, 4, 16, 16), (8, 4, 3, 3), (1, 1), (1, 1)),  # above the parallel threshold
    ((8, 1, 18, 18), (16, 1, 3, 3), (1, 1), (0, 0)),  # parallel, short patches
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape, weight_shape, stride, padding", CONV_CASES)
def test_conv2d_forward(dtype, x_shape, weight_shape, stride, padding):
    x, weight, bias = sample(x_shape, dtype), sample(weight_shape, dtype), sample(
        weight_shape[0], dtype)
    for b in (bias, None):
        expected = numpy_conv2d(x.astype(np.float64), weight, b, stride, padding)
        result = conv.conv2d_forward(x, weight, b, stride, padding)
        assert result.dtype == dtype
        np.testing.assert_allclose(result, expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape, weight_shape, stride, padding", CONV_CASES)
def test_conv2d_gradients_are_the_adjoints_of_the_forward(dtype, x_shape, weight_shape,
                                                          stride, padding):
    """Convolution is linear in x and in weight, so for any grad_y
    <conv(x, w), grad_y> = <x, input_grad(grad_y, w)> = <w, weight_grad(grad_y, x)>."""
    x, weight = sample(x_shape, dtype), sample(weight_shape, dtype)
    y = conv.conv2d_forward(x, weight, None, stride, padding)
    grad_y = sample(y.shape, dtype)
    grad_x = conv.conv2d_input_grad(grad_y, weight, x_shape, stride, padding)
    grad_weight = conv.conv2d_weight_grad(grad_y, x, weight_shape, stride, padding)
    assert grad_x.shape == x_shape and grad_weight.shape == weight_shape
    inner = np.vdot(y.astype(np.float64), grad_y)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(np.vdot(x.astype(np.float64), grad_x), inner, rtol=rtol)
    np.testing.assert_allclose(np.vdot(weight.astype(np.float64), grad_weight), inner,
                               rtol=rtol)


def test_conv2d_gradients_against_finite_differences():
    x, weight = sample((2, 2, 5, 4)), sample((3, 2, 3, 2))
    grad_y = sample(conv.conv2d_forward(x, weight, None, (2, 1), (1, 1)).shape)

    def loss(x_value, weight_value):
        return np.vdot(conv.conv2d_forward(x_value, weight_value, None, (2, 1), (1, 1)),
                       grad_y)

    for array, analytic in (
        (x, conv.conv2d_input_grad(grad_y, weight, x.shape, (2, 1), (1, 1))),
        (weight, conv.conv2d_weight_grad(grad_y, x, weight.shape, (2, 1), (1, 1))),
    ):
        index = tuple(int(RNG.integers(size)) for size in array.shape)
        saved = array[index]
        array[index] = saved + 1e-6
        up = loss(x, weight)
        array[index] = saved - 1e-6
        down = loss(x, weight)
        array[index] = saved
        np.testing.assert_allclose(analytic[index], (up - down) / 2e-6, rtol=1e-6, atol=1e-8)


def test_conv2d_accepts_int_stride_and_padding_and_checks_shapes():
    x, weight = sample((1, 2, 6, 6)), sample((3, 2, 3, 3))
    np.testing.assert_allclose(conv.conv2d_forward(x, weight, None, 2, 1),
                               numpy_conv2d(x, weight, None, (2, 2), (1, 1)), rtol=1e-12)
    with pytest.raises(ValueError, match="weight expects 3"):
        conv.conv2d_forward(sample((1, 2, 6, 6)), sample((3, 3, 3, 3)), None, 1, 0)
    with pytest.raises(ValueError, match="does not fit"):
        conv.conv2d_forward(sample((1, 2, 2, 2)), sample((3, 2, 3, 3)), None, 1, 0)


@pytest.mark.torch
@pytest.mark.parametrize("x_shape, weight_shape, stride, padding", CONV_CASES[:3])
def test_conv2d_matches_torch(x_shape, weight_shape, stride, padding):
    torch = pytest.importorskip("torch")
    x, weight, bias = sample(x_shape), sample(weight_shape), sample(weight_shape[0])
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, torch.tensor(bias), stride=stride, padding=padding)
    grad_y = sample(tuple(ty.shape))
    ty.backward(torch.tensor(grad_y))
    np.testing.assert_allclose(conv.conv2d_forward(x, weight, bias, stride, padding),
                               ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.conv2d_input_grad(grad_y, weight, x_shape, stride, padding),
                               tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        conv.conv2d_weight_grad(grad_y, x, weight_shape, stride, padding), tw.grad.numpy(),
        rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------------------- pooling


def numpy_max_pool2d(x, kernel, stride, padding):
    """The definition with -inf padding; argmax = h * W + w of the first maximum."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out_h = (padded.shape[2] - kh) // sh + 1
    out_w = (padded.shape[3] - kw) // sw + 1
    y = np.empty(x.shape[:2] + (out_h, out_w), x.dtype)
    argmax = np.empty(y.shape, np.int64)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            flat = window.reshape(x.shape[0], x.shape[1], -1)
            best = flat.argmax(axis=2)  # numpy's argmax also picks the first maximum
            y[:, :, i, j] = flat.max(axis=2)
            argmax[:, :, i, j] = (i * sh - ph + best // kw) * x.shape[3] + (
                j * sw - pw + best % kw)
    return y, argmax


POOL_CASES = [  # kernel, stride, padding
    ((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 1)),
    ((3, 3), (1, 1), (1, 0)), ((1, 1), (1, 1), (0, 0)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_max_pool2d_forward_and_backward(dtype, kernel, stride, padding):
    x = RNG.integers(0, 3, size=(2, 3, 7, 6)).astype(dtype)  # small integers: many ties
    expected_y, expected_argmax = numpy_max_pool2d(x, kernel, stride, padding)
    y, argmax = pool.max_pool2d_forward(transposed(x), kernel, stride, padding)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(argmax, expected_argmax)
    assert argmax.dtype == np.int64

    grad_y = sample(y.shape, dtype)
    expected_grad = np.zeros_like(x)
    planes = expected_grad.reshape(2, 3, -1)
    for n in range(2):
        for c in range(3):  # overlapping windows may share a winner: gradients add up
            np.add.at(planes[n, c], expected_argmax[n, c].ravel(), grad_y[n, c].ravel())
    np.testing.assert_allclose(pool.max_pool2d_backward(grad_y, argmax, x.shape),
                               expected_grad, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_max_pool2d_edge_values_anywhere_in_the_window(dtype, kernel, stride, padding):
    """NaN (the first one wins and stays), +inf, and ties of -0.0 and 0.0 (the first
    wins), at every position of the windows, in the border windows as in the inner
    ones: the branch-free comparison picks what the definition picks."""
    rng = np.random.default_rng(7)
    x = rng.choice(np.array([-0.0, 0.0, 1.0, np.inf, np.nan], dtype), size=(3, 2, 9, 8),
                   p=[0.3, 0.3, 0.2, 0.1, 0.1])
    expected_y, expected_argmax = numpy_max_pool2d(x, kernel, stride, padding)
    y, argmax = pool.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(argmax, expected_argmax)
    winners = np.take_along_axis(x.reshape(3, 2, -1), argmax.reshape(3, 2, -1), axis=2)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(winners.reshape(y.shape)))


def test_max_pool2d_parallel_size_nan_and_defaults():
    x = sample((8, 16, 20, 20), np.float32)  # 46,208 outputs: the parallel kernels
    x[0, 0, 3, 4] = np.nan
    y, argmax = pool.max_pool2d_forward(x, (2, 2), (1, 1), (0, 0))
    expected_y, expected_argmax = numpy_max_pool2d(x, (2, 2), (1, 1), (0, 0))
    np.testing.assert_array_equal(y, expected_y)  # NaN propagates, as numpy's max
    np.testing.assert_array_equal(argmax, expected_argmax)
    y_default, _ = pool.max_pool2d_forward(x, 2)  # stride defaults to the kernel
    np.testing.assert_array_equal(y_default, numpy_max_pool2d(x, (2, 2), (2, 2), (0, 0))[0])
    big = sample((8, 16, 32, 32), np.float32)  # 32,768 outputs: parallel backward too
    y, argmax = pool.max_pool2d_forward(big, 2, 2, 0)
    np.testing.assert_array_equal(argmax, numpy_max_pool2d(big, (2, 2), (2, 2), (0, 0))[1])
    grad = pool.max_pool2d_backward(np.ones_like(y), argmax, big.shape)
    assert grad.sum() == y.size and set(np.unique(grad)) == {0.0, 1.0}


def test_max_pool2d_rejects_bad_geometry():
    with pytest.raises(ValueError, match="at most half"):
        pool.max_pool2d_forward(sample((1, 1, 4, 4)), 2, 2, 2)
    with pytest.raises(ValueError, match="does not fit"):
        pool.max_pool2d_forward(sample((1, 1, 2, 2)), 3, 1, 0)


@pytest.mark.torch
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES[:4])
def test_max_pool2d_matches_torch(kernel, stride, padding):
    torch = pytest.importorskip("torch")
    x = sample((2, 3, 7, 6))
    y, argmax = pool.max_pool2d_forward(x, kernel, stride, padding)
    ty, tindex = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding,
                                                return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(argmax, tindex.numpy())


# -------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_mask_values_rate_and_seed(dtype):
    mask = dropout.dropout_mask((300, 100), 0.8, dtype, 1234)
    assert mask.shape == (300, 100) and mask.dtype == dtype
    assert set(np.unique(mask)) == {dtype(0), dtype(1 / 0.8)}
    assert abs((mask != 0).mean() - 0.8) < 0.01  # 30,000 draws: the rate is close to 0.8
    np.testing.assert_array_equal(dropout.dropout_mask((300, 100), 0.8, dtype, 1234), mask)
    assert not np.array_equal(dropout.dropout_mask((300, 100), 0.8, dtype, 1235), mask)
    np.testing.assert_array_equal(dropout.dropout_mask((2, 3), 1.0, dtype, 7), np.ones((2, 3)))
    np.testing.assert_array_equal(dropout.dropout_mask((2, 3), 0.0, dtype, 7), np.zeros((2, 3)))


def test_dropout_mask_is_the_same_on_one_thread_and_many():
    size = 3 * dropout.BLOCK + 5
    serial = np.empty(size, np.float32)
    parallel = np.empty(size, np.float32)
    dropout.dropout_mask_blocks(serial, 0.5, np.float32(2), 42)
    dropout.dropout_mask_blocks_parallel(parallel, 0.5, np.float32(2), 42)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(dropout.dropout_mask((size,), 0.5, np.float32, 42), serial)


def test_dropout_mask_rejects_bad_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dropout.dropout_mask((2,), 1.5, np.float32, 0)


# ----------------------------------------------------------------------------- optimizers
# Hand-written numpy versions of PyTorch's update rules, a few steps each.


def numpy_sgd(param, grad, buffer, lr, momentum, dampening, nesterov, weight_decay, first):
    step = grad + weight_decay * param
    if momentum != 0:
        buffer[...] = step if first else momentum * buffer + (1 - dampening) * step
        step = step + momentum * buffer if nesterov else buffer
    param -= lr * step


def numpy_adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    grad = grad + weight_decay * param
    m[...] = beta1 * m + (1 - beta1) * grad
    v[...] = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


def numpy_rmsprop(param, grad, square_avg, buffer, grad_avg, lr, alpha, eps, weight_decay,
                  momentum, centered):
    grad = grad + weight_decay * param
    square_avg[...] = alpha * square_avg + (1 - alpha) * grad * grad
    if centered:
        grad_avg[...] = alpha * grad_avg + (1 - alpha) * grad
        average = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        average = np.sqrt(square_avg) + eps
    if momentum > 0:
        buffer[...] = momentum * buffer + grad / average
        param -= lr * buffer
    else:
        param -= lr * grad / average


OPTIMIZER_SHAPES = [(3, 4), (70_000,)]  # the second takes the parallel kernels


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", OPTIMIZER_SHAPES)
@pytest.mark.parametrize("momentum, dampening, nesterov, weight_decay", [
    (0.0, 0.0, False, 0.0), (0.9, 0.1, False, 0.01), (0.9, 0.0, True, 0.001)])
def test_sgd_update(dtype, shape, momentum, dampening, nesterov, weight_decay):
    param = sample(shape, dtype)
    buffer = np.zeros_like(param)
    expected_param, expected_buffer = param.astype(np.float64), buffer.astype(np.float64)
    for step in range(3):
        grad = sample(shape, dtype)
        options = (0.1, momentum, dampening, nesterov, weight_decay, step == 0)
        numpy_sgd(expected_param, grad.astype(np.float64), expected_buffer, *options)
        optimizers.sgd_update(param, grad, buffer if momentum else None, *options)
    np.testing.assert_allclose(param, expected_param, **tolerance(dtype))
    np.testing.assert_allclose(buffer, expected_buffer, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", OPTIMIZER_SHAPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_update(dtype, shape, weight_decay):
    param = sample(shape, dtype)
    m, v = np.zeros_like(param), np.zeros_like(param)
    expected = [param.astype(np.float64), np.zeros(shape), np.zeros(shape)]
    for step in range(1, 4):
        grad = sample(shape, dtype)
        options = (0.01, 0.9, 0.999, 1e-8, weight_decay, step)
        numpy_adam(*expected[:1], grad.astype(np.float64), *expected[1:], *options)
        optimizers.adam_update(param, transposed(grad), m, v, *options)
    rtol = {"rtol": 1e-4, "atol": 1e-6} if dtype == np.float32 else tolerance(dtype)
    for actual, reference in zip((param, m, v), expected, strict=True):
        np.testing.assert_allclose(actual, reference, **rtol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", OPTIMIZER_SHAPES)
@pytest.mark.parametrize("momentum, centered, weight_decay", [
    (0.0, False, 0.0), (0.5, True, 0.01), (0.0, True, 0.0), (0.9, False, 0.0)])
def test_rmsprop_update(dtype, shape, momentum, centered, weight_decay):
    param = sample(shape, dtype)
    state = [np.zeros_like(param) for _ in range(3)]  # square_avg, buffer, grad_avg
    expected = [param.astype(np.float64)] + [np.zeros(shape) for _ in range(3)]
    for _ in range(3):
        grad = np.abs(sample(shape, dtype)) + 0.1
        options = (0.01, 0.99, 1e-8, weight_decay, momentum, centered)
        numpy_rmsprop(expected[0], grad.astype(np.float64), *expected[1:], *options)
        optimizers.rmsprop_update(param, grad, state[0], state[1] if momentum else None,
                                  state[2] if centered else None, *options)
    rtol = {"rtol": 1e-4, "atol": 1e-6} if dtype == np.float32 else tolerance(dtype)
    for actual, reference in zip([param] + state, expected, strict=True):
        np.testing.assert_allclose(actual, reference, **rtol)


def test_optimizers_need_contiguous_state():
    param = sample((4, 3))
    strided = transposed(sample((4, 3)))
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizers.sgd_update(transposed(param), param, None, 0.1, 0.0, 0.0, False, 0.0, True)
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizers.adam_update(param, param, strided, np.zeros_like(param), 0.1, 0.9, 0.999,
                               1e-8, 0.0, 1)
    with pytest.raises(ValueError, match="momentum_buffer"):
        optimizers.rmsprop_update(param, param, np.zeros_like(param), None, None, 0.1, 0.99,
                                  1e-8, 0.0, 0.9, False)


@pytest.mark.torch
@pytest.mark.parametrize("name, options", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01}),
])
def test_optimizers_match_torch(name, options):
    torch = pytest.importorskip("torch")
    param = sample((5, 7), np.float32)
    torch_param = torch.nn.Parameter(torch.tensor(param))
    torch_optimizer = getattr(torch.optim, name)([torch_param], **options)
    state = [np.zeros_like(param) for _ in range(3)]
    for step in range(1, 5):
        grad = sample((5, 7), np.float32)
        torch_param.grad = torch.tensor(grad)
        torch_optimizer.step()
        if name == "SGD":
            optimizers.sgd_update(param, grad, state[0], options["lr"], options["momentum"],
                                  options.get("dampening", 0.0), options.get("nesterov", False),
                                  options.get("weight_decay", 0.0), step == 1)
        elif name == "Adam":
            optimizers.adam_update(param, grad, state[0], state[1], options["lr"], 0.9, 0.999,
                                   1e-8, options["weight_decay"], step)
        else:
            momentum, centered = options.get("momentum", 0.0), options.get("centered", False)
            optimizers.rmsprop_update(param, grad, state[0], state[1], state[2], options["lr"],
                                      0.99, 1e-8, options.get("weight_decay", 0.0), momentum,
                                      centered)
    np.testing.assert_allclose(param, torch_param.detach().numpy(), rtol=1e-6, atol=1e-7)
