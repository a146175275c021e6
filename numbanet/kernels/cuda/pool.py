"""2-D max pooling and its backward pass.

The forward pass keeps, for every output, *where* its maximum came from: the flat index
``h * W + w`` into that output's ``(n, c)`` input plane (PyTorch's convention). The backward
pass then needs no comparisons at all — each output's gradient goes to that one input.
"""

import math

import numpy as np
from numba import cuda

from numbanet.kernels.cuda.conv import as_pair
from numbanet.kernels.cuda.layout import DeviceArray, grid_stride_launch
from numbanet.kernels.cuda.memory import empty, full
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def max_pool2d_kernel(y, argmax, x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w):
    """y[n, c, i, j] = the maximum of the window of x[n, c] whose top-left corner is
    (i·sh - ph, j·sw - pw); argmax[n, c, i, j] = h·W + w of its first maximum.

    The window is scanned row by row and only a strictly larger value (or a first NaN)
    replaces the best so far, so ties keep the first position. Window positions in the
    padding are skipped, which is the same as padding with -inf. One thread per output
    element (grid-stride).
    """
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = y.shape[2], y.shape[3]
    for linear in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        j = linear % out_w
        i = (linear // out_w) % out_h
        c = (linear // (out_w * out_h)) % channels
        n = linear // (out_w * out_h * channels)
        best = x[n, c, 0, 0]  # replaced by the window's first element; gives `best` its type
        best_index = -1
        for kh in range(kernel_h):
            h = i * stride_h - pad_h + kh
            if h < 0 or h >= height:
                continue
            for kw in range(kernel_w):
                w = j * stride_w - pad_w + kw
                if w < 0 or w >= width:
                    continue
                value = x[n, c, h, w]
                if best_index < 0 or value > best or (value != value and best == best):
                    best = value
                    best_index = h * width + w
        y[n, c, i, j] = best
        argmax[n, c, i, j] = best_index


@cuda.jit(cache=True)
def max_pool2d_backward_kernel(grad_x, grad_y, argmax):
    """grad_x[n, c] at flat position argmax[n, c, i, j] += grad_y[n, c, i, j].

    One thread per element of grad_y (grid-stride). With overlapping windows (stride smaller
    than the kernel) two outputs can point at the same input, so the add is atomic.
    """
    channels, width = grad_x.shape[1], grad_x.shape[3]
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    for linear in range(cuda.grid(1), grad_y.size, cuda.gridsize(1)):
        j = linear % out_w
        i = (linear // out_w) % out_h
        c = (linear // (out_w * out_h)) % channels
        n = linear // (out_w * out_h * channels)
        position = argmax[n, c, i, j]
        cuda.atomic.add(grad_x, (n, c, position // width, position % width), grad_y[n, c, i, j])


def max_pool2d_forward(x: DeviceArray, kernel, stride=None, padding=0):
    """(y, argmax) for x ``(N, C, H, W)``; kernel, stride (default: the kernel) and padding
    are ints or (h, w) pairs. Output size ``(H + 2·pad - kernel) // stride + 1``."""
    kernel_h, kernel_w = as_pair(kernel)
    stride_h, stride_w = as_pair(kernel if stride is None else stride)
    pad_h, pad_w = as_pair(padding)
    if 2 * pad_h > kernel_h or 2 * pad_w > kernel_w:
        raise ValueError("max_pool2d: padding should be at most half of the kernel size")
    batch, channels, height, width = x.shape
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"max_pool2d: kernel {(kernel_h, kernel_w)} is larger than the input")
    y = empty((batch, channels, out_h, out_w), x.dtype)
    argmax = empty((batch, channels, out_h, out_w), np.int64)
    if y.size:
        blocks, threads = grid_stride_launch(y.size)
        launch(
            max_pool2d_kernel, y, argmax, x, kernel_h, kernel_w, stride_h, stride_w,
            pad_h, pad_w, grid=blocks, block=threads,
        )
    return y, argmax


def max_pool2d_backward(
    grad_y: DeviceArray, argmax: DeviceArray, x_shape: tuple[int, ...]
) -> DeviceArray:
    """d loss / d x: zeros, plus each output's gradient at the input its argmax names."""
    grad_x = full(tuple(x_shape), 0, grad_y.dtype)
    if math.prod(grad_y.shape):
        blocks, threads = grid_stride_launch(math.prod(grad_y.shape))
        launch(
            max_pool2d_backward_kernel, grad_x, grad_y, argmax, grid=blocks, block=threads
        )
    return grad_x
