"""Fused optimizer updates: one pass over a parameter and its state, in place.

Each kernel applies PyTorch's update rule (``torch.optim.SGD``, ``Adam``, ``RMSprop``)
element by element. Written as separate array operations an Adam step would read and
write each array several times; fused, it reads every element once and writes it once.
Every element's update is independent of the others, so large parameters are split
across cores (:class:`~numbanet.kernels.cpu.threads.OnThreads`).

Hyperparameters are converted to the parameter's dtype before the kernel runs (complements
such as ``1 - beta1`` are computed first, in double precision), so a float32 model is
updated in float32 arithmetic with the same constants as PyTorch. Arrays are updated in
place through flat views, which is why they must be C-contiguous.
"""

import math

import numpy as np
from numba import get_num_threads, njit

from numbanet.kernels.cpu.threads import OnThreads, caller_started, share

# elements from which a second thread pays: a share reaches a spinning worker in
# microseconds (numbanet/kernels/cpu/threads.py)
PARALLEL_THRESHOLD = 1 << 16


def _parts(size: int) -> int:
    """How many threads update a parameter of ``size`` elements."""
    return get_num_threads() if size >= PARALLEL_THRESHOLD else 1


@njit(cache=True, inline="always", error_model="numpy")
def lerp(start, end, weight):
    """``start + weight * (end - start)``, evaluated as PyTorch's ``lerp`` does (from the
    nearer end, so the result is exact at weight 0 and 1)."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


@njit(cache=True, inline="always", error_model="numpy")
def sgd_element(param, grad, buffer, i, lr, momentum, one_minus_dampening, nesterov,
                weight_decay, first_step):
    """SGD for element ``i``:

    ``g = grad + weight_decay * param``;
    with momentum, ``buf = g`` on the first step, else ``buf = momentum * buf +
    (1 - dampening) * g``, and the step direction is ``g + momentum * buf`` (Nesterov)
    or ``buf``; finally ``param -= lr * direction``.
    """
    g = grad[i]
    if weight_decay != 0:
        g = g + weight_decay * param[i]
    if momentum != 0:
        if first_step:
            b = g
        else:
            b = momentum * buffer[i] + one_minus_dampening * g
        buffer[i] = b
        g = g + momentum * b if nesterov else b
    param[i] = param[i] - lr * g


@njit(cache=True, nogil=True, error_model="numpy")
def sgd_kernel(param, grad, buffer, lr, momentum, one_minus_dampening, nesterov,
               weight_decay, first_step, caller, part, parts):
    """:func:`sgd_element` for share ``part`` of ``parts`` of the elements of the flat
    arrays (all of them when ``parts`` is 1; :class:`OnThreads` runs the shares on several
    threads at once). Each share is a slice of its own, looped from 0 so that LLVM
    vectorises it as it would the whole array."""
    caller_started(caller, part)
    start, stop = share(param.size, part, parts)
    param, grad = param[start:stop], grad[start:stop]
    buffer = buffer[start:stop] if buffer.size else buffer
    for i in range(param.size):
        sgd_element(param, grad, buffer, i, lr, momentum, one_minus_dampening, nesterov,
                    weight_decay, first_step)


@njit(cache=True, inline="always", error_model="numpy")
def adam_element(param, grad, exp_avg, exp_avg_sq, i, step_size, one_minus_beta1, beta2,
                 one_minus_beta2, eps, weight_decay, bias_correction2_sqrt):
    """Adam for element ``i`` (``t`` = step count, from 1):

    ``g = grad + weight_decay * param``;
    ``m = beta1 * m + (1 - beta1) * g`` (first moment, written ``m + (1 - beta1)(g - m)``
    as PyTorch's ``lerp``); ``v = beta2 * v + (1 - beta2) * g^2`` (second moment);
    ``param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.
    The two ``1 - beta^t`` factors undo the bias of m and v towards their zero start.
    """
    g = grad[i]
    if weight_decay != 0:
        g = g + weight_decay * param[i]
    m = lerp(exp_avg[i], g, one_minus_beta1)
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    denominator = math.sqrt(v) / bias_correction2_sqrt + eps
    param[i] = param[i] - step_size * (m / denominator)


@njit(cache=True, nogil=True, error_model="numpy")
def adam_kernel(param, grad, exp_avg, exp_avg_sq, step_size, one_minus_beta1, beta2,
                one_minus_beta2, eps, weight_decay, bias_correction2_sqrt, caller, part,
                parts):
    """:func:`adam_element` for share ``part`` of ``parts`` of the elements of the flat
    arrays, as :func:`sgd_kernel`."""
    caller_started(caller, part)
    start, stop = share(param.size, part, parts)
    param, grad = param[start:stop], grad[start:stop]
    exp_avg, exp_avg_sq = exp_avg[start:stop], exp_avg_sq[start:stop]
    for i in range(param.size):
        adam_element(param, grad, exp_avg, exp_avg_sq, i, step_size, one_minus_beta1, beta2,
                     one_minus_beta2, eps, weight_decay, bias_correction2_sqrt)


@njit(cache=True, inline="always", error_model="numpy")
def rmsprop_element(param, grad, square_avg, buffer, grad_avg, i, lr, alpha,
                    one_minus_alpha, eps, weight_decay, momentum, centered):
    """RMSprop for element ``i``:

    ``g = grad + weight_decay * param``; ``s = alpha * s + (1 - alpha) * g^2``;
    ``avg = sqrt(s) + eps``, or, centered, ``a = alpha * a + (1 - alpha) * g`` and
    ``avg = sqrt(s - a^2) + eps`` (the variance instead of the raw second moment);
    with momentum ``buf = momentum * buf + g / avg`` and ``param -= lr * buf``,
    without it ``param -= lr * g / avg``.
    """
    g = grad[i]
    if weight_decay != 0:
        g = g + weight_decay * param[i]
    s = square_avg[i] * alpha + one_minus_alpha * g * g
    square_avg[i] = s
    if centered:
        a = lerp(grad_avg[i], g, one_minus_alpha)
        grad_avg[i] = a
        avg = math.sqrt(s - a * a) + eps
    else:
        avg = math.sqrt(s) + eps
    if momentum > 0:
        b = buffer[i] * momentum + g / avg
        buffer[i] = b
        param[i] = param[i] - lr * b
    else:
        param[i] = param[i] - lr * (g / avg)


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_kernel(param, grad, square_avg, buffer, grad_avg, lr, alpha, one_minus_alpha,
                   eps, weight_decay, momentum, centered, caller, part, parts):
    """:func:`rmsprop_element` for share ``part`` of ``parts`` of the elements of the flat
    arrays, as :func:`sgd_kernel`."""
    caller_started(caller, part)
    start, stop = share(param.size, part, parts)
    param, grad, square_avg = param[start:stop], grad[start:stop], square_avg[start:stop]
    buffer = buffer[start:stop] if buffer.size else buffer
    grad_avg = grad_avg[start:stop] if grad_avg.size else grad_avg
    for i in range(param.size):
        rmsprop_element(param, grad, square_avg, buffer, grad_avg, i, lr, alpha,
                        one_minus_alpha, eps, weight_decay, momentum, centered)


sgd_on_threads = OnThreads(sgd_kernel)
adam_on_threads = OnThreads(adam_kernel)
rmsprop_on_threads = OnThreads(rmsprop_kernel)


def _flat(name: str, array: np.ndarray, param: np.ndarray) -> np.ndarray:
    """``array`` as a flat, writable view, after checking it can be updated in place."""
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous to be updated in place")
    if array.shape != param.shape or array.dtype != param.dtype:
        raise ValueError(f"{name} has shape {array.shape} and dtype {array.dtype}; expected "
                         f"the parameter's {param.shape} and {param.dtype}")
    return array.reshape(-1)


def _flat_param(param: np.ndarray) -> np.ndarray:
    if not param.flags.c_contiguous:
        raise ValueError("the parameter must be C-contiguous to be updated in place")
    if param.dtype.kind != "f":
        raise ValueError(f"optimizers update floating-point parameters, got {param.dtype}")
    return param.reshape(-1)


def _flat_grad(grad: np.ndarray, param: np.ndarray) -> np.ndarray:
    """The gradient read as a flat array of the parameter's dtype (a copy only if needed)."""
    if grad.shape == param.shape and grad.dtype == param.dtype and grad.flags.c_contiguous:
        return grad.reshape(-1)  # the usual case, without broadcast_to's 5 us
    # else a copy: writable, as the usual case, so that each kernel compiles once
    return np.array(np.broadcast_to(grad, param.shape), dtype=param.dtype, order="C").reshape(-1)


def _unused_state(param: np.ndarray) -> np.ndarray:
    """A stand-in for an optional state array that this configuration never reads."""
    return np.empty(0, dtype=param.dtype)


def sgd_update(param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray | None,
               lr: float, momentum: float, dampening: float, nesterov: bool,
               weight_decay: float, first_step: bool) -> None:
    """One ``torch.optim.SGD`` step, in place on ``param`` (and ``momentum_buffer``).

    ``momentum_buffer`` may be None only when ``momentum == 0``; on ``first_step`` it is
    set to the (weight-decayed) gradient, as PyTorch does.
    """
    flat_param = _flat_param(param)
    if momentum != 0:
        if momentum_buffer is None:
            raise ValueError("sgd_update with momentum needs a momentum_buffer")
        buffer = _flat("momentum_buffer", momentum_buffer, param)
    else:
        buffer = _unused_state(param)
    sgd_on_threads.run(_parts(param.size), flat_param, _flat_grad(grad, param), buffer,
                       *sgd_scalars(param.dtype, lr, momentum, dampening, nesterov,
                                    weight_decay, first_step))


def sgd_scalars(dtype: np.dtype, lr: float, momentum: float, dampening: float,
                nesterov: bool, weight_decay: float, first_step: bool) -> tuple:
    """The numbers :func:`sgd_kernel` gets after its three arrays, in the parameter's
    dtype (a replayed step computes them here too)."""
    scalar = dtype.type
    return (scalar(lr), scalar(momentum), scalar(1 - dampening), bool(nesterov),
            scalar(weight_decay), bool(first_step))


def adam_update(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray,
                exp_avg_sq: np.ndarray, lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, step: int) -> None:
    """One ``torch.optim.Adam`` step (``step`` counts from 1), in place on ``param``,
    ``exp_avg`` and ``exp_avg_sq``.

    The bias corrections are computed once here, in double precision, as PyTorch does.
    """
    if step < 1:
        raise ValueError(f"adam_update: step counts from 1, got {step}")
    flat_param = _flat_param(param)
    first = _flat("exp_avg", exp_avg, param)
    second = _flat("exp_avg_sq", exp_avg_sq, param)
    adam_on_threads.run(_parts(param.size), flat_param, _flat_grad(grad, param), first,
                        second, *adam_scalars(param.dtype, lr, beta1, beta2, eps,
                                              weight_decay, step))


def adam_scalars(dtype: np.dtype, lr: float, beta1: float, beta2: float, eps: float,
                 weight_decay: float, step: int) -> tuple:
    """The numbers :func:`adam_kernel` gets after its four arrays for step ``step``, in the
    parameter's dtype: the bias corrections computed in double precision first, as PyTorch
    does (a replayed step computes them here too)."""
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    scalar = dtype.type
    return (scalar(step_size), scalar(1 - beta1), scalar(beta2), scalar(1 - beta2),
            scalar(eps), scalar(weight_decay), scalar(bias_correction2_sqrt))


def rmsprop_update(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray,
                   momentum_buffer: np.ndarray | None, grad_avg: np.ndarray | None,
                   lr: float, alpha: float, eps: float, weight_decay: float,
                   momentum: float, centered: bool) -> None:
    """One ``torch.optim.RMSprop`` step, in place on ``param`` and its state.

    ``momentum_buffer`` is needed when ``momentum > 0``, ``grad_avg`` when ``centered``.
    """
    flat_param = _flat_param(param)
    squares = _flat("square_avg", square_avg, param)
    if momentum > 0:
        if momentum_buffer is None:
            raise ValueError("rmsprop_update with momentum needs a momentum_buffer")
        buffer = _flat("momentum_buffer", momentum_buffer, param)
    else:
        buffer = _unused_state(param)
    if centered:
        if grad_avg is None:
            raise ValueError("rmsprop_update with centered=True needs grad_avg")
        average = _flat("grad_avg", grad_avg, param)
    else:
        average = _unused_state(param)
    scalar = param.dtype.type
    rmsprop_on_threads.run(_parts(param.size), flat_param, _flat_grad(grad, param), squares,
                           buffer, average, scalar(lr), scalar(alpha), scalar(1 - alpha),
                           scalar(eps), scalar(weight_decay), scalar(momentum),
                           bool(centered))
