"""Normalization, embedding and GELU as functions: ``F.batch_norm``, ``F.layer_norm``,
``F.embedding``, ``F.gelu`` (re-exported from ``numbanet.nn.functional``).

Normalization is built from Tensor operations (``mean``, ``var``, ``sqrt``), so autograd
differentiates it through the same steps you would write by hand; the numbers and
gradients are PyTorch's. The layers (``nn.BatchNorm1d/2d``, ``nn.LayerNorm``,
``nn.Embedding``, ``nn.GELU``) hold the parameters and buffers and call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from numbanet import dtypes
from numbanet import trace as _trace
from numbanet.autograd import grad_mode
from numbanet.creation import tensor
from numbanet.errors import op_error
from numbanet.ops.special import Gelu
from numbanet.tensor import Tensor, where

__all__ = ["batch_norm", "embedding", "gelu", "layer_norm"]


def _channel_shape(input: Tensor) -> tuple[int, ...]:  # noqa: A002 - PyTorch's name
    """(1, C, 1, ...): a per-channel vector shaped to broadcast over ``input`` (N, C, ...)."""
    return (1, input.shape[1]) + (1,) * (input.dim() - 2)


def _bookkeeping():
    """``no_grad``, and while a trace records, paused: in-place updates of running
    statistics or weights that are no steps of the model (their kernels join the next op's
    event instead of making loose events of their own)."""
    recording = _trace._active  # the Recorder, if one is recording
    return grad_mode.no_grad(), recording.paused() if recording is not None else nullcontext()


def _moments(input: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:  # noqa: A002
    """``mean``, ``input - mean`` and the biased variance over ``dims`` (kept as size 1)."""
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    return mean, centered, (centered * centered).mean(dims, keepdim=True)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of ``input`` (N, C) or (N, C, ...) over the batch (and the
    spatial positions)::

        y = (x - mean) / sqrt(var + eps) * weight + bias        (per channel c)

    ``training=True``: ``mean`` and ``var`` are this batch's (``var`` the biased one,
    dividing by n), and the running buffers, when given, move towards them::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)

    (the running variance is the *unbiased* estimate, as in PyTorch). ``training=False``:
    ``mean``/``var`` are ``running_mean``/``running_var``, so one example's output does not
    depend on the rest of its batch — the reason to call ``model.eval()`` before testing.
    """
    if input.dim() < 2:
        raise op_error(ValueError, "batch_norm", f"Expected 2D or more input (got "
                       f"{input.dim()}D input)")
    channels = input.shape[1]
    for name, vector in (("running_mean", running_mean), ("running_var", running_var),
                         ("weight", weight), ("bias", bias)):
        if vector is not None and vector.numel() != channels:
            raise op_error(RuntimeError, "batch_norm", f"{name} should contain {channels} "
                           f"elements not {vector.numel()}")
    shape = _channel_shape(input)
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise op_error(ValueError, "batch_norm", "Expected more than 1 value per channel "
                           f"when training, got input size {input.size()}")
        mean, centered, var = _moments(input, (0, *range(2, input.dim())))
        if running_mean is not None and running_var is not None:
            no_grad, paused = _bookkeeping()
            with no_grad, paused:
                flat_mean = mean.detach().reshape(channels)
                unbiased = var.detach().reshape(channels) * (count / (count - 1))
                running_mean.copy_(running_mean * (1 - momentum) + flat_mean * momentum)
                running_var.copy_(running_var * (1 - momentum) + unbiased * momentum)
        out = centered / (var + eps).sqrt()
    else:
        if running_mean is None or running_var is None:
            raise op_error(RuntimeError, "batch_norm", "running_mean and running_var must be "
                           "defined in evaluation mode (pass training=True to use the "
                           "batch's statistics)")
        out = (input - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each example over its last ``len(normalized_shape)`` dims::

        y = (x - mean) / sqrt(var + eps) * weight + bias

    with ``mean`` and the biased ``var`` taken over those dims, separately for every
    example (and every position of a sequence): no batch statistics, so training and
    evaluation compute the same thing. ``weight`` and ``bias`` have ``normalized_shape``.
    """
    normalized_shape = _as_shape(normalized_shape)
    trailing = tuple(input.shape[input.dim() - len(normalized_shape):])
    if input.dim() < len(normalized_shape) or trailing != normalized_shape:
        expected = ", ".join(str(size) for size in normalized_shape)
        raise op_error(RuntimeError, "layer_norm", f"Given normalized_shape="
                       f"{list(normalized_shape)}, expected input with shape [*, {expected}], "
                       f"but got input of size{input.size()}")
    for name, vector in (("weight", weight), ("bias", bias)):
        if vector is not None and tuple(vector.shape) != normalized_shape:
            raise op_error(RuntimeError, "layer_norm", f"Expected {name} to be of same shape "
                           f"as normalized_shape, but got {name} of shape {vector.size()} and "
                           f"normalized_shape = {list(normalized_shape)}")
    _, centered, var = _moments(input, tuple(range(input.dim() - len(normalized_shape),
                                                   input.dim())))
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _as_shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(size) for size in shape)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, embedding_dim) by index::

        out[..., :] = weight[input[...], :]

    which is a one-hot vector times ``weight``, without building the one-hots.

    Gradient: row i of weight receives the sum of the output gradients of every position
    whose index is i (rows nobody looked up get 0); the ``padding_idx`` row gets none, so
    it never learns; ``scale_grad_by_freq`` divides each row's gradient by how often its
    index occurs in ``input``. ``max_norm``: before the lookup, every looked-up row whose
    ``norm_type``-norm exceeds it is rescaled in place to norm ``max_norm``.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    if input.dtype not in (dtypes.int64, dtypes.int32):
        raise op_error(RuntimeError, "embedding", "Expected tensor for argument #1 'indices' "
                       "to have one of the following scalar types: Long, Int; but got "
                       f"{input.type()} instead (while checking arguments for embedding)")
    if weight.dim() != 2:
        raise op_error(RuntimeError, "embedding", "'weight' must be 2-D")
    if sparse:
        raise op_error(NotImplementedError, "embedding", "sparse=True asks for a sparse "
                       "gradient, which numbanet does not have; use sparse=False (a dense "
                       "gradient, the same numbers)")
    rows = weight.shape[0]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += rows
        if not 0 <= padding_idx < rows:
            raise AssertionError("Padding_idx must be within num_embeddings")
    indices = np.asarray(input)
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        raise op_error(IndexError, "embedding", "index out of range in self")
    if max_norm is not None:
        _renorm_rows(weight, np.unique(indices), max_norm, norm_type)
    out = weight[input]
    if not grad_mode.is_grad_enabled() or not weight.requires_grad:
        return out
    if scale_grad_by_freq:
        # out_d + (out - out_d) * s has out's value exactly and gradient s per position.
        values, inverse, counts = np.unique(indices, return_inverse=True, return_counts=True)
        del values
        scale = tensor((1.0 / counts)[inverse.reshape(indices.shape)], dtype=out.dtype,
                       device=out.device).unsqueeze(-1)
        fixed = out.detach()
        out = fixed + (out - fixed) * scale
    if padding_idx is not None:
        keep = (input != padding_idx).unsqueeze(-1)
        out = where(keep, out, out.detach())
    return out


def _renorm_rows(weight: Tensor, indices: np.ndarray, max_norm: float,
                 norm_type: float) -> None:
    """Scale rows ``indices`` of ``weight`` in place to norm ``max_norm`` where it is
    exceeded (PyTorch's ``embedding_renorm_``: scale = max_norm / (norm + 1e-7))."""
    no_grad, paused = _bookkeeping()
    with no_grad, paused:
        index = tensor(indices, dtype=dtypes.int64, device=weight.device)
        rows = weight[index]
        norms = (rows.abs() ** norm_type).sum(1, keepdim=True) ** (1.0 / norm_type)
        scale = where(norms > max_norm, max_norm / (norms + 1e-7), norms * 0 + 1)
        weight[index] = rows * scale


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """Gaussian Error Linear Unit: ``x * Phi(x)``, Phi the standard normal CDF::

        approximate='none':  y = x / 2 * (1 + erf(x / sqrt(2)))
        approximate='tanh':  y = x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))

    A smooth ReLU: near x for large x, near 0 for very negative x, slightly negative in
    between (the activation of BERT and GPT).
    """
    if approximate not in ("none", "tanh"):
        raise op_error(RuntimeError, "gelu", "approximate argument must be either none or "
                       "tanh.")
    if not input.is_floating_point():
        raise op_error(RuntimeError, "gelu", f'"GeluKernelImpl" not implemented for '
                       f"'{dtypes.scalar_type_name(input.dtype)}'")
    return Gelu.apply(input, approximate)
