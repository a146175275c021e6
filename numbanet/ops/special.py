"""Special functions: the error function and GELU, the activation built on it.

``erf`` is one formula of ``numbanet/kernels/formulas.py`` (``math.erf`` per element, on
both devices); GELU's forward is a few kernel calls on the device arrays and its backward
a few Tensor operations, so ``F.gelu`` is one node in the graph (``GeluBackward``), as in
PyTorch.
"""

import math

from numbanet.autograd.function import KernelFunction

TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
ONE_OVER_SQRT_TWO = 1 / math.sqrt(2)
ONE_OVER_SQRT_TWO_PI = 1 / math.sqrt(2 * math.pi)
SQRT_TWO_OVER_PI = math.sqrt(2 / math.pi)
GELU_TANH_CUBIC = 0.044715  # the cubic term of GELU's tanh approximation


class Erf(KernelFunction):
    """out = erf(a) = 2 / sqrt(pi) * integral_0^a e^(-t^2) dt

    Gradient: d out/d a = 2 / sqrt(pi) * e^(-a^2)
    """

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.kernels.erf(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * ((-(a * a)).exp() * TWO_OVER_SQRT_PI)


def _scalar(ctx, value, like):
    """A 0-d device array holding ``value`` in ``like``'s dtype (kernels take arrays)."""
    return ctx.kernels.full((), value, like.dtype)


class Gelu(KernelFunction):
    """out = a * Phi(a), Phi the standard normal CDF: with approximate='none'
    out = a / 2 * (1 + erf(a / sqrt(2))); with approximate='tanh'
    out = a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 a^3)))

    Gradient: 'none': d out/d a = Phi(a) + a * e^(-a^2 / 2) / sqrt(2 pi);
    'tanh': with u = sqrt(2/pi) (a + 0.044715 a^3), t = tanh(u):
    d out/d a = (1 + t) / 2 + a / 2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 a^2)
    """

    @staticmethod
    def forward(ctx, a, approximate):
        ctx.save_for_backward(a)
        ctx.approximate = approximate
        k = ctx.kernels
        half_a = k.mul(a, _scalar(ctx, 0.5, a))
        if approximate == "tanh":
            cube = k.mul(k.mul(a, a), a)
            inner = k.add(a, k.mul(cube, _scalar(ctx, GELU_TANH_CUBIC, a)))
            curve = k.tanh(k.mul(inner, _scalar(ctx, SQRT_TWO_OVER_PI, a)))
        else:
            curve = k.erf(k.mul(a, _scalar(ctx, ONE_OVER_SQRT_TWO, a)))
        return k.mul(half_a, k.add(curve, _scalar(ctx, 1.0, a)))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            inner = (a + a * a * a * GELU_TANH_CUBIC) * SQRT_TWO_OVER_PI
            t = inner.tanh()
            d_inner = (a * a * (3 * GELU_TANH_CUBIC) + 1) * SQRT_TWO_OVER_PI
            return grad * ((t + 1) * 0.5 + a * 0.5 * (1 - t * t) * d_inner), None
        cdf = (Erf.apply(a * ONE_OVER_SQRT_TWO) + 1) * 0.5
        density = (a * a * -0.5).exp() * ONE_OVER_SQRT_TWO_PI
        return grad * (cdf + a * density), None
