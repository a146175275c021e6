"""Matrix multiplication with PyTorch's rules for 1-D, 2-D and batched operands."""

from numbanet.autograd.function import Function
from numbanet.errors import op_error


class Matmul(Function):
    """out = a @ b: out[i, j] = sum over k of a[i, k] * b[k, j]

    Gradient: d loss/d a = grad @ b^T, d loss/d b = a^T @ grad
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        backend = a._backend
        if a.dim() == 2 and b.dim() == 2:
            return backend.matmul(a._data, b._data)
        # Batched: broadcast the batch dims, flatten them into one, multiply, unflatten.
        import numpy as np

        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a3 = backend.reshape(backend.contiguous(
            backend.broadcast_to(a._data, batch + a.shape[-2:])), (-1,) + a.shape[-2:])
        b3 = backend.reshape(backend.contiguous(
            backend.broadcast_to(b._data, batch + b.shape[-2:])), (-1,) + b.shape[-2:])
        out = backend.matmul(a3, b3)
        return backend.reshape(out, batch + (a.shape[-2], b.shape[-1]))

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad @ b.transpose(-1, -2) if ctx.needs_input_grad[0] else None
        grad_b = a.transpose(-1, -2) @ grad if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def matmul(a, b):
    """``a @ b`` as in PyTorch: a 1-D operand is treated as a row (left) or column (right)
    vector and that axis is removed from the result; batch dims broadcast."""
    if a.dim() == 0 or b.dim() == 0:
        raise op_error(RuntimeError, "matmul", "both arguments to matmul need to be at "
                       f"least 1D, but they are {a.dim()}D and {b.dim()}D")
    squeeze_front = a.dim() == 1
    squeeze_back = b.dim() == 1
    if squeeze_front:
        a = a.unsqueeze(0)
    if squeeze_back:
        b = b.unsqueeze(-1)
    if a.shape[-1] != b.shape[-2]:
        left = "x".join(map(str, a.shape))
        right = "x".join(map(str, b.shape))
        raise op_error(RuntimeError, "matmul",
                       f"mat1 and mat2 shapes cannot be multiplied ({left} and {right}): the "
                       f"last dim of the first ({a.shape[-1]}) must equal the second-to-last "
                       f"dim of the second ({b.shape[-2]})")
    out = Matmul.apply(a, b)
    if squeeze_front:
        out = out.squeeze(-2)
    if squeeze_back:
        out = out.squeeze(-1)
    return out
