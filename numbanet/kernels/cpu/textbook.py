"""Textbook kernels: matrix multiplication and convolution as a student would first write
them, to read beside the fast kernels of ``matmul.py`` and ``conv.py``.

They compute the same numbers (``tests/test_textbook_kernels.py`` checks it) with none of
the tricks — no packing, no register or cache blocking, no threads — so the definition is
all there is. :mod:`numbanet.textbook` times them against the fast ones on a node's shapes,
and the stepper's kernel pane shows both.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def textbook_matmul(a, b):
    """``c = a @ b`` for (n, k) @ (k, m): ``c[i, j] = sum over p of a[i, p] * b[p, j]``,
    one dot product per element of c, in a triple loop."""
    n, k = a.shape
    m = b.shape[1]
    c = np.zeros((n, m), dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            total = 0.0
            for p in range(k):
                total += a[i, p] * b[p, j]
            c[i, j] = total
    return c


@njit(cache=True)
def textbook_conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w):
    """Direct convolution: ``y[n, o, oh, ow] = bias[o] + sum over c, i, j of
    weight[o, c, i, j] * x[n, c, oh * stride_h - pad_h + i, ow * stride_w - pad_w + j]``,
    pixels outside the image (the padding) counting as 0. Seven nested loops."""
    batch, channels, height, width = x.shape
    outputs, _, kernel_h, kernel_w = weight.shape
    out_h = (height + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (width + 2 * pad_w - kernel_w) // stride_w + 1
    y = np.zeros((batch, outputs, out_h, out_w), dtype=x.dtype)
    for n in range(batch):
        for o in range(outputs):
            for oh in range(out_h):
                for ow in range(out_w):
                    total = bias[o]
                    for c in range(channels):
                        for i in range(kernel_h):
                            for j in range(kernel_w):
                                h = oh * stride_h - pad_h + i
                                w = ow * stride_w - pad_w + j
                                if 0 <= h < height and 0 <= w < width:
                                    total += weight[o, c, i, j] * x[n, c, h, w]
                    y[n, o, oh, ow] = total
    return y
