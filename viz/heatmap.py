"""Look, don't read: small tensors as heat maps, in diverging colours around zero.

A 16 × 16 weight matrix is 256 numbers; as a grid of coloured cells its structure shows at
a glance — which units are dead (a white column), which weights grew (deep red or blue).
Colours diverge around 0: blue for negative, white for 0, red for positive, the scale
symmetric (``±limit``, the largest magnitude), so the same colour means the same number in
every cell of one map.

Where the values come from: a trace keeps small tensors whole (``TensorRecord.values``, at
most 64 elements); the stepper's probe also keeps, per iteration, the module outputs,
parameters and gradients of up to 32 × 32 (``trace.metadata["grids"]``, keys like
``"output Sequential.0"``, ``"parameter 0.weight"``, ``"gradient 0.weight"``).
:func:`event_grids` gathers the maps of one event; the stepper (``m``) and the HTML replay
draw them.
"""

from __future__ import annotations

import math

from numbanet.trace import Event, TensorRecord, Trace

MAX_SIDE = 32  # a heat map is at most MAX_SIDE × MAX_SIDE cells
GRIDS = "grids"  # trace.metadata key


def as_matrix(values, shape: list[int]) -> list[list[float]] | None:
    """Values as rows of a grid: a vector is one row, a matrix itself, a higher-rank tensor
    its leading dimensions stacked as rows; None for a scalar or more than 32 × 32."""
    if not shape or values is None:
        return None
    columns = shape[-1]
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    if not 0 < rows <= MAX_SIDE or not 0 < columns <= MAX_SIDE:
        return None
    flat = _flat(values)
    return [[float(value) for value in flat[r * columns:(r + 1) * columns]]
            for r in range(rows)]


def _flat(values) -> list:
    if isinstance(values, list):
        return [item for value in values for item in _flat(value)]
    return [values]


def limit_of(matrix: list[list[float]]) -> float:
    """The colour scale's half-width: the largest finite magnitude (1 when all are 0)."""
    largest = max((abs(v) for row in matrix for v in row if math.isfinite(v)), default=0.0)
    return largest or 1.0


def colour(value: float, limit: float) -> tuple[int, int, int]:
    """Diverging colour: white at 0, pure blue at -limit, pure red at +limit (RGB 0-255);
    NaN and infinities are drawn yellow, so they stand out."""
    if not math.isfinite(value):
        return (255, 215, 0)
    t = max(-1.0, min(1.0, value / limit))
    fade = round(255 * (1 - abs(t)))
    return (255, fade, fade) if t >= 0 else (fade, fade, 255)


def hex_colour(value: float, limit: float) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour(value, limit))


def record_matrix(record: TensorRecord | None) -> list[list[float]] | None:
    return None if record is None else as_matrix(record.values, record.shape)


def event_grids(event: Event, trace: Trace) -> list[tuple[str, list[list[float]]]]:
    """``(label, matrix)`` for every tensor of ``event`` small enough to draw: its inputs
    and outputs kept whole, and the probe's grids of the module output, parameter and
    gradient this event shows."""
    found: list[tuple[str, list[list[float]]]] = []
    grids = trace.metadata.get(GRIDS, {})
    parameter = event.attributes.get("parameter")
    keyed = []
    if parameter:
        keyed = [f"parameter {parameter}", f"gradient {parameter}"]
    elif event.phase in ("forward", "loss") and event.module_path:
        last = [e for e in trace.events if e.phase == event.phase
                and e.module_path == event.module_path]
        if last and last[-1] is event:
            keyed = [f"output {event.module_path}"]
    for key in keyed:
        if key in grids:
            found.append((key, grids[key]))
    named = {label for label, _ in found}
    for kind, records in (("input", event.inputs), ("output", event.outputs)):
        for index, record in enumerate(records):
            matrix = record_matrix(record)
            label = f"{kind} {index}" + (f" ({record.name})" if record and record.name else "")
            if matrix is not None and not (kind == "output" and keyed and named):
                found.append((label, matrix))
    return found
