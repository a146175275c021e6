"""Softmax, log-softmax, the negative log-likelihood loss, and their gradients, row by row.

Every kernel here works on a 2-D array ``(rows, classes)`` and treats each row on its own:
row ``i`` is sample ``i`` of a batch, its columns the scores of the classes. Rows are
independent, so large batches split their rows across cores with ``prange``.

Numerical stability: ``exp(1000)`` overflows, yet softmax only depends on differences of
the scores, ``softmax(x) = softmax(x - c)`` for any ``c``. Subtracting the row's maximum
``m`` makes every exponent ``<= 0``, so each ``exp`` lies in ``(0, 1]`` and their sum in
``[1, classes]``: nothing overflows, and ``log`` of the sum never sees 0.
"""

import math

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 15  # elements below which one thread is faster


@njit(cache=True, inline="always", error_model="numpy")
def row_max_and_exp_sum(row):
    """``(m, s)`` with ``m = max_j row[j]`` and ``s = sum_j exp(row[j] - m)``."""
    largest = row[0]
    for j in range(1, row.size):
        if row[j] > largest:
            largest = row[j]
    total = row.dtype.type(0)
    for j in range(row.size):
        total += math.exp(row[j] - largest)
    return largest, total


@njit(cache=True, inline="always", error_model="numpy")
def log_softmax_row(row, out):
    """``out[j] = (row[j] - m) - log(sum_k exp(row[k] - m))`` = ``log(softmax(row)[j])``.

    In that order: ``row[j] - (m + log(sum))`` would round ``m + log(sum)`` first, and for
    large logits (``[1e8, 1e8, 5e7]``, log-softmax ``[-0.69, -0.69, -5e7]``) that sum is
    ``m`` again in float32, giving ``[0, 0, -5e7]``. A row of only ``-inf``, or with a
    ``+inf`` or NaN, gives NaN everywhere (``inf - inf``), as in PyTorch.
    """
    largest, total = row_max_and_exp_sum(row)
    log_total = math.log(total)
    for j in range(row.size):
        out[j] = (row[j] - largest) - log_total


@njit(cache=True, inline="always", error_model="numpy")
def softmax_row(row, out):
    """``out[j] = exp(row[j] - m) / sum_k exp(row[k] - m)``."""
    largest, total = row_max_and_exp_sum(row)
    scale = 1 / total
    for j in range(row.size):
        out[j] = math.exp(row[j] - largest) * scale


@njit(cache=True, inline="always", error_model="numpy")
def log_softmax_backward_row(grad, output, out):
    """Gradient of log-softmax for one row, from its output ``y = log softmax(x)``.

    ``d y_j / d x_k = [j == k] - softmax_k``, so
    ``grad_x_k = grad_k - exp(y_k) * sum_j grad_j``.
    """
    grad_sum = grad.dtype.type(0)
    for j in range(grad.size):
        grad_sum += grad[j]
    for k in range(grad.size):
        out[k] = grad[k] - math.exp(output[k]) * grad_sum


@njit(cache=True, inline="always", error_model="numpy")
def softmax_backward_row(grad, output, out):
    """Gradient of softmax for one row, from its output ``s = softmax(x)``.

    ``d s_j / d x_k = s_j ([j == k] - s_k)``, so
    ``grad_x_k = s_k (grad_k - sum_j grad_j s_j)``.
    """
    weighted_sum = grad.dtype.type(0)
    for j in range(grad.size):
        weighted_sum += grad[j] * output[j]
    for k in range(grad.size):
        out[k] = output[k] * (grad[k] - weighted_sum)


# One serial and one parallel driver per row operation. The operation is a compile-time
# constant in each, so the row function is inlined with no per-element cost.


@njit(cache=True, error_model="numpy")
def log_softmax_rows(x, out):
    """:func:`log_softmax_row` for every row of ``x``."""
    for i in range(x.shape[0]):
        log_softmax_row(x[i], out[i])


@njit(cache=True, parallel=True, error_model="numpy")
def log_softmax_rows_parallel(x, out):
    """:func:`log_softmax_rows` with the rows split across cores."""
    for i in prange(x.shape[0]):
        log_softmax_row(x[i], out[i])


@njit(cache=True, error_model="numpy")
def softmax_rows(x, out):
    """:func:`softmax_row` for every row of ``x``."""
    for i in range(x.shape[0]):
        softmax_row(x[i], out[i])


@njit(cache=True, parallel=True, error_model="numpy")
def softmax_rows_parallel(x, out):
    """:func:`softmax_rows` with the rows split across cores."""
    for i in prange(x.shape[0]):
        softmax_row(x[i], out[i])


@njit(cache=True, error_model="numpy")
def log_softmax_backward_rows(grad, output, out):
    """:func:`log_softmax_backward_row` for every row."""
    for i in range(grad.shape[0]):
        log_softmax_backward_row(grad[i], output[i], out[i])


@njit(cache=True, parallel=True, error_model="numpy")
def log_softmax_backward_rows_parallel(grad, output, out):
    """:func:`log_softmax_backward_rows` with the rows split across cores."""
    for i in prange(grad.shape[0]):
        log_softmax_backward_row(grad[i], output[i], out[i])


@njit(cache=True, error_model="numpy")
def softmax_backward_rows(grad, output, out):
    """:func:`softmax_backward_row` for every row."""
    for i in range(grad.shape[0]):
        softmax_backward_row(grad[i], output[i], out[i])


@njit(cache=True, parallel=True, error_model="numpy")
def softmax_backward_rows_parallel(grad, output, out):
    """:func:`softmax_backward_rows` with the rows split across cores."""
    for i in prange(grad.shape[0]):
        softmax_backward_row(grad[i], output[i], out[i])


@njit(cache=True, error_model="numpy")
def nll_loss_rows_kernel(log_probs, targets, weight, weighted, ignore_index, losses,
                         safe_targets, row_weights):
    """Each sample's loss, in one pass over the rows: ``losses[i] = -log_probs[i, t_i] *
    w_i``, with ``w_i = weight[t_i]`` (1 when not ``weighted``), and for a row whose target
    is ``ignore_index`` a loss and a weight of 0.

    ``log_probs`` holds log-probabilities, so ``-log_probs[i, t_i]`` is ``-log p(correct
    class)``: 0 for a certain, correct prediction, growing without bound as that
    probability goes to 0. Also written, for the mean and the backward pass: ``row_weights``
    (the ``w_i``) and ``safe_targets`` (``t_i``, 0 for ignored rows, so no later kernel
    reads outside a row). Returns the position of the first target that is no class index
    (the rows after it are not written), or -1.
    """
    one = losses.dtype.type(1)
    for i in range(targets.size):
        target = targets[i]
        if target == ignore_index:
            losses[i] = 0
            safe_targets[i] = 0
            row_weights[i] = 0
            continue
        if not 0 <= target < log_probs.shape[1]:
            return i
        w = weight[target] if weighted else one
        losses[i] = -log_probs[i, target] * w
        safe_targets[i] = target
        row_weights[i] = w
    return -1


@njit(cache=True, error_model="numpy")
def nll_loss_backward_kernel(grad, safe_targets, row_weights, weight_sum, mean, out):
    """``out[i, t_i] = -(grad_i * w_i)``, divided by ``sum_i w_i`` for the mean (by 1 when
    that sum is 0: every row ignored), every other entry 0 (``out`` arrives zeroed).

    The loss of row ``i`` reads one entry, ``-log_probs[i, t_i] * w_i``, so its derivative
    is ``-w_i`` there and 0 everywhere else, times the upstream gradient of that row's
    loss (``grad`` holds one value per row, or one shared by all: the mean's or the sum's).
    """
    shared = grad.size == 1
    divisor = out.dtype.type(1)
    if mean and weight_sum[0] != 0:
        divisor = weight_sum[0]
    for i in range(safe_targets.size):
        scaled = (grad[0] if shared else grad[i]) * row_weights[i]
        if mean:
            scaled = scaled / divisor
        out[i, safe_targets[i]] = -scaled


def _rows(x: np.ndarray) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (rows, classes) array, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _apply_rows(serial, parallel, *arrays) -> np.ndarray:
    arrays = [_rows(a) for a in arrays]
    out = np.empty_like(arrays[0])
    if out.size:
        kernel = parallel if out.size >= PARALLEL_THRESHOLD else serial
        launch(kernel, *arrays, out)
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax of each row: ``x[i, j] - log(sum_k exp(x[i, k]))``, computed stably."""
    return _apply_rows(log_softmax_rows, log_softmax_rows_parallel, x)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax of each row: ``exp(x[i, j]) / sum_k exp(x[i, k])``, computed stably."""
    return _apply_rows(softmax_rows, softmax_rows_parallel, x)


def log_softmax_backward(grad: np.ndarray, output: np.ndarray) -> np.ndarray:
    """``grad - exp(output) * rowsum(grad)``, with ``output`` the forward's log-softmax."""
    return _apply_rows(log_softmax_backward_rows, log_softmax_backward_rows_parallel, grad,
                       output)


def softmax_backward(grad: np.ndarray, output: np.ndarray) -> np.ndarray:
    """``output * (grad - rowsum(grad * output))``, with ``output`` the forward's softmax."""
    return _apply_rows(softmax_backward_rows, softmax_backward_rows_parallel, grad, output)


def nll_loss_rows(log_probs: np.ndarray, targets: np.ndarray, weight: np.ndarray | None,
                  ignore_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample negative log-likelihood ``-log_probs[i, t_i] * w_i`` (``w_i = weight[t_i]``,
    1 without class weights, 0 where ``t_i == ignore_index``), with the safe targets and
    the row weights: ``(losses, safe_targets, row_weights)``, each of shape (rows,).

    Raises ``IndexError`` when a target is neither ``ignore_index`` nor a class index in
    ``[0, classes)``.
    """
    log_probs = _rows(log_probs)
    rows, classes = log_probs.shape
    targets = np.ascontiguousarray(targets, dtype=np.int64).reshape(-1)
    if targets.size != rows:
        raise ValueError(f"nll_loss: {rows} rows of log-probabilities but {targets.size} "
                         "targets")
    dtype = log_probs.dtype
    losses, row_weights = np.empty(rows, dtype), np.empty(rows, dtype)
    safe_targets = np.empty(rows, np.int64)
    weighted = weight is not None  # else the kernel reads no weight: row_weights stands in
    weight = np.ascontiguousarray(weight, dtype=dtype) if weighted else row_weights
    bad = launch(nll_loss_rows_kernel, log_probs, targets, weight, weighted, ignore_index,
                 losses, safe_targets, row_weights)
    if bad >= 0:
        raise IndexError(f"Target {targets[bad]} is out of bounds: class indices must lie in "
                         f"[0, {classes}) for {classes} classes (sample {bad})")
    return losses, safe_targets, row_weights


def nll_loss_backward(grad: np.ndarray, safe_targets: np.ndarray, row_weights: np.ndarray,
                      weight_sum: np.ndarray | None, num_classes: int, dtype) -> np.ndarray:
    """d loss / d log_probs, an (rows, classes) array: ``-grad_i * w_i`` at ``[i, t_i]``,
    divided by ``weight_sum`` when it is given (the mean; by 1 if it is 0), else 0.
    ``grad``: one value per row or a single one; ``safe_targets`` and ``row_weights`` as
    :func:`nll_loss_rows` returned them."""
    dtype = np.dtype(dtype)
    grad = np.ascontiguousarray(grad, dtype=dtype).reshape(-1)
    mean = weight_sum is not None
    weight_sum = np.asarray(weight_sum if mean else 0, dtype=dtype).reshape(1)
    out = np.zeros((safe_targets.size, num_classes), dtype=dtype)
    launch(nll_loss_backward_kernel, grad, safe_targets, row_weights, weight_sum, mean, out)
    return out
