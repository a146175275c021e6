"""2-D convolution (PyTorch's ``conv2d``, really a cross-correlation) and its gradients.

``y[n, o, oh, ow] = bias[o] + sum over c, i, j of
weight[o, c, i, j] * x[n, c, oh * sh - ph + i, ow * sw - pw + j]``, pixels outside the image
(the padding) counting as 0.

**Convolution as matrix multiplication.** Flatten the weights to ``W`` of shape
``(O, K)``, ``K = C*kh*kw``, and each output position's receptive field (its *patch*, ``K``
input values) to a vector: every output value is then the dot product of a row of ``W``
with a patch. Gathering the patches is called *im2col*; after it, the heavy lifting is
done by the two register-blocked kernels of :mod:`numbanet.kernels.cpu.matmul`:

- :func:`~numbanet.kernels.cpu.matmul.dot_tile`, dot products over a *long* sum, both
  operands laid out along the sum (its 12 running sums live in vector registers);
- :func:`~numbanet.kernels.cpu.matmul.multiply_rows`, the outer-product order
  ``C[i, :] += A[i, p] * B[p, :]`` for a *short* sum: rows of B and C contiguous, A read
  a number at a time through any strides (a transposed view costs nothing).

Which sum is long decides the layout of the gathered patches. In a convolution with many
input channels (the tutorial CNN's 32 -> 64, ``K = 288``) the patches are gathered as
*rows*, channels last: ``patches[position, (i, j, c)]``, the columns of ``W`` put in the
same order. With the image transposed to channels last first (each pixel's ``C`` values
side by side), the ``kw`` pixels a patch takes from one image row are ``kw*C``
consecutive numbers, so a patch row is ``kh`` contiguous copies:

- forward: ``y[n] (O, positions) = W @ patches.T``, a sum over ``K``: dot products, rows of
  ``W`` against rows of ``patches``, swept a chunk of positions at a time so the chunk's
  patches stay in the L2 cache while every row of ``W`` meets them.
- weight gradient: ``grad_W (O, K) += grad_y[n] @ patches``, for every image, a sum over
  positions: in the outer-product order each position adds ``grad_y[n][o, p]`` times its
  patch row onto row ``o`` of ``grad_W``, a contiguous update of ``K`` numbers. ``grad_W``
  (``O*K`` numbers) stays in cache across the whole batch.
- input gradient: ``patch_grads (positions, K) = grad_y[n].T @ W``, a sum over the ``O``
  output channels: outer-product order with ``grad_y[n].T`` read in place, a block of
  positions at a time small enough to stay in L1; while it is there, *col2im* adds each
  patch's gradient back onto the (channels-last) pixels it came from, in the same
  contiguous runs (overlapping patches add up: a pixel used by several outputs gets the
  gradient of each). The pixel gradients are transposed back to ``(C, H, W)`` at the end.

With short patches (the first layer, one input channel: ``K = 9``) a row of 9 numbers
is too short to vectorise, so the patches are gathered as *columns*, ``cols[(c, i, j),
position]``, whose rows run along positions: the forward is ``y[n] = bias + W @ cols`` in
the outer-product order (a short sum over ``K``), the weight gradient ``grad_y[n] @
cols.T`` as dot products over positions, and the input gradient ``cols = W.T @
grad_y[n]`` in the outer-product order, then col2im.

Work is split across cores by image; each worker allocates its scratch once.
"""

import math

import numpy as np
from numba import get_num_threads, njit, prange

from numbanet.kernels.cpu.matmul import (
    TILE_COLS,
    TILE_ROWS,
    dot_tile,
    multiply_rows,
    pack_columns,
)
from numbanet.kernels.cpu.pool import as_pair
from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 18  # multiply-adds below which one thread is faster
ROWS_LAYOUT_MIN_PATCH = 32  # patch size (C*kh*kw) from which patches are gathered as rows
PATCH_CHUNK_BYTES = 256 * 1024  # patch rows the forward sweeps at once: half of a 512 KiB L2
GRAD_CHUNK_BYTES = 16 * 1024  # patch gradients the input gradient builds at once: half of L1


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


@njit(cache=True, error_model="numpy")
def gather_patch_rows(image, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h,
                      out_w, pixels, patches):
    """im2col, one row per position and channels last: ``patches[oh*out_w + ow,
    (i*kw + j)*C + c] = image[c, oh*sh - ph + i, ow*sw - pw + j]`` (0 where that pixel is
    padding).

    The image is first transposed to ``pixels`` (H*W, C), each pixel's channels side by
    side. Then the ``kw`` neighbouring pixels a patch takes from one image row are
    ``kw*C`` consecutive numbers of ``pixels``, one contiguous copy (96 numbers for a 3x3
    kernel on 32 channels) instead of ``C`` copies of ``kw`` pixels, loops too short to
    run fast. Pixels left or right of the image are written as zeros.
    """
    channels, height, width = image.shape
    pack_columns(image.reshape(channels, height * width), 0, height * width, pixels)
    pixel_rows = pixels.reshape(height, width * channels)
    run = kernel_w * channels
    zero = patches.dtype.type(0)
    for oh in range(out_h):
        for ow in range(out_w):
            patch = patches[oh * out_w + ow]
            w_first = ow * stride_w - pad_w
            inside_first = max(0, -w_first) * channels  # the run's part inside the image
            inside_stop = min(kernel_w, width - w_first) * channels
            for i in range(kernel_h):
                out = patch[i * run : (i + 1) * run]
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height or inside_stop <= inside_first:
                    out[:] = zero
                    continue
                source = pixel_rows[h, w_first * channels + inside_first:]
                for q in range(inside_first):
                    out[q] = zero
                for q in range(inside_stop - inside_first):
                    out[inside_first + q] = source[q]
                for q in range(inside_stop, run):
                    out[q] = zero


@njit(cache=True, error_model="numpy")
def scatter_patch_rows(patches, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w,
                       first, pixel_rows, channels):
    """col2im, the adjoint of :func:`gather_patch_rows`, for positions ``first`` onwards
    (one per row of ``patches``): each patch's runs of ``kw*C`` numbers are added onto the
    channels-last pixels they came from, ``pixel_rows`` (H, W*C); numbers that came from
    padding are dropped."""
    height = pixel_rows.shape[0]
    width = pixel_rows.shape[1] // channels
    run = kernel_w * channels
    for row in range(patches.shape[0]):
        oh, ow = divmod(first + row, out_w)
        patch = patches[row]
        w_first = ow * stride_w - pad_w
        inside_first = max(0, -w_first) * channels
        inside_stop = min(kernel_w, width - w_first) * channels
        for i in range(kernel_h):
            h = oh * stride_h - pad_h + i
            if h < 0 or h >= height or inside_stop <= inside_first:
                continue
            target = pixel_rows[h, w_first * channels + inside_first:]
            source = patch[i * run + inside_first:]
            for q in range(inside_stop - inside_first):
                target[q] += source[q]


@njit(cache=True, error_model="numpy")
def multiply_patch_rows(weights, patches, out, chunk):
    """``out (O, positions) = W @ patches.T``: rows of ``W`` against rows of ``patches``
    in register tiles, ``chunk`` positions (whole tiles) at a time, so that the chunk's
    patches stay in cache while every row of ``W`` meets them."""
    channels_out = weights.shape[0]
    positions = patches.shape[0]
    for start in range(0, positions, chunk):
        for o in range(0, channels_out, TILE_ROWS):
            for p in range(start, min(positions, start + chunk), TILE_COLS):
                dot_tile(weights, patches, out, o, p, p)


# Each operation below is a *worker* kernel: worker ``w`` of ``workers`` handles its share
# of the images (or of the image chunks) and allocates its scratch buffer once for all of
# them. One worker on the calling thread is the serial path; the ``*_parallel`` kernels
# run one worker per core.


@njit(cache=True, error_model="numpy")
def conv_forward_worker(worker, workers, x, weights, bias, y, kernel_h, kernel_w, stride_h,
                        stride_w, pad_h, pad_w, out_h, out_w):
    """``y[n] = bias + W @ patches(x[n])`` for each of this worker's images.

    ``weights`` is W, (O, K); ``y`` is (N, O, positions). Long patches: gathered as rows
    (channels last, as ``weights``' columns), dot products over ``K``
    (:func:`multiply_patch_rows`, chunks of about ``PATCH_CHUNK_BYTES``), then the bias
    added. Short patches: gathered as columns, each output row starts as its channel's bias and
    ``W @ cols`` is added onto it in the outer-product order.
    """
    images = x.shape[0]
    channels_out, patch_size = weights.shape
    positions = y.shape[2]
    rows_layout = patch_size >= ROWS_LAYOUT_MIN_PATCH
    if rows_layout:
        patches = np.empty((positions, patch_size), dtype=y.dtype)
        pixels = np.empty((x.shape[2] * x.shape[3], x.shape[1]), dtype=y.dtype)
    else:
        pixels = np.empty((0, 0), dtype=y.dtype)
        patches = np.empty((patch_size, positions), dtype=y.dtype)
    chunk = max(1, PATCH_CHUNK_BYTES // (patch_size * y.itemsize) // TILE_COLS) * TILE_COLS
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        image_out = y[n]
        if rows_layout:
            gather_patch_rows(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                              out_h, out_w, pixels, patches)
            multiply_patch_rows(weights, patches, image_out, chunk)
            for o in range(channels_out):
                row, shift = image_out[o], bias[o]
                for p in range(positions):
                    row[p] += shift
        else:
            gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                 out_h, out_w, patches)
            for o in range(channels_out):
                image_out[o] = bias[o]
            multiply_rows(weights, patches, image_out, 0, channels_out, 0, positions)


@njit(cache=True, parallel=True, error_model="numpy")
def conv_forward_parallel(workers, x, weights, bias, y, kernel_h, kernel_w, stride_h,
                          stride_w, pad_h, pad_w, out_h, out_w):
    """:func:`conv_forward_worker` for every worker, one per core."""
    for worker in prange(workers):
        conv_forward_worker(worker, workers, x, weights, bias, y, kernel_h, kernel_w, stride_h,
                            stride_w, pad_h, pad_w, out_h, out_w)


@njit(cache=True, error_model="numpy")
def conv_input_grad_worker(worker, workers, grad_y, weights, grad_x, kernel_h, kernel_w,
                           stride_h, stride_w, pad_h, pad_w, out_h, out_w):
    """For each of this worker's images: the patches' gradients ``grad_y[n].T @ W``, then
    col2im.

    ``grad_y`` is (N, O, positions) and ``weights`` is W, (O, K). The sum runs over the
    ``O`` output channels, short, so the outer-product order. Long patches, as rows
    (channels last, as ``weights``' columns): a block of positions at a time, small enough
    to stay in L1 (``GRAD_CHUNK_BYTES``), each position's row the sum of ``grad_y[n][o,
    p] * W[o]`` (``grad_y[n].T`` read in place), then added onto the channels-last pixel
    gradients while still in cache; those are transposed into ``grad_x[n]`` at the end.
    Short patches, as columns: ``cols = W.T @ grad_y[n]``, then col2im. Each image's
    gradient is written by one worker only, so overlapping patches never race.
    """
    images, channels, height, width = grad_x.shape
    channels_out, patch_size = weights.shape
    positions = grad_y.shape[2]
    rows_layout = patch_size >= ROWS_LAYOUT_MIN_PATCH
    chunk = max(1, GRAD_CHUNK_BYTES // (patch_size * grad_y.itemsize) // 4) * 4
    if rows_layout:
        patches = np.empty((min(chunk, positions), patch_size), dtype=grad_y.dtype)
        pixels = np.empty((height * width, channels), dtype=grad_y.dtype)
    else:
        patches = np.empty((patch_size, positions), dtype=grad_y.dtype)
        pixels = np.empty((0, 0), dtype=grad_y.dtype)
    pixel_rows = pixels.reshape(-1, width * channels) if rows_layout else pixels
    weights_t = weights.T
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        if rows_layout:
            pixels[...] = 0
            grad_y_t = grad_y[n].T
            for start in range(0, positions, chunk):
                block = patches[: min(positions, start + chunk) - start]
                block[...] = 0
                multiply_rows(grad_y_t[start:], weights, block, 0, block.shape[0], 0,
                              patch_size)
                scatter_patch_rows(block, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                   pad_w, out_w, start, pixel_rows, channels)
            pack_columns(pixels, 0, channels, grad_x[n].reshape(channels, height * width))
        else:
            patches[...] = 0
            multiply_rows(weights_t, grad_y[n], patches, 0, patch_size, 0, positions)
            grad_x[n] = 0
            scatter_patch_columns(patches, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                  pad_w, out_h, out_w, grad_x[n])


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
    """``partials[worker] = sum over this worker's images n of grad_y[n] @ patches(x[n])``.

    ``grad_y`` is (N, O, positions); ``partials`` is (workers, O, K). Each image's product
    is a sum over its positions. Long patches, gathered as rows: the outer-product order,
    each position adding ``grad_y[n][o, p]`` times its patch onto row ``o`` of the
    partial, straight into it. Short patches, gathered as columns: dot products along
    positions, ``grad_y[n]`` already laid out that way. Each worker sums into its own
    partial, added up at the end, so no two threads add into one weight.
    """
    images, channels_out, positions = grad_y.shape
    patch_size = partials.shape[2]
    rows_layout = patch_size >= ROWS_LAYOUT_MIN_PATCH
    if rows_layout:
        patches = np.empty((positions, patch_size), dtype=grad_y.dtype)
        pixels = np.empty((x.shape[2] * x.shape[3], x.shape[1]), dtype=grad_y.dtype)
    else:
        pixels = np.empty((0, 0), dtype=grad_y.dtype)
        patches = np.empty((patch_size, positions), dtype=grad_y.dtype)
    product = np.empty((0 if rows_layout else channels_out, patch_size), dtype=grad_y.dtype)
    total = partials[worker]
    total[...] = 0
    for n in range(worker * images // workers, (worker + 1) * images // workers):
        if rows_layout:
            gather_patch_rows(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                              out_h, out_w, pixels, patches)
            multiply_rows(grad_y[n], patches, total, 0, channels_out, 0, patch_size)
        else:
            gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                 out_h, out_w, patches)
            for o in range(0, channels_out, TILE_ROWS):
                for r in range(0, patch_size, TILE_COLS):
                    dot_tile(grad_y[n], patches, product, o, r, r)
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


def _flat_weights(weight: np.ndarray, dtype) -> np.ndarray:
    """W as (O, K), its columns in the order of the kernels' patches: ``(c, i, j)`` for
    patches gathered as columns, channels last ``(i, j, c)`` for patches gathered as rows."""
    channels_out = weight.shape[0]
    if math.prod(weight.shape[1:]) >= ROWS_LAYOUT_MIN_PATCH:
        weight = weight.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(weight, dtype=dtype).reshape(channels_out, -1)


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
    weights = _flat_weights(weight, dtype)
    bias = np.ascontiguousarray(np.zeros(channels_out) if bias is None else bias, dtype=dtype)
    y = np.empty((batch, channels_out, out_h * out_w), dtype=dtype)
    if y.size:
        workers = _workers(y.size * weights.shape[1], batch)
        _run(conv_forward_worker, conv_forward_parallel, workers, x, weights, bias, y,
             *_geometry(weight.shape, stride, padding), out_h, out_w)
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
    weights = _flat_weights(weight, dtype)
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
    grad_weight = partials.sum(axis=0)
    if patch_size >= ROWS_LAYOUT_MIN_PATCH:  # channels last: (O, kh, kw, C)
        channels_out, channels, kernel_h, kernel_w = weight_shape
        return np.ascontiguousarray(grad_weight.reshape(channels_out, kernel_h, kernel_w,
                                                        channels).transpose(0, 3, 1, 2))
    return grad_weight.reshape(weight_shape)
