"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable

from numbanet.optim.optimizer import Optimizer
from numbanet.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g`` at step ``t``::

        g = g + weight_decay * p                         (if weight_decay != 0)
        if momentum != 0:
            b = g                                        (t = 1: the buffer starts at g)
            b = momentum * b + (1 - dampening) * g       (t > 1)
            g = g + momentum * b    if nesterov   else   g = b
        p = p - lr * g

    Plain SGD steps straight down the gradient. Momentum keeps ``b``, a running sum of past
    gradients that decays by ``momentum`` each step: directions the gradients agree on
    build up speed, directions where they flip sign cancel out. Nesterov momentum looks one
    step ahead along ``b``. Weight decay adds ``weight_decay * p`` to the gradient — the
    gradient of an L2 penalty ``weight_decay / 2 * |p|^2`` that pulls weights toward zero.

    The update runs as one fused kernel per parameter (``backend.sgd_update``);
    ``state[p]["momentum_buffer"]`` holds ``b`` when momentum is used.

    >>> optimizer = numbanet.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        momentum = group["momentum"]
        buffer_data, first_step = None, False
        if momentum != 0:
            buffer, first_step = self._buffer(state, "momentum_buffer", param)
            buffer_data = buffer._data
        param._backend.sgd_update(
            param._data, grad._data, buffer_data, group["lr"], momentum, group["dampening"],
            group["nesterov"], group["weight_decay"], first_step,
        )
