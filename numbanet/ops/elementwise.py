"""Elementwise operations and their derivatives.

Each Function's docstring gives the forward formula and, on its ``Gradient:`` line, the
local derivative the chain rule multiplies the upstream gradient by. Operands arrive
already promoted to one dtype and device (see ``Tensor._operands``); shapes may
broadcast — the engine sums gradients back to each input's shape.
"""

from numbanet.autograd.function import KernelFunction


class Elementwise(KernelFunction):
    """Base of the ops whose output element i depends only on the input elements at
    position i (after broadcasting), so the local derivative is elementwise too."""

    elementwise = True


class Add(Elementwise):
    """out = a + b

    Gradient: d out/d a = 1, d out/d b = 1 (the upstream gradient passes through)
    """

    @staticmethod
    def forward(ctx, a, b):
        return ctx.kernels.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Elementwise):
    """out = a - b

    Gradient: d out/d a = 1, d out/d b = -1
    """

    @staticmethod
    def forward(ctx, a, b):
        return ctx.kernels.sub(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad if ctx.needs_input_grad[1] else None


class Mul(Elementwise):
    """out = a * b

    Gradient: d out/d a = b, d out/d b = a
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.mul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class Div(Elementwise):
    """out = a / b

    Gradient: d out/d a = 1 / b, d out/d b = -a / b^2
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.div(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Elementwise):
    """out = a ** b

    Gradient: d out/d a = b * a^(b-1) (0 where b = 0: a^0 = 1 is constant, even at a = 0),
    d out/d b = a^b * ln(a) (0 where a = 0 and b >= 0, where 0^b is flat or 0 * ln 0 is
    taken as 0), as in PyTorch
    """

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.kernels.pow(a, b)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = Where.apply(b == 0, _zero(grad), grad * b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            flat = (a == 0) & (b >= 0)
            grad_b = Where.apply(flat, _zero(grad), grad * a**b * a.log())
        return grad_a, grad_b


class FloorDivide(Elementwise):
    """out = floor(a / b), rounding toward minus infinity: -7 // 2 = -4

    Gradient: not defined (a step function), as in PyTorch
    """

    @staticmethod
    def forward(ctx, a, b):
        return ctx.kernels.floor_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("derivative for floor_divide is not implemented")


class Remainder(Elementwise):
    """out = a - floor(a / b) * b, with the sign of b: -7 % 2 = 1

    Gradient: d out/d a = 1, d out/d b = -floor(a / b)
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad, -grad * (a // b) if ctx.needs_input_grad[1] else None


class Bitwise(Elementwise):
    """out = a & b, a | b or a ^ b bit by bit (integers), or ~a; logical on bools

    Gradient: none — integers and bools carry no gradient
    """

    @staticmethod
    def forward(ctx, a, b, kernel_name):
        ctx.mark_for_trace(operation=kernel_name)
        if b is None:
            return getattr(ctx.kernels, kernel_name)(a)
        return getattr(ctx.kernels, kernel_name)(a, b)

    @staticmethod
    def backward(ctx, grad):
        return None, None, None


class Maximum(Elementwise):
    """out = max(a, b), elementwise

    Gradient: the upstream gradient goes to whichever operand is larger; on a tie each
    gets half of it (and where a NaN is compared, both get all of it), as in PyTorch
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _split_by_winner(grad, a < b, a > b, a == b)


class Minimum(Elementwise):
    """out = min(a, b), elementwise

    Gradient: the upstream gradient goes to whichever operand is smaller; on a tie each
    gets half of it (and where a NaN is compared, both get all of it), as in PyTorch
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _split_by_winner(grad, a > b, a < b, a == b)


def _split_by_winner(grad, a_loses, b_loses, tie) -> tuple:
    """(grad to a, grad to b) for maximum/minimum, PyTorch's rule: half each on a tie, none
    to the loser, the whole gradient otherwise (to both where a NaN makes no one lose)."""
    shared = Where.apply(tie, grad * 0.5, grad)
    zero = _zero(grad)
    return Where.apply(a_loses, zero, shared), Where.apply(b_loses, zero, shared)


def _zero(like):
    """A 0-d zero of ``like``'s dtype and device (the other branch of a ``Where``)."""
    from numbanet.creation import zeros

    return zeros((), dtype=like.dtype, device=like.device)


class Neg(Elementwise):
    """out = -a

    Gradient: d out/d a = -1
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.neg(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Elementwise):
    """out = e^a

    Gradient: d out/d a = e^a = out
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Sin(Elementwise):
    """out = sin(a)

    Gradient: d out/d a = cos(a)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a.cos()


class Cos(Elementwise):
    """out = cos(a)

    Gradient: d out/d a = -sin(a)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -(grad * a.sin())


class Log(Elementwise):
    """out = ln(a)

    Gradient: d out/d a = 1 / a
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Elementwise):
    """out = sqrt(a)

    Gradient: d out/d a = 1 / (2 sqrt(a)) = 1 / (2 out)
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


class Abs(Elementwise):
    """out = |a|

    Gradient: d out/d a = sign(a) (0 at a = 0)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a.sign()


class StepFunction(Elementwise):
    """Base of the step functions (sign, floor, ceil, round, trunc): flat almost
    everywhere, so their gradient is 0 (PyTorch's ``zeros_like(grad)``: 0 even where the
    upstream gradient is inf or nan, which ``grad * 0`` would turn into nan)."""

    @staticmethod
    def backward(ctx, grad):
        from numbanet.creation import zeros_like

        return zeros_like(grad)


class Sign(StepFunction):
    """out = -1, 0 or 1 by the sign of a

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.sign(a)


class Relu(Elementwise):
    """out = max(0, a)

    Gradient: d out/d a = 1 where a > 0, else 0
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.relu(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return ctx.fused_kernel("relu_backward", grad, a)


class Sigmoid(Elementwise):
    """out = 1 / (1 + e^-a)

    Gradient: d out/d a = out * (1 - out)
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.fused_kernel("sigmoid_backward", grad, out)


class Tanh(Elementwise):
    """out = tanh(a) = (e^a - e^-a) / (e^a + e^-a)

    Gradient: d out/d a = 1 - out^2
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.fused_kernel("tanh_backward", grad, out)


class Clamp(Elementwise):
    """out = min(max(a, low), high)

    Gradient: d out/d a = 1 where low <= a <= high, else 0
    """

    torch_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        ctx.mark_for_trace(min=low, max=high)
        return ctx.kernels.clamp(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return ctx.fused_kernel("clamp_backward", grad, a, ctx.low, ctx.high), None, None


class Where(Elementwise):
    """out = a where condition else b

    Gradient: the upstream gradient goes to a where condition holds, to b elsewhere
    """

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return ctx.kernels.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        zero = grad * 0
        return None, Where.apply(condition, grad, zero), Where.apply(condition, zero, grad)


class Compare(Elementwise):
    """out = a <op> b, a bool tensor (==, !=, <, <=, >, >=, and, or)

    Gradient: none — a comparison is not differentiable
    """

    @staticmethod
    def forward(ctx, a, b, kernel_name):
        ctx.mark_for_trace(comparison=kernel_name)
        return getattr(ctx.kernels, kernel_name)(a, b)

    @staticmethod
    def backward(ctx, grad):
        return None, None, None


class LogicalNot(Elementwise):
    """out = not a

    Gradient: none
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.logical_not(a)

    @staticmethod
    def backward(ctx, grad):
        return None
