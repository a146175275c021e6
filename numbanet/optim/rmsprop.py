"""RMSprop: divide each gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from collections.abc import Iterable

from numbanet.optim.optimizer import Optimizer
from numbanet.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), as ``torch.optim.RMSprop``.

    For each parameter ``p`` with gradient ``g``::

        g = g + weight_decay * p                         (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g * g              running mean of g squared
        if centered:
            a = alpha * a + (1 - alpha) * g              running mean of g
            v_used = v - a * a                           ... so v_used estimates the variance
        else:
            v_used = v
        if momentum > 0:
            b = momentum * b + g / (sqrt(v_used) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (sqrt(v_used) + eps)

    Like Adam without the first-moment average and the bias corrections: each weight's step
    is scaled by the inverse of its recent gradient magnitude.

    The update runs as one fused kernel per parameter (``backend.rmsprop_update``);
    ``state[p]`` holds ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, when momentum
    > 0) and ``grad_avg`` (a, when centered).

    >>> optimizer = numbanet.optim.RMSprop(model.parameters(), lr=0.01)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        self._count_step(state)
        square_avg, _ = self._buffer(state, "square_avg", param)
        momentum_buffer = grad_avg = None
        if group["momentum"] > 0:
            momentum_buffer = self._buffer(state, "momentum_buffer", param)[0]._data
        if group["centered"]:
            grad_avg = self._buffer(state, "grad_avg", param)[0]._data
        param._backend.rmsprop_update(
            param._data, grad._data, square_avg._data, momentum_buffer, grad_avg, group["lr"],
            group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
            group["centered"],
        )
