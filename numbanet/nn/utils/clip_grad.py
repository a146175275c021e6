"""Gradient clipping: keep one bad batch from throwing the weights far away.

Call it between ``loss.backward()`` and ``optimizer.step()``::

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from numbanet.autograd import grad_mode
from numbanet.creation import tensor
from numbanet.tensor import Tensor, stack

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _as_list(tensors) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(values: Tensor, norm_type: float) -> Tensor:
    """The ``norm_type``-norm of all of ``values``' elements: (sum |v|^p)^(1/p); max |v|
    for p = inf, min |v| for p = -inf, the count of nonzeros for p = 0."""
    magnitudes = values.abs()
    if norm_type == math.inf:
        return magnitudes.max()
    if norm_type == -math.inf:
        return magnitudes.min()
    if norm_type == 0:
        return (magnitudes != 0).to(values.dtype).sum()
    if norm_type == 1:
        return magnitudes.sum()
    if norm_type == 2:
        return (magnitudes * magnitudes).sum().sqrt()
    return (magnitudes**norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the norms: ``norm([norm(t) for t in tensors])``, which is the norm of
    all their elements taken together as one long vector."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    with grad_mode.no_grad():
        norms = [_vector_norm(each, norm_type) for each in tensors]
        device = norms[0].device
        total = _vector_norm(stack([each.to(device) for each in norms]), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``::

        total = norm of all the gradients' elements as one vector   (``norm_type``-norm)
        g = g * min(1, max_norm / (total + 1e-6))                   for every gradient g

    The direction of the step is kept, only its length is capped. Returns ``total`` (the
    norm *before* clipping: print it to see how large your gradients are).
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if not grads:
        return total
    with grad_mode.no_grad():
        coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for grad in grads:
            grad.mul_(coefficient.to(grad.device))
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place (unlike
    :func:`clip_grad_norm_`, this can change the step's direction)."""
    clip_value = float(clip_value)
    with grad_mode.no_grad():
        for parameter in _as_list(parameters):
            if parameter.grad is not None:
                parameter.grad.clamp_(min=-clip_value, max=clip_value)
