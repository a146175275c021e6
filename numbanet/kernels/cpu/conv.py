"""2-D convolution (PyTorch's ``conv2d``, really a cross-correlation) and its gradients.

``y[n, o, oh, ow] = bias[o] + sum over c, i, j of
weight[o, c, i, j] * x[n, c, oh * sh - ph + i, ow * sw - pw + j]``, pixels outside the image
(the padding) counting as 0.

**Convolution as matrix multiplication.** Flatten the weights to ``W`` of shape
``(O, K)``, ``K = C*kh*kw``, and each output position's receptive field (its *patch*, ``K``
input values) to a vector: every output value is then the dot product of a row of ``W``
with a patch. Gathering the patches is called *im2col*; after it, the heavy lifting is
done by register-blocked multiply kernels. Most run in the outer-product order of
:func:`~numbanet.kernels.cpu.matmul.multiply_rows`, which adds scaled rows of its right
operand into rows of the result, so it needs that operand's rows contiguous and reads the
left one a number at a time, through any strides. What differs between the three kernels
is how each lays the patches out so that the rows it needs are contiguous, and how much
copying that costs:

- forward: ``y[n] (O, positions) = bias + W @ cols``, the patches as *columns*
  ``cols[(c, i, j), position]``, so that a row of ``cols`` runs along positions, as a row
  of the output does. im2col copies that row one short run per output row (24 numbers at
  the seed CNN's second layer), and short copies are slow: LLVM's vectorised loop takes
  32 numbers a pass, so a 24-number run is copied one number at a time. With stride 1
  there is a way round: count *wide* positions, every column ``w`` of the padded image
  in each output row (``q = oh*Wp + w``); then the row ``(c, i, j)`` of ``cols`` is the
  image plane ``c`` shifted by ``i*Wp + j``, one long run, copied whole. The product
  computes ``kw - 1`` extra columns per output row (8% more at 26 wide), whose patches
  wrap round the image's edge, and drops them as it writes ``y``; that pays when the
  patch is longer than the output channels (``K > O``: dropping copies ``O`` short runs
  per output row where gathering copies ``K``). The first layer (``K = 9``) and other
  strides gather.
- weight gradient: ``grad_W (O, K) = sum over n of grad_y[n] @ patches(x[n])``, a
  long sum over positions. With long patches (``K >= ROWS_LAYOUT_MIN_PATCH``) it runs in
  the outer-product order, ``grad_W[o, :] += grad_y[n][o, p] * patch(p)``: the running
  total of 4 output channels stays in L1 while every position of every image is added
  into it, no per-image product to add up, no horizontal sums. That order needs each
  patch as a contiguous *row* of ``K`` numbers, and those are not copied out one by one
  (im2col writes every pixel ``kh*kw`` times): the image is laid out channels last with
  the ``kh`` rows that an output row's patches read interleaved pixel by pixel,
  ``windows[oh, (w, i, c)]``; then the patch of ``(oh, ow)`` in the order ``(j, i, c)`` is
  the ``K`` consecutive numbers starting at pixel ``w = ow*sw``, and neighbouring patches
  overlap in memory as they do in the image. Each pixel is copied ``kh`` times, in runs
  of ``C`` numbers, and the multiply reads the patches in place. Short patches gather
  columns and take dot products along positions
  (:func:`~numbanet.kernels.cpu.matmul.dot_tile`, 4 x 3 weights at once).
- input gradient: the gradient of each patch, then *col2im* adds it back onto the input
  pixels the patch came from (overlapping patches add up: a pixel used by several
  outputs gets the gradient of each). The sum runs over the ``O`` output channels. With
  short patches (``K < ROWS_LAYOUT_MIN_PATCH``, the first layer's 9) the patch
  gradients are columns, ``cols (K, positions) = W.T @ grad_y[n]`` (``W.T`` a strided
  view, nothing copied). With long ones (the tutorial CNN's 32 -> 64, ``K = 288``) they
  are *rows*, channels last: ``patch_grads[position, (i, j, c)] = sum over o of
  grad_y[n][o, position] * W[o, (i, j, c)]``, ``W``'s columns put in that order. Each row
  is a contiguous update of ``K`` numbers, built a block of positions at a time small
  enough to stay in L1; while the block is there it is added onto channels-last pixel
  gradients ``(H*W, C)``, where the ``kw`` pixels a patch row touches in one image row are
  ``kw*C`` consecutive numbers (96 for a 3x3 kernel on 32 channels), one vectorised
  addition. The pixel gradients are transposed back to ``(C, H, W)`` at the end. (As
  columns, the patch gradients of a whole image, 288 x 576 numbers, did not fit in L1 and
  were streamed through it once per 4 output channels: 1.4x slower at these shapes.)

Two details moved these kernels by 5-15% each at the seed CNN's shapes: every buffer a
multiply reads or writes starts on a cache line (:func:`empty_rows`), and every vectorised
loop runs over a whole number of vectors where it can (the wide positions are rounded up),
as a scalar tail after the vectors runs on every pass. Copies between arrays are written
as plain loops: Numba compiles a numpy-style ``a[i:j] = b`` or ``a += b`` into a general
broadcasting loop, and three of them cost the forward pass and the weight gradient 5
seconds of compiling on a cold cache.

Work is split across cores by image; each worker allocates its scratch once.

**Compiling.** A first run compiles these kernels (Numba caches them on disk for the next
runs), and a learner's first CNN run waits for it, so they are written to compile little.
The workers run on threads without ``prange``
(:class:`~numbanet.kernels.cpu.threads.OnThreads`): a ``prange`` loop compiles its body
again. And each helper gets one set of argument types from all three kernels (scratch
from :func:`empty_rows`, given a dtype; zeroing by :func:`zero_rows`; multiply_rows' left
operand always an any-layout view), so Numba compiles it once; and the input gradient's
two layouts are two kernels, so a model compiles only the one it runs. The seed CNN's
first two training steps on a cold cache, CPU time of the whole process (4 alternating
runs each, load 2.5-3.5): with ``prange`` workers and a version per helper call 13.0-15.0
s at one thread and 23.5-26.6 s at two; now 12.4-13.6 s and 11.4-11.5 s. The three conv
kernels' own compiling at one thread went from 8.4-10.0 s to 6.6-7.1 s; the simpler
kernels before the patch layouts above took about 4 s (the whole step 9.5-10.4 s at one
thread, 16.1 s at two).
"""

import math

import numpy as np
from numba import get_num_threads, njit

from numbanet.kernels.cpu.matmul import (
    TILE_COLS,
    TILE_ROWS,
    dot_tile,
    multiply_rows,
    pack_columns,
    prefer_512_bit_vectors,
)
from numbanet.kernels.cpu.memory import CACHE_LINE_BYTES, empty_aligned
from numbanet.kernels.cpu.pool import as_pair
from numbanet.kernels.cpu.threads import OnThreads, caller_started, share

PARALLEL_THRESHOLD = 1 << 18  # multiply-adds below which one thread is faster
ROWS_LAYOUT_MIN_PATCH = 32  # patch size (C*kh*kw) from which patch gradients are rows
GRAD_CHUNK_BYTES = 16 * 1024  # patch gradients the input gradient builds at once: half of L1
WINDOW_CHUNK_BYTES = 256 * 1024  # kernel-row windows the weight gradient lays out at once
SHIFTED_ROWS_MAX_WASTE = 1 / 8  # share of wide positions the stride-1 forward may drop


@njit(cache=True, error_model="numpy")
def empty_rows(rows, row_length, dtype):
    """An uninitialised C-contiguous (rows, row_length) array of ``dtype`` whose first
    number starts a cache line.

    The multiply-adds load and store 64-byte vectors; one that straddles two cache lines
    costs two accesses. numpy and Numba only promise 16 or 32 bytes of alignment, so
    where a buffer starts is luck, and at the seed CNN's shapes the unlucky placements of
    the operands were up to 15% slower. (It takes a dtype, not an array to copy it from:
    one compiled version serves every caller, whatever the number of dimensions of
    their arrays.)
    """
    buffer = np.empty(rows * row_length + CACHE_LINE_BYTES, dtype=dtype)  # room to shift
    start = (CACHE_LINE_BYTES - buffer.ctypes.data % CACHE_LINE_BYTES) % CACHE_LINE_BYTES
    first = start // buffer.itemsize
    return buffer[first : first + rows * row_length].reshape(rows, row_length)


@njit(cache=True, error_model="numpy")
def zero_rows(rows):
    """Set the C-contiguous 2-D array ``rows`` to 0, as a plain loop. ``rows[...] = 0``
    does the same, but Numba compiles it into a general loop for any layout, dimensions
    and value, once per statement, and that costs more compiling than this one function
    shared by all of them."""
    for r in range(rows.shape[0]):
        row = rows[r]
        for q in range(row.size):
            row[q] = 0


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
    with step ``sw``. Stride 1 gets its own loop over a contiguous slice, which LLVM
    vectorises; indexing ``source[ow * stride_w - pad_w + j]`` with a stride known only at
    run time kept the copy scalar, and made the gather 40% of the forward pass at the seed
    CNN's shapes. Without padding every entry of ``cols`` is written, so it is zeroed only
    when there is padding.
    """
    channels, height, width = image.shape
    if pad_h or pad_w:
        zero_rows(cols)
    row = 0
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = inside_range(out_h, stride_h, pad_h, i, height)
            for j in range(kernel_w):
                ow_first, ow_stop = inside_range(out_w, stride_w, pad_w, j, width)
                first_pixel = ow_first * stride_w - pad_w + j
                for oh in range(oh_first, oh_stop):
                    out = cols[row, oh * out_w + ow_first:]
                    if stride_w == 1:
                        source = image[c, oh * stride_h - pad_h + i, first_pixel:]
                        for q in range(ow_stop - ow_first):
                            out[q] = source[q]
                    else:
                        strided = image[c, oh * stride_h - pad_h + i, first_pixel::stride_w]
                        for q in range(ow_stop - ow_first):
                            out[q] = strided[q]
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
def scatter_patch_rows(patches, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_w,
                       first, pixel_rows, channels):
    """col2im for patch gradients laid out as rows, channels last: ``patches[row, (i*kw +
    j)*C + c]`` is the gradient, through tap ``(i, j)``, of channel ``c`` of a pixel of
    position ``first + row``'s patch. Its runs of ``kw*C`` numbers (one per kernel row) are
    added onto the channels-last pixels they came from, ``pixel_rows`` (H, W*C); numbers
    that belong to padding are dropped."""
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


# Each operation below is a *worker* kernel: worker ``w`` of ``workers`` (its last two
# arguments, after the ``caller`` mailbox of :class:`OnThreads`) handles its share of the
# images and allocates its scratch buffer once for all of them. One worker on the calling
# thread is the serial path; for more, the same compiled worker runs on several threads at
# once (``nogil``, :class:`OnThreads`), so the parallel path costs no compiling of its own.


@njit(cache=True, error_model="numpy")
def copy_shifted_rows(planes, kernel_h, kernel_w, padded_width, rows):
    """The patch rows of a stride-1 convolution over *wide* positions: ``rows[(c*kh +
    i)*kw + j, q] = planes[c, i*Wp + j + q]``, 0 past the end of the plane.

    ``planes`` is the (padded) image, (C, Hp*Wp). Wide position ``q = oh*Wp + w`` counts
    every column ``w < Wp`` of output row ``oh``: ``out_w`` real ones, then ``kw - 1``
    whose patches wrap round the image's edge (their results are dropped). With them, the
    row of a patch entry is one contiguous run of the image, copied whole, where im2col
    copies one short run per output row.
    """
    row = 0
    for c in range(planes.shape[0]):
        plane = planes[c]
        for i in range(kernel_h):
            for j in range(kernel_w):
                source = plane[i * padded_width + j:]
                target = rows[row]
                count = min(target.size, source.size)
                for q in range(count):
                    target[q] = source[q]
                for q in range(count, target.size):
                    target[q] = 0
                row += 1


@njit(cache=True, nogil=True, error_model="numpy")
def conv_forward_worker(x, weights, bias, y, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                        pad_w, out_h, out_w, caller, worker, workers):
    """``y[n] = bias + W @ patches(x[n])`` for each of this worker's images.

    ``weights`` is W, (O, C*kh*kw); ``y`` is (N, O, positions). Each output row starts as
    its channel's bias, and :func:`~numbanet.kernels.cpu.matmul.multiply_rows` adds the
    product onto it. The rows of the patches are gathered with one short run per output
    row (:func:`gather_patch_columns`); with stride 1 they are instead long runs of the
    (padded) image (:func:`copy_shifted_rows`), and the product runs over wide positions
    whose extra columns are dropped afterwards. That pays when the patch has more
    numbers than there are output channels (dropping copies ``O`` rows in short runs,
    gathering ``K``) and few columns are thrown away (``SHIFTED_ROWS_MAX_WASTE``).
    """
    caller_started(caller, worker)
    images, channels, height, width = x.shape
    channels_out, patch_size = weights.shape
    padded_height, padded_width = height + 2 * pad_h, width + 2 * pad_w
    shifted = (stride_h == 1 and stride_w == 1 and patch_size > channels_out
               and padded_width - out_w <= padded_width * SHIFTED_ROWS_MAX_WASTE)
    padded = pad_h > 0 or pad_w > 0
    positions = y.shape[2]
    wide = y[0]
    planes = empty_rows(channels if shifted and padded else 0, padded_height * padded_width,
                        y.dtype)
    zero_rows(planes)  # the padding stays 0
    if shifted:
        vector = CACHE_LINE_BYTES // y.itemsize  # whole vectors: no scalar loop after them
        positions = (out_h * padded_width + vector - 1) // vector * vector
        wide = empty_rows(channels_out, positions, y.dtype)
    cols = empty_rows(patch_size, positions, y.dtype)
    first_image, stop_image = share(images, worker, workers)
    for n in range(first_image, stop_image):
        if not shifted:
            gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                 out_h, out_w, cols)
            product = y[n]
        elif padded:
            for c in range(channels):
                for h in range(height):
                    first = (h + pad_h) * padded_width + pad_w
                    source, target = x[n, c, h], planes[c, first:]
                    for w in range(width):
                        target[w] = source[w]
            copy_shifted_rows(planes, kernel_h, kernel_w, padded_width, cols)
            product = wide
        else:
            copy_shifted_rows(x[n].reshape(channels, height * width), kernel_h, kernel_w,
                              padded_width, cols)
            product = wide
        for o in range(channels_out):
            row = product[o]
            for q in range(row.size):
                row[q] = bias[o]
        # W as a view of any layout ('A'), as the input gradient passes its left operands:
        # one compiled multiply_rows serves both kernels (it reads W a number at a time,
        # so the layout does not change its speed).
        multiply_rows(weights[:, :], cols, product, 0, channels_out, 0, positions)
        if shifted:
            for o in range(channels_out):
                for oh in range(out_h):
                    source = wide[o, oh * padded_width:]
                    target = y[n, o, oh * out_w:]
                    for ow in range(out_w):
                        target[ow] = source[ow]


@njit(cache=True, nogil=True, error_model="numpy")
def conv_input_grad_rows_worker(grad_y, weights, grad_x, kernel_h, kernel_w, stride_h,
                                stride_w, pad_h, pad_w, out_h, out_w, caller, worker, workers):
    """For each of this worker's images, with long patches (``K >=
    ROWS_LAYOUT_MIN_PATCH``): the patches' gradients ``grad_y[n].T @ W`` as rows, then
    col2im.

    ``grad_y`` is (N, O, positions) and ``weights`` is W, (O, K), its columns channels
    last. The sum runs over the ``O`` output channels, short, so the outer-product order:
    a block of positions at a time, small enough to stay in L1 (``GRAD_CHUNK_BYTES``),
    each position's row the sum of ``grad_y[n][o, p] * W[o]`` (``grad_y[n].T`` read in
    place), then added onto the channels-last pixel gradients while still in cache
    (:func:`scatter_patch_rows`); those are transposed into ``grad_x[n]`` at the end.
    Each image's gradient is written by one worker only, so overlapping patches never
    race.
    """
    caller_started(caller, worker)
    images, channels, height, width = grad_x.shape
    patch_size = weights.shape[1]
    positions = grad_y.shape[2]
    chunk = max(1, GRAD_CHUNK_BYTES // (patch_size * grad_y.itemsize) // 4) * 4
    patches = empty_rows(min(chunk, positions), patch_size, grad_y.dtype)
    pixels = empty_rows(height * width, channels, grad_y.dtype)
    pixel_rows = pixels.reshape(height, width * channels)
    first_image, stop_image = share(images, worker, workers)
    for n in range(first_image, stop_image):
        zero_rows(pixels)
        grad_y_t = grad_y[n].T
        for start in range(0, positions, chunk):
            block = patches[: min(positions, start + chunk) - start]
            zero_rows(block)
            multiply_rows(grad_y_t[start:], weights, block, 0, block.shape[0], 0, patch_size)
            scatter_patch_rows(block, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                               out_w, start, pixel_rows, channels)
        pack_columns(pixels, 0, channels, grad_x[n].reshape(channels, height * width))


@njit(cache=True, nogil=True, error_model="numpy")
def conv_input_grad_columns_worker(grad_y, weights, grad_x, kernel_h, kernel_w, stride_h,
                                   stride_w, pad_h, pad_w, out_h, out_w, caller, worker, workers):
    """For each of this worker's images, with short patches: the patches' gradients as
    columns, ``cols = W.T @ grad_y[n]``, then col2im (:func:`scatter_patch_columns`).

    A kernel of its own, not a branch of :func:`conv_input_grad_rows_worker`: Numba
    compiles every branch of a function, and the seed CNN, whose first layer needs no
    input gradient, never runs this one (0.6 s less to compile on a cold cache).
    """
    caller_started(caller, worker)
    images, channels, height, width = grad_x.shape
    patch_size = weights.shape[1]
    positions = grad_y.shape[2]
    patches = empty_rows(patch_size, positions, grad_y.dtype)
    # W.T as a view of any layout ('A'), the layout of the left operands the other kernels
    # pass: one compiled multiply_rows serves them all.
    weights_t = weights.T[:]
    first_image, stop_image = share(images, worker, workers)
    for n in range(first_image, stop_image):
        zero_rows(patches)
        multiply_rows(weights_t, grad_y[n], patches, 0, patch_size, 0, positions)
        zero_rows(grad_x[n].reshape(channels, height * width))
        scatter_patch_columns(patches, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                              out_h, out_w, grad_x[n])


@njit(cache=True, error_model="numpy")
def expand_kernel_rows(pixel_rows, channels, first_row, kernel_h, stride_h, pad_h, pad_w,
                       windows):
    """Lay out, for each output row ``oh = first_row + r``, the ``kh`` image rows its
    patches read, interleaved pixel by pixel: ``windows[r, (w*kh + i)*C + c] =
    pixel_rows[oh*sh - ph + i, (w - pw)*C + c]`` (0 where that pixel is padding), from
    channels-last ``pixel_rows`` (H, W*C).

    In this layout the patch of output position ``(oh, ow)``, taken in the order ``(j, i,
    c)``, is the ``kw*kh*C`` consecutive numbers of row ``r`` that start at pixel ``w =
    ow*sw``: neighbouring patches overlap in memory as they do in the image, so no patch
    is copied out. Each pixel is copied ``kh`` times (im2col copies it ``kh*kw`` times),
    as runs of ``C`` consecutive numbers.
    """
    height = pixel_rows.shape[0]
    width = pixel_rows.shape[1] // channels
    padded_width = windows.shape[1] // (kernel_h * channels)
    if pad_h or pad_w:
        zero_rows(windows)
    w_stop = min(padded_width, width + pad_w)
    for r in range(windows.shape[0]):
        for i in range(kernel_h):
            h = (first_row + r) * stride_h - pad_h + i
            if h < 0 or h >= height:
                continue
            for w in range(pad_w, w_stop):
                source = pixel_rows[h, (w - pad_w) * channels:]
                target = windows[r, (w * kernel_h + i) * channels:]
                for c in range(channels):
                    target[c] = source[c]


@njit(cache=True, inline="always", error_model="numpy")
def next_position(row, column, out_w):
    """The output position after ``(row, column)``: stepping costs a comparison where
    finding a position's row and column by dividing by ``out_w`` costs an integer
    division, four of them per block of positions."""
    if column + 1 == out_w:
        return row + 1, 0
    return row, column + 1


@njit(cache=True, fastmath=True, error_model="numpy")
def add_window_products(grad_y_image, first_position, stop_position, windows, out_w,
                        window_step, totals):
    """``totals[o] += sum over positions p of grad_y_image[o, p] * patch(p)`` for the
    positions ``[first_position, stop_position)``, whose patches lie in ``windows``.

    The outer-product order of :func:`~numbanet.kernels.cpu.matmul.multiply_rows`, with
    the patches read in place as the rows of B: each pass of the loop over the patch
    updates 4 rows of ``totals`` (4 output channels) from the patches of 4 positions, 16
    multiply-adds per 4 loads of patch values and 4 loads and stores of ``totals``, the
    16 values of ``grad_y`` held in registers. The 4 rows of ``totals`` stay in L1 while
    every position runs into them, and the windows (a few image rows) stream from L2.
    ``totals`` has its rows rounded up to a multiple of 4: the rows past the last output
    channel repeat its ``grad_y`` row, and are dropped by the caller. The last few
    positions, past a multiple of 4, run one at a time.

    At the seed CNN's second layer this runs at 85-100 GFLOP/s on one core, where the
    forward pass's multiply reaches 110 (an AMD EPYC with AVX-512). What it loses is
    set-up: before each pass over a patch (288 numbers there) LLVM checks at run time
    that the 4 rows written do not overlap the 4 rows read. Splitting a patch into its
    ``kh`` kernel rows of ``kw*C`` numbers, read from the image itself without the
    windows, made three times as many passes and was 1.5x slower; 8 positions per pass
    instead of 4 ran out of vector registers (1.15x slower).
    """
    prefer_512_bit_vectors()
    channels_out = grad_y_image.shape[0]
    patch_size = totals.shape[1]
    last = channels_out - 1
    full_stop = stop_position - (stop_position - first_position) % 4
    for o in range(0, channels_out, 4):
        g0, g1 = grad_y_image[o], grad_y_image[min(o + 1, last)]
        g2, g3 = grad_y_image[min(o + 2, last)], grad_y_image[min(o + 3, last)]
        band = totals[o : o + 4]
        c0, c1, c2, c3 = band[0], band[1], band[2], band[3]
        row = column = 0
        for p in range(first_position, full_stop, 4):
            a00, a01, a02, a03 = g0[p], g0[p + 1], g0[p + 2], g0[p + 3]
            a10, a11, a12, a13 = g1[p], g1[p + 1], g1[p + 2], g1[p + 3]
            a20, a21, a22, a23 = g2[p], g2[p + 1], g2[p + 2], g2[p + 3]
            a30, a31, a32, a33 = g3[p], g3[p + 1], g3[p + 2], g3[p + 3]
            b0 = windows[row, column * window_step:]
            row, column = next_position(row, column, out_w)
            b1 = windows[row, column * window_step:]
            row, column = next_position(row, column, out_w)
            b2 = windows[row, column * window_step:]
            row, column = next_position(row, column, out_w)
            b3 = windows[row, column * window_step:]
            row, column = next_position(row, column, out_w)
            for j in range(patch_size):
                y0, y1, y2, y3 = b0[j], b1[j], b2[j], b3[j]
                c0[j] += a00 * y0 + a01 * y1 + a02 * y2 + a03 * y3
                c1[j] += a10 * y0 + a11 * y1 + a12 * y2 + a13 * y3
                c2[j] += a20 * y0 + a21 * y1 + a22 * y2 + a23 * y3
                c3[j] += a30 * y0 + a31 * y1 + a32 * y2 + a33 * y3
        for p in range(full_stop, stop_position):
            a00, a10, a20, a30 = g0[p], g1[p], g2[p], g3[p]
            b0 = windows[row, column * window_step:]
            row, column = next_position(row, column, out_w)
            for j in range(patch_size):
                y0 = b0[j]
                c0[j] += a00 * y0
                c1[j] += a10 * y0
                c2[j] += a20 * y0
                c3[j] += a30 * y0


@njit(cache=True, nogil=True, error_model="numpy")
def conv_weight_grad_worker(grad_y, x, partials, kernel_h, kernel_w, stride_h, stride_w,
                            pad_h, pad_w, out_h, out_w, caller, worker, workers):
    """``partials[worker] = sum over this worker's images n of grad_y[n] @ patches(x[n])``.

    ``grad_y`` is (N, O, positions); ``partials`` is (workers, O rounded up to 4, K). Long
    patches (``K >= ROWS_LAYOUT_MIN_PATCH``) are read in place from the kernel-row
    windows of :func:`expand_kernel_rows`, laid out for a chunk of output rows at a time
    (``WINDOW_CHUNK_BYTES``, so the chunk stays in L2), and summed in the outer-product
    order by :func:`add_window_products`; the columns of ``partials`` are then in the
    order ``(j, i, c)``. Short patches (the first layer's 9 numbers, too short a row for
    vectors) are gathered as columns and summed as dot products along positions
    (:func:`~numbanet.kernels.cpu.matmul.dot_tile`), columns in the order ``(c, i, j)``.
    Each worker sums into its own partial, added up at the end, so no two threads add
    into one weight.
    """
    caller_started(caller, worker)
    images, channels_out, positions = grad_y.shape
    channels = x.shape[1]
    patch_size = partials.shape[2]
    total = empty_rows(partials.shape[1], patch_size, partials.dtype)
    zero_rows(total)
    first_image, stop_image = share(images, worker, workers)
    if patch_size >= ROWS_LAYOUT_MIN_PATCH:
        row_length = ((out_w - 1) * stride_w + kernel_w) * kernel_h * channels
        chunk_rows = max(1, min(out_h, WINDOW_CHUNK_BYTES // (row_length * x.itemsize)))
        windows = empty_rows(chunk_rows, row_length, x.dtype)
        window_step = stride_w * kernel_h * channels
        height, width = x.shape[2:]
        pixels = empty_rows(height * width, channels, x.dtype)
        pixel_rows = pixels.reshape(height, width * channels)
        for n in range(first_image, stop_image):
            pack_columns(x[n].reshape(channels, height * width), 0, height * width, pixels)
            for first_row in range(0, out_h, chunk_rows):
                rows = min(chunk_rows, out_h - first_row)
                expand_kernel_rows(pixel_rows, channels, first_row, kernel_h, stride_h, pad_h,
                                   pad_w, windows[:rows])
                add_window_products(grad_y[n], first_row * out_w, (first_row + rows) * out_w,
                                    windows, out_w, window_step, total)
    else:
        cols = empty_rows(patch_size, positions, grad_y.dtype)
        product = empty_rows(channels_out, patch_size, grad_y.dtype)
        for n in range(first_image, stop_image):
            gather_patch_columns(x[n], kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                 out_h, out_w, cols)
            for o in range(0, channels_out, TILE_ROWS):
                for r in range(0, patch_size, TILE_COLS):
                    dot_tile(grad_y[n], cols, product, o, r, r)
            for o in range(channels_out):
                for r in range(patch_size):
                    total[o, r] += product[o, r]
    for o in range(total.shape[0]):
        for r in range(patch_size):
            partials[worker, o, r] = total[o, r]


conv_forward_on_threads = OnThreads(conv_forward_worker)
conv_input_grad_rows_on_threads = OnThreads(conv_input_grad_rows_worker)
conv_input_grad_columns_on_threads = OnThreads(conv_input_grad_columns_worker)
conv_weight_grad_on_threads = OnThreads(conv_weight_grad_worker)


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
    """W as (O, K) for the input gradient, its columns in the order of the patch
    gradients: ``(c, i, j)`` when they are columns, channels last ``(i, j, c)`` when they
    are rows (patches of ``ROWS_LAYOUT_MIN_PATCH`` numbers or more)."""
    channels_out = weight.shape[0]
    if math.prod(weight.shape[1:]) >= ROWS_LAYOUT_MIN_PATCH:
        weight = weight.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(weight, dtype=dtype).reshape(channels_out, -1)


def _workers(multiply_adds: int, items: int) -> int:
    """How many workers: one per core for large jobs, else one (the serial path)."""
    if multiply_adds < PARALLEL_THRESHOLD:
        return 1
    return max(1, min(items, get_num_threads()))


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
    bias = np.ascontiguousarray(np.zeros(channels_out) if bias is None else bias, dtype=dtype)
    y = empty_aligned((batch, channels_out, out_h * out_w), dtype)
    if y.size:
        workers = _workers(y.size * weights.shape[1], batch)
        conv_forward_on_threads.run(workers, x, weights, bias, y,
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
        kernel = (conv_input_grad_rows_on_threads
                  if weights.shape[1] >= ROWS_LAYOUT_MIN_PATCH
                  else conv_input_grad_columns_on_threads)
        kernel.run(workers, grad_y, weights, grad_x, *_geometry(weight.shape, stride, padding),
                   out_h, out_w)
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
    partials = np.zeros((workers, -(-channels_out // 4) * 4, patch_size), dtype=dtype)
    if grad_y.size:
        conv_weight_grad_on_threads.run(workers, grad_y, x, partials,
                                        *_geometry(weight_shape, stride, padding), out_h,
                                        out_w)
    grad_weight = partials.sum(axis=0)[:channels_out]
    if patch_size < ROWS_LAYOUT_MIN_PATCH:
        return grad_weight.reshape(weight_shape)
    channels, kernel_h, kernel_w = weight_shape[1:]
    by_column = grad_weight.reshape(channels_out, kernel_w, kernel_h, channels)
    return np.ascontiguousarray(by_column.transpose(0, 3, 2, 1))
