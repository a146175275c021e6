"""The text inside each node: op name, shape, dtype and a summary of the values.

Each label is plain text (see :func:`node_label`): the WebAssembly Graphviz has no HTML
labels, and record labels break side-by-side edges.

A tensor is summarised so a student can spot trouble at a glance:

- tiny tensors (at most :data:`TINY` values) show every value: ``values [0.5, -1.25]``,
- larger ones show ``mean``/``std`` and ``min``/``max``,
- NaN and Inf are counted on a line of their own, in capitals, so they catch the eye.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

TINY = 4  # tensors with at most this many values are printed whole
MAX_TITLE = 48  # longer titles are cut with an ellipsis
MAX_RULE = 60  # the rule under the title is as wide as the widest line, up to this


def escape(text: str) -> str:
    """Escape backslashes, which Graphviz reads as ``\\n``/``\\l`` line breaks."""
    return str(text).replace("\\", "\\\\")


def node_label(title: str, *sections: Iterable[str]) -> str:
    """A node's text: ``title`` centred, a rule of underscores, then the rows of every
    section, left-aligned (``\\l`` ends a left-aligned line in Graphviz).

    Plain text rather than a Graphviz record (``{title|rows}``): Graphviz drops an edge
    between two record nodes drawn side by side, and our forward/backward links are such
    edges. The labels use a monospace font, so the rule lines up with the text.
    """
    title = title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 3] + "..."
    rows = [row for section in sections for row in section if row]
    if not rows:
        return escape(title)
    rule = "_" * min(MAX_RULE, max(len(line) for line in (title, *rows)))
    return escape(title) + "\\n" + rule + "\\l" + "".join(escape(r) + "\\l" for r in rows)


def number(value: float) -> str:
    """A value in at most 4 significant digits (``0.01234``, ``-1.5e+03``, ``nan``)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, (bool, int)) and not isinstance(value, float):
        return str(int(value))
    return f"{value + 0.0:.4g}"  # + 0.0 turns -0.0 (e.g. relu of a negative) into 0


def shape_text(shape) -> str:
    """``[2, 16]``; a scalar shows as ``scalar``."""
    return f"[{', '.join(str(n) for n in shape)}]" if len(shape) else "scalar"


def _flatten(values) -> list:
    flat, stack = [], [values]
    while stack:  # iterative: no recursion limit on nesting depth
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    return flat


def value_rows(stats: dict, values=None) -> list[str]:
    """The value summary of a tensor: its values when tiny, else mean/std and min/max."""
    rows = []
    numel = stats.get("numel", 0)
    if values is not None and numel <= TINY:
        flat = _flatten(values) if isinstance(values, list) else [values]
        if len(flat) == 1:
            rows.append(f"value {number(flat[0])}")
        else:
            rows.append("values [" + ", ".join(number(v) for v in flat) + "]")
    elif numel:
        rows.append(f"mean {number(stats['mean'])}  std {number(stats['std'])}")
        rows.append(f"min {number(stats['min'])}  max {number(stats['max'])}")
    bad = [f"{stats[key]} {key.upper()}" for key in ("nan", "inf") if stats.get(key)]
    if bad:
        rows.append("!! " + ", ".join(bad) + " !!")
    return rows


def tensor_rows(tensor, with_dtype: bool = True) -> list[str]:
    """Shape (and dtype) on one line, then the value summary of a ``TensorRecord``."""
    head = shape_text(tensor.shape) + (f"  {tensor.dtype}" if with_dtype else "")
    return [head, *value_rows(tensor.stats, tensor.values)]


MAX_ATTRIBUTE = 16  # longer argument values (a random seed, a long list) are left out


def attributes_text(attributes: dict) -> str:
    """Op arguments worth a glance: ``dim=1 keepdim=True`` (None, False and values longer
    than :data:`MAX_ATTRIBUTE` characters left out)."""
    shown = [f"{key}={_short(value)}" for key, value in attributes.items()
             if value is not None and value is not False]
    return " ".join(item for item in shown if len(item.split("=", 1)[1]) <= MAX_ATTRIBUTE)


def _short(value) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_short(v) for v in value) + ")"
    return str(value)


def gradient_row(target: str, tensor) -> str:
    """One line for a gradient sent to ``target``: shape and its mean (or value)."""
    stats = tensor.stats
    if tensor.values is not None and stats.get("numel", 0) <= TINY:
        summary = value_rows(stats, tensor.values)[0]
    else:
        summary = f"mean {number(stats['mean'])}  std {number(stats['std'])}"
    alarm = "  !! NaN/Inf !!" if stats.get("nan") or stats.get("inf") else ""
    return f"-> {target}: {shape_text(tensor.shape)}  {summary}{alarm}"


def tooltip(*lines: str) -> str:
    """Hover text for the SVG (shown by browsers): node id, source line, formula."""
    return "\n".join(line for line in lines if line)
