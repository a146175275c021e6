"""``TensorUpdateOptimizer``: the base of optimizers whose update is written as Tensor
operations (AdamW, Adagrad, Adadelta) rather than as one fused kernel.

Those operations are the optimizer's own bookkeeping, not steps of the model: while a
trace records, they run paused, so the trace shows one optimizer event (with their
kernels) instead of a dozen loose forward ops before it.
"""

from __future__ import annotations

from contextlib import nullcontext

from numbanet import trace as _trace
from numbanet.optim.optimizer import Optimizer
from numbanet.tensor import Tensor


class TensorUpdateOptimizer(Optimizer):
    """Subclasses define ``_tensor_update(param, grad, state, group)``: in-place Tensor
    operations (``param.add_(...)``), run under ``no_grad`` by ``step``."""

    def _update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        recording = _trace._active  # the Recorder, if one is recording
        with recording.paused() if recording is not None else nullcontext():
            self._tensor_update(param, grad, state, group)

    def _tensor_update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _tensor_update")
