"""How a tensor prints: PyTorch's format, so a tutorial's output reads the same on numbanet.

``repr(tensor)`` and ``print(tensor)`` follow PyTorch's ``torch/_tensor_str.py``:

- **one format for all elements**, chosen from the finite non-zero values: integers print as
  they are; floats that are all whole numbers print as ``1.``, ``2.`` (*int mode*); other
  floats with ``precision`` decimals (4 by default) — or in scientific notation
  (``1.0000e-05``) when the largest magnitude is over 1e8, the smallest under 1e-4, or the
  largest over 1000 times the smallest. Every element is right-aligned to the widest;
- **rows wrap** at ``linewidth`` (80) characters, continued under the first element, and
  nested brackets are indented by one space per level with a blank line between 3-d blocks;
- **summarised** above ``threshold`` (1000) elements: the first and last ``edgeitems`` (3) of
  each dimension, with ``...`` between;
- **suffixes** after the values: ``device='cuda:0'`` off the default device, ``dtype=`` when
  it is not the default float, int64 or bool (and always for an empty tensor that is not of
  the default dtype, which has no values to tell), ``size=`` for an empty tensor that is not
  1-d, then ``grad_fn=<MulBackward0>`` or ``requires_grad=True``; a suffix that would pass
  ``linewidth`` goes on its own line.

``set_printoptions(precision=, threshold=, edgeitems=, linewidth=, profile=, sci_mode=)``
changes these as PyTorch's does; ``sci_mode=True``/``False`` forces or forbids scientific
notation, None (the default) lets the rule above decide.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = PrintOptions()

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print (PyTorch's ``torch.set_printoptions``).

    ``precision``: decimals (4); ``threshold``: above this many elements, summarise (1000);
    ``edgeitems``: elements kept at each end of a summarised dimension (3); ``linewidth``:
    characters per line (80); ``profile``: ``"default"``, ``"short"`` (2 decimals, 2 edge
    items) or ``"full"`` (never summarise), applied first; ``sci_mode``: True/False forces
    scientific notation on or off, None chooses it from the values — and, as in PyTorch,
    every call sets it (leaving it out resets it to None).
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"Invalid profile: {profile}. the profile must be one of "
                             "'default', 'short', 'full'")
        for name, value in _PROFILES[profile].items():
            setattr(PRINT_OPTS, name, value)
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict:
    """The current print options, as a dict of ``set_printoptions``'s arguments."""
    return asdict(PRINT_OPTS)


class Formatter:
    """The one format of every element of ``values`` (a numpy array, already summarised)."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return  # zeros, nan, inf only: printed as 0., nan, inf
        magnitudes = np.abs(finite.astype(np.float64))
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = (largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
                         if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode)
        if self.sci_mode:
            widths = [len(f"{v:.{PRINT_OPTS.precision}e}") for v in finite.tolist()]
        elif self.int_mode:  # whole floats print as "2." : one more character
            widths = [len(f"{v:.0f}") + 1 for v in finite.tolist()]
        else:
            widths = [len(f"{v:.{PRINT_OPTS.precision}f}") for v in finite.tolist()]
        self.max_width = max(self.max_width, *widths)

    def width(self) -> int:
        return self.max_width

    def format(self, value) -> str:
        """``value`` in this format, right-aligned to the widest element."""
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.max_width}.{PRINT_OPTS.precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{PRINT_OPTS.precision}f}"
        else:
            text = f"{value}"
        return (self.max_width - len(text)) * " " + text


def summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows: ``edgeitems`` at each end of every dimension."""
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        if values.shape[0] > 2 * edge:
            return np.concatenate((values[:edge], values[-edge:]))
        return values
    if not edge:
        return np.empty([0] * values.ndim, dtype=values.dtype)
    rows = (list(range(edge)) + list(range(len(values) - edge, len(values)))
            if values.shape[0] > 2 * edge else range(values.shape[0]))
    return np.stack([summarized(values[i]) for i in rows])


def _vector_str(values: np.ndarray, indent: int, summarize: bool, formatter: Formatter) -> str:
    element_length = formatter.width() + 2  # with ", " between elements
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / element_length)))
    edge = PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        data = ([formatter.format(v) for v in values[:edge].tolist()] + [" ..."]
                + [formatter.format(v) for v in values[-edge:].tolist()])
    else:
        data = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(values: np.ndarray, indent: int, summarize: bool, formatter: Formatter) -> str:
    if values.ndim == 0:
        return formatter.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, formatter)
    edge = PRINT_OPTS.edgeitems
    if summarize and values.shape[0] > 2 * edge:
        slices = ([_nested_str(values[i], indent + 1, summarize, formatter)
                   for i in range(edge)] + ["..."]
                  + [_nested_str(values[i], indent + 1, summarize, formatter)
                     for i in range(len(values) - edge, len(values))])
    else:
        slices = [_nested_str(row, indent + 1, summarize, formatter) for row in values]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def values_str(values: np.ndarray, indent: int) -> str:
    """The bracketed values of a (non-empty) array, as PyTorch prints them."""
    if values.dtype == np.float16:
        values = values.astype(np.float32)  # formatted as float, like PyTorch's half
    summarize = values.size > PRINT_OPTS.threshold
    formatter = Formatter(summarized(values) if summarize else values)
    return _nested_str(values, indent, summarize, formatter)


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line_length = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_length + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_length = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_length += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(tensor) -> str:
    """``repr(tensor)``: ``tensor([...]`` then its suffixes, PyTorch's way."""
    from numbanet import dtypes
    from numbanet.creation import host_array
    from numbanet.defaults import get_default_device

    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    where = tensor.device
    if where.type != get_default_device().type:
        suffixes.append(f"device='{where.type}:{where.index or 0}'"
                        if where.type == "cuda" else f"device='{where}'")
    default_float = dtypes.DEFAULT_FLOAT
    if tensor.numel() == 0:
        if tensor.dim() != 1:
            suffixes.append(f"size={tuple(tensor.shape)}")
        if tensor.dtype != default_float:
            suffixes.append(f"dtype={tensor.dtype}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(tensor.shape)}")
        if tensor.dtype not in (default_float, dtypes.int64, dtypes.bool_):
            suffixes.append(f"dtype={tensor.dtype}")
        body = values_str(host_array(tensor), indent)
    if tensor.grad_fn is not None:
        suffixes.append(f"grad_fn=<{tensor.grad_fn.name()}>")
    elif tensor.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)


def tensor_format(tensor, format_spec: str) -> str:
    """``f"{tensor:...}"``: a 0-d tensor formats as its Python number (``f"{loss:.3f}"``,
    ``f"Label: {label}"``), any other as its ``str``."""
    if tensor.dim() == 0:
        return tensor.item().__format__(format_spec)
    return object.__format__(tensor, format_spec)
