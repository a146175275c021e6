"""Layer health over iterations, and what it says is wrong: the diagnoses.

Each recorded iteration carries per-layer statistics (``trace.metadata["health"]``, measured
while it recorded: see :mod:`numbanet.tui.probe`). This module reads them across iterations
— no terminal, no widgets — and flags the four classic ways a network fails to train. Each
diagnosis states its threshold, names the worst layer and the node to jump to.

The thresholds (also in the dashboard and ``docs/TRAINING_DYNAMICS.md``):

- **vanishing gradients** — the first layer's relative gradient ``‖∂L/∂W‖ / ‖W‖`` is
  smaller than ``1e-3`` × the last layer's (median over the iterations): the early layers
  barely learn. (Relative, because a layer with large weights needs a large gradient to
  change: a deep sigmoid net with N(0, 1) weights has first-layer gradients only 300 times
  smaller than the last layer's, but weights 20 times larger.)
- **exploding gradients** — the first layer's relative gradient is larger than ``1e3`` ×
  the last layer's, or a gradient or the loss is not finite.
- **dead ReLUs** — more than 50 % of a ReLU layer's units output 0 for every example of
  the batch (in the newest iteration): no gradient flows through them, they never recover.
- **learning rate too high / too low** — the update-to-weight ratio ``‖Δw‖ / ‖w‖`` of a
  step should be about ``1e-3``; a layer's median ratio above ``1e-1`` while the loss does
  not fall (the newest loss not below the first; with one iteration, the ratio alone), or a
  loss that becomes NaN or grows 10-fold, is too high; every layer's below ``1e-5`` too low.
  (Small models that start with small weights take big relative steps and still learn:
  hence the loss condition.)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from numbanet.trace import Trace

from .probe import HEALTH

VANISHING_RATIO = 1e-3  # relative gradient of the first layer / the last's: vanishing
EXPLODING_RATIO = 1e3  # ... above this: exploding
DEAD_FRACTION = 0.5  # share of a ReLU layer's units dead for the whole batch
UPDATE_RATIO_TARGET = 1e-3  # ‖Δw‖ / ‖w‖ of a healthy step
UPDATE_RATIO_HIGH = 1e-1  # a layer's median above this: learning rate too high
UPDATE_RATIO_LOW = 1e-5  # every layer's median below this: learning rate too low
LOSS_GROWTH = 10.0  # newest loss / first loss above this: learning rate too high

THRESHOLDS = {
    "vanishing gradients": f"‖∂L/∂W‖/‖W‖ of the first layer < {VANISHING_RATIO:g} × the "
                           "last layer's (median over iterations)",
    "exploding gradients": f"‖∂L/∂W‖/‖W‖ of the first layer > {EXPLODING_RATIO:g} × the "
                           "last layer's, or a gradient or the loss is NaN/inf",
    "dead ReLUs": f"> {DEAD_FRACTION:.0%} of a ReLU layer's units output 0 for every "
                  "example of the batch (newest iteration)",
    "learning rate too high": f"a layer's median ‖Δw‖/‖w‖ > {UPDATE_RATIO_HIGH:g} (healthy: "
                              f"about {UPDATE_RATIO_TARGET:g}) while the loss does not fall, "
                              f"or the loss is NaN or grew {LOSS_GROWTH:g}-fold",
    "learning rate too low": f"every layer's median ‖Δw‖/‖w‖ < {UPDATE_RATIO_LOW:g} "
                             f"(healthy: about {UPDATE_RATIO_TARGET:g})",
}

METRICS = {  # per-layer series the dashboard plots: key -> label
    "grad_norm": "‖∂L/∂W‖",
    "grad_ratio": "‖∂L/∂W‖/‖W‖",
    "update_ratio": "‖Δw‖/‖w‖",
    "activation_mean": "activation mean",
    "activation_std": "activation std",
    "dead_fraction": "dead ReLU fraction",
}


@dataclass
class Diagnosis:
    """One problem found: what, in which layer, the measured value and the threshold."""

    kind: str  # a key of THRESHOLDS
    module: str  # the worst layer's module path, e.g. "Sequential.0"
    value: float
    message: str
    parameter: str | None = None  # the worst layer's weight, e.g. "0.weight"

    @property
    def threshold(self) -> str:
        return THRESHOLDS[self.kind]

    def describe(self) -> str:
        return f"{self.kind}: {self.message}  [threshold: {self.threshold}]"


def healths(traces: list[Trace]) -> list[dict]:
    """The health record of each trace that has one (saved traces before this feature have
    none), in iteration order."""
    return [trace.metadata[HEALTH] for trace in traces if HEALTH in trace.metadata]


def layer_names(history: list[dict]) -> list[str]:
    """Module paths in call order, as the newest iteration ran them."""
    return [layer["module"] for layer in history[-1]["layers"]] if history else []


def series(history: list[dict], module: str, metric: str) -> list[float]:
    """One metric of one layer over the iterations (NaN where an iteration lacks it)."""
    values = []
    for health in history:
        layer = next((entry for entry in health["layers"] if entry["module"] == module), {})
        value = layer.get(metric)
        values.append(math.nan if value is None else float(value))
    return values


def loss_series(history: list[dict]) -> list[float]:
    return [math.nan if health.get("loss") is None else float(health["loss"])
            for health in history]


def _median(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return statistics.median(finite) if finite else math.nan


def _weighted_layers(history: list[dict]) -> list[dict]:
    """The newest iteration's layers that own a weight (Linear, Conv2d, ...), in order."""
    return [layer for layer in history[-1]["layers"] if layer.get("parameter")] \
        if history else []


def diagnose(history: list[dict]) -> list[Diagnosis]:
    """Every diagnosis the recorded iterations support (empty: nothing looks wrong)."""
    if not history:
        return []
    found: list[Diagnosis] = []
    weighted = _weighted_layers(history)
    gradients = {layer["module"]: _median(series(history, layer["module"], "grad_ratio"))
                 for layer in weighted}
    found += _gradient_flow(history, weighted, gradients)
    found += _dead_relus(history)
    found += _learning_rate(history, weighted)
    return found


def _gradient_flow(history, weighted, gradients) -> list[Diagnosis]:
    nonfinite = [layer for layer in weighted
                 if any(not math.isfinite(value) for value in
                        series(history, layer["module"], "grad_norm"))]
    if nonfinite:
        layer = nonfinite[0]
        return [Diagnosis("exploding gradients", layer["module"], math.inf,
                          f"{layer['parameter']} has a NaN or infinite gradient",
                          layer["parameter"])]
    if len(weighted) < 2:
        return []
    first, last = weighted[0], weighted[-1]
    top = gradients[last["module"]]
    if not top > 0:
        return []
    ratio = gradients[first["module"]] / top
    if ratio < VANISHING_RATIO:
        smallest = min(weighted, key=lambda layer: gradients[layer["module"]])
        return [Diagnosis(
            "vanishing gradients", smallest["module"], ratio,
            f"‖∂L/∂W‖/‖W‖ of {first['parameter']} is {ratio:.2g} × that of "
            f"{last['parameter']}; smallest in {smallest['module']} "
            f"({gradients[smallest['module']]:.2g})",
            smallest["parameter"])]
    if ratio > EXPLODING_RATIO:
        largest = max(weighted, key=lambda layer: gradients[layer["module"]])
        return [Diagnosis(
            "exploding gradients", largest["module"], ratio,
            f"‖∂L/∂W‖/‖W‖ of {first['parameter']} is {ratio:.2g} × that of "
            f"{last['parameter']}", largest["parameter"])]
    return []


def _dead_relus(history) -> list[Diagnosis]:
    relus = [layer for layer in history[-1]["layers"] if layer.get("dead_fraction") is not None]
    if not relus:
        return []
    worst = max(relus, key=lambda layer: layer["dead_fraction"])
    if worst["dead_fraction"] <= DEAD_FRACTION:
        return []
    dead = [layer for layer in relus if layer["dead_fraction"] > DEAD_FRACTION]
    return [Diagnosis(
        "dead ReLUs", worst["module"], worst["dead_fraction"],
        f"{worst['dead_fraction']:.0%} of the units of {worst['module']} are 0 for every "
        f"example ({len(dead)} of {len(relus)} ReLU layers over {DEAD_FRACTION:.0%})")]


def _learning_rate(history, weighted) -> list[Diagnosis]:
    losses = loss_series(history)
    ratios = {layer["module"]: _median(series(history, layer["module"], "update_ratio"))
              for layer in weighted}
    measured = {module: ratio for module, ratio in ratios.items() if math.isfinite(ratio)}
    if losses and not math.isfinite(losses[-1]):
        module = max(measured, key=measured.get) if measured else ""
        return [Diagnosis("learning rate too high", module, losses[-1],
                          f"the loss became {losses[-1]} at iteration {len(losses)}")]
    falling = len(losses) > 1 and losses[-1] < losses[0]
    if measured and not falling:
        module = max(measured, key=measured.get)
        if measured[module] > UPDATE_RATIO_HIGH:
            return [Diagnosis(
                "learning rate too high", module, measured[module],
                f"median ‖Δw‖/‖w‖ of {module} is {measured[module]:.2g} "
                f"({measured[module] / UPDATE_RATIO_TARGET:.0f} × the healthy "
                f"{UPDATE_RATIO_TARGET:g})", _parameter_of(weighted, module))]
    if len(losses) > 1 and losses[0] > 0 and losses[-1] / losses[0] > LOSS_GROWTH:
        return [Diagnosis("learning rate too high", "", losses[-1] / losses[0],
                          f"the loss grew from {losses[0]:.3g} to {losses[-1]:.3g}")]
    learning = {module: ratio for module, ratio in measured.items()  # zero gradient: no
                if _median(series(history, module, "grad_norm")) > 0}  # rate can help
    if learning and max(learning.values()) < UPDATE_RATIO_LOW:
        module = min(learning, key=learning.get)
        return [Diagnosis(
            "learning rate too low", module, learning[module],
            f"the largest median ‖Δw‖/‖w‖ is {max(learning.values()):.2g} "
            f"(healthy: about {UPDATE_RATIO_TARGET:g})", _parameter_of(weighted, module))]
    return []


def _parameter_of(weighted: list[dict], module: str) -> str | None:
    return next((layer["parameter"] for layer in weighted if layer["module"] == module), None)


def node_index(trace: Trace, diagnosis: Diagnosis) -> int | None:
    """The node of ``trace`` to jump to for ``diagnosis``: the worst weight's
    ``AccumulateGrad`` for gradient diagnoses, the worst layer's first forward op for dead
    ReLUs, the optimizer step for the learning rate."""
    events = trace.events
    if diagnosis.kind.startswith("learning rate"):
        candidates = [i for i, event in enumerate(events) if event.phase == "optimizer"]
    elif diagnosis.kind.endswith("gradients") and diagnosis.parameter:
        candidates = [i for i, event in enumerate(events) if event.op == "AccumulateGrad"
                      and event.attributes.get("parameter") == diagnosis.parameter]
    else:
        candidates = []
    candidates = candidates or [i for i, event in enumerate(events)
                                if event.phase == "forward"
                                and event.module_path == diagnosis.module]
    return candidates[0] if candidates else None


def report(history: list[dict]) -> list[str]:
    """Text lines for ``--headless --diagnose``: a table per layer, then the diagnoses."""
    if not history:
        return ["# no layer statistics were recorded (a saved trace from an older numbanet?)"]
    lines = [f"# layer health over {len(history)} iteration(s); loss "
             + " → ".join(f"{loss:.4g}" for loss in _ends(loss_series(history)))]
    lines.append(f"{'layer':<18} {'kind':<10} {'‖∂L/∂W‖':>10} {'‖∂L/∂W‖/‖W‖':>12} "
                 f"{'‖Δw‖/‖w‖':>10} {'act mean':>10} {'act std':>10} {'dead':>6}")
    for layer in history[-1]["layers"]:
        module = layer["module"]

        def median(metric, module=module):
            return _median(series(history, module, metric))

        dead = layer.get("dead_fraction")
        lines.append(f"{module:<18} {layer['kind']:<10} {_number(median('grad_norm')):>10} "
                     f"{_number(median('grad_ratio')):>12} "
                     f"{_number(median('update_ratio')):>10} "
                     f"{_number(median('activation_mean')):>10} "
                     f"{_number(median('activation_std')):>10} "
                     f"{'-' if dead is None else f'{dead:.0%}':>6}")
    found = diagnose(history)
    lines.append(f"# diagnoses: {len(found) or 'none'}")
    lines += [diagnosis.describe() for diagnosis in found]
    return lines


def _ends(values: list[float]) -> list[float]:
    return values if len(values) <= 2 else [values[0], values[-1]]


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3g}"
