"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm``.

Both rescale activations to mean 0 and variance 1, then let the network learn the scale
(``weight``) and shift (``bias``) it wants back. They differ in *what* they average over:

- batch norm: per channel, over the examples of the batch (and the pixels of an image).
  While training it uses the batch's statistics and keeps running averages of them in
  buffers (``running_mean``, ``running_var``, ``num_batches_tracked``); after
  ``model.eval()`` it uses those averages instead. Forgetting ``model.eval()`` is the
  classic bug: predictions then depend on the other examples in the batch.
- layer norm: per example, over its features. No running statistics, no train/eval
  difference.
"""

from __future__ import annotations

from collections.abc import Sequence

from numbanet import dtypes
from numbanet.autograd import grad_mode
from numbanet.creation import empty, ones, tensor, zeros
from numbanet.nn import functional_norm as F
from numbanet.nn import init
from numbanet.nn.module import Module
from numbanet.nn.parameter import Parameter
from numbanet.tensor import Tensor


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input dims they take.

    Args:
        num_features: C, the channels of an (N, C, ...) input.
        eps: added to the variance before the square root.
        momentum: how far the running statistics move towards each batch's
            (``running = (1 - momentum) * running + momentum * batch``); None: a plain
            cumulative average over all batches seen (momentum = 1 / batches so far).
        affine: learn ``weight`` (starts at 1) and ``bias`` (starts at 0).
        track_running_stats: keep the running buffers and use them in eval mode; False:
            always normalize with the batch's own statistics.
        bias: (keyword only) with ``affine``, learn the shift too; False: scale only.
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device,
                                                       dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=dtypes.int64,
                                                               device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches counted."""
        if self.track_running_stats:
            with grad_mode.no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002 - PyTorch's name
        if input.dim() not in self._expected_dims:
            wanted = " or ".join(f"{dims}D" for dims in self._expected_dims)
            raise ValueError(f"expected {wanted} input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            no_grad, paused = F._bookkeeping()
            with no_grad, paused:
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                average_factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics while training, or always when there are no running ones.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep_running else None,
                            self.running_var if keep_running else None, self.weight,
                            self.bias, use_batch, average_factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C::

        y = (x - mean) / sqrt(var + eps) * weight + bias

    training: mean/var of this batch (over N, and L); eval: the running averages.

    >>> bn = nn.BatchNorm1d(64)          # after nn.Linear(..., 64)
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images, per channel C over N, H and W::

        y = (x - mean) / sqrt(var + eps) * weight + bias

    training: mean/var of this batch; eval: the running averages.

    >>> bn = nn.BatchNorm2d(16)          # after nn.Conv2d(..., 16, ...)
    """

    _expected_dims = (4,)


class LayerNorm(Module):
    """Layer normalization over the last dims (``normalized_shape``) of each example::

        y = (x - mean) / sqrt(var + eps) * weight + bias

    ``weight`` (ones) and ``bias`` (zeros) have ``normalized_shape`` and are learned when
    ``elementwise_affine`` (``bias=False`` drops the bias). The same in train and eval.

    >>> norm = nn.LayerNorm(512)          # over the last dim of (batch, tokens, 512)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = F._as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(empty(*self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(*self.normalized_shape, device=device,
                                            dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
