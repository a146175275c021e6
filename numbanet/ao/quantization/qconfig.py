"""``QConfig``: which observers choose a module's activation and weight qparams.

``model.qconfig = get_default_qconfig("x86")`` before ``prepare``: each module that has a
quantized version gets a fresh ``activation`` observer (it watches the module's output
during calibration) and, at ``convert``, a fresh ``weight`` observer quantizes its weight.
"""

from __future__ import annotations

from typing import NamedTuple

from numbanet.ao.quantization.observer import (
    HistogramObserver,
    PlaceholderObserver,
    default_dynamic_quant_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)
from numbanet.ao.quantization.qtensor import quint8


class QConfig(NamedTuple):
    """``activation`` and ``weight``: observer *factories* (``Observer.with_args(...)``),
    called once per module so that no two modules share an observer."""

    activation: object
    weight: object


default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
"""Per-tensor: activations MinMax over levels 0..127, weights symmetric qint8 per tensor."""

default_per_channel_qconfig = QConfig(activation=default_observer,
                                      weight=default_per_channel_weight_observer)
"""As ``default_qconfig`` but one scale per output channel of each weight."""

default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                  weight=default_weight_observer)
"""For ``quantize_dynamic``: weights per tensor; activations quantized at run time."""


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """PyTorch's default static qconfig for a backend. ``"x86"`` and ``"fbgemm"`` (the
    server CPU backends): activations by a HistogramObserver with ``reduce_range=True``
    (levels 0..127), weights symmetric qint8 *per channel*. ``"qnnpack"`` (mobile): full
    range 0..255, weights per tensor."""
    if backend in ("x86", "fbgemm"):
        return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                       weight=default_per_channel_weight_observer)
    if backend == "qnnpack":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                       weight=default_weight_observer)
    raise AssertionError(f"Backend: {backend} not supported. backend must be one of "
                         "['x86', 'fbgemm', 'qnnpack']")


def get_default_dynamic_qconfig(backend: str = "x86") -> QConfig:
    """The qconfig ``quantize_dynamic`` uses: weights per tensor, run-time activations."""
    return default_dynamic_qconfig


per_channel_dynamic_qconfig = QConfig(activation=PlaceholderObserver.with_args(dtype=quint8),
                                      weight=default_per_channel_weight_observer)
"""For ``quantize_dynamic``: weights per output channel; activations at run time."""
