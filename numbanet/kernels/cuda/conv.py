"""2-D convolution as one big matrix multiplication (im2col), and its two gradients.

A convolution slides a ``(C, KH, KW)`` filter over the input. *im2col* copies every patch
the filter will see into one row of a ``columns`` matrix — row ``(n, oh, ow)``, column
``(c, kh, kw)`` — after which all the multiply-adds are a single matmul with the filters
flattened to ``(O, C·KH·KW)``::

    columns (N·OH·OW, C·KH·KW) @ weightᵀ (C·KH·KW, O)  ->  y rows (N·OH·OW, O)

The gradients reuse the same picture:

- weight: ``grad_weight (O, C·KH·KW) = grad_yᵀ (O, N·OH·OW) @ columns``;
- input: ``grad_columns = grad_y rows @ weight``, then *col2im* adds each entry back to the
  input element it was copied from (an element appears in up to KH·KW patches).

The matmuls are ``matmul.py``'s tiled kernel; this file holds the two copying kernels.
"""

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.elementwise import add
from numbanet.kernels.cuda.layout import DeviceArray, grid_stride_launch
from numbanet.kernels.cuda.matmul import matmul
from numbanet.kernels.cuda.memory import contiguous, empty
from numbanet.kernels.cuda.views import permute, reshape
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def im2col_kernel(
    columns, x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w
):
    """columns[(n, oh, ow), (c, kh, kw)] = x[n, c, oh·sh - ph + kh, ow·sw - pw + kw], or 0
    where that position falls in the zero padding.

    One thread per element of ``columns`` (grid-stride); consecutive threads fill
    consecutive entries of a row, so the writes are coalesced.
    """
    height, width = x.shape[2], x.shape[3]
    patch_size = columns.shape[1]
    kernel_area = kernel_h * kernel_w
    for linear in range(cuda.grid(1), columns.size, cuda.gridsize(1)):
        position, entry = linear // patch_size, linear % patch_size
        n, spot = position // (out_h * out_w), position % (out_h * out_w)
        c, offset = entry // kernel_area, entry % kernel_area
        h = (spot // out_w) * stride_h - pad_h + offset // kernel_w
        w = (spot % out_w) * stride_w - pad_w + offset % kernel_w
        inside = 0 <= h < height and 0 <= w < width
        columns[position, entry] = x[n, c, h, w] if inside else 0


@cuda.jit(cache=True)
def col2im_kernel(
    grad_x, grad_columns, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w
):
    """grad_x[n, c, h, w] = the sum of the grad_columns entries im2col copied x[n, c, h, w]
    into.

    Element (h, w) was copied for kernel offset kh whenever ``h = oh·sh - ph + kh`` for an
    output row oh in range, i.e. ``h + ph - kh`` is a non-negative multiple of sh below
    out_h·sh (and the same along w). One thread per element of ``grad_x`` *gathers* those
    entries, so no two threads write the same place and no atomics are needed.
    """
    channels, height, width = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    for linear in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        w = linear % width
        h = (linear // width) % height
        c = (linear // (width * height)) % channels
        n = linear // (width * height * channels)
        total = 0.0
        for kh in range(kernel_h):
            row_steps = h + pad_h - kh
            if row_steps < 0 or row_steps % stride_h != 0 or row_steps // stride_h >= out_h:
                continue
            oh = row_steps // stride_h
            for kw in range(kernel_w):
                column_steps = w + pad_w - kw
                if (column_steps < 0 or column_steps % stride_w != 0
                        or column_steps // stride_w >= out_w):
                    continue
                ow = column_steps // stride_w
                position = (n * out_h + oh) * out_w + ow
                entry = (c * kernel_h + kh) * kernel_w + kw
                total += grad_columns[position, entry]
        grad_x[n, c, h, w] = total


def conv2d_forward(
    x: DeviceArray, weight: DeviceArray, bias: DeviceArray | None, stride, padding
) -> DeviceArray:
    """y[n, o] = sum over c, kh, kw of weight[o, c, kh, kw] · x_padded[n, c, oh·s + kh, ow·s + kw]
    (+ bias[o]); x ``(N, C, H, W)``, weight ``(O, C, KH, KW)``, stride and padding an int or
    an (h, w) pair."""
    geometry = _Geometry(tuple(x.shape), tuple(weight.shape), stride, padding)
    columns = _im2col(x, geometry)
    weight_rows = reshape(weight, (geometry.out_channels, -1))
    y_rows = matmul(columns, permute(weight_rows, (1, 0)))
    y = permute(reshape(y_rows, (geometry.batch, geometry.out_h, geometry.out_w, -1)), (0, 3, 1, 2))
    if bias is None:
        return contiguous(y)
    return add(y, reshape(bias, (1, geometry.out_channels, 1, 1)))


def conv2d_input_grad(
    grad_y: DeviceArray, weight: DeviceArray, x_shape: tuple[int, ...], stride, padding
) -> DeviceArray:
    """d loss / d x: ``col2im(grad_y rows @ weight rows)``."""
    geometry = _Geometry(tuple(x_shape), tuple(weight.shape), stride, padding)
    grad_rows = reshape(permute(grad_y, (0, 2, 3, 1)), (-1, geometry.out_channels))
    grad_columns = matmul(grad_rows, reshape(weight, (geometry.out_channels, -1)))
    grad_x = empty(tuple(x_shape), grad_columns.dtype)
    blocks, threads = grid_stride_launch(grad_x.size)
    launch(
        col2im_kernel, grad_x, grad_columns, *geometry.kernel_arguments(),
        grid=blocks, block=threads,
    )
    return grad_x


def conv2d_weight_grad(
    grad_y: DeviceArray, x: DeviceArray, weight_shape: tuple[int, ...], stride, padding
) -> DeviceArray:
    """d loss / d weight: ``grad_y`` as ``(O, N·OH·OW)`` times the im2col columns of x."""
    geometry = _Geometry(tuple(x.shape), tuple(weight_shape), stride, padding)
    grad_rows_by_channel = reshape(permute(grad_y, (1, 0, 2, 3)), (geometry.out_channels, -1))
    grad_weight = matmul(grad_rows_by_channel, _im2col(x, geometry))
    return reshape(grad_weight, tuple(weight_shape))


class _Geometry:
    """The sizes of one convolution, checked: batch, channels, kernel, stride, padding and
    the output height/width ``(H + 2·pad - KH) // stride + 1``."""

    def __init__(self, x_shape, weight_shape, stride, padding):
        self.batch, channels, height, width = x_shape
        self.out_channels, weight_channels, self.kernel_h, self.kernel_w = weight_shape
        if channels != weight_channels:
            raise ValueError(f"conv2d: input has {channels} channels, weight expects "
                             f"{weight_channels}")
        self.stride_h, self.stride_w = as_pair(stride)
        self.pad_h, self.pad_w = as_pair(padding)
        self.out_h = (height + 2 * self.pad_h - self.kernel_h) // self.stride_h + 1
        self.out_w = (width + 2 * self.pad_w - self.kernel_w) // self.stride_w + 1
        if self.out_h <= 0 or self.out_w <= 0:
            raise ValueError(f"conv2d: kernel {weight_shape[2:]} is larger than the padded "
                             f"input {(height + 2 * self.pad_h, width + 2 * self.pad_w)}")

    def kernel_arguments(self) -> tuple[int, ...]:
        """(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w), in the order
        the im2col and col2im kernels take them."""
        return (self.kernel_h, self.kernel_w, self.stride_h, self.stride_w,
                self.pad_h, self.pad_w, self.out_h, self.out_w)


def _im2col(x: DeviceArray, geometry: _Geometry) -> DeviceArray:
    """The ``(N·OH·OW, C·KH·KW)`` matrix of every patch of x (see im2col_kernel)."""
    channels = x.shape[1]
    columns = empty(
        (geometry.batch * geometry.out_h * geometry.out_w,
         channels * geometry.kernel_h * geometry.kernel_w),
        x.dtype,
    )
    if columns.size:
        blocks, threads = grid_stride_launch(columns.size)
        launch(
            im2col_kernel, columns, x, *geometry.kernel_arguments(), grid=blocks, block=threads
        )
    return columns


def as_pair(value) -> tuple[int, int]:
    """An int or an (h, w) pair as a pair of ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)
