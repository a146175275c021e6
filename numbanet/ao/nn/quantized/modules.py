"""Quantized modules (PyTorch's ``torch.ao.nn.quantized``): layers that take quantized
tensors in and give quantized tensors out, computing on int8 levels.

``convert()`` makes them from calibrated float modules (``from_float``); each stores

- ``weight()``: the weight quantized to qint8 (per tensor or per output channel),
- ``bias()``: the bias, kept in float32 (it is added to the int32 accumulator after
  rescaling: ``bias / (s_x * s_w)``),
- ``scale`` / ``zero_point``: the quantization parameters of the *output*, chosen by the
  observer that watched this layer's output during calibration.

Forward, for a Linear (a Conv2d is the same with a convolution)::

    acc = Int8LinearAccumulate(q_x, q_w)              int32, exact
    q_y = Requantize(acc)                             uint8, with the output's scale/zero point

State dict: ``weight`` (a quantized tensor), ``bias``, ``scale``, ``zero_point`` — PyTorch's
keys for a quantized Conv2d; PyTorch's quantized Linear packs weight and bias into
``_packed_params._packed_params`` instead (fbgemm's packed format), which numbanet does not.
"""

from __future__ import annotations

import numpy as np

from numbanet.ao.quantization import ops
from numbanet.ao.quantization.qtensor import (
    QuantizedTensor,
    per_tensor_affine,
    qint8,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from numbanet.nn.functional import conv_padding
from numbanet.nn.module import Module
from numbanet.tensor import Tensor


def _require_quantized(module: Module, x) -> QuantizedTensor:
    if not isinstance(x, QuantizedTensor):
        raise RuntimeError(f"{module._get_name()}: expects a quantized input (numbanet."
                           f"quint8), got a {getattr(x, 'dtype', type(x).__name__)} tensor. "
                           "Put a QuantStub before the first quantized layer (it becomes "
                           "nn.quantized.Quantize after convert) and a DeQuantStub after "
                           "the last one")
    if not x._per_tensor():
        raise RuntimeError(f"{module._get_name()}: expects a per-tensor quantized input")
    return x


def quantize_weight(weight: Tensor, observer) -> QuantizedTensor:
    """``weight`` quantized with the scales and zero points ``observer`` chooses (after it
    has seen the weight): per channel along axis 0, or per tensor."""
    observer(weight)
    scales, zero_points = observer.calculate_qparams()
    if getattr(observer, "ch_axis", None) is not None:
        return quantize_per_channel(weight.detach(), scales.double(), zero_points,
                                    observer.ch_axis, observer.dtype)
    return quantize_per_tensor(weight.detach(), float(scales.item()),
                               int(zero_points.item()), observer.dtype)


class _QuantizedWeightedLayer(Module):
    """Shared by quantized Linear and Conv2d: weight, bias, output qparams, requantize."""

    _fused_relu = False  # the intrinsic (fused ReLU) versions set this

    def _set_weight_bias(self, weight: QuantizedTensor, bias: Tensor | None) -> None:
        if weight.dtype is not qint8:
            raise RuntimeError(f"{self._get_name()}: the weight must be numbanet.qint8, got "
                               f"{weight.dtype!r}")
        # Buffers (saved in the state dict) behind the weight() / bias() methods, so set in
        # the registry directly: register_buffer refuses a name the class already uses.
        self._buffers["weight"] = weight
        self._buffers["bias"] = None if bias is None else bias.detach().float()

    def set_weight_bias(self, weight: QuantizedTensor, bias: Tensor | None) -> None:
        """Replace the quantized weight (qint8) and the float bias."""
        self._set_weight_bias(weight, bias)

    def __setattr__(self, name: str, value) -> None:
        if name in ("scale", "zero_point") and not isinstance(value, Tensor):  # as PyTorch:
            value = Tensor._from_data(np.array(value, np.float64 if name == "scale"  # a number
                                               else np.int64))
        super().__setattr__(name, value)

    def weight(self) -> QuantizedTensor:  # noqa: F811 - PyTorch's API: a method
        return self._buffers["weight"]

    def bias(self) -> Tensor | None:  # noqa: F811
        return self._buffers["bias"]

    def _weight_zero_points(self) -> np.ndarray:
        """One zero point per output channel (a per-tensor one repeated)."""
        weight = self.weight()
        return np.broadcast_to(weight._zero_points, (weight.shape[0],))

    def _weight_scales(self) -> np.ndarray:
        """One scale per output channel (a per-tensor one repeated)."""
        weight = self.weight()
        return np.broadcast_to(weight._scales, (weight.shape[0],))

    def _requantize(self, accumulator: Tensor, x: QuantizedTensor) -> QuantizedTensor:
        """int32 accumulator -> quint8 output with this layer's scale and zero point."""
        out_scale, out_zero_point = float(self.scale), int(self.zero_point)
        bias = self.bias()
        _, bias_terms, multipliers = ops.requantization_terms(
            x.q_scale(), self._weight_scales(), None if bias is None else bias.cpu().numpy(),
            out_scale, self.weight().shape[0])
        low = out_zero_point if self._fused_relu else quint8.quant_min
        levels = ops.Requantize.apply(
            accumulator, bias_terms, multipliers, out_zero_point, low, quint8.quant_max,
            "quint8", {"input_scale": x.q_scale(), "output_scale": out_scale,
                       "relu": self._fused_relu})
        return QuantizedTensor._wrap(levels, quint8, per_tensor_affine, out_scale,
                                     out_zero_point)

    def _register_output_qparams(self, scale: float, zero_point: int) -> None:
        self.register_buffer("scale", Tensor._from_data(np.array(scale, np.float64)))
        self.register_buffer("zero_point", Tensor._from_data(np.array(zero_point, np.int64)))

    @classmethod
    def _output_qparams(cls, float_module) -> tuple[float, int]:
        observer = getattr(float_module, "activation_post_process", None)
        if observer is None:
            raise RuntimeError(f"{cls.__name__}.from_float: the float module has no "
                               "activation_post_process: run numbanet.ao.quantization."
                               "prepare(model) and calibrate it before convert")
        scale, zero_point = observer.calculate_qparams()
        return float(scale.item()), int(zero_point.item())

    def extra_repr(self) -> str:
        weight = self.weight()
        return (f"{self._shape_repr()}, scale={float(self.scale)}, "
                f"zero_point={int(self.zero_point)}, qscheme={weight.qscheme()!r}")


class Linear(_QuantizedWeightedLayer):
    """A quantized ``nn.Linear``: quint8 in, int8 weight, int32 accumulation, quint8 out."""

    def _get_name(self) -> str:
        return "QuantizedLinear"

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=qint8):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        weight = quantize_per_tensor(Tensor._from_data(
            np.zeros((out_features, in_features), np.float32)), 1.0, 0, qint8)
        bias = Tensor._from_data(np.zeros(out_features, np.float32)) if bias_ else None
        self._set_weight_bias(weight, bias)
        self._register_output_qparams(1.0, 0)

    def _shape_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

    def forward(self, x: QuantizedTensor) -> QuantizedTensor:
        x = _require_quantized(self, x)
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise RuntimeError(f"{self._get_name()}: input of shape {tuple(x.shape)} does "
                               f"not match in_features={self.in_features}")
        accumulator = ops.Int8LinearAccumulate.apply(
            x, x.q_zero_point(), self.weight(), self._weight_zero_points(),
            ops.scales_for_trace(x.q_scale(), self._weight_scales()))
        return self._requantize(accumulator, x)

    @classmethod
    def from_float(cls, module) -> Linear:
        """A quantized copy of a calibrated float Linear (``module.qconfig`` chooses the
        weight's observer; ``module.activation_post_process`` watched its output)."""
        linear = getattr(module, "linear", module)  # a fused LinearReLU holds its Linear
        weight = quantize_weight(linear.weight, module.qconfig.weight())
        out = cls(linear.in_features, linear.out_features, linear.bias is not None)
        out._set_weight_bias(weight, linear.bias)
        out._register_output_qparams(*cls._output_qparams(module))
        return out


class Conv2d(_QuantizedWeightedLayer):
    """A quantized ``nn.Conv2d``: quint8 images in, int8 filters, int32 accumulation."""

    def _get_name(self) -> str:
        return "QuantizedConv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, bias: bool = True):
        super().__init__()
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(
            kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, \
            kernel
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.padding = conv_padding(padding, kernel, self.stride)
        weight = quantize_per_tensor(Tensor._from_data(
            np.zeros((out_channels, in_channels, *kernel), np.float32)), 1.0, 0, qint8)
        self._set_weight_bias(weight, Tensor._from_data(np.zeros(out_channels, np.float32))
                              if bias else None)
        self._register_output_qparams(1.0, 0)

    def _shape_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")

    def forward(self, x: QuantizedTensor) -> QuantizedTensor:
        x = _require_quantized(self, x)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise RuntimeError(f"{self._get_name()}: expected input (N, {self.in_channels}, "
                               f"H, W), got {tuple(x.shape)}")
        accumulator = ops.Int8Conv2dAccumulate.apply(
            x, x.q_zero_point(), self.weight(), self._weight_zero_points(), self.stride,
            self.padding, ops.scales_for_trace(x.q_scale(), self._weight_scales()))
        return self._requantize(accumulator, x)

    @classmethod
    def from_float(cls, module) -> Conv2d:
        conv = getattr(module, "conv", module)  # a fused ConvReLU2d holds its Conv2d
        if conv.dilation not in (1, (1, 1)) or conv.groups != 1:
            raise NotImplementedError("quantized Conv2d: numbanet supports dilation=1 and "
                                      "groups=1")
        weight = quantize_weight(conv.weight, module.qconfig.weight())
        out = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                  conv.padding, conv.bias is not None)
        out._set_weight_bias(weight, conv.bias)
        out._register_output_qparams(*cls._output_qparams(module))
        return out


class LinearReLU(Linear):
    """A quantized Linear with its ReLU fused into requantization (outputs below the zero
    point are clamped to it): PyTorch's ``nn.intrinsic.quantized.LinearReLU``."""

    def _get_name(self) -> str:
        return "QuantizedLinearReLU"

    _fused_relu = True


class ConvReLU2d(Conv2d):
    """A quantized Conv2d with its ReLU fused into requantization:
    PyTorch's ``nn.intrinsic.quantized.ConvReLU2d``."""

    def _get_name(self) -> str:
        return "QuantizedConvReLU2d"

    _fused_relu = True


class Quantize(Module):
    """float -> quint8 with fixed (calibrated) scale and zero point: what a QuantStub
    becomes after ``convert``."""

    def __init__(self, scale: float, zero_point: int, dtype=quint8):
        super().__init__()
        self.register_buffer("scale", Tensor._from_data(np.array([scale], np.float64)))
        self.register_buffer("zero_point", Tensor._from_data(np.array([zero_point], np.int64)))
        self.dtype = dtype

    def forward(self, x: Tensor) -> QuantizedTensor:
        return quantize_per_tensor(x, float(self.scale.item()), int(self.zero_point.item()),
                                   self.dtype)

    @classmethod
    def from_float(cls, module) -> Quantize:
        scale, zero_point = module.activation_post_process.calculate_qparams()
        return cls(float(scale.item()), int(zero_point.item()),
                   module.activation_post_process.dtype)

    def extra_repr(self) -> str:
        return (f"scale={self.scale!r}, zero_point={self.zero_point!r}, "
                f"dtype={self.dtype!r}")


class DeQuantize(Module):
    """quantized -> float32 (``x.dequantize()``): what a DeQuantStub becomes."""

    def forward(self, x: QuantizedTensor) -> Tensor:
        return x.dequantize()

    @classmethod
    def from_float(cls, module) -> DeQuantize:
        return cls()
