"""int8 quantization in PyTorch's eager mode (``torch.ao.quantization``).

Dynamic, one line: ``quantize_dynamic(model, {nn.Linear}, dtype=numbanet.qint8)``.
Static post-training: ``QuantStub``/``DeQuantStub`` in the model, ``model.qconfig =
get_default_qconfig("x86")``, ``fuse_modules``, ``prepare``, run calibration data,
``convert`` (see ``quantize.py``). Quantized tensors: ``numbanet.quantize_per_tensor``,
``quantize_per_channel``, ``x.int_repr()``, ``x.dequantize()``, ``x.q_scale()``.

Where to read what: ``qtensor.py`` (quantized tensors), ``observer.py`` (choosing scales
and zero points), ``qconfig.py``, ``stubs.py``, ``fuse.py``, ``quantize.py`` (the
workflow), ``ops.py`` (the int8 ops a trace shows), ``numbanet/ao/nn`` (quantized
modules), ``numbanet/kernels/cpu/quantized.py`` (the integer kernels and their formulas).
"""

from numbanet.ao.quantization.fuse import fuse_conv_bn_eval, fuse_modules
from numbanet.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    ObserverBase,
    PerChannelMinMaxObserver,
    PlaceholderObserver,
    default_dynamic_quant_observer,
    default_histogram_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)
from numbanet.ao.quantization.qconfig import (
    QConfig,
    default_dynamic_qconfig,
    default_per_channel_qconfig,
    default_qconfig,
    get_default_dynamic_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)
from numbanet.ao.quantization.qtensor import (
    QScheme,
    QuantizedTensor,
    dequantize,
    int_repr,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from numbanet.ao.quantization.quantize import (
    convert,
    get_default_dynamic_quant_module_mappings,
    get_default_static_quant_module_mappings,
    prepare,
    propagate_qconfig_,
    quantize,
    quantize_dynamic,
)
from numbanet.ao.quantization.stubs import DeQuantStub, QuantStub, QuantWrapper

__all__ = [
    "DeQuantStub", "HistogramObserver", "MinMaxObserver", "ObserverBase",
    "PerChannelMinMaxObserver", "PlaceholderObserver", "QConfig", "QScheme", "QuantStub",
    "QuantWrapper", "QuantizedTensor", "convert", "default_dynamic_qconfig",
    "default_dynamic_quant_observer", "default_histogram_observer", "default_observer",
    "default_per_channel_qconfig", "default_per_channel_weight_observer", "default_qconfig",
    "default_weight_observer", "dequantize", "fuse_conv_bn_eval", "fuse_modules",
    "get_default_dynamic_qconfig", "get_default_dynamic_quant_module_mappings",
    "get_default_qconfig", "get_default_static_quant_module_mappings", "int_repr",
    "per_channel_affine", "per_channel_dynamic_qconfig", "per_channel_symmetric",
    "per_tensor_affine", "per_tensor_symmetric", "prepare", "propagate_qconfig_", "qint8",
    "qint32", "quantize", "quantize_dynamic", "quantize_per_channel", "quantize_per_tensor",
    "quint8",
]
