"""Writing recorded tensors as short text: shapes, values, statistics and histograms.

A :class:`~numbanet.trace.TensorRecord` keeps every value of a small tensor and, for a
large one, statistics, evenly spaced samples and a histogram. These helpers turn either kind
into the few characters a terminal has room for. The headless printer and the widgets use
the same functions, so a value reads the same in both.
"""

from __future__ import annotations

import math

import numpy as np

from numbanet.trace import Event, TensorRecord

BARS = " ▁▂▃▄▅▆▇█"  # nine heights: an empty bin shows as a blank


def format_number(value: float) -> str:
    """Four significant digits: ``0.01234``, ``-1.5``, ``1.2e+04``, ``nan``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value + 0.0:.4g}"  # + 0.0 turns -0.0 into 0.0


def shape_text(record: TensorRecord | None) -> str:
    """``[16, 2]``, or ``scalar`` for a zero-dimensional tensor."""
    if record is None:
        return "-"
    return f"[{', '.join(str(n) for n in record.shape)}]" if record.shape else "scalar"


def describe(record: TensorRecord) -> str:
    """Shape, dtype and device: ``[16, 2] float32 cpu``."""
    return f"{shape_text(record)} {record.dtype} {record.device}"


def flat_values(record: TensorRecord) -> list[float]:
    """All values of a small tensor, or the evenly spaced sample of a large one."""
    if record.values is None:
        return list(record.sample)
    return [float(v) for v in np.asarray(record.values, dtype=np.float64).ravel()]


def values_text(record: TensorRecord, width: int = 72) -> str:
    """Every value of a small tensor, laid out like numpy prints it (4 decimals), in lines
    of at most ``width`` characters."""
    array = np.asarray(record.values, dtype=np.float64)
    return np.array2string(array, precision=4, suppress_small=True, max_line_width=width)


def nonfinite_text(record: TensorRecord) -> str:
    """``  3 NaN 1 Inf`` when the tensor holds such values, else the empty string."""
    parts = [f"{record.stats[key]} {label}" for key, label in (("nan", "NaN"), ("inf", "Inf"))
             if record.stats.get(key)]
    return ("  " + " ".join(parts)) if parts else ""


def statistics_text(record: TensorRecord) -> str:
    """``mean 0.0123 std 0.53 min -1.2 max 1.3`` (over the finite values)."""
    stats = record.stats
    return " ".join(f"{key} {format_number(stats[key])}" for key in ("mean", "std", "min", "max")
                    if key in stats) + nonfinite_text(record)


def summary_text(record: TensorRecord | None, inline_limit: int = 6) -> str:
    """One line: the values when there are at most ``inline_limit``, else the statistics."""
    if record is None:
        return "-"
    if record.values is not None and record.numel <= inline_limit:
        values = flat_values(record)
        if not record.shape:
            return format_number(values[0])
        return "[" + ", ".join(format_number(v) for v in values) + "]"
    return statistics_text(record)


def histogram_bars(record: TensorRecord) -> str:
    """The histogram of a tensor's values as unicode bars, lowest value on the left.

    Small tensors have no stored histogram; one is made from their values.
    """
    if record.histogram is not None:
        counts = record.histogram["counts"]
    else:
        values = np.asarray(flat_values(record))
        values = values[np.isfinite(values)]
        if values.size < 2:
            return ""
        counts = np.histogram(values, bins=min(16, values.size))[0].tolist()
    tallest = max(counts) or 1
    return "".join(BARS[math.ceil(count / tallest * (len(BARS) - 1))] for count in counts)


def histogram_range(record: TensorRecord) -> tuple[float, float]:
    """The value range the histogram bars cover: (leftmost edge, rightmost edge)."""
    if record.histogram is not None:
        edges = record.histogram["edges"]
        return edges[0], edges[-1]
    return record.stats.get("min", math.nan), record.stats.get("max", math.nan)


def main_output(event: Event) -> TensorRecord | None:
    """The output that stands for the event in a one-line list (its first real output)."""
    return next((record for record in event.outputs if record is not None), None)


def output_shape_text(event: Event) -> str:
    """The shape column of the timeline: an optimizer step updates several parameters."""
    if event.updates:
        return f"{len(event.updates)} params"
    return shape_text(main_output(event))
