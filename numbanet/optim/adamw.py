"""AdamW: Adam with the weight decay applied to the weights directly ("decoupled")."""

from __future__ import annotations

import math
from collections.abc import Iterable

from numbanet.optim.tensor_update import TensorUpdateOptimizer
from numbanet.tensor import Tensor


class AdamW(TensorUpdateOptimizer):
    """AdamW (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``::

        g = -g                                           (if maximize)
        p = p * (1 - lr * weight_decay)                  decay the weight itself
        m = beta1 * m + (1 - beta1) * g                  running mean of g
        v = beta2 * v + (1 - beta2) * g * g              running mean of g squared
        v_max = max(v_max, v); use v_max for v           (if amsgrad)
        p = p - lr / (1 - beta1 ** t) * m / (sqrt(v) / sqrt(1 - beta2 ** t) + eps)

    Adam with ``weight_decay`` adds ``weight_decay * p`` to the gradient, where it is then
    divided by ``sqrt(v)`` like the rest, so weights with large gradients barely decay.
    AdamW shrinks every weight by the same factor instead, which regularizes as intended;
    hence its non-zero default ``weight_decay=1e-2``.

    The update runs as plain Tensor operations under ``no_grad`` (no fused kernel);
    ``state[p]`` holds ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and with amsgrad
    ``max_exp_avg_sq``.

    >>> optimizer = numbanet.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)

    def _tensor_update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        step = self._count_step(state)
        exp_avg, _ = self._buffer(state, "exp_avg", param)
        exp_avg_sq, _ = self._buffer(state, "exp_avg_sq", param)
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        if group["maximize"]:
            grad = -grad
        param.mul_(1 - lr * group["weight_decay"])
        exp_avg.add_(grad - exp_avg, alpha=1 - beta1)  # PyTorch's lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            max_exp_avg_sq, _ = self._buffer(state, "max_exp_avg_sq", param)
            max_exp_avg_sq.copy_(max_exp_avg_sq.maximum(exp_avg_sq))
            second_moment = max_exp_avg_sq
        denominator = second_moment.sqrt() / bias_correction2_sqrt + group["eps"]
        param.add_(exp_avg / denominator, alpha=-(lr / bias_correction1))
