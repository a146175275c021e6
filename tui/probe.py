"""Statistics measured while an iteration records, stored in the trace as plain data.

A trace keeps every tensor of the iteration, but only small ones whole: a 32 × 256
activation is kept as statistics, a sample and a histogram. Some questions need the whole
tensor at the moment it existed — is unit 7 of this ReLU zero for *every* example of the
batch? what was Adam's ``exp_avg`` for this weight before the step? — so a
:class:`RecordingProbe` watches the lesson's model and optimizer (through the public API:
forward hooks, ``named_parameters``, ``optimizer.state``) while one iteration records, and
writes what it measured into ``trace.metadata``:

``trace.metadata["health"]``
    ``{"loss": L, "layers": [...]}`` — one entry per leaf module that ran, in call order::

        {"module": "Sequential.1", "kind": "ReLU",
         "activation_mean": 0.31, "activation_std": 0.52,
         "dead_fraction": 0.25,               # ReLU only: units zero for every example
         "grad_norm": 0.02,                   # ‖∂L/∂weight‖ (modules with a weight)
         "grad_ratio": 0.005,                 # ‖∂L/∂weight‖ / ‖weight‖
         "weight_norm": 4.1, "update_norm": 0.003,
         "update_ratio": 7e-4,                # ‖Δw‖ / ‖w‖ of this step
         "parameter": "1.weight"}

``trace.metadata["grids"]``
    small module outputs, parameters and gradients (up to 32 × 32) as rows of numbers, for
    the heat maps of :mod:`numbanet.viz.heatmap`.

``trace.metadata["optimizer_example"]``
    per parameter, one element whose gradient is not zero, with the numbers an update rule
    reads and writes: the parameter before and after, the gradient, each state entry
    (momentum buffer, ``exp_avg``, ``exp_avg_sq``, ``step``) before and after, and the
    parameter group's hyper-parameters. :mod:`numbanet.tui.update_rules` turns it into the
    rule of PyTorch's documentation with these numbers plugged in.

Both are JSON-friendly, so a saved trace keeps them.
"""

from __future__ import annotations

import math

import numpy as np

from numbanet.viz.heatmap import GRIDS, MAX_SIDE, as_matrix

HEALTH = "health"  # trace.metadata keys
OPTIMIZER_EXAMPLE = "optimizer_example"
RELU_KINDS = ("ReLU", "ReLU6")  # activations whose units can die (output exactly 0)


def host_array(tensor) -> np.ndarray:
    """A float64 copy of a tensor's values, on the host (works for CUDA tensors too)."""
    return np.array(tensor.detach().cpu().numpy(), dtype=np.float64, copy=True)


def norm(values: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(values, dtype=np.float64))))


def dead_fraction(output: np.ndarray) -> float:
    """Fraction of units that are 0 for every example of the batch.

    A unit is one position of the output apart from the batch dimension (a feature of an
    ``[N, F]`` output, a channel-and-pixel of an ``[N, C, H, W]`` one). A unit whose
    output is 0 for every example sends back no gradient for any of them: its weights stop
    learning — a *dead* ReLU.
    """
    if output.ndim < 2:
        return float(np.mean(output == 0)) if output.size else 0.0
    units = output.reshape(output.shape[0], -1)
    return float(np.mean(np.all(units == 0, axis=0)))


def _first_nonzero(gradient: np.ndarray) -> int | None:
    """Flat index of the element of largest magnitude, or None when the gradient is all 0."""
    flat = np.abs(gradient.ravel())
    finite = np.where(np.isfinite(flat), flat, -1.0)
    index = int(np.argmax(finite)) if flat.size else 0
    return index if flat.size and finite[index] > 0 else None


def _plain(value):
    """A hyper-parameter as JSON (tuples become lists, tensors numbers)."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, bool | int | float):
        return float(value.item())
    return value


class RecordingProbe:
    """Watch ``model`` and ``optimizer`` during one recorded iteration.

    Use it around the recording, then :meth:`write` what it saw into the trace::

        probe = RecordingProbe(lesson.model, lesson.optimizer)
        with probe:
            trace = record_iteration(lesson)
        probe.write(trace)
    """

    def __init__(self, model, optimizer=None):
        self.model = model
        self.optimizer = optimizer
        self.root = type(model).__name__
        self._handles: list = []
        self._outputs: dict[str, tuple[str, np.ndarray]] = {}  # module path -> (kind, output)
        self._order: list[str] = []
        self._parameters_before: dict[str, np.ndarray] = {}
        self._state_before: dict[str, dict[str, np.ndarray | float]] = {}

    # ---- around the recording ------------------------------------------------------------
    def __enter__(self) -> RecordingProbe:
        for name, module in self.model.named_modules():
            if next(iter(module.children()), None) is not None:
                continue  # containers: their leaves are measured
            path = f"{self.root}.{name}" if name else self.root
            self._handles.append(module.register_forward_hook(self._hook(path)))
        self._parameters_before = {name: host_array(parameter) for name, parameter
                                   in self.model.named_parameters()}
        self._state_before = self._optimizer_state()
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, path: str):
        def remember_output(module, inputs, output) -> None:
            if hasattr(output, "detach") and output.is_floating_point():
                if path not in self._outputs:
                    self._order.append(path)
                self._outputs[path] = (type(module).__name__, host_array(output))
        return remember_output

    def _optimizer_state(self) -> dict[str, dict]:
        """Per parameter name: a copy of each state entry (arrays and the step count)."""
        if self.optimizer is None:
            return {}
        names = {id(parameter): name for name, parameter in self.model.named_parameters()}
        copied: dict[str, dict] = {}
        for group in self.optimizer.param_groups:
            for parameter in group["params"]:
                name = names.get(id(parameter))
                state = self.optimizer.state.get(parameter, {}) if name else {}
                copied[name] = {key: host_array(value) if hasattr(value, "detach")
                                else _plain(value) for key, value in state.items()}
        copied.pop(None, None)
        return copied

    # ---- after the recording -------------------------------------------------------------
    def write(self, trace) -> None:
        """Store the health statistics and the optimizer example in ``trace.metadata``."""
        trace.metadata[HEALTH] = self.health(trace.metadata.get("loss"))
        trace.metadata[GRIDS] = self.grids()
        if self.optimizer is not None:
            trace.metadata[OPTIMIZER_EXAMPLE] = self.optimizer_example()

    def grids(self) -> dict[str, list[list[float]]]:
        """Heat-map grids (at most 32 × 32) of each module output, and each parameter before
        the step and its gradient: ``{"output Sequential.0": rows, "parameter 0.weight":
        rows, "gradient 0.weight": rows}``."""
        found = {}
        arrays = [(f"output {path}", self._outputs[path][1]) for path in self._order]
        for name, parameter in self.model.named_parameters():
            arrays.append((f"parameter {name}", self._parameters_before.get(name)))
            if parameter.grad is not None:
                arrays.append((f"gradient {name}", host_array(parameter.grad)))
        for key, array in arrays:
            if array is not None and array.size <= MAX_SIDE * MAX_SIDE:
                matrix = as_matrix(array.tolist(), list(array.shape))
                if matrix is not None:
                    found[key] = matrix
        return found

    def health(self, loss: float | None) -> dict:
        parameters = dict(self.model.named_parameters())
        layers = []
        for path in self._order:
            kind, output = self._outputs[path]
            finite = output[np.isfinite(output)]
            layer = {"module": path, "kind": kind,
                     "activation_mean": float(finite.mean()) if finite.size else math.nan,
                     "activation_std": float(finite.std()) if finite.size else math.nan,
                     "dead_fraction": dead_fraction(output) if kind in RELU_KINDS else None}
            owner = path[len(self.root) + 1:]
            name = f"{owner}.weight" if owner else "weight"
            if name in parameters:
                layer.update(self._parameter_health(name, parameters[name]))
            layers.append(layer)
        return {"loss": loss, "layers": layers}

    def _parameter_health(self, name: str, parameter) -> dict:
        after = host_array(parameter)
        before = self._parameters_before.get(name, after)
        gradient = host_array(parameter.grad) if parameter.grad is not None else None
        weight_norm, update_norm = norm(before), norm(after - before)
        grad_norm = norm(gradient) if gradient is not None else None
        return {"parameter": name, "grad_norm": grad_norm,
                "grad_ratio": None if grad_norm is None or weight_norm == 0
                else grad_norm / weight_norm,
                "weight_norm": weight_norm, "update_norm": update_norm,
                "update_ratio": update_norm / weight_norm if weight_norm > 0 else math.inf}

    def optimizer_example(self) -> dict:
        """Per parameter: one element with a nonzero gradient and every number its update
        read and wrote (see the module docstring)."""
        state_after = self._optimizer_state()
        examples = {"optimizer": type(self.optimizer).__name__, "parameters": []}
        names = {id(parameter): name for name, parameter in self.model.named_parameters()}
        for group in self.optimizer.param_groups:
            hyper = {key: _plain(value) for key, value in group.items() if key != "params"}
            for parameter in group["params"]:
                name = names.get(id(parameter))
                if name is None or parameter.grad is None:
                    continue
                gradient = host_array(parameter.grad)
                index = _first_nonzero(gradient)
                if index is None:
                    examples["parameters"].append({"name": name, "zero_gradient": True})
                    continue
                position = [int(i) for i in np.unravel_index(index, gradient.shape)] \
                    if gradient.ndim else []
                before = self._parameters_before[name].ravel()[index]
                after = host_array(parameter).ravel()[index]
                examples["parameters"].append({
                    "name": name, "index": position, "shape": list(gradient.shape),
                    "before": float(before), "gradient": float(gradient.ravel()[index]),
                    "after": float(after), "hyper": hyper,
                    "state_before": _element(self._state_before.get(name, {}), index),
                    "state_after": _element(state_after.get(name, {}), index),
                })
        return examples


def _element(state: dict, index: int) -> dict:
    """Element ``index`` of each state array; one-element entries (the step count) whole."""
    return {key: float(value.ravel()[index if value.size > 1 else 0])
            if isinstance(value, np.ndarray) else value
            for key, value in state.items()}
