"""Adam: per-parameter step sizes from running averages of the gradient and its square."""

from __future__ import annotations

from collections.abc import Iterable

from numbanet.optim.optimizer import Optimizer
from numbanet.tensor import Tensor


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), as ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``::

        g = g + weight_decay * p                         (if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g                  running mean of g
        v = beta2 * v + (1 - beta2) * g * g              running mean of g squared
        m_hat = m / (1 - beta1 ** t)                     bias corrections: m and v start at
        v_hat = v / (1 - beta2 ** t)                     zero, which drags early averages down
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    Dividing by ``sqrt(v_hat)`` gives every weight its own step size: a weight whose
    gradients are large and noisy takes small steps, one with small steady gradients takes
    steps of about ``lr``. That is why Adam's default ``lr=1e-3`` works for most models.
    (Weight decay here joins the gradient; AdamW would apply it to ``p`` directly.)

    The update runs as one fused kernel per parameter (``backend.adam_update``);
    ``state[p]`` holds ``step`` (t), ``exp_avg`` (m) and ``exp_avg_sq`` (v).

    >>> optimizer = numbanet.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0):
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
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        step = self._count_step(state)
        exp_avg, _ = self._buffer(state, "exp_avg", param)
        exp_avg_sq, _ = self._buffer(state, "exp_avg_sq", param)
        beta1, beta2 = group["betas"]
        param._backend.adam_update(
            param._data, grad._data, exp_avg._data, exp_avg_sq._data, group["lr"], beta1,
            beta2, group["eps"], group["weight_decay"], step,
        )
