"""Assignment: ``x[key] = value``, and through it every in-place op (``x += y``, ``fill_``).

An in-place op changes memory that other tensors may share — views of ``x``, or tensors
an op saved for its backward — so it is written as PyTorch thinks of it: compute the new
values out of place, then *assign* them into ``x``'s memory. The assignment is one node of
the graph; ``x`` takes it as its ``grad_fn`` (its old history flows on through ``value``)
and ``x``'s version counter goes up, so a backward that saved the old ``x`` refuses to run
on the new values.
"""

import numpy as np

from numbanet.autograd.function import KernelFunction
from numbanet.ops.shape import flat_positions


class Assign(KernelFunction):
    """out = a with out[key] = value, written into a's own memory (a view's base sees it)

    Gradient: d out/d a = 1 outside key and 0 inside (those elements were overwritten);
    d out/d value = the upstream gradient at key (summed over value's broadcast dims)
    """

    torch_name = "CopySlices"

    @staticmethod
    def forward(ctx, a, key, advanced, value):
        kernels = ctx.kernels
        ctx.key = key
        ctx.mark_for_trace(index=repr(key) if not advanced else "advanced")
        if not advanced:
            kernels.copy_into(kernels.basic_index(a, key), value)
            return a
        # Integer tensors and masks: each selected element's row-major position in a.
        positions = flat_positions(tuple(a.shape), key)
        values = kernels.reshape(kernels.contiguous(kernels.broadcast_to(
            kernels.astype(value, a.dtype), positions.shape)), (-1,))
        positions = positions.reshape(-1)
        # A position named twice takes its *last* value, as on PyTorch's CPU.
        unique, first_from_end = np.unique(positions[::-1], return_index=True)
        last = positions.size - 1 - first_from_end
        # Spread the chosen values over a's flat layout and take them where selected. The
        # spread starts at -0.0, the one number x with -0.0 + x == x for every x.
        numel = int(np.prod(a.shape))
        spread = kernels.full((numel,), -0.0 if a.dtype.kind == "f" else 0, a.dtype)
        kernels.scatter_add(spread, kernels.from_host(unique),
                            kernels.gather(values, kernels.from_host(last)))
        selected = np.zeros(numel, dtype=np.bool_)
        selected[unique] = True
        current = kernels.reshape(kernels.contiguous(a), (-1,))
        result = kernels.where(kernels.from_host(selected), spread, current)
        kernels.copy_into(a, kernels.reshape(result, tuple(a.shape)))
        return a

    @staticmethod
    def backward(ctx, grad):
        grad_a = grad_value = None
        overwrote_all = len(ctx.key) == 1 and ctx.key[0] is Ellipsis  # x += y, x.fill_(v)
        if ctx.needs_input_grad[0] and not overwrote_all:
            grad_a = grad.clone()
            grad_a[ctx.key] = 0
        if ctx.needs_input_grad[3]:
            grad_value = grad[ctx.key]
        return grad_a, None, None, grad_value
