"""Matrix multiplication with PyTorch's rules for 1-D, 2-D and batched operands."""

import math

import numpy as np

from numbanet.autograd.function import KernelFunction
from numbanet.errors import op_error


class Matmul(KernelFunction):
    """out = a @ b: out[i, j] = sum over k of a[i, k] * b[k, j]

    Gradient: d loss/d a = grad @ b^T, d loss/d b = a^T @ grad
    """

    torch_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        kernels = ctx.kernels
        if a.ndim == 2 and b.ndim == 2:
            return kernels.matmul(a, b)
        ctx.torch_name = "BmmBackward0"
        # Batched: broadcast the batch dims, flatten them into one, multiply, unflatten.
        # (The flat batch size is spelled out: -1 cannot be inferred when a dim is 0.)
        a_shape, b_shape = tuple(a.shape), tuple(b.shape)
        batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
        count = math.prod(batch)
        a3 = kernels.reshape(kernels.contiguous(
            kernels.broadcast_to(a, batch + a_shape[-2:])), (count,) + a_shape[-2:])
        b3 = kernels.reshape(kernels.contiguous(
            kernels.broadcast_to(b, batch + b_shape[-2:])), (count,) + b_shape[-2:])
        out = kernels.matmul(a3, b3)
        return kernels.reshape(out, batch + (a_shape[-2], b_shape[-1]))

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad @ b.transpose(-1, -2) if ctx.needs_input_grad[0] else None
        grad_b = a.transpose(-1, -2) @ grad if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Addmm(KernelFunction):
    """out = bias + mat1 @ mat2 (nn.Linear: mat2 = weight^T, so out[i, j] = bias[j] +
    sum over k of input[i, k] * weight[j, k]); bias broadcast over the rows

    Gradient: d loss/d bias = grad summed over rows, d loss/d mat1 = grad @ mat2^T,
    d loss/d mat2 = mat1^T @ grad
    """

    @staticmethod
    def forward(ctx, bias, mat1, mat2):
        ctx.save_for_backward(mat1, mat2)
        kernels = ctx.kernels
        # The bias goes into a new array: added in place, the loop reads and writes the
        # same memory, which LLVM does not vectorise (3.6 us against 0.8 for 64 x 128).
        return kernels.add(kernels.matmul(mat1, mat2), bias)

    @staticmethod
    def backward(ctx, grad):
        mat1, mat2 = ctx.saved_tensors
        # One kernel call for the three (the two matmuls and the sum of the Tensor-level
        # rule, without a Tensor and a graph node for each of their five steps).
        return ctx.fused_kernel("addmm_backward", grad, mat1, mat2, ctx.needs_input_grad)


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
