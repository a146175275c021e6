"""Learning-rate schedules: change ``group["lr"]`` of an optimizer as training goes on.

A schedule is stepped once per epoch, *after* the optimizer::

    scheduler = StepLR(optimizer, step_size=10, gamma=0.1)
    for epoch in range(30):
        train_one_epoch()              # calls optimizer.step() many times
        scheduler.step()               # lr: 0.1 for epochs 0-9, 0.01 for 10-19, ...

Stepping the scheduler before the first ``optimizer.step()`` skips the first value of the
schedule; numbanet warns about it as PyTorch does.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from typing import Any

from numbanet.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the learning rates after one more step.

    ``base_lrs`` are the groups' ``initial_lr`` (their ``lr`` when the schedule started) and
    ``last_epoch`` counts the calls to :meth:`step` (0 after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in "
                                   f"param_groups[{index}] when resuming an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr")

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as set by the last :meth:`step`."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one epoch (or jump to ``epoch``) and set the groups' lr."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`. You should "
                "call them in the opposite order: `optimizer.step()` before "
                "`lr_scheduler.step()`. Failure to do this will result in skipping the first "
                "value of the learning rate schedule.", UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            learning_rates = self.get_lr()
        else:
            self.last_epoch = epoch
            learning_rates = self._closed_form_lr()
        for group, learning_rate in zip(self.optimizer.param_groups, learning_rates,
                                        strict=True):
            group["lr"] = learning_rate
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        """The learning rates at ``last_epoch`` computed from ``base_lrs`` directly."""
        return self.get_lr()

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (save that with ``optimizer.state_dict()``)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs::

        lr(epoch) = initial_lr * gamma ** (epoch // step_size)

    >>> scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    >>> # lr = 0.05 for epochs 0-29, 0.005 for 30-59, 0.0005 for 60-89, ...
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # Chainable form: scale the current lr at each boundary, so another scheduler may
        # change the same groups too.
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


def _track_optimizer_steps(optimizer: Optimizer) -> None:
    """Wrap ``optimizer.step`` so it sets ``optimizer._opt_called`` (for the order warning)."""
    if getattr(optimizer.step, "_tracked_by_lr_scheduler", False):
        return
    step = type(optimizer).step
    optimizer_reference = weakref.ref(optimizer)  # no cycle optimizer -> wrapper -> optimizer

    @functools.wraps(step)
    def tracked_step(*args, **kwargs):
        instance = optimizer_reference()
        instance._opt_called = True
        return step(instance, *args, **kwargs)

    tracked_step._tracked_by_lr_scheduler = True
    optimizer.step = tracked_step


from numbanet.optim.schedulers import (  # noqa: E402 - they subclass LRScheduler, defined above
    CosineAnnealingLR,
    ExponentialLR,
    OneCycleLR,
    ReduceLROnPlateau,
)

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "OneCycleLR",
           "ReduceLROnPlateau", "StepLR"]
