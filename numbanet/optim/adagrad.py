"""Adagrad: each weight's step shrinks with the sum of all its squared gradients so far."""

from __future__ import annotations

from collections.abc import Iterable

from numbanet.creation import full_like, tensor
from numbanet.optim.tensor_update import TensorUpdateOptimizer
from numbanet.tensor import Tensor


class Adagrad(TensorUpdateOptimizer):
    """Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``::

        g = -g                                           (if maximize)
        g = g + weight_decay * p                         (if weight_decay != 0)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                                    every squared gradient, summed
        p = p - lr_t * g / (sqrt(s) + eps)

    Weights that have seen large gradients take small steps, rarely-updated weights
    (rare words' embeddings) keep large ones. Since ``s`` only grows, the steps shrink
    forever — what RMSprop and Adadelta fix by averaging instead of summing.

    ``s`` starts at ``initial_accumulator_value``; the state (``step``, ``sum``) is made
    at construction, as in PyTorch. The update runs as Tensor operations under ``no_grad``.

    >>> optimizer = numbanet.optim.Adagrad(model.parameters(), lr=0.01)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                state = self.state[param]
                state["step"] = tensor(0.0)
                state["sum"] = full_like(param, group["initial_accumulator_value"])

    def _tensor_update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        step = self._count_step(state)
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        learning_rate = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum.add_(grad * grad)
        std = state_sum.sqrt() + group["eps"]
        param.add_(grad / std, alpha=-learning_rate)
