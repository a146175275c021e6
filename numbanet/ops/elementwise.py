"""Elementwise operations and their derivatives.

Each Function's docstring gives the forward formula and, on its ``Gradient:`` line, the
local derivative the chain rule multiplies the upstream gradient by. Operands arrive
already promoted to one dtype and device (see ``Tensor._binary_operands``); shapes may
broadcast — the engine sums gradients back to each input's shape.
"""

from numbanet.autograd.function import Function


class Add(Function):
    """out = a + b

    Gradient: d out/d a = 1, d out/d b = 1 (the upstream gradient passes through)
    """

    @staticmethod
    def forward(ctx, a, b):
        return a._backend.add(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """out = a - b

    Gradient: d out/d a = 1, d out/d b = -1
    """

    @staticmethod
    def forward(ctx, a, b):
        return a._backend.sub(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad if ctx.needs_input_grad[1] else None


class Mul(Function):
    """out = a * b

    Gradient: d out/d a = b, d out/d b = a
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._backend.mul(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class Div(Function):
    """out = a / b

    Gradient: d out/d a = 1 / b, d out/d b = -a / b^2
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._backend.div(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """out = a ** b

    Gradient: d out/d a = b * a^(b-1), d out/d b = a^b * ln(a)
    """

    @staticmethod
    def forward(ctx, a, b):
        out = a._backend.pow(a._data, b._data)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        grad_b = grad * a**b * a.log() if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Maximum(Function):
    """out = max(a, b), elementwise

    Gradient: the upstream gradient goes to whichever operand is larger (to a on ties)
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._backend.maximum(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_wins = (a >= b).to(dtype=grad.dtype)
        return grad * a_wins, grad * (1 - a_wins)


class Minimum(Function):
    """out = min(a, b), elementwise

    Gradient: the upstream gradient goes to whichever operand is smaller (to a on ties)
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._backend.minimum(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_wins = (a <= b).to(dtype=grad.dtype)
        return grad * a_wins, grad * (1 - a_wins)


class Neg(Function):
    """out = -a

    Gradient: d out/d a = -1
    """

    @staticmethod
    def forward(ctx, a):
        return a._backend.neg(a._data)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """out = e^a

    Gradient: d out/d a = e^a = out
    """

    @staticmethod
    def forward(ctx, a):
        out = a._backend.exp(a._data)
        ctx.save_for_backward(ctx.wrap(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """out = ln(a)

    Gradient: d out/d a = 1 / a
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._backend.log(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    """out = sqrt(a)

    Gradient: d out/d a = 1 / (2 sqrt(a)) = 1 / (2 out)
    """

    @staticmethod
    def forward(ctx, a):
        out = a._backend.sqrt(a._data)
        ctx.save_for_backward(ctx.wrap(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


class Abs(Function):
    """out = |a|

    Gradient: d out/d a = sign(a) (0 at a = 0)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._backend.abs(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a.sign()


class Sign(Function):
    """out = -1, 0 or 1 by the sign of a

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return a._backend.sign(a._data)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


class Relu(Function):
    """out = max(0, a)

    Gradient: d out/d a = 1 where a > 0, else 0
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a._backend.relu(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return ctx.wrap(grad._backend.relu_backward(grad._data, a._data))


class Sigmoid(Function):
    """out = 1 / (1 + e^-a)

    Gradient: d out/d a = out * (1 - out)
    """

    @staticmethod
    def forward(ctx, a):
        out = a._backend.sigmoid(a._data)
        ctx.save_for_backward(ctx.wrap(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.wrap(grad._backend.sigmoid_backward(grad._data, out._data))


class Tanh(Function):
    """out = tanh(a) = (e^a - e^-a) / (e^a + e^-a)

    Gradient: d out/d a = 1 - out^2
    """

    @staticmethod
    def forward(ctx, a):
        out = a._backend.tanh(a._data)
        ctx.save_for_backward(ctx.wrap(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.wrap(grad._backend.tanh_backward(grad._data, out._data))


class Clamp(Function):
    """out = min(max(a, low), high)

    Gradient: d out/d a = 1 where low <= a <= high, else 0
    """

    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        ctx.mark_for_trace(min=low, max=high)
        return a._backend.clamp(a._data, low, high)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        data = grad._backend.clamp_backward(grad._data, a._data, ctx.low, ctx.high)
        return ctx.wrap(data), None, None


class Where(Function):
    """out = a where condition else b

    Gradient: the upstream gradient goes to a where condition holds, to b elsewhere
    """

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return a._backend.where(condition._data, a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        zero = grad * 0
        return None, Where.apply(condition, grad, zero), Where.apply(condition, zero, grad)


class Compare(Function):
    """out = a <op> b, a bool tensor (==, !=, <, <=, >, >=, and, or)

    Gradient: none — a comparison is not differentiable
    """

    @staticmethod
    def forward(ctx, a, b, kernel_name):
        ctx.mark_for_trace(comparison=kernel_name)
        return getattr(a._backend, kernel_name)(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        return None, None, None


class LogicalNot(Function):
    """out = not a

    Gradient: none
    """

    @staticmethod
    def forward(ctx, a):
        return a._backend.logical_not(a._data)

    @staticmethod
    def backward(ctx, grad):
        return None
