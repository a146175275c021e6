"""2-D convolution (PyTorch's ``conv2d``, really a cross-correlation) and its gradients.

``y[n, o, oh, ow] = bias[o] + sum over c, i, j of
weight[o, c, i, j] * x[n, c, oh * sh - ph + i, ow * sw - pw + j]``, pixels outside the image
(the padding) counting as 0.

**Convolution as matrix multiplication.** Flatten the weights to ``W`` of shape
``(O, C*kh*kw)`` and each output position's receptive field (its *patch*, ``C*kh*kw``
input values) to a vector: every output value is then the dot product of a row of ``W``
with a patch. Gathering the patches is called *im2col*; after it, the heavy lifting is the
register-blocked dot-product kernel of :mod:`numbanet.kernels.cpu.matmul`
(:func:`~numbanet.kernels.cpu.matmul.dot_tile`), which needs both operands of a dot
product contiguous in memory:

- forward: patches gathered as *rows* ``patches[position, (c, i, j)]`` play the role of
  matmul's packed columns of B; ``y[n] (O, positions) = W @ patches.T``. Gathering a chunk
  of patches right before multiplying it keeps it in cache.
- input gradient: ``cols (C*kh*kw, positions) = W.T @ grad_y[n]``, then *col2im* adds each
  column back onto the input pixels its patch came from (overlapping patches add up: a
  pixel used by several outputs gets the gradient of each).
- weight gradient: ``grad_W (O, C*kh*kw) = sum over n of grad_y[n] @ cols(x[n]).T``, with
  the patches laid out as *columns* so that both operands run along positions.

Some of these sums are short: over the 9 values of a 3x3 patch on a 1-channel image, or
over the O output channels in the input gradient. A dot product that short is mostly
overhead, so those products run the other way round, adding whole scaled rows
(:func:`combine_rows`). Work is split across cores by image (and, in the forward pass, by
chunks of positions).
"""

import math

import numpy as np
from numba import get_num_threads, njit, prange

from numbanet.kernels.cpu.matmul import TILE_COLS, TILE_ROWS, dot_tile
from numbanet.kernels.cpu.pool import as_pair
from numbanet.kernels.launch import launch

PATCH_CHUNK_BYTES = 256 * 1024  # gathered patches one forward task multiplies: half of L2
PARALLEL_THRESHOLD = 1 << 18  # multiply-adds below which one thread is faster
SHORT_PATCH = 32  # patches shorter than this use the row-combining forward


@njit(cache=True, error_model="numpy")
def gather_patch_rows(image, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w,
                      position_start, patches):
    """im2col, one row per position: ``patches[q, (c*kh + i)*kw + j] =
    image[c, oh*sh - ph + i, ow*sw - pw + j]`` where ``position_start + q = oh*out_w + ow``
    (0 where that pixel is padding)."""
    channels, height, width = image.shape
    zero = patches.dtype.type(0)
    for q in range(patches.shape[0]):
        oh = (position_start + q) // out_w
        ow = (position_start + q) % out_w
        top = oh * stride_h - pad_h
        left = ow * stride_w - pad_w
        row = patches[q]
        column = 0
        for c in range(channels):
            for i in range(kernel_h):
                h = top + i
                for j in range(kernel_w):
                    w = left + j
                    inside = 0 <= h < height and 0 <= w < width
                    row[column] = image[c, h, w] if inside else zero
                    column += 1


@njit(cache=True, inline="always", error_model="numpy")
def inside_range(out_size, stride, pad, offset, size):
    """The outputs ``o`` in ``[first, stop)`` whose input ``o*stride - pad + offset`` lies
    inside ``[0, size)``: computing them once keeps bounds checks out of the inner loops."""
    first = max(0, -((offset - pad) // stride))  # ceil((pad - offset) / stride)
    stop = min(out_size, (size - 1 + pad - offset) // stride + 1)
    return first, max(first, stop)


@njit(cache=True, error_model="numpy")
def gather_patch_columns(image, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h,
                         out_w, cols):
    """im2col, one column per position: ``cols[(c*kh + i)*kw + j, oh*out_w + ow] =
    image[c, oh*sh - ph + i, ow*sw - pw + j]`` (0 where that pixel is padding).

    For a fixed ``(c, i, j, oh)`` the values along ``ow`` come from one image row, read
    with step ``sw``: a contiguous copy when the stride is 1.
    """
    channels, height, width = image.shape
    cols[...] = 0
    row = 0
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = inside_range(out_h, stride_h, pad_h, i, height)
            for j in range(kernel_w):
                ow_first, ow_stop = inside_range(out_w, stride_w, pad_w, j, width)
                for oh in range(oh_first, oh_stop):
                    source = image[c, oh * stride_h - pad_h + i]
                    out = cols[row, oh * out_w : (oh + 1) * out_w]
                    for ow in range(ow_first, ow_stop):
                        out[ow] = source[ow * stride_w - pad_w + j]
                row += 1


@njit(cache=True, error_model="numpy")
def scatter_patch_columns(cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                          out_h, out_w, image):
    """col2im, the adjoint of :func:`gather_patch_columns`: ``image[c, h, w] +=
    cols[(c*kh + i)*kw + j, oh*out_w + ow]`` for every patch entry that came from pixel
    ``(c, h, w)``; entries that came from padding are dropped."""
    channels, height, width = image.shape
    row = 0
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = inside_range(out_h, stride_h, pad_h, i, height)
            for j in range(kernel_w):
                ow_first, ow_stop = inside_range(out_w, stride_w, pad_w, j, width)
                for oh in range(oh_first, oh_stop):
                    target = image[c, oh * stride_h - pad_h + i]
                    source = cols[row, oh * out_w : (oh + 1) * out_w]
                    for ow in range(ow_first, ow_stop):
                        target[ow * stride_w - pad_w + j] += source[ow]
                row += 1


@njit(cache=True, fastmath=True, error_model="numpy")
def combine_rows(coefficients, rows, out):
    """``out[r, :] = sum over k of coefficients[k, r] * rows[k, :]``, i.e.
    ``out = coefficients.T @ rows``, for short sums (9 or 64 terms here).

    A dot product that short is mostly overhead, so this product runs the other way
    ("axpy"): whole rows of ``rows`` are scaled and added into rows of ``out``, 8
    positions per instruction. Two output rows are built at once, so each value loaded
    from ``rows`` serves two multiply-adds, and four terms are summed in registers before
    an output value is loaded and stored again.
    """
    terms = coefficients.shape[0]
    terms_in_fours = terms - terms % 4
    spare = np.empty(out.shape[1], dtype=out.dtype)  # stands in for a missing second row
    for r in range(0, out.shape[0], 2):
        second = r + 1 < out.shape[0]
        r1 = r + 1 if second else r
        out0 = out[r]
        out1 = out[r1] if second else spare
        out0[:] = 0
        out1[:] = 0
        for k in range(0, terms_in_fours, 4):
            a0, a1 = coefficients[k, r], coefficients[k, r1]
            b0, b1 = coefficients[k + 1, r], coefficients[k + 1, r1]
            c0, c1 = coefficients[k + 2, r], coefficients[k + 2, r1]
            d0, d1 = coefficients[k + 3, r], coefficients[k + 3, r1]
            row_a, row_b, row_c, row_d = rows[k], rows[k + 1], rows[k + 2], rows[k + 3]
            for p in range(out0.size):
                xa, xb, xc, xd = row_a[p], row_b[p], row_c[p], row_d[p]
                out0[p] += a0 * xa + b0 * xb + c0 * xc + d0 * xd
                out1[p] += a1 * xa + b1 * xb + c1 * xc + d1 * xd
        for k in range(terms_in_fours, terms):
            a0, a1 = coefficients[k, r], coefficients[k, r1]
            row_a = rows[k]
            for p in range(out0.size):
                out0[p] += a0 * row_a[p]
                out1[p] += a1 * row_a[p]


# Each operation below is a *worker* kernel: worker ``w`` of ``workers`` handles its share
# of the images (or of the image chunks) and allocates its scratch buffer once for all of
# them. One worker on the calling thread is the serial path; the ``*_parallel`` kernels
# run one worker per core.


@njit(cache=True, error_model="numpy")
def conv_forward_worker(worker, workers, x, weights, bias, has_bias, y, kernel_h, kernel_w,
                        stride_h, stride_w, pad_h, pad_w, out_w, chunk_positions):
    """``y[n] = W @ patches(x[n]).T (+ bias)`` for this worker's chunks of positions.

    ``weights`` is W, (O, C*kh*kw); ``y`` is (N, O, positions). A task is one chunk of
    positions of one image: its patches are gathered into rows, right before they are
    multiplied 4 channels x 3 positions at a time (so they are still in cache).
    """
    positions = y.shape[2]
    chunks = (positions + chunk_positions - 1) // chunk_positions
    tasks = y.shape[0] * chunks
    scratch = np.empty((chunk_positions, weights.shape[1]), dtype=y.dtype)
    for task in range(worker * tasks // workers, (worker + 1) * tasks // workers):
        n = task // chunks
        start = task % chunks * chunk_positions
        stop = min(positions, start + chunk_positions)
        patches = scratch[: stop - start]
        gather_patch_rows(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w,
                          start, patches)
        image_out = y[n]
        for o in range(0, weights.shape[0], TILE_ROWS):
            for p in range(start, stop, TILE_COLS):
                dot_tile(weights, patches, image_out, o, p, p - start)
        if has_bias:
            for o in range(weights.shape[0]):
                row = image_out[o]
                for p in range(start, stop):
                    row[p] += bias[o]


@njit(cache=True, parallel=True, error_model="numpy")
def conv_forward_parallel(workers, x, weights, bias, has_bias, y, kernel_h, kernel_w,
                          stride_h, stride_w, pad_h, pad_w, out_w, chunk_positions):
    """:func:`conv_forward_worker` for every worker, one per core."""
    for worker in prange(workers):
        conv_forward_worker(worker, workers, x, weights, bias, has_bias, y, kernel_h, kernel_w,
                            stride_h, stride_w, pad_h, pad_w, out_w, chunk_positions)


@njit(cache=True, error_model="numpy")
def conv_forward_short_patch_worker(worker, workers, x, weights_t, bias, y, kernel_h,
                                    kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w):
    """The forward pass when patches are short (e.g. 3x3 on one channel), per image.

    A dot product of 9 numbers is too short to vectorise well, so the patches are gathered
    as columns and combined row-wise instead: ``y[o, :] = bias[o] + sum over q of
    W[o, q] * cols[q, :]`` (:func:`combine_rows`, with ``weights_t = W.T``).
    """
    images = x.shape[0]
    cols = np.empty((weights_t.shape[0], out_h * out_w), dtype=y.dtype)
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                             out_h, out_w, cols)
        image_out = y[n]
        combine_rows(weights_t, cols, image_out)
        for o in range(image_out.shape[0]):
            row = image_out[o]
            for p in range(row.size):
                row[p] += bias[o]


@njit(cache=True, parallel=True, error_model="numpy")
def conv_forward_short_patch_parallel(workers, x, weights_t, bias, y, kernel_h, kernel_w,
                                      stride_h, stride_w, pad_h, pad_w, out_h, out_w):
    """:func:`conv_forward_short_patch_worker` for every worker, one per core."""
    for worker in prange(workers):
        conv_forward_short_patch_worker(worker, workers, x, weights_t, bias, y, kernel_h,
                                        kernel_w, stride_h, stride_w, pad_h, pad_w, out_h,
                                        out_w)


@njit(cache=True, error_model="numpy")
def conv_input_grad_worker(worker, workers, grad_y, weights, grad_x, kernel_h, kernel_w,
                           stride_h, stride_w, pad_h, pad_w, out_h, out_w):
    """For each of this worker's images: ``cols = W.T @ grad_y[n]``, then col2im.

    ``grad_y`` is (N, O, positions) and ``weights`` is W, (O, C*kh*kw). The sum runs over
    the O output channels, a short sum: :func:`combine_rows` builds each row of ``cols``
    from rows of ``grad_y[n]``, which are already contiguous along positions. Each image's
    gradient is written by one worker only, so overlapping patches never race.
    """
    images = grad_y.shape[0]
    cols = np.empty((weights.shape[1], grad_y.shape[2]), dtype=grad_y.dtype)
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        combine_rows(weights, grad_y[n], cols)
        grad_x[n] = 0
        scatter_patch_columns(cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                              out_h, out_w, grad_x[n])


@njit(cache=True, parallel=True, error_model="numpy")
def conv_input_grad_parallel(workers, grad_y, weights, grad_x, kernel_h, kernel_w, stride_h,
                             stride_w, pad_h, pad_w, out_h, out_w):
    """:func:`conv_input_grad_worker` for every worker, one per core."""
    for worker in prange(workers):
        conv_input_grad_worker(worker, workers, grad_y, weights, grad_x, kernel_h, kernel_w,
                               stride_h, stride_w, pad_h, pad_w, out_h, out_w)


@njit(cache=True, error_model="numpy")
def conv_weight_grad_worker(worker, workers, grad_y, x, partials, kernel_h, kernel_w,
                            stride_h, stride_w, pad_h, pad_w, out_h, out_w):
    """``partials[worker] = sum over this worker's images n of grad_y[n] @ cols(x[n]).T``.

    ``grad_y`` is (N, O, positions); ``partials`` is (workers, O, C*kh*kw). Each image's
    product is a sum over its positions, so both operands are laid out along positions:
    ``grad_y[n]`` already is, and the patches are gathered as columns. Each worker sums
    into its own partial, added up at the end, so no two threads add into one weight.
    """
    images, channels_out, positions = grad_y.shape
    patch_size = partials.shape[2]
    cols = np.empty((patch_size, positions), dtype=grad_y.dtype)
    product = np.empty((channels_out, patch_size), dtype=grad_y.dtype)
    total = partials[worker]
    total[...] = 0
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                             out_h, out_w, cols)
        for o in range(0, channels_out, TILE_ROWS):
            for r in range(0, patch_size, TILE_COLS):
                dot_tile(grad_y[n], cols, product, o, r, r)
        total += product


@njit(cache=True, parallel=True, error_model="numpy")
def conv_weight_grad_parallel(workers, grad_y, x, partials, kernel_h, kernel_w, stride_h,
                              stride_w, pad_h, pad_w, out_h, out_w):
    """:func:`conv_weight_grad_worker` for every worker, one per core."""
    for worker in prange(workers):
        conv_weight_grad_worker(worker, workers, grad_y, x, partials, kernel_h, kernel_w,
                                stride_h, stride_w, pad_h, pad_w, out_h, out_w)


def _output_size(x_shape, weight_shape, stride, padding) -> tuple[int, int]:
    _, channels, height, width = x_shape
    _, weight_channels, kernel_h, kernel_w = weight_shape
    if channels != weight_channels:
        raise ValueError(f"conv2d: input has {channels} channels but the weight expects "
                         f"{weight_channels} (weight shape {tuple(weight_shape)})")
    (stride_h, stride_w), (pad_h, pad_w) = as_pair(stride), as_pair(padding)
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"conv2d: a {kernel_h}x{kernel_w} kernel does not fit in a "
                         f"{height}x{width} input with padding {(pad_h, pad_w)}")
    return out_h, out_w


def _geometry(weight_shape, stride, padding) -> tuple[int, ...]:
    """``(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w)``, the kernels' arguments."""
    return (int(weight_shape[2]), int(weight_shape[3])) + as_pair(stride) + as_pair(padding)


def _workers(multiply_adds: int, items: int) -> int:
    """How many workers: one per core for large jobs, else one (the serial path)."""
    if multiply_adds < PARALLEL_THRESHOLD:
        return 1
    return max(1, min(items, get_num_threads()))


def _run(worker_kernel, parallel_kernel, workers: int, *args) -> None:
    """Launch one worker on this thread, or ``workers`` of them across the cores."""
    if workers == 1:
        launch(worker_kernel, 0, 1, *args)
    else:
        launch(parallel_kernel, workers, *args)


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride=1, padding=0) -> np.ndarray:
    """Convolution of ``x`` (N, C, H, W) with ``weight`` (O, C, kh, kw), plus ``bias`` (O,)
    if given: returns (N, O, Ho, Wo), ``Ho = (H + 2*pad_h - kh) // stride_h + 1``.

    ``stride`` and ``padding`` are ints or (h, w) pairs, here and in the gradients."""
    out_h, out_w = _output_size(x.shape, weight.shape, stride, padding)
    batch = x.shape[0]
    channels_out = weight.shape[0]
    dtype = np.result_type(x.dtype, weight.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    weights = np.ascontiguousarray(weight, dtype=dtype).reshape(channels_out, -1)
    has_bias = bias is not None
    bias = np.ascontiguousarray(bias if has_bias else np.zeros(channels_out), dtype=dtype)
    y = np.empty((batch, channels_out, out_h * out_w), dtype=dtype)
    geometry = _geometry(weight.shape, stride, padding)
    patch_size = weights.shape[1]
    if y.size and patch_size < SHORT_PATCH:
        workers = _workers(y.size * patch_size, batch)
        _run(conv_forward_short_patch_worker, conv_forward_short_patch_parallel, workers, x,
             np.ascontiguousarray(weights.T), bias, y, *geometry, out_h, out_w)
    elif y.size:
        chunk = max(TILE_COLS, PATCH_CHUNK_BYTES // (patch_size * dtype.itemsize)
                    // TILE_COLS * TILE_COLS)
        chunk = min(chunk, -(-out_h * out_w // TILE_COLS) * TILE_COLS)
        tasks = batch * -(-out_h * out_w // chunk)
        workers = _workers(y.size * patch_size, tasks)
        _run(conv_forward_worker, conv_forward_parallel, workers, x, weights, bias, has_bias,
             y, *geometry, out_w, chunk)
    return y.reshape(batch, channels_out, out_h, out_w)


def conv2d_input_grad(grad_y: np.ndarray, weight: np.ndarray, x_shape: tuple[int, ...],
                      stride=1, padding=0) -> np.ndarray:
    """d loss / d x for ``y = conv2d(x, weight)``: shape ``x_shape``.

    ``grad_x[n, c, h, w] = sum of grad_y[n, o, oh, ow] * weight[o, c, i, j]`` over every
    output position whose patch read pixel ``(h, w)`` through weight tap ``(i, j)``.
    """
    out_h, out_w = _output_size(x_shape, weight.shape, stride, padding)
    batch, channels_out = grad_y.shape[:2]
    dtype = grad_y.dtype
    grad_y = np.ascontiguousarray(grad_y).reshape(batch, channels_out, out_h * out_w)
    weights = np.ascontiguousarray(weight, dtype=dtype).reshape(channels_out, -1)
    grad_x = np.zeros(x_shape, dtype=dtype)
    if grad_y.size:
        workers = _workers(grad_y.size * weights.shape[1], batch)
        _run(conv_input_grad_worker, conv_input_grad_parallel, workers, grad_y, weights,
             grad_x, *_geometry(weight.shape, stride, padding), out_h, out_w)
    return grad_x


def conv2d_weight_grad(grad_y: np.ndarray, x: np.ndarray, weight_shape: tuple[int, ...],
                       stride=1, padding=0) -> np.ndarray:
    """d loss / d weight for ``y = conv2d(x, weight)``: shape ``weight_shape``.

    ``grad_weight[o, c, i, j] = sum over n, oh, ow of
    grad_y[n, o, oh, ow] * x[n, c, oh*sh - ph + i, ow*sw - pw + j]``.
    """
    out_h, out_w = _output_size(x.shape, weight_shape, stride, padding)
    batch, channels_out = grad_y.shape[:2]
    dtype = grad_y.dtype
    grad_y = np.ascontiguousarray(grad_y).reshape(batch, channels_out, out_h * out_w)
    x = np.ascontiguousarray(x, dtype=dtype)
    patch_size = math.prod(weight_shape[1:])
    workers = _workers(grad_y.size * patch_size, batch)
    partials = np.zeros((workers, channels_out, patch_size), dtype=dtype)
    if grad_y.size:
        _run(conv_weight_grad_worker, conv_weight_grad_parallel, workers, grad_y, x, partials,
             *_geometry(weight_shape, stride, padding), out_h, out_w)
    return partials.sum(axis=0).reshape(weight_shape)
