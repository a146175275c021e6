"""``numbanet.nn.functional`` (``F``): the layers and losses as plain functions.

``F.relu(x)``, ``F.conv2d(x, weight, bias)``, ``F.cross_entropy(logits, labels)`` ... take
every tensor they use as an argument and keep no state; the modules in ``numbanet.nn``
hold the weights and call these. Each function checks its arguments — shapes, dtypes,
devices — and raises an error naming the op, the problem and the line of your code, then
applies one ``Function`` from ``numbanet/ops`` (where the formulas and gradients are) or
composes tensor operations.
"""

from __future__ import annotations

import warnings

import numpy as np

from numbanet import dtypes
from numbanet.autograd import Function, grad_mode
from numbanet.creation import arange, from_numpy
from numbanet.errors import op_error
from numbanet.nn.functional_norm import batch_norm, embedding, gelu, layer_norm  # noqa: F401
from numbanet.ops import matmul as matmul_ops
from numbanet.ops import neural
from numbanet.shapes import normalize_dim
from numbanet.tensor import Tensor, where

REDUCTIONS = ("mean", "sum", "none")

# ---- activations -----------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - PyTorch's names
    """max(0, x) elementwise. ``inplace`` is accepted for compatibility; numbanet always
    returns a new tensor (in-place ops would cut the graph autograd needs)."""
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    return where(input > 0, input, input * negative_slope)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + e^-x) elementwise."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """tanh(x) elementwise."""
    return input.tanh()


def _softmax_dim(op: str, input: Tensor, dim: int | None) -> int:  # noqa: A002
    """The dim to normalise along; PyTorch's legacy guess (with its warning) when None."""
    if not input.is_floating_point():
        raise op_error(RuntimeError, op, f"{op} needs a floating point input, got "
                       f"{input.dtype}: convert it first with .float()")
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the "
                      "call to include dim=X as an argument.", stacklevel=3)
        return 0 if input.dim() in (0, 1, 3) else 1
    return normalize_dim(dim, input.dim(), op)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype=None) -> Tensor:
    """e^x_i / sum_j e^x_j along ``dim``: each slice becomes a probability distribution."""
    if dtype is not None:
        input = input.to(dtype)  # noqa: A001
    return neural.Softmax.apply(input, _softmax_dim("softmax", input, dim))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably (never log of a rounded-off 0)."""
    if dtype is not None:
        input = input.to(dtype)  # noqa: A001
    return neural.LogSoftmax.apply(input, _softmax_dim("log_softmax", input, dim))


# ---- linear and convolution ------------------------------------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           *, layer=None) -> Tensor:
    """input @ weight^T + bias: weight has shape (out_features, in_features).

    As in PyTorch, with a bias this is one ``addmm`` (backward node ``AddmmBackward0``, its
    weight input coming through ``TBackward0``); inputs with more than two dims are
    flattened to rows first and the result viewed back. ``layer``: the calling module,
    named in error messages.
    """
    _same_device(layer if layer is not None else "linear", input, weight, bias)
    if (bias is None or input.dim() < 2 or weight.dim() != 2 or bias.dim() != 1
            or input.shape[-1] != weight.shape[1] or bias.shape[0] != weight.shape[0]
            or not input._data.dtype == weight._data.dtype == bias._data.dtype):  # or matmul's
        out = input @ weight.t()
        return out if bias is None else out + bias
    if input.dim() == 2:
        return matmul_ops.Addmm.apply(bias, input, weight.t())
    rows = input.reshape(-1, input.shape[-1])
    out = matmul_ops.Addmm.apply(bias, rows, weight.t())
    return out.view(*input.shape[:-1], weight.shape[0])


def _pair(value, name: str) -> tuple[int, int]:
    """An int or an (h, w) pair as a pair of ints."""
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) == 1:
        return int(pair[0]), int(pair[0])
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def conv_padding(padding, kernel_size: tuple[int, int],
                 stride: tuple[int, int]) -> tuple[int, int]:
    """Padding as a pair of ints; ``"valid"`` is none, ``"same"`` keeps H and W (stride 1)."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        if any(k % 2 == 0 for k in kernel_size):
            raise NotImplementedError("numbanet pads symmetrically: padding='same' needs an "
                                      f"odd kernel size, got {kernel_size}")
        return kernel_size[0] // 2, kernel_size[1] // 2
    if isinstance(padding, str):
        raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                         "{'valid', 'same'}")
    return _pair(padding, "padding")


def _check_unsupported(op: str, dilation, groups: int = 1) -> None:
    if _pair(dilation, "dilation") != (1, 1) or groups != 1:
        raise NotImplementedError(f"{op}: numbanet supports dilation=1 and groups=1 only "
                                  f"(got dilation={dilation}, groups={groups})")


def _same_device(op, input: Tensor, weight: Tensor,  # noqa: A002
                 other: Tensor | None, other_name: str = "bias") -> None:
    """``op``: the op's name, or the calling module (its repr is made only for an error)."""
    for name, tensor in (("weight", weight), (other_name, other)):
        if tensor is not None and tensor._backend is not input._backend:  # (the device)
            op = op if isinstance(op, str) else repr(op)
            raise op_error(RuntimeError, op, f"Input type ({input.type()}) and {name} type "
                           f"({tensor.type()}) should be the same: input is on "
                           f"{input.device}, {name} on {tensor.device}. Move the model and "
                           "the data to one device: model.to(device), x = x.to(device)")


def _same_device_and_dtype(op: str, input: Tensor, weight: Tensor,  # noqa: A002
                           other: Tensor | None, other_name: str = "bias") -> None:
    _same_device(op, input, weight, other, other_name)
    for name, tensor in (("weight", weight), (other_name, other)):
        if tensor is None:
            continue
        if tensor.dtype != input.dtype:
            raise op_error(RuntimeError, op, f"Input type ({input.type()}) and {name} type "
                           f"({tensor.type()}) should be the same: convert the input with "
                           f"x.to({tensor.dtype}) (or the model with model.to(x.dtype))")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride=1, padding=0, dilation=1, groups: int = 1, *, layer=None) -> Tensor:
    """2-D cross-correlation of ``input`` (N, C, H, W) — or (C, H, W) — with ``weight``
    (O, C, KH, KW), plus ``bias`` (O,). Output (N, O, OH, OW) with
    OH = (H + 2 * padding - KH) // stride + 1.

    ``layer``: the calling module, named in error messages.
    """
    op = repr(layer) if layer is not None else "conv2d"
    _check_unsupported(op, dilation, groups)
    kernel_size = tuple(weight.shape[2:])
    stride = _pair(stride, "stride")
    arguments = f"input {tuple(input.shape)}, weight {tuple(weight.shape)}"
    if min(stride) <= 0:
        raise op_error(RuntimeError, op, f"non-positive stride is not supported: got "
                       f"stride={stride} for {arguments}. The stride is how far the kernel "
                       "moves between outputs: 1 or more")
    padding = conv_padding(padding, kernel_size, stride)
    if min(padding) < 0:
        raise op_error(RuntimeError, op, f"negative padding is not supported: got "
                       f"padding={padding} for {arguments}. To crop the input, slice it: "
                       "x[:, :, 1:-1, 1:-1]")
    if input.dim() not in (3, 4):
        raise op_error(RuntimeError, op, f"Expected 3D (unbatched) or 4D (batched) input to "
                       f"conv2d, but got input of size: {list(input.shape)}. Images are "
                       "(N, C, H, W): reshape flat rows with x.view(-1, C, H, W)")
    _same_device_and_dtype(op, input, weight, bias)
    unbatched = input.dim() == 3
    batch = input.unsqueeze(0) if unbatched else input
    channels, expected = batch.shape[1], weight.shape[1]
    if channels != expected:
        raise op_error(RuntimeError, op, f"Given groups=1, weight of size "
                       f"{list(weight.shape)}, expected input{list(batch.shape)} to have "
                       f"{expected} channels, but got {channels} channels instead. This layer "
                       f"expects inputs of shape (N, {expected}, H, W) and received "
                       f"{tuple(batch.shape)}: check in_channels against the channels of "
                       "your data (or the previous layer's out_channels)")
    padded = (batch.shape[2] + 2 * padding[0], batch.shape[3] + 2 * padding[1])
    if padded[0] < kernel_size[0] or padded[1] < kernel_size[1]:
        raise op_error(RuntimeError, op, f"Calculated padded input size per channel: "
                       f"({padded[0]} x {padded[1]}). Kernel size: ({kernel_size[0]} x "
                       f"{kernel_size[1]}). Kernel size can't be greater than actual input "
                       f"size (input {tuple(batch.shape)}: was it pooled too often?)")
    out = neural.Conv2d.apply(batch, weight, bias, stride, padding)
    return out.squeeze(0) if unbatched else out


# ---- pooling ---------------------------------------------------------------------------------


def _pool_input(op: str, input: Tensor) -> tuple[Tensor, bool]:  # noqa: A002
    """(input as 4-D, whether it was unbatched 3-D)."""
    if input.dim() not in (3, 4):
        raise op_error(RuntimeError, op, f"Expected 3D or 4D (batch mode) tensor for input, "
                       f"got {list(input.shape)}")
    return (input.unsqueeze(0), True) if input.dim() == 3 else (input, False)


def _pool_geometry(op: str, batch: Tensor, kernel_size, stride, padding):
    """(kernel, stride, padding) as pairs, checked in PyTorch's order and words."""
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == () or stride == [] else \
        _pair(stride, "stride")
    padding = _pair(padding, "padding")
    context = f" (input {tuple(batch.shape)}, kernel_size={kernel}, stride={stride})"
    if kernel[0] == 0 or kernel[1] == 0:
        raise op_error(RuntimeError, op, f"kernel size should be greater than zero, but got "
                       f"kH: {kernel[0]} kW: {kernel[1]}{context}")
    if stride[0] == 0 or stride[1] == 0:
        raise op_error(RuntimeError, op, f"stride should not be zero{context}")
    if stride[0] < 0 or stride[1] < 0:
        raise op_error(RuntimeError, op, f"stride should be greater than zero, but got "
                       f"dH: {stride[0]} dW: {stride[1]}{context}")
    if padding[0] < 0 or padding[1] < 0:
        raise op_error(RuntimeError, op, f"pad must be non-negative, but got pad: "
                       f"{min(padding)}{context}")
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise op_error(RuntimeError, op, f"pad should be at most half of effective kernel "
                       f"size, but got pad={padding}, kernel_size={kernel}")
    out_h = (batch.shape[2] + 2 * padding[0] - kernel[0]) // stride[0] + 1
    out_w = (batch.shape[3] + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if out_h <= 0 or out_w <= 0:
        raise op_error(RuntimeError, op, f"Given input size: ({batch.shape[1]}x"
                       f"{batch.shape[2]}x{batch.shape[3]}). Calculated output size: "
                       f"({batch.shape[1]}x{out_h}x{out_w}). Output size is too small")
    return kernel, stride, padding


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """The maximum of each kernel_size window, moved by ``stride`` (default: the kernel
    size, so windows do not overlap). With ``return_indices``, also where each maximum was
    (flat h * W + w within its plane)."""
    _check_unsupported("max_pool2d", dilation)
    if input.is_quantized and not return_indices:  # the max of the levels, same qparams
        return input._like(max_pool2d(input._levels(), kernel_size, stride, padding))
    if ceil_mode:
        raise NotImplementedError("max_pool2d: numbanet supports ceil_mode=False only")
    batch, unbatched = _pool_input("max_pool2d", input)
    kernel, stride, padding = _pool_geometry("max_pool2d", batch, kernel_size, stride, padding)
    out, indices = neural.MaxPool2d.apply(batch, kernel, stride, padding)
    if unbatched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None) -> Tensor:
    """The mean of each kernel_size window, for non-overlapping windows (stride equal to
    the kernel, the default) without padding: rows and columns left over are dropped, then
    the input is viewed as (N, C, OH, KH, OW, KW) blocks and averaged over KH and KW."""
    batch, unbatched = _pool_input("avg_pool2d", input)
    kernel, stride, padding = _pool_geometry("avg_pool2d", batch, kernel_size, stride, padding)
    if stride != kernel or padding != (0, 0) or ceil_mode or divisor_override is not None:
        raise NotImplementedError("avg_pool2d: numbanet supports stride equal to the kernel "
                                  "size, padding=0, ceil_mode=False and no divisor_override")
    n, c, height, width = batch.shape
    out_h, out_w = height // kernel[0], width // kernel[1]
    cropped = batch[:, :, :out_h * kernel[0], :out_w * kernel[1]]
    blocks = cropped.reshape(n, c, out_h, kernel[0], out_w, kernel[1])
    out = blocks.mean((3, 5))
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed output size; ``output_size=1`` is the global average of
    each channel.

    Output cell ``i`` of ``out`` averages input rows ``floor(i * H / out)`` to
    ``ceil((i + 1) * H / out)`` (exclusive), as PyTorch: equal windows when ``out`` divides
    ``H`` (then one ``avg_pool2d``), else overlapping or repeated ones (a 1x1 input pooled to
    7x7 repeats its value). The general case is ``rows @ x @ columns^T`` with averaging
    matrices ``rows[i, j] = 1 / len(window i)`` for j in window i, so autograd needs nothing new.
    """
    batch, unbatched = _pool_input("adaptive_avg_pool2d", input)
    out_h, out_w = _pair(output_size, "output_size")
    height, width = batch.shape[2], batch.shape[3]
    out_h, out_w = out_h or height, out_w or width  # None keeps that size, as in PyTorch
    if height % out_h == 0 and width % out_w == 0:
        out = avg_pool2d(batch, (height // out_h, width // out_w))
    else:
        rows = _adaptive_average_matrix(height, out_h, batch)
        columns = _adaptive_average_matrix(width, out_w, batch)
        out = rows @ batch @ columns.transpose(0, 1)
    return out.squeeze(0) if unbatched else out


def _adaptive_average_matrix(size: int, out: int, like: Tensor) -> Tensor:
    """``out x size`` matrix whose row i averages adaptive pooling's window i."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return from_numpy(matrix).to(device=like.device, dtype=like.dtype)


# ---- dropout ---------------------------------------------------------------------------------


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) — only while
    ``training`` (note: True by default here; ``nn.Dropout`` follows ``model.eval()``)."""
    _check_probability(p)
    if not training or p == 0.0:
        return input
    return neural.Dropout.apply(input, p, tuple(input.shape))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels: each (sample, channel) plane of an (N, C, H, W) input is kept
    (scaled by 1/(1-p)) or zeroed together. As in PyTorch, a 3-D input is read as (N, C, L)
    and a 2-D one as (N, C) — with a warning, since both are probably mistakes."""
    _check_probability(p)
    if input.dim() not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release. To retain "
                      "the behavior and silence this warning, please use dropout instead. "
                      "Note that dropout2d exists to provide channel-wise dropout on inputs "
                      "with 2 spatial dimensions, a channel dimension, and an optional batch "
                      "dimension (i.e. 3D or 4D inputs).", stacklevel=3)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim.", stacklevel=3)
    if not training or p == 0.0:
        return input
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    return neural.Dropout.apply(input, p, mask_shape)


# ---- losses ----------------------------------------------------------------------------------


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's old ``size_average``/``reduce`` flags as a ``reduction`` string."""
    if size_average is None and reduce is None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size_mismatch(input: Tensor, target: Tensor) -> None:  # noqa: A002
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=3)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """(input - target)^2, averaged (mean), summed (sum) or kept elementwise (none)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _warn_size_mismatch(input, target)
    if (input.dtype != target.dtype or not input.is_floating_point()
            or input.device != target.device):  # promotion, or the subtraction's error
        difference = input - target
        return _reduce(difference * difference, reduction)
    return neural.MseLoss.apply(input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean") -> Tensor:
    """|input - target|, averaged (mean), summed (sum) or kept elementwise (none)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _warn_size_mismatch(input, target)
    return _reduce((input - target).abs(), reduction)


def _class_weight(op: str, weight: Tensor | None, input: Tensor) -> Tensor | None:  # noqa: A002
    """``weight`` checked: one value per class, on the input's device, in its dtype."""
    if weight is None:
        return None
    classes = input.shape[1] if input.dim() > 1 else input.shape[0]
    if weight.dim() != 1 or weight.shape[0] != classes:
        raise op_error(RuntimeError, op, f"weight tensor should be defined either for all "
                       f"{classes} classes or no classes but got weight tensor of shape: "
                       f"{list(weight.shape)}")
    return weight.to(input.device, input.dtype)


def _index_targets(op: str, input: Tensor, target: Tensor):  # noqa: A002
    """(input as (rows, C), targets as (rows,) int64, the shape of the unreduced loss).

    Accepts PyTorch's shapes: (C,) with a 0-d target, (N, C) with (N,), and
    (N, C, d1, ...) with (N, d1, ...) — there the class dim is moved last and flattened.
    """
    if not input.is_floating_point():
        raise op_error(RuntimeError, op, f"expected a floating point input (the logits or "
                       f"log-probabilities), got {input.dtype}")
    if target.is_floating_point():
        raise op_error(RuntimeError, op, f"expected scalar type Long but found "
                       f"{target.dtype.name.capitalize()}: class-index targets must be "
                       "integers (labels.long())")
    if target.device != input.device:
        raise op_error(RuntimeError, op, f"Expected all tensors to be on the same device, but "
                       f"found input on {input.device} and target on {target.device}: move "
                       "both with .to(device)")
    if input.dim() == 1:
        input, target = input.unsqueeze(0), target.reshape(1)  # noqa: A001
        loss_shape = ()
    else:
        if target.dim() != input.dim() - 1:
            raise op_error(RuntimeError, op, f"Expected target of shape "
                           f"{[input.shape[0]] + list(input.shape[2:])} (one class index per "
                           f"sample) for input of shape {list(input.shape)}, got "
                           f"{list(target.shape)}. For one-hot or probability targets pass "
                           "floats of the input's shape (target.float(), cross_entropy only)")
        if target.shape[0] != input.shape[0]:
            raise op_error(ValueError, op, f"Expected input batch_size ({input.shape[0]}) to "
                           f"match target batch_size ({target.shape[0]}).")
        if tuple(target.shape[1:]) != tuple(input.shape[2:]):
            raise op_error(RuntimeError, op, f"Expected target size "
                           f"{[input.shape[0]] + list(input.shape[2:])}, got "
                           f"{list(target.shape)}")
        loss_shape = tuple(target.shape)
        if input.dim() > 2:
            classes = input.shape[1]
            channels_last = input.permute(0, *range(2, input.dim()), 1)
            input = channels_last.reshape(-1, classes)  # noqa: A001
            target = target.reshape(-1)
    if target.dtype != dtypes.int64:
        target = target.long()
    return input, target, loss_shape


def _unflatten(loss: Tensor, reduction: str, loss_shape: tuple) -> Tensor:
    return loss.reshape(loss_shape) if reduction == "none" else loss


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class-index targets given log-probabilities (the output of
    log_softmax): -input[i, target[i]], weighted by weight[target[i]], then reduced — the
    mean divides by the sum of those weights. Targets equal to ``ignore_index`` count 0."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    rows, targets, loss_shape = _index_targets("nll_loss", input, target)
    weight = _class_weight("nll_loss", weight, rows)
    loss = neural.NLLLoss.apply(rows, targets, weight, ignore_index, reduction)
    return _unflatten(loss, reduction, loss_shape)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """The cross-entropy between softmax(input) along dim 1 and the target.

    ``target`` holds class indices (int, shape (N,)) — then this is log_softmax followed by
    nll_loss, fused into one node — or class probabilities (float, the input's shape) —
    then it is -sum_c target[:, c] * log_softmax(input)[:, c], averaged over the samples.
    ``label_smoothing`` = e mixes the target with the uniform distribution: (1-e) target +
    e / C.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target.is_floating_point():
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing)
    rows, targets, loss_shape = _index_targets("cross_entropy", input, target)
    weight = _class_weight("cross_entropy", weight, rows)
    loss = neural.CrossEntropy.apply(rows, targets, weight, ignore_index, reduction)
    if label_smoothing > 0.0:
        smooth = _uniform_target_loss(rows, targets, weight, ignore_index, reduction)
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / rows.shape[1])
    return _unflatten(loss, reduction, loss_shape)


def _uniform_target_loss(rows: Tensor, targets: Tensor, weight: Tensor | None,
                         ignore_index: int, reduction: str) -> Tensor:
    """sum_c -w_c log_softmax(x_i)_c per row (0 for ignored rows), reduced like the NLL part:
    the cross-entropy against a uniform target, times C. PyTorch's label-smoothing term."""
    log_probs = log_softmax(rows, 1)
    per_class = log_probs if weight is None else log_probs * weight
    kept = (targets != ignore_index).to(rows.dtype)
    smooth = -per_class.sum(1) * kept
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return smooth.sum()
    with grad_mode.no_grad():
        row_weights = kept if weight is None else \
            kept * weight[where(targets != ignore_index, targets, 0)]
    return smooth.sum() / row_weights.sum()


def _cross_entropy_probabilities(input: Tensor, target: Tensor,  # noqa: A002
                                 weight: Tensor | None, reduction: str,
                                 label_smoothing: float) -> Tensor:
    if target.shape != input.shape:
        raise op_error(RuntimeError, "cross_entropy", f"probability targets (float) must "
                       f"have the input's shape {list(input.shape)}, got "
                       f"{list(target.shape)}. For class indices pass an integer tensor "
                       "(labels.long())")
    if not input.is_floating_point():
        raise op_error(RuntimeError, "cross_entropy", f"expected a floating point input, got "
                       f"{input.dtype}")
    target = target.to(input.dtype)
    class_dim = 1 if input.dim() > 1 else 0
    classes = input.shape[class_dim]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    log_probs = log_softmax(input, class_dim)
    products = log_probs * target
    weight = _class_weight("cross_entropy", weight, input)
    if weight is not None:
        products = products * weight.reshape((classes,) + (1,) * (input.dim() - 2))
    loss = -products.sum(class_dim)
    if reduction == "mean":
        return loss.sum() / max(input.numel() // classes, 1)
    return _reduce(loss, reduction)


LOG_FLOOR = -100.0  # PyTorch clamps each log of binary_cross_entropy here
BCE_EPSILON = 1e-12  # and its gradient's denominator p (1 - p) here


def _clamped_log(x: Tensor) -> Tensor:
    return x.log().clamp(min=LOG_FLOOR)


class BinaryCrossEntropy(Function):
    """loss = (t - 1) max(log(1 - p), -100) - t max(log p, -100) elementwise: each log is
    clamped, so a probability of exactly 0 or 1 on the wrong side costs 100, not inf

    Gradient: d loss/d p = (p - t) / max(p (1 - p), 1e-12), finite at p = 0 and 1 (PyTorch's
    rule; the chain rule through the clamp would give 0 there, hiding the mistake);
    d loss/d t = log(1 - p) - log p, unclamped as in PyTorch
    """

    @staticmethod
    def forward(ctx, p: Tensor, t: Tensor) -> Tensor:
        ctx.save_for_backward(p, t)
        with grad_mode.no_grad():
            return (t - 1) * _clamped_log(1 - p) - t * _clamped_log(p)

    @staticmethod
    def backward(ctx, grad: Tensor):
        p, t = ctx.saved_tensors
        grad_p = grad * (p - t) / (p * (1 - p)).clamp(min=BCE_EPSILON)
        grad_t = grad * ((1 - p).log() - p.log()) if ctx.needs_input_grad[1] else None
        return grad_p, grad_t


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-(t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1] (e.g. after sigmoid);
    each log is clamped at -100 so that x = 0 or 1 gives a large finite loss, not inf
    (see :class:`BinaryCrossEntropy` for the gradient there)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise op_error(ValueError, "binary_cross_entropy", f"Using a target size "
                       f"({target.shape}) that is different to the input size "
                       f"({input.shape}) is deprecated. Please ensure they have the same size.")
    with grad_mode.no_grad():
        outside = ((input < 0) | (input > 1)).any().item()
    if outside:
        raise op_error(RuntimeError, "binary_cross_entropy", "all elements of input should be "
                       "between 0 and 1 (apply sigmoid first, or use "
                       "binary_cross_entropy_with_logits on the raw scores)")
    loss = BinaryCrossEntropy.apply(input, target.to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """binary_cross_entropy(sigmoid(x), t), computed stably from the raw score x:
    (1 - t) x + l softplus(-x), with l = 1 + (pos_weight - 1) t and
    softplus(-x) = log(1 + e^-x) = max(-x, 0) + log(1 + e^-|x|) (no exp overflows).

    Gradient: d loss/d x = (1 - t) - l sigmoid(-x), which is sigmoid(x) - t without
    pos_weight. The two pieces of softplus each have a kink at x = 0, where autograd takes
    PyTorch's derivative 0 for max and |.|; choosing the same side (x <= 0) for both keeps
    their sum right there: -1 + sigmoid(0) = -sigmoid(0).
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise op_error(ValueError, "binary_cross_entropy_with_logits", f"Target size "
                       f"({target.shape}) must be the same as input size ({input.shape})")
    target = target.to(input.dtype)
    non_positive = input <= 0
    # x <= 0: -x + log(1 + e^x); x > 0: 0 + log(1 + e^-x)
    softplus_of_minus_x = where(non_positive, -input, 0.0) \
        + (1 + where(non_positive, input, -input).exp()).log()
    if pos_weight is not None:
        softplus_of_minus_x = softplus_of_minus_x * (1 + (pos_weight - 1) * target)
    loss = (1 - target) * input + softplus_of_minus_x
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---- shapes ----------------------------------------------------------------------------------


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dims start_dim..end_dim into one (``numbanet.flatten``)."""
    return input.flatten(start_dim, end_dim)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor with one more dim of size num_classes: 1 at each index, 0 elsewhere."""
    if tensor.is_floating_point():
        raise op_error(RuntimeError, "one_hot", "one_hot is only applicable to index tensor")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    classes = arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """``input`` padded on its last dims (see ``numbanet/nn/padding.py``): ``pad`` =
    (left, right) for the last dim, then (top, bottom) for the one before ...; ``mode``
    'constant' (with ``value``, default 0), 'reflect', 'replicate' or 'circular'.

    Gradient: each input element's own upstream gradient, plus those of the padded
    positions that copied it.
    """
    from numbanet.nn import padding

    return padding.pad(input, pad, mode, value)

