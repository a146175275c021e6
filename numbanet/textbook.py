"""Textbook kernels beside the fast ones: what makes a fast kernel fast, measured.

``numbanet.kernels.cpu.textbook`` holds matrix multiplication as a triple loop and
convolution as seven nested loops. :func:`compare` runs one of them and the package's fast
kernel on the same random operands of a given shape, checks they agree and times both::

    >>> numbanet.textbook.compare("matmul", (256, 256), (256, 256))
    Comparison(op='matmul', textbook_seconds=0.0113, fast_seconds=0.0006, ...)

The stepper's kernel pane calls it with the shapes of the node being viewed.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np

WHY_FAST = {
    "matmul": "The fast kernel packs B's columns to read memory in order, computes a 4 × 3 "
              "tile of C in registers with vector fused multiply-adds, sweeps chunks that "
              "fit in the L2 cache and spreads them over the cores.",
    "conv2d": "The fast kernel gathers each output's input patch into a contiguous row "
              "(im2col) and hands the dot products to the register-blocked matmul tile, "
              "one image or chunk of positions per core.",
}


@dataclass
class Comparison:
    op: str  # matmul | conv2d
    shapes: tuple  # the operands' shapes
    textbook_seconds: float  # best of the repeats, compilation excluded
    fast_seconds: float
    max_difference: float  # largest |textbook - fast| over the output
    textbook_source: str
    why_fast: str

    @property
    def speedup(self) -> float:
        return self.textbook_seconds / self.fast_seconds if self.fast_seconds > 0 else 0.0


def _best(function, repeats: int) -> float:
    function()  # compile (or load from the cache) and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def compare(op: str, *shapes, stride=(1, 1), padding=(0, 0), repeats: int = 3,
            seed: int = 0) -> Comparison:
    """Time the textbook and the fast kernel of ``op`` on random float32 operands.

    ``matmul``: shapes ``(n, k), (k, m)``. ``conv2d``: shapes ``(N, C, H, W), (O, C, kh,
    kw)`` plus ``stride`` and ``padding`` pairs (a bias of O zeros is added).
    """
    from numbanet.kernels import cpu
    from numbanet.kernels.cpu import textbook

    generator = np.random.default_rng(seed)
    operands = [generator.standard_normal(shape).astype(np.float32) for shape in shapes]
    if op == "matmul":
        if len(shapes) != 2 or len(shapes[0]) != 2 or shapes[0][1] != shapes[1][0]:
            raise ValueError(f"compare('matmul', ...) needs shapes (n, k), (k, m), got {shapes}")
        a, b = operands

        def slow():
            return textbook.textbook_matmul(a, b)

        def fast():
            return cpu.matmul(a, b)

        source_of = textbook.textbook_matmul
    elif op == "conv2d":
        if len(shapes) != 2 or len(shapes[0]) != 4 or len(shapes[1]) != 4 \
                or shapes[0][1] != shapes[1][1]:
            raise ValueError("compare('conv2d', ...) needs shapes (N, C, H, W), (O, C, kh, kw)"
                             f", got {shapes}")
        x, weight = operands
        bias = np.zeros(shapes[1][0], dtype=np.float32)

        def slow():
            return textbook.textbook_conv2d(x, weight, bias, stride[0], stride[1],
                                            padding[0], padding[1])

        def fast():
            return cpu.conv2d_forward(x, weight, bias, tuple(stride), tuple(padding))

        source_of = textbook.textbook_conv2d
    else:
        raise ValueError(f"no textbook kernel for {op!r}: matmul or conv2d")
    difference = float(np.max(np.abs(slow() - fast()))) if operands[0].size else 0.0
    return Comparison(op=op, shapes=tuple(tuple(s) for s in shapes),
                      textbook_seconds=_best(slow, repeats), fast_seconds=_best(fast, repeats),
                      max_difference=difference,
                      textbook_source=inspect.getsource(source_of.py_func),
                      why_fast=WHY_FAST[op])
