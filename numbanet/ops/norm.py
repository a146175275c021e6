"""Vector norms: ``x.norm(p, dim)``, the length of a tensor seen as a vector.

One Function, :class:`VectorNorm`: its forward is a few kernel calls (``mul``, ``sum``,
``sqrt``; ``abs`` and ``max`` for the infinity norm), its backward PyTorch's rule, which
gives 0 — not the nan a chain of sqrt and square would — where the norm is 0.
"""

from __future__ import annotations

import math

from numbanet import dtypes, shapes
from numbanet.autograd.function import KernelFunction
from numbanet.errors import op_error
from numbanet.ops.elementwise import Where


class VectorNorm(KernelFunction):
    """out = (sum over dims of |a|^p)^(1/p): p=2 sqrt(sum a^2), p=1 sum |a|, p=inf max |a|,
    p=-inf min |a|, p=0 the number of nonzero elements

    Gradient: p=2: a / out (0 where out = 0); p=1: sign(a); p=+-inf: sign(a) shared evenly
    among the elements where |a| = out; p=0: 0; other p: a |a|^(p-2) / out^(p-1)
    """

    @staticmethod
    def forward(ctx, a, p, dims, keepdim):
        k = ctx.kernels
        ctx.p, ctx.dims, ctx.keepdim, ctx.input_shape = p, dims, keepdim, tuple(a.shape)
        ctx.mark_for_trace(p=p, dim=list(dims), keepdim=keepdim)

        def number(value):
            return k.full((), value, a.dtype)

        if p == 2:
            out = k.sqrt(k.sum(k.mul(a, a), dims, keepdim))
        elif p == 1:
            out = k.sum(k.abs(a), dims, keepdim)
        elif p in (math.inf, -math.inf):
            out = k.abs(a)
            for axis in dims:  # one dim at a time, kept, then dropped at the end
                out = (k.max if p > 0 else k.min)(out, axis, True)[0]
            if not keepdim:
                out = k.reshape(out, tuple(n for axis, n in enumerate(a.shape)
                                           if axis not in dims))
        elif p == 0:
            out = k.sum(k.astype(k.ne(a, number(0)), a.dtype), dims, keepdim)
        else:
            powered = k.pow(k.abs(a), number(p))
            out = k.pow(k.sum(powered, dims, keepdim), number(1 / p))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        p, dims = ctx.p, ctx.dims
        if not ctx.keepdim:
            kept = tuple(1 if axis in dims else n for axis, n in enumerate(ctx.input_shape))
            grad, out = grad.reshape(kept), out.reshape(kept)
        zero = grad * 0
        if p == 2:
            return a * Where.apply(out == 0, zero, grad / out), None, None, None
        if p == 1:
            return grad * a.sign(), None, None, None
        if p in (math.inf, -math.inf):
            ties = (a.abs() == out).to(grad.dtype)
            share = ties / ties.sum(dims, keepdim=True).clamp(min=1)  # none tie: a NaN norm
            return grad * a.sign() * share, None, None, None
        if p == 0:
            from numbanet.creation import zeros_like

            return zeros_like(a), None, None, None
        scale = Where.apply(out == 0, zero, grad / out ** (p - 1))
        return a * a.abs() ** (p - 2) * scale, None, None, None


def norm(x, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """``x.norm(p, dim, keepdim, dtype)`` (see :meth:`Tensor.norm`), PyTorch's checks."""
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise op_error(RuntimeError, "norm", "linalg.vector_norm: Expected a floating point "
                       f"or complex tensor as input. Got {dtypes.scalar_type_name(x.dtype)}")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise op_error(NotImplementedError, "norm", f"norm with p='{p}' is not supported by "
                       "numbanet (p may be a number, inf, -inf or 'fro')")
    p = float(p)
    dims = shapes.dims_tuple(dim, x.dim(), "norm") or tuple(range(x.dim()))
    if p in (math.inf, -math.inf) and any(x.shape[axis] == 0 for axis in dims) or (
            p in (math.inf, -math.inf) and x.numel() == 0):
        raise op_error(RuntimeError, "norm", "linalg.vector_norm cannot compute the "
                       f"{'inf' if p > 0 else '-inf'} norm on an empty tensor because the "
                       "operation does not have an identity")
    return VectorNorm.apply(x, p, dims, keepdim)

