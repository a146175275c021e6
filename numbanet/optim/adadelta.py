"""Adadelta: step sizes from running averages of squared gradients *and* squared steps."""

from __future__ import annotations

from collections.abc import Iterable

from numbanet.optim.tensor_update import TensorUpdateOptimizer
from numbanet.tensor import Tensor


class Adadelta(TensorUpdateOptimizer):
    """Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    For each parameter ``p`` with gradient ``g``::

        g = -g                                           (if maximize)
        g = g + weight_decay * p                         (if weight_decay != 0)
        v = rho * v + (1 - rho) * g * g                  running mean of g squared
        delta = sqrt(u + eps) / sqrt(v + eps) * g        the step, in the weights' units
        u = rho * u + (1 - rho) * delta * delta          running mean of steps squared
        p = p - lr * delta

    The ratio ``sqrt(u) / sqrt(v)`` makes the step carry the units of the weight (not of
    the gradient), so the default ``lr=1.0`` needs no tuning: pytorch/examples' MNIST
    trains with ``Adadelta(model.parameters(), lr=1.0)``.

    The update runs as Tensor operations under ``no_grad``; ``state[p]`` holds ``step``,
    ``square_avg`` (v) and ``acc_delta`` (u).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1.0,
                 rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _tensor_update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        self._count_step(state)
        square_avg, _ = self._buffer(state, "square_avg", param)
        acc_delta, _ = self._buffer(state, "acc_delta", param)
        rho, eps = group["rho"], group["eps"]
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        square_avg.mul_(rho).add_(grad * grad, alpha=1 - rho)
        std = (square_avg + eps).sqrt()
        delta = (acc_delta + eps).sqrt() / std * grad
        acc_delta.mul_(rho).add_(delta * delta, alpha=1 - rho)
        param.add_(delta, alpha=-group["lr"])
