"""Observers: modules that watch the values flowing through a model and choose its
quantization parameters (PyTorch's ``torch.ao.quantization.observer``).

During *calibration* an observer records the range of what it sees (``forward`` returns
its input unchanged); ``calculate_qparams()`` then turns the range ``[min, max]`` into a
scale and a zero point, PyTorch's formulas:

- the range is first stretched to include 0.0 (``min = min(min, 0)``, ``max = max(max,
  0)``), so that 0.0 is exactly representable;
- affine: ``scale = (max - min) / (quant_max - quant_min)``,
  ``zero_point = quant_min - round(min / scale)`` (clamped to the range);
- symmetric: ``scale = max(-min, max) / ((quant_max - quant_min) / 2)``, zero point 0
  for qint8 (128 for quint8);
- ``scale`` is at least float32's eps, so a constant-zero input still gets a valid one.

``reduce_range=True`` drops one bit (quint8 0..127, qint8 -64..63): fbgemm's x86 kernels
multiply pairs of uint8 x int8 into int16 sums that could otherwise overflow.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from numbanet.ao.quantization.qtensor import (
    QuantizedDType,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quint8,
)
from numbanet.nn.module import Module
from numbanet.tensor import Tensor

EPS = float(np.finfo(np.float32).eps)


def _quant_range(dtype: QuantizedDType, reduce_range: bool, quant_min, quant_max):
    """(quant_min, quant_max): given ones, else the dtype's (one bit less if reduced)."""
    if quant_min is not None and quant_max is not None:
        if not quant_min <= 0 <= quant_max:
            raise ValueError("Used-specified quantization range must include 0.")
        if quant_min >= quant_max:
            raise ValueError("qmin must be strictly less than qmax for user-specified "
                             "quantization range.")
        return int(quant_min), int(quant_max)
    if dtype is qint8:
        return (-64, 63) if reduce_range else (-128, 127)
    if dtype is quint8:
        return (0, 127) if reduce_range else (0, 255)
    if dtype is qint32:
        return -(2**31), 2**31 - 1
    raise ValueError(f"observers support numbanet.quint8, qint8 and qint32, got {dtype!r}")


class ObserverBase(Module):
    """What every observer has: a dtype, a qscheme, the level range, and
    ``calculate_qparams()``."""

    def __init__(self, dtype=quint8, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = EPS):
        super().__init__()
        self.dtype = dtype
        self.qscheme = qscheme
        self.reduce_range = reduce_range
        self.has_customized_qrange = quant_min is not None and quant_max is not None
        self.quant_min, self.quant_max = _quant_range(dtype, reduce_range, quant_min,
                                                      quant_max)
        self.eps = float(eps)

    @classmethod
    def with_args(cls, **kwargs):
        """A factory making this observer with these arguments (as in a QConfig)."""
        return _PartialObserver(cls, kwargs)

    def _symmetric(self) -> bool:
        return self.qscheme in (per_tensor_symmetric, per_channel_symmetric)

    def _calculate_qparams(self, min_val: np.ndarray, max_val: np.ndarray):
        """(scales float32, zero points int64), one per entry of min_val / max_val."""
        min_neg = np.minimum(min_val, 0).astype(np.float32)
        max_pos = np.maximum(max_val, 0).astype(np.float32)
        quant_min, quant_max = self.quant_min, self.quant_max
        if self._symmetric():
            max_pos = np.maximum(-min_neg, max_pos)
            scale = (max_pos / np.float32((quant_max - quant_min) / 2)).astype(np.float32)
            scale = np.maximum(scale, np.float32(self.eps))
            middle = ((quant_min + quant_max) // 2 if self.has_customized_qrange else 128)
            zero_point = np.full(scale.shape, middle if self.dtype is quint8 else 0, np.int64)
        else:
            scale = ((max_pos - min_neg) / np.float32(quant_max - quant_min)).astype(np.float32)
            scale = np.maximum(scale, np.float32(self.eps))
            zero_point = quant_min - np.round(min_neg / scale).astype(np.int64)
            zero_point = np.clip(zero_point, quant_min, quant_max)
        return scale.astype(np.float32), zero_point.astype(np.int64)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class _PartialObserver:
    """``Observer.with_args(...)``: calling it makes a fresh observer."""

    def __init__(self, cls, kwargs: dict):
        self.cls, self.kwargs = cls, dict(kwargs)

    def __call__(self, **more):
        return self.cls(**{**self.kwargs, **more})

    def with_args(self, **kwargs):
        return _PartialObserver(self.cls, {**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"functools.partial(<class '{self.cls.__module__}.{self.cls.__name__}'>, " \
               f"{arguments}){{}}"


def _values(x: Tensor) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy(), dtype=np.float32)


class MinMaxObserver(ObserverBase):
    """Tracks the smallest and largest value seen; qparams from that range."""

    def __init__(self, dtype=quint8, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = EPS, **_ignored):
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise TypeError(f"MinMaxObserver is per tensor; got {qscheme!r} (use "
                            "PerChannelMinMaxObserver)")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps)
        self.min_val = math.inf
        self.max_val = -math.inf

    def forward(self, x: Tensor) -> Tensor:
        values = _values(x)
        if values.size:
            self.min_val = min(self.min_val, float(values.min()))
            self.max_val = max(self.max_val, float(values.max()))
        return x

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """(scale, zero_point) as one-element tensors (float32, int64)."""
        if self.min_val == math.inf and self.max_val == -math.inf:
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default values.", stacklevel=2)
            return Tensor._from_data(np.array([1.0], np.float32)), \
                Tensor._from_data(np.array([0], np.int64))
        scale, zero_point = self._calculate_qparams(np.array([self.min_val]),
                                                    np.array([self.max_val]))
        return Tensor._from_data(scale), Tensor._from_data(zero_point)


class PerChannelMinMaxObserver(ObserverBase):
    """Tracks the range of each index of ``ch_axis`` separately (for weights: one range
    per output channel); default qscheme ``per_channel_affine``."""

    def __init__(self, ch_axis: int = 0, dtype=quint8, qscheme=per_channel_affine,
                 reduce_range: bool = False, quant_min: int | None = None,
                 quant_max: int | None = None, eps: float = EPS, **_ignored):
        if qscheme not in (per_channel_affine, per_channel_symmetric):
            raise TypeError(f"PerChannelMinMaxObserver is per channel; got {qscheme!r} "
                            "(use MinMaxObserver)")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps)
        self.ch_axis = ch_axis
        self.min_val = None
        self.max_val = None

    def forward(self, x: Tensor) -> Tensor:
        values = _values(x)
        rows = np.moveaxis(values, self.ch_axis, 0).reshape(values.shape[self.ch_axis], -1)
        low, high = rows.min(axis=1), rows.max(axis=1)
        if self.min_val is None:
            self.min_val, self.max_val = low, high
        else:
            self.min_val = np.minimum(self.min_val, low)
            self.max_val = np.maximum(self.max_val, high)
        return x

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """(scales, zero_points), one per channel (float32, int64)."""
        if self.min_val is None:
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default values.", stacklevel=2)
            return Tensor._from_data(np.array([1.0], np.float32)), \
                Tensor._from_data(np.array([0], np.int64))
        scale, zero_point = self._calculate_qparams(self.min_val, self.max_val)
        return Tensor._from_data(scale), Tensor._from_data(zero_point)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}, ch_axis={self.ch_axis}"


class HistogramObserver(MinMaxObserver):
    """Keeps a histogram of the values seen (``bins`` bins over the running range) and picks
    the range ``[min, max]`` that minimises the quantization error of that histogram:
    outliers are clipped when clipping them lets the bulk of the values be represented
    more finely (PyTorch's L2-norm search, ``_non_linear_param_search``)."""

    def __init__(self, bins: int = 2048, dtype=quint8, qscheme=per_tensor_affine,
                 reduce_range: bool = False, quant_min: int | None = None,
                 quant_max: int | None = None, eps: float = EPS, **_ignored):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps)
        self.bins = bins
        self.histogram = np.zeros(bins, dtype=np.float64)
        self.dst_nbins = 2 ** int(np.dtype(dtype.numpy).itemsize * 8)

    def forward(self, x: Tensor) -> Tensor:
        values = _values(x).ravel()
        if not values.size:
            return x
        low, high = float(values.min()), float(values.max())
        if self.min_val == math.inf:  # first batch: its own range
            self.min_val, self.max_val = low, high
            self.histogram = np.histogram(values, self.bins, (low, high))[0].astype(np.float64)
            return x
        new_min, new_max = min(low, self.min_val), max(high, self.max_val)
        if (new_min, new_max) != (self.min_val, self.max_val):
            self.histogram = self._rebinned(new_min, new_max)
            self.min_val, self.max_val = new_min, new_max
        self.histogram += np.histogram(values, self.bins, (new_min, new_max))[0]
        return x

    def _rebinned(self, new_min: float, new_max: float) -> np.ndarray:
        """The histogram moved onto ``bins`` bins over the wider range, each old bin's count
        placed at its centre (PyTorch upsamples each old bin 16 times first: a finer
        spreading than this one, so the chosen range can differ slightly)."""
        old_width = (self.max_val - self.min_val) / self.bins
        centres = self.min_val + old_width * (np.arange(self.bins) + 0.5)
        return np.histogram(centres, self.bins, (new_min, new_max),
                            weights=self.histogram)[0].astype(np.float64)

    def _quantization_error(self, start: int, stop: int) -> float:
        """L2 error of quantizing the histogram's values to ``dst_nbins`` levels spread over
        bins ``start..stop-1`` (PyTorch's ``_compute_quantization_error``): each source bin's
        values are spread evenly, and their squared distance to the centre of the level they
        round to is integrated, in three parts: the part in the first level the bin
        touches, the whole levels it covers, the part in its last level."""
        bin_width = (self.max_val - self.min_val) / self.bins
        dst_width = bin_width * (stop - start) / self.dst_nbins
        if dst_width == 0.0:
            return 0.0
        begin = (np.arange(self.bins, dtype=np.float64) - start) * bin_width
        end = begin + bin_width
        dst_of_begin = np.clip(np.floor(begin / dst_width), 0, self.dst_nbins - 1)
        dst_of_end = np.clip(np.floor(end / dst_width), 0, self.dst_nbins - 1)
        density = self.histogram / bin_width
        half = dst_width / 2

        def norm(delta_begin, delta_end):  # integral of density * delta^2
            return density * (delta_end**3 - delta_begin**3) / 3

        error = norm(begin - (dst_of_begin + 0.5) * dst_width, half)
        error += (dst_of_end - dst_of_begin - 1) * norm(-half, half)
        error += norm(-half, end - (dst_of_end * dst_width + half))
        return float(error.sum())

    def _non_linear_param_search(self) -> tuple[float, float]:
        """Shrink ``[start, stop)`` from whichever end holds less mass, one step of 1/bins
        of the total at a time, while the quantization error keeps falling."""
        total = self.histogram.sum()
        cumulative = np.cumsum(self.histogram)
        stepsize, alpha, beta = 1e-5, 0.0, 1.0
        start, stop = 0, self.bins - 1
        norm_min = math.inf
        while alpha < beta:
            next_alpha, next_beta = alpha + stepsize, beta - stepsize
            l_index, r_index = start, stop
            while l_index < stop and cumulative[l_index] < next_alpha * total:
                l_index += 1
            while r_index > start and cumulative[r_index] > next_beta * total:
                r_index -= 1
            if (l_index - start) > (stop - r_index):  # move the end that moves less
                next_start, next_stop = l_index, stop
                alpha = next_alpha
            else:
                next_start, next_stop = start, r_index
                beta = next_beta
            if next_start == start and next_stop == stop:
                continue
            norm = self._quantization_error(next_start, next_stop + 1)
            if norm > norm_min:
                break
            norm_min, start, stop = norm, next_start, next_stop
        bin_width = (self.max_val - self.min_val) / self.bins
        return self.min_val + bin_width * start, self.min_val + bin_width * (stop + 1)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        if self.min_val == math.inf:
            return super().calculate_qparams()
        if self.min_val == self.max_val:
            low, high = self.min_val, self.max_val
        else:
            low, high = self._non_linear_param_search()
        scale, zero_point = self._calculate_qparams(np.array([low]), np.array([high]))
        return Tensor._from_data(scale), Tensor._from_data(zero_point)


class PlaceholderObserver(ObserverBase):
    """Records nothing: marks a value's dtype only (the activations of dynamic
    quantization, whose qparams are chosen per batch at run time)."""

    def __init__(self, dtype=quint8, **kwargs):
        super().__init__(dtype=dtype if dtype in (quint8, qint8, qint32) else quint8)
        self.dtype = dtype
        self.min_val = self.max_val = None

    def forward(self, x: Tensor) -> Tensor:
        return x

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for PlaceholderObserver")


default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_weight_observer = MinMaxObserver.with_args(dtype=qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=qint8, qscheme=per_channel_symmetric)
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
default_dynamic_quant_observer = PlaceholderObserver.with_args(dtype=quint8)
