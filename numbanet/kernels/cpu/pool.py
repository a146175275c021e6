"""2-D max pooling and its gradient.

Forward: every output pixel is the largest input value in its window,
``y[n, c, oh, ow] = max over (i, j) of x[n, c, oh * sh - ph + i, ow * sw - pw + j]``,
the window being ``kernel`` high and wide and ``padding`` cells outside the image counting
as ``-inf`` (so they are never the maximum).

Backward: a max is a switch, not a blend. Only the element that won receives the gradient
(``d max / d x_winner = 1``, 0 for every other element of the window). So the forward
remembers the winner of each window in ``argmax`` and the backward routes each output
gradient there. Overlapping windows (stride < kernel) can pick the same winner: its
gradients add up.

``argmax`` convention (PyTorch's ``return_indices``): the flat index ``h * W + w`` of the
winner inside its own ``(n, c)`` input plane of shape ``(H, W)``, int64. On ties the first
maximum in row-major window order wins; a NaN in the window wins (max propagates NaN).
Each ``(n, c)`` plane is independent, so planes are split across cores.
"""

import numpy as np
from numba import njit, prange

from numbanet.kernels.launch import launch

PARALLEL_THRESHOLD = 1 << 15  # output elements below which one thread is faster


@njit(cache=True, inline="always", error_model="numpy")
def max_pool_plane(x, y, argmax, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w):
    """Max pooling of one (H, W) plane into one (Ho, Wo) plane, recording the winners.

    The window's cells are compared without a branch: whether a value beats the best so
    far is a coin toss on real activations, which the CPU would guess wrong half the
    time (a wrong guess costs about 15 cycles, more than the comparison). ``take`` is
    computed with ``|`` and ``&`` instead of ``or`` and ``and`` (which skip their right
    side, a branch), and the two ``... if take else ...`` only choose between values
    already in registers, which LLVM turns into select instructions. On the tutorial CNN's
    pooling, (64, 64, 24, 24) random activations at one thread: PyTorch's kernel 14-15 ms,
    this loop written with branches 13 ms, without them 7.5-9 ms.
    """
    height, width = x.shape
    out_h, out_w = y.shape
    for oh in range(out_h):
        top = oh * stride_h - pad_h
        first_row, stop_row = max(top, 0), min(top + kernel_h, height)
        for ow in range(out_w):
            left = ow * stride_w - pad_w
            first_column, stop_column = max(left, 0), min(left + kernel_w, width)
            best = x[first_row, first_column]
            best_index = first_row * width + first_column
            for i in range(first_row, stop_row):
                for j in range(first_column, stop_column):
                    value = x[i, j]
                    # ">" keeps the first of equal maxima; a NaN takes over and stays
                    take = (value > best) | ((value != value) & (best == best))
                    best = value if take else best
                    best_index = i * width + j if take else best_index
            y[oh, ow] = best
            argmax[oh, ow] = best_index


@njit(cache=True, error_model="numpy")
def max_pool_planes(x, y, argmax, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w):
    """:func:`max_pool_plane` for every plane of ``x`` of shape (planes, H, W)."""
    for plane in range(x.shape[0]):
        max_pool_plane(x[plane], y[plane], argmax[plane], kernel_h, kernel_w, stride_h,
                       stride_w, pad_h, pad_w)


@njit(cache=True, parallel=True, error_model="numpy")
def max_pool_planes_parallel(x, y, argmax, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                             pad_w):
    """:func:`max_pool_planes` with the planes split across cores."""
    for plane in prange(x.shape[0]):
        max_pool_plane(x[plane], y[plane], argmax[plane], kernel_h, kernel_w, stride_h,
                       stride_w, pad_h, pad_w)


@njit(cache=True, inline="always", error_model="numpy")
def max_pool_backward_plane(grad_y, argmax, grad_x):
    """``grad_x.flat[argmax[o]] += grad_y[o]`` for one plane; ``grad_x`` arrives zeroed."""
    for o in range(grad_y.size):
        grad_x[argmax[o]] += grad_y[o]


@njit(cache=True, error_model="numpy")
def max_pool_backward_planes(grad_y, argmax, grad_x):
    """:func:`max_pool_backward_plane` for every plane; arrays of shape (planes, pixels)."""
    for plane in range(grad_y.shape[0]):
        max_pool_backward_plane(grad_y[plane], argmax[plane], grad_x[plane])


@njit(cache=True, parallel=True, error_model="numpy")
def max_pool_backward_planes_parallel(grad_y, argmax, grad_x):
    """:func:`max_pool_backward_planes` with the planes split across cores (each plane's
    winners lie in its own plane, so no two threads write the same element)."""
    for plane in prange(grad_y.shape[0]):
        max_pool_backward_plane(grad_y[plane], argmax[plane], grad_x[plane])


def as_pair(value) -> tuple[int, int]:
    """An int or an (h, w) pair, as a pair of ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def max_pool2d_forward(x: np.ndarray, kernel, stride=None,
                       padding=0) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``x`` (N, C, H, W): returns ``(y, argmax)``, both (N, C, Ho, Wo).

    ``kernel``, ``stride`` (default: the kernel) and ``padding`` are ints or (h, w) pairs;
    ``Ho = (H + 2 * padding_h - kernel_h) // stride_h + 1`` (the same for W). ``argmax``
    holds, per output pixel, the flat index ``h * W + w`` of its winner in that (n, c)
    plane.
    """
    batch, channels, height, width = x.shape
    kernel_h, kernel_w = kernel = as_pair(kernel)
    stride_h, stride_w = as_pair(kernel if stride is None else stride)
    pad_h, pad_w = padding = as_pair(padding)
    if pad_h * 2 > kernel_h or pad_w * 2 > kernel_w:
        raise ValueError(f"max_pool2d: padding {padding} should be at most half of the "
                         f"kernel size {kernel}")
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"max_pool2d: a {kernel} window does not fit in a {height}x{width} "
                         f"input with padding {padding}")
    planes = np.ascontiguousarray(x).reshape(batch * channels, height, width)
    y = np.empty((batch * channels, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((batch * channels, out_h, out_w), dtype=np.int64)
    if y.size:
        run = max_pool_planes_parallel if y.size >= PARALLEL_THRESHOLD else max_pool_planes
        launch(run, planes, y, argmax, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w)
    shape = (batch, channels, out_h, out_w)
    return y.reshape(shape), argmax.reshape(shape)


def max_pool2d_backward(grad_y: np.ndarray, argmax: np.ndarray,
                        x_shape: tuple[int, ...]) -> np.ndarray:
    """Gradient of max pooling: each ``grad_y`` value added at its window's winner."""
    batch, channels, height, width = x_shape
    planes = batch * channels
    grad_y_planes = np.ascontiguousarray(grad_y).reshape(planes, -1)
    argmax_planes = np.ascontiguousarray(argmax, dtype=np.int64).reshape(planes, -1)
    grad_x = np.zeros((planes, height * width), dtype=grad_y.dtype)
    if grad_y_planes.size:
        run = (max_pool_backward_planes_parallel if grad_y_planes.size >= PARALLEL_THRESHOLD
               else max_pool_backward_planes)
        launch(run, grad_y_planes, argmax_planes, grad_x)
    return grad_x.reshape(x_shape)
