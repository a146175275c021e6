"""Anomaly detection: stop at the op that first produced a NaN or an infinity.

PyTorch's ``torch.autograd.detect_anomaly()`` checks the backward pass only: when a
backward node returns NaN it raises, and prints the traceback of the forward call. A NaN
made in the *forward* pass goes unnoticed until it has spread into the loss and every
gradient, and the error then points at a later op than the one that made it. Here, the
same two switches::

    with numbanet.autograd.detect_anomaly():     # or: set_detect_anomaly(True)
        loss = criterion(model(x), y)
        loss.backward()

check both passes:

- **forward**: after every op, its outputs are checked. The first op whose output holds a
  NaN or an infinity raises a ``RuntimeError`` naming the op, its formula, the module it
  ran in, the line of *your* code that called it and, for a few offending output
  elements, the input values that produced them: ``sqrt(sqrt(x - 2))`` at ``x = 1`` stops
  at the inner ``sqrt`` (``sqrt(-1)``), not at the loss.
- **backward**: every gradient a backward node returns is checked; a non-finite one raises
  naming the backward node, its forward op and that op's line in your code.

When off (the default), the cost is one flag test per op and per backward node. When on,
every output is copied to the host and scanned: use it to find a bug, not to train.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

import numpy as np

enabled = False  # read by Function.apply and the backward engine
_check_nan = True
_in_backward_rule = False  # a backward rule's own ops are judged by what the rule returns
_ELEMENTS_SHOWN = 3


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks for NaN/Inf (``check_nan``)."""
    return enabled and _check_nan


def _set(mode: bool, check_nan: bool) -> tuple[bool, bool]:
    global enabled, _check_nan
    previous = (enabled, _check_nan)
    enabled, _check_nan = bool(mode), bool(check_nan)
    return previous


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager (and decorator) that turns anomaly detection on inside it.

    ``check_nan=False`` keeps the extra bookkeeping (each op's line) without the NaN/Inf
    checks, as in PyTorch."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self._previous = (False, True)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the "
                      "runtime and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        self._previous = _set(True, self.check_nan)

    def __exit__(self, *exc_info) -> None:
        _set(*self._previous)

    def __call__(self, function):
        import functools

        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return function(*args, **kwargs)

        return wrapped


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off: a plain call (``set_detect_anomaly(True)``) or a
    context manager that restores the previous setting on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._previous = _set(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info) -> None:
        _set(*self._previous)


# ---- the checks (called only while enabled) -----------------------------------------------
def _host(tensor) -> np.ndarray:
    return np.asarray(tensor._host())


def _problem(array: np.ndarray) -> str | None:
    """"nan" or "inf" when a floating array holds such values (NaN named first)."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return None
    if np.isnan(array).any():
        return "nan"
    if np.isinf(array).any():
        return "inf"
    return None


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        number % 10, "th")
    return f"{number}{suffix}"


def _number(value: float) -> str:
    return f"{float(value):.6g}"


def _index_text(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def module_path() -> str:
    """The module the current op runs in: ``Net.fc1`` (the recording's module stack when
    a trace records, else the ``forward`` methods of modules on the Python stack)."""
    from numbanet import trace
    from numbanet.nn.module import Module

    recorder = trace._active
    if recorder is not None and recorder.module_stack:
        return ".".join(recorder.module_stack)
    modules = []
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "forward" else None
        if isinstance(owner, Module) and (not modules or modules[-1] is not owner):
            modules.append(owner)
        frame = frame.f_back
    if not modules:
        return ""
    modules.reverse()  # outermost first
    path = [type(modules[0]).__name__]
    for outer, inner in zip(modules, modules[1:], strict=False):
        name = next((n for n, m in outer.named_modules() if m is inner and n), None)
        path.append(name or type(inner).__name__)
    return ".".join(path)


def _where(module: str, source: str) -> list[str]:
    return [f"  module: {module or '(outside any module)'}",
            f"  line:   {source or '(no line of your code on the stack)'}"]


@contextmanager
def backward_rule():
    """While a backward rule runs, its ops are not forward ops: the engine checks what
    the rule returns instead (and names the backward node)."""
    global _in_backward_rule
    previous, _in_backward_rule = _in_backward_rule, True
    try:
        yield
    finally:
        _in_backward_rule = previous


def note_forward(ctx) -> None:
    """Remember where an op was called (its backward's error names that line)."""
    from numbanet.trace import user_source_line

    if ctx is not None and hasattr(ctx, "__dict__"):
        ctx.anomaly_source = user_source_line()
        ctx.anomaly_module = module_path()


def check_forward(function, args, outputs, ctx) -> None:
    """Raise when an output of this op holds NaN/Inf (called after its forward)."""
    if _in_backward_rule:
        return
    note_forward(ctx)
    if not _check_nan:
        return
    for position, output in enumerate(outputs):
        values = _host(output)
        problem = _problem(values)
        if problem is None:
            continue
        raise RuntimeError(_forward_message(function, args, position, values, problem, ctx))


def _forward_message(function, args, position: int, values: np.ndarray, problem: str,
                     ctx) -> str:
    from numbanet.tensor import Tensor

    bad = ~np.isfinite(values)
    inputs = [(number, _host(arg)) for number, arg in enumerate(args)
              if isinstance(arg, Tensor)]
    carried = [number for number, array in inputs if _problem(array)]
    formula = (function.formula() or "").strip().split("\n\n")[0]
    formula = " ".join(line.strip() for line in formula.splitlines())
    verb = "received" if carried else "produced"
    lines = [f"Function '{function.op_name()}' {verb} {problem} values in its "
             f"{_ordinal(position)} output in the forward pass "
             f"({int(bad.sum())} of {values.size} elements).",
             f"  op:     {function.op_name()}" + (f"  ({formula})" if formula else ""),
             *_where(getattr(ctx, "anomaly_module", ""), getattr(ctx, "anomaly_source", ""))]
    if carried:
        lines.append("  input " + ", ".join(str(n) for n in carried) + " already held "
                     "NaN/Inf before this op: it came from a tensor no checked op made "
                     "(data, a parameter, or code run before anomaly detection was on)")
    for flat in np.flatnonzero(bad.ravel())[:_ELEMENTS_SHOWN]:
        index = np.unravel_index(flat, values.shape) if values.shape else ()
        parts = []
        for number, array in inputs:
            if function.elementwise and array.size:
                value = np.broadcast_to(array, values.shape)[index] if values.shape else array
                parts.append(f"input {number} = {_number(value)}")
        source = (" from " + ", ".join(parts)) if parts else ""
        lines.append(f"  at output{_index_text(index)} = {_number(values[index])}{source}")
    if not function.elementwise:
        for number, array in inputs:
            if array.size and array.dtype.kind == "f":
                lines.append(f"  input {number}: shape {list(array.shape)}, min "
                             f"{_number(np.nanmin(array))}, max {_number(np.nanmax(array))}")
    return "\n".join(lines)


def check_backward(node, grad_outputs, grad_inputs) -> None:
    """Raise when a backward node returned a NaN/Inf gradient (called by the engine)."""
    if not _check_nan:
        return
    for position, gradient in enumerate(grad_inputs):
        if gradient is None:
            continue
        values = _host(gradient)
        problem = _problem(values)
        if problem is None:
            continue
        upstream_bad = any(g is not None and _problem(_host(g)) for g in grad_outputs)
        forward = node.function.op_name()
        source = getattr(node, "anomaly_source", "") or \
            "(unknown: the op ran before anomaly detection was on)"
        lines = [f"Function '{node.backward_name()}' returned {problem} values in its "
                 f"{_ordinal(position)} output.",
                 f"  backward node: {node.backward_name()}, the gradient of {forward}",
                 f"  forward op:    {forward}, run in "
                 f"{getattr(node, 'anomaly_module', '') or '(outside any module)'}",
                 f"  its line:      {source}"]
        lines.append("  the upstream gradient already held NaN/Inf" if upstream_bad else
                     "  the upstream gradient was finite: this backward rule produced it")
        flat = int(np.flatnonzero(~np.isfinite(values).ravel())[0])
        index = np.unravel_index(flat, values.shape) if values.shape else ()
        lines.append(f"  at gradient{_index_text(index)} = {_number(values[index])}")
        raise RuntimeError("\n".join(lines))
