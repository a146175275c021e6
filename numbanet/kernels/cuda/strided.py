"""Elementwise kernels for arrays of any shape, strides and broadcasting.

Every elementwise operation — ``add``, ``exp``, ``where``, a dtype conversion, a copy — is a
tiny device function of one to four values (the formulas of
:mod:`numbanet.kernels.formulas`, compiled with ``cuda.jit(device=True)``). This file turns
such a function into two kernels and picks one per call:

- the **contiguous** kernel, when the output and every operand are packed row-major arrays of
  the same shape: thread ``t`` simply handles flat positions ``t, t + T, t + 2T, ...``
  (``T`` threads in the grid — a *grid-stride loop*, so any grid size covers any array);
- the **strided** kernel otherwise: each thread turns its flat position into coordinates
  (repeated ``divmod`` by the extents, last axis first) and each operand's coordinates into a
  memory offset with that operand's strides. Broadcasting is a stride of 0: every index along
  that axis reads the same element.

Before launching, :func:`numbanet.kernels.cuda.layout.coalesce_axes` merges axes that every
array walks through as one, so a contiguous tensor plus a scalar needs one ``divmod`` per
element, not one per axis.
"""

import functools
from collections.abc import Sequence
from typing import NamedTuple

from numba import cuda

from numbanet.kernels.cuda.layout import (
    DeviceArray,
    broadcast_strides,
    coalesce_axes,
    element_strides,
    flat_view,
    grid_stride_launch,
    may_overlap,
    same_layout,
    storage_window,
)
from numbanet.kernels.launch import launch


@cuda.jit(device=True)
def storage_offset(linear_index, shape, strides):
    """Memory offset (elements) of the element numbered ``linear_index`` in row-major order.

    Peels coordinates off from the last axis: ``linear_index, coordinate = divmod(linear_index,
    shape[axis])``, and adds ``coordinate * strides[axis]``.
    """
    offset = 0
    for axis in range(len(shape) - 1, -1, -1):
        linear_index, coordinate = divmod(linear_index, shape[axis])
        offset += coordinate * strides[axis]
    return offset


@cuda.jit(device=True)
def identity(value):
    """The value itself: with an output of another dtype, a copy that converts."""
    return value


class ElementwiseKernels(NamedTuple):
    """The two kernels compiled for one elementwise device function."""

    contiguous: object
    strided: object


@functools.cache
def kernels_for(operation, arity: int) -> ElementwiseKernels:
    """Compile (once) the contiguous and strided kernels that apply ``operation``."""
    builders = {1: _map_kernels, 2: _zip_kernels, 3: _zip3_kernels, 4: _zip4_kernels}
    contiguous, strided = builders[arity](operation)
    name = getattr(operation, "py_func", operation).__name__
    return ElementwiseKernels(
        _named_kernel(contiguous, f"{name}_contiguous_kernel"),
        _named_kernel(strided, f"{name}_strided_kernel"),
    )


def _named_kernel(python_function, name: str):
    """``cuda.jit`` the template under a name that says which operation it applies."""
    python_function.__name__ = python_function.__qualname__ = name
    return cuda.jit(python_function)


def _map_kernels(operation):
    def map_contiguous(out, a):
        """out[i] = operation(a[i]); flat arrays, thread t takes i = t, t + T, t + 2T, ..."""
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = operation(a[i])

    def map_strided(out, out_strides, a, a_strides, shape, size):
        """out[index] = operation(a[index]) for every index of ``shape``.

        ``out`` and ``a`` are storage windows; thread t takes flat positions t, t + T, ...,
        turns each into coordinates and the coordinates into one offset per array.
        """
        for linear in range(cuda.grid(1), size, cuda.gridsize(1)):
            out_at = 0
            a_at = 0
            remainder = linear
            for axis in range(len(shape) - 1, -1, -1):
                remainder, coordinate = divmod(remainder, shape[axis])
                out_at += coordinate * out_strides[axis]
                a_at += coordinate * a_strides[axis]
            out[out_at] = operation(a[a_at])

    return map_contiguous, map_strided


def _zip_kernels(operation):
    def zip_contiguous(out, a, b):
        """out[i] = operation(a[i], b[i]); flat arrays, thread t takes i = t, t + T, ..."""
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = operation(a[i], b[i])

    def zip_strided(out, out_strides, a, a_strides, b, b_strides, shape, size):
        """out[index] = operation(a[index], b[index]) over ``shape``; stride 0 broadcasts."""
        for linear in range(cuda.grid(1), size, cuda.gridsize(1)):
            out_at = 0
            a_at = 0
            b_at = 0
            remainder = linear
            for axis in range(len(shape) - 1, -1, -1):
                remainder, coordinate = divmod(remainder, shape[axis])
                out_at += coordinate * out_strides[axis]
                a_at += coordinate * a_strides[axis]
                b_at += coordinate * b_strides[axis]
            out[out_at] = operation(a[a_at], b[b_at])

    return zip_contiguous, zip_strided


def _zip3_kernels(operation):
    def zip3_contiguous(out, a, b, c):
        """out[i] = operation(a[i], b[i], c[i]); flat arrays, thread t takes i = t, t + T, ..."""
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = operation(a[i], b[i], c[i])

    def zip3_strided(out, out_strides, a, a_strides, b, b_strides, c, c_strides, shape, size):
        """out[index] = operation(a[index], b[index], c[index]) over ``shape``."""
        for linear in range(cuda.grid(1), size, cuda.gridsize(1)):
            out_at = 0
            a_at = 0
            b_at = 0
            c_at = 0
            remainder = linear
            for axis in range(len(shape) - 1, -1, -1):
                remainder, coordinate = divmod(remainder, shape[axis])
                out_at += coordinate * out_strides[axis]
                a_at += coordinate * a_strides[axis]
                b_at += coordinate * b_strides[axis]
                c_at += coordinate * c_strides[axis]
            out[out_at] = operation(a[a_at], b[b_at], c[c_at])

    return zip3_contiguous, zip3_strided


def _zip4_kernels(operation):
    def zip4_contiguous(out, a, b, c, d):
        """out[i] = operation(a[i], b[i], c[i], d[i]); flat arrays, thread t takes i = t, ..."""
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = operation(a[i], b[i], c[i], d[i])

    def zip4_strided(out, out_strides, a, a_strides, b, b_strides, c, c_strides, d, d_strides,
                     shape, size):
        """out[index] = operation(a[index], b[index], c[index], d[index]) over ``shape``."""
        for linear in range(cuda.grid(1), size, cuda.gridsize(1)):
            out_at = 0
            a_at = 0
            b_at = 0
            c_at = 0
            d_at = 0
            remainder = linear
            for axis in range(len(shape) - 1, -1, -1):
                remainder, coordinate = divmod(remainder, shape[axis])
                out_at += coordinate * out_strides[axis]
                a_at += coordinate * a_strides[axis]
                b_at += coordinate * b_strides[axis]
                c_at += coordinate * c_strides[axis]
                d_at += coordinate * d_strides[axis]
            out[out_at] = operation(a[a_at], b[b_at], c[c_at], d[d_at])

    return zip4_contiguous, zip4_strided


def run_elementwise(operation, out: DeviceArray, operands: Sequence[DeviceArray]) -> None:
    """Set ``out[index] = operation(*(x[index] for x in operands))`` for every index of out.

    Operands broadcast to ``out.shape``; ``out`` may be any view. An operand that shares
    memory with ``out`` without being exactly ``out`` is copied first, so that no thread
    reads an element another thread has already overwritten (numpy gives the same result).
    """
    if out.size == 0:
        return
    operands = [
        copy_of(x) if may_overlap(out, x) and not same_layout(out, x) else x for x in operands
    ]
    shape, strides = coalesce_axes(
        tuple(out.shape),
        element_strides(out),
        *(broadcast_strides(x, tuple(out.shape)) for x in operands),
    )
    kernels = kernels_for(operation, len(operands))
    blocks, threads = grid_stride_launch(out.size)
    if len(shape) == 1 and all(array_strides == (1,) for array_strides in strides):
        flat = [flat_view(out)] + [flat_view(x) for x in operands]
        launch(kernels.contiguous, *flat, grid=blocks, block=threads)
        return
    arguments = [storage_window(out), strides[0]]
    for x, x_strides in zip(operands, strides[1:], strict=True):
        arguments += [storage_window(x), x_strides]
    launch(kernels.strided, *arguments, shape, out.size, grid=blocks, block=threads)


def copy_of(a: DeviceArray) -> DeviceArray:
    """A new C-contiguous array holding ``a``'s values."""
    copy = cuda.device_array(tuple(a.shape), a.dtype)
    run_elementwise(identity, copy, [a])
    return copy
