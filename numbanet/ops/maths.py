"""The elementwise maths family: trigonometry, hyperbolic functions, logarithms and
exponentials in other bases, rounding, reciprocals.

Each op is one formula of ``numbanet/kernels/formulas.py`` (both devices compile it) and
one Function here: the forward calls that kernel, the backward is PyTorch's derivative
written with Tensor operations (``torch/csrc/autograd/derivatives.yaml``). Inputs arrive
already as floats where the op needs them (``Tensor._float_self``).
"""

import math

from numbanet.ops.elementwise import Elementwise, StepFunction

LN_2 = math.log(2)
LN_10 = math.log(10)


class Tan(Elementwise):
    """out = tan(a) = sin(a) / cos(a)

    Gradient: d out/d a = 1 + tan(a)^2 = 1 + out^2
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out * out + 1)


class Asin(Elementwise):
    """out = arcsin(a), in [-pi/2, pi/2]; nan outside [-1, 1]

    Gradient: d out/d a = 1 / sqrt(1 - a^2)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.asin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (1 - a * a).rsqrt()


class Acos(Elementwise):
    """out = arccos(a), in [0, pi]; nan outside [-1, 1]

    Gradient: d out/d a = -1 / sqrt(1 - a^2)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.acos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -(grad * (1 - a * a).rsqrt())


class Atan(Elementwise):
    """out = arctan(a), in (-pi/2, pi/2)

    Gradient: d out/d a = 1 / (1 + a^2)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.atan(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * a + 1)


class Sinh(Elementwise):
    """out = sinh(a) = (e^a - e^-a) / 2

    Gradient: d out/d a = cosh(a)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.sinh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a.cosh()


class Cosh(Elementwise):
    """out = cosh(a) = (e^a + e^-a) / 2

    Gradient: d out/d a = sinh(a)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.cosh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a.sinh()


class Asinh(Elementwise):
    """out = asinh(a) = ln(a + sqrt(a^2 + 1))

    Gradient: d out/d a = 1 / sqrt(a^2 + 1)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.asinh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (a * a + 1).rsqrt()


class Atanh(Elementwise):
    """out = atanh(a) = ln((1 + a) / (1 - a)) / 2; +-inf at +-1, nan outside [-1, 1]

    Gradient: d out/d a = 1 / (1 - a^2)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.atanh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 - a * a)


class Exp2(Elementwise):
    """out = 2^a

    Gradient: d out/d a = 2^a * ln(2) = out * ln(2)
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.exp2(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out * LN_2)


class Expm1(Elementwise):
    """out = e^a - 1, accurate for small a

    Gradient: d out/d a = e^a = out + 1
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Log2(Elementwise):
    """out = log2(a) = ln(a) / ln(2)

    Gradient: d out/d a = 1 / (a * ln(2))
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.log2(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * LN_2)


class Log10(Elementwise):
    """out = log10(a) = ln(a) / ln(10)

    Gradient: d out/d a = 1 / (a * ln(10))
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.log10(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * LN_10)


class Log1p(Elementwise):
    """out = ln(1 + a), accurate for small a

    Gradient: d out/d a = 1 / (1 + a)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a + 1)


class Floor(StepFunction):
    """out = floor(a), the largest whole number <= a

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.floor(a)


class Ceil(StepFunction):
    """out = ceil(a), the smallest whole number >= a

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.ceil(a)


class Round(StepFunction):
    """out = a rounded to the nearest whole number, halves to the even one (0.5 -> 0,
    1.5 -> 2)

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.round(a)


class Trunc(StepFunction):
    """out = trunc(a), a rounded toward zero

    Gradient: 0 everywhere (a step function)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.trunc(a)


class Frac(Elementwise):
    """out = a - trunc(a), the fractional part with a's sign

    Gradient: d out/d a = 1
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.frac(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Reciprocal(Elementwise):
    """out = 1 / a

    Gradient: d out/d a = -1 / a^2 = -out^2
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.reciprocal(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -(grad * (out * out))


class Rsqrt(Elementwise):
    """out = 1 / sqrt(a)

    Gradient: d out/d a = -1 / (2 a^1.5) = -out^3 / 2
    """

    @staticmethod
    def forward(ctx, a):
        out = ctx.kernels.rsqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out * out * out) * -0.5


class Square(Elementwise):
    """out = a^2 = a * a

    Gradient: d out/d a = 2 a
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.square(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (a * 2)


class IsNan(Elementwise):
    """out = (a is NaN), a bool tensor

    Gradient: none (the result is bool)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.isnan(a)

    @staticmethod
    def backward(ctx, grad):
        return None


class IsInf(Elementwise):
    """out = (a is +inf or -inf), a bool tensor

    Gradient: none (the result is bool)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.isinf(a)

    @staticmethod
    def backward(ctx, grad):
        return None


class IsFinite(Elementwise):
    """out = (a is neither +-inf nor NaN), a bool tensor

    Gradient: none (the result is bool)
    """

    @staticmethod
    def forward(ctx, a):
        return ctx.kernels.isfinite(a)

    @staticmethod
    def backward(ctx, grad):
        return None
