"""Fused optimizer updates: one kernel reads a parameter, its gradient and its state once and
writes the new parameter and state in place.

The formulas are PyTorch's (``torch.optim.SGD``, ``Adam`` and ``RMSprop`` with their
default single-tensor implementations), element by element. Written as separate array
operations each would read and write the whole parameter again; fused, the update costs one
pass over memory. Thread t updates elements t, t + T, t + 2T, ... (grid-stride).

Scalars (learning rate, betas, ``1 - beta``, ...) are computed and converted to the
parameter's dtype on the host, so a float32 parameter is updated in float32 arithmetic as in
PyTorch. Parameters and state must
be C-contiguous (they are allocated that way); the gradient may be any view.
"""

import math

from numba import cuda

from numbanet.kernels.cuda.layout import (
    DeviceArray,
    flat_view,
    grid_stride_launch,
    is_c_contiguous,
)
from numbanet.kernels.cuda.memory import astype, contiguous, empty
from numbanet.kernels.launch import launch


@cuda.jit(cache=True)
def sgd_update_kernel(
    param, grad, momentum_buffer, lr, momentum, one_minus_dampening, weight_decay,
    use_momentum, nesterov, first_step,
):
    """SGD with optional weight decay, momentum, dampening and Nesterov momentum::

        d = grad + weight_decay * param
        buffer = d (first step)  or  momentum * buffer + (1 - dampening) * d
        d = d + momentum * buffer (nesterov)  or  buffer
        param -= lr * d
    """
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        step = grad[i]
        if weight_decay != 0:
            step += weight_decay * param[i]
        if use_momentum:
            if first_step:
                buffer = step
            else:
                buffer = momentum * momentum_buffer[i] + one_minus_dampening * step
            momentum_buffer[i] = buffer
            step = step + momentum * buffer if nesterov else buffer
        param[i] -= lr * step


@cuda.jit(cache=True)
def adam_update_kernel(
    param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps,
    weight_decay, step_size, bias_correction2_sqrt,
):
    """Adam (not AdamW: the decay joins the gradient)::

        g = grad + weight_decay * param
        m = m + (1 - beta1) * (g - m)               (a running mean of g)
        v = beta2 * v + (1 - beta2) * g * g         (a running mean of g**2)
        param -= step_size * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    with ``step_size = lr / (1 - beta1**t)``: the two bias corrections undo the pull toward
    the zero that m and v start from.
    """
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = grad[i]
        if weight_decay != 0:
            g += weight_decay * param[i]
        m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)


@cuda.jit(cache=True)
def rmsprop_update_kernel(
    param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, one_minus_alpha, eps,
    weight_decay, momentum, use_momentum, centered,
):
    """RMSprop::

        g = grad + weight_decay * param
        s = alpha * s + (1 - alpha) * g * g                      (running mean of g**2)
        centered: a = a + (1 - alpha) * (g - a); denom = sqrt(s - a * a) + eps
        else:                                    denom = sqrt(s) + eps
        momentum: buffer = momentum * buffer + g / denom; param -= lr * buffer
        else:     param -= lr * g / denom
    """
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = grad[i]
        if weight_decay != 0:
            g += weight_decay * param[i]
        s = alpha * square_avg[i] + one_minus_alpha * g * g
        square_avg[i] = s
        if centered:
            a = grad_avg[i] + one_minus_alpha * (g - grad_avg[i])
            grad_avg[i] = a
            denominator = math.sqrt(s - a * a) + eps
        else:
            denominator = math.sqrt(s) + eps
        if use_momentum:
            buffer = momentum * momentum_buffer[i] + g / denominator
            momentum_buffer[i] = buffer
            param[i] -= lr * buffer
        else:
            param[i] -= lr * g / denominator


def sgd_update(
    param: DeviceArray, grad: DeviceArray, momentum_buffer: DeviceArray | None, lr: float,
    momentum: float, dampening: float, nesterov: bool, weight_decay: float, first_step: bool,
) -> None:
    """One SGD step in place on ``param`` (and ``momentum_buffer`` when momentum != 0)."""
    scalar = param.dtype.type
    use_momentum = momentum != 0
    _launch(
        sgd_update_kernel, param, grad, [momentum_buffer if use_momentum else None],
        scalar(lr), scalar(momentum), scalar(1 - dampening), scalar(weight_decay),
        use_momentum, bool(nesterov), bool(first_step),
    )


def adam_update(
    param: DeviceArray, grad: DeviceArray, exp_avg: DeviceArray, exp_avg_sq: DeviceArray,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, step: int,
) -> None:
    """One Adam step in place; ``step`` counts from 1 (it sets the bias corrections)."""
    scalar = param.dtype.type
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    _launch(
        adam_update_kernel, param, grad, [exp_avg, exp_avg_sq], scalar(1 - beta1),
        scalar(beta2), scalar(1 - beta2), scalar(eps), scalar(weight_decay), scalar(step_size),
        scalar(bias_correction2_sqrt),
    )


def rmsprop_update(
    param: DeviceArray, grad: DeviceArray, square_avg: DeviceArray,
    momentum_buffer: DeviceArray | None, grad_avg: DeviceArray | None, lr: float,
    alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool,
) -> None:
    """One RMSprop step in place (``momentum_buffer`` used when momentum > 0, ``grad_avg``
    when centered)."""
    scalar = param.dtype.type
    use_momentum = momentum > 0
    _launch(
        rmsprop_update_kernel, param, grad,
        [square_avg, momentum_buffer if use_momentum else None, grad_avg if centered else None],
        scalar(lr), scalar(alpha), scalar(1 - alpha), scalar(eps), scalar(weight_decay),
        scalar(momentum), use_momentum, bool(centered),
    )


def _launch(kernel, param, grad, states, *scalars) -> None:
    """Launch an update kernel over flat views; an unused state (None) is passed as an empty
    array of the parameter's dtype, which the kernel never touches."""
    for array in (param, *(state for state in states if state is not None)):
        if not is_c_contiguous(array):
            raise ValueError("optimizer parameters and state must be C-contiguous")
    if param.size == 0:
        return
    grad = contiguous(grad) if grad.dtype == param.dtype else astype(grad, param.dtype)
    flat_states = [
        empty((0,), param.dtype) if state is None else flat_view(state) for state in states
    ]
    blocks, threads = grid_stride_launch(param.size)
    launch(
        kernel, flat_view(param), flat_view(grad), *flat_states, *scalars,
        grid=blocks, block=threads,
    )

