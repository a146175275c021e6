"""A gradient check at one node: its backward rule against finite differences of its forward.

``gradcheck`` compares whole Jacobians of a function you pass it. The stepper wants
something cheaper and more pointed: while an iteration is recorded, check *each* backward
node with the upstream gradient it actually received. For a node whose forward computed
``y = f(x_1, ..., x_n)`` and which received ``g = ∂L/∂y``, the chain rule says its backward
must return, for each input,

    ∂L/∂x_i[k]  =  Σ_j g[j] · ∂y[j]/∂x_i[k]          (a vector-Jacobian product)

and the right-hand side can be measured without any backward rule, by nudging one input
element in both directions and re-running the forward (a central difference, error of
order eps²):

    numeric[k]  =  Σ_j g[j] · (y(x_i[k] + eps)[j] − y(x_i[k] − eps)[j]) / (2 eps)

Both sides are computed in float64, on float64 copies of the recorded inputs (in float32,
rounding would swamp the difference): the analytic side by running the node's own
``backward`` on a float64 re-run of its forward, the numeric side by re-running the
forward. Each element gets a relative error ``|analytic − numeric| / max(|analytic|,
|numeric|, floor)`` (the floor, 1e-4 of the largest numeric value of that input, keeps
elements whose gradient is almost zero from dividing by rounding noise). Large inputs are
checked at evenly spaced elements plus the element with the largest gradient, and as a
whole along one random direction ``v`` (``Σ_k analytic[k] v[k]`` against the difference
of the forward along ``v``), so a bug in an element that was not sampled still shows.

The random number generator is put back to its state before the original forward for
every re-run, so an op that draws random numbers (dropout) draws the same ones again.
Used by :class:`numbanet.trace.Recorder` when a recording asks for gradient checks; its
result is plain data stored on the backward event (``Event.gradcheck``).

:func:`check_parameters` is the *path* mode: a parameter's whole gradient — every node
between it and the loss — against differences of the loss itself, on a float64 copy of the
model (the lesson runner stores it in the trace's metadata).
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-6  # the nudge of a central difference in float64
TOLERANCE = 1e-3  # a node fails when any checked element's relative error exceeds this
ELEMENTS_CHECKED = 16  # evenly spaced elements checked one by one in a large input
RELATIVE_FLOOR = 1e-4  # of the largest |numeric| in an input: see the module docstring


def snapshot_arguments(args) -> list:
    """A copy of a forward call's arguments that later in-place changes cannot reach:
    each Tensor (also inside a list or tuple) as ``("tensor", host array copy)``."""
    return [_snapshot(arg) for arg in args]


def _snapshot(arg):
    from numbanet.tensor import Tensor

    if isinstance(arg, Tensor):
        return ("tensor", np.array(arg._host(), copy=True))
    if isinstance(arg, (list, tuple)) and any(isinstance(item, Tensor) for item in arg):
        return (type(arg).__name__, [_snapshot(item) for item in arg])
    return ("value", arg)


def random_state():
    """The default generator's state (what dropout's next mask is drawn from)."""
    from numbanet.random import default_generator

    return default_generator().numpy.bit_generator.state


class _Call:
    """Re-runs one forward call in float64, with one input element nudged."""

    def __init__(self, function, snapshot: list, rng_state):
        self.function = function
        self.rng_state = rng_state
        self.template = snapshot
        self.arrays: list[np.ndarray] = []  # every tensor argument, in float64 if floating
        self._collect(snapshot)

    def _collect(self, snapshot) -> None:
        for kind, value in snapshot:
            if kind == "tensor":
                array = value.astype(np.float64) if value.dtype.kind == "f" else value
                self.arrays.append(np.array(array, copy=True))
            elif kind in ("list", "tuple"):
                self._collect(value)

    def arguments(self, requires_grad: set[int] = frozenset()) -> tuple[list, list]:
        """(the call's arguments as fresh Tensors, those Tensors in order)."""
        from numbanet.tensor import Tensor

        tensors: list = []

        def build(snapshot):
            built = []
            for kind, value in snapshot:
                if kind == "tensor":
                    position = len(tensors)
                    tensor = Tensor._from_data(self.arrays[position].copy(),
                                               requires_grad=position in requires_grad)
                    tensors.append(tensor)
                    built.append(tensor)
                elif kind in ("list", "tuple"):
                    items = build(value)
                    built.append(items if kind == "list" else tuple(items))
                else:
                    built.append(value)
            return built

        return build(self.template), tensors

    def outputs(self, args) -> list[np.ndarray | None]:
        """Run the forward on ``args``; its floating outputs as float64 arrays."""
        from numbanet.random import default_generator
        from numbanet.tensor import Tensor

        default_generator().numpy.bit_generator.state = self.rng_state
        result = self.function.apply(*args)
        result = result if isinstance(result, tuple) else (result,)
        return [np.asarray(out._host(), dtype=np.float64)
                if isinstance(out, Tensor) and out._data.dtype.kind == "f" else None
                for out in result]

    def nudged(self, position: int, direction: np.ndarray, step: float):
        """The forward's outputs with tensor argument ``position`` moved by
        ``step * direction``."""
        from numbanet.autograd.grad_mode import no_grad

        original = self.arrays[position]
        self.arrays[position] = original + step * direction
        try:
            with no_grad():
                return self.outputs(self.arguments()[0])
        finally:
            self.arrays[position] = original


def check_node(function, snapshot: list, rng_state, grad_outputs: list, grad_inputs: list,
               argument_names: list[str | None]) -> dict:
    """Check one backward node; returns the plain-data result stored in the trace.

    ``function``: the forward's Function class; ``snapshot``: its arguments
    (:func:`snapshot_arguments`) and ``rng_state`` before it ran; ``grad_outputs``: the
    upstream gradient of each output (Tensors, or None); ``grad_inputs``: what the node's
    backward sent each argument (None where it sent nothing); ``argument_names``: a name
    per argument (a parameter's name, or None).
    """
    from numbanet.autograd import grad as autograd_grad
    from numbanet.autograd.grad_mode import enable_grad
    from numbanet.random import default_generator
    from numbanet.tensor import Tensor

    saved_state = default_generator().numpy.bit_generator.state
    try:
        call = _Call(function, snapshot, rng_state)
        # argument position -> tensor position (a Tensor inside a list takes one too)
        tensor_of_argument = _tensor_positions(snapshot)
        arguments = [a for a, grad in enumerate(grad_inputs)
                     if grad is not None and a in tensor_of_argument
                     and call.arrays[tensor_of_argument[a]].dtype.kind == "f"]
        checked = [tensor_of_argument[a] for a in arguments]
        if not checked:
            return _skipped("no floating input receives a gradient here")
        with enable_grad():
            args, tensors = call.arguments(requires_grad=set(checked))
            default_generator().numpy.bit_generator.state = rng_state
            result = function.apply(*args)
        result = result if isinstance(result, tuple) else (result,)
        upstream = [None if g is None else np.asarray(g._host(), dtype=np.float64)
                    for g in grad_outputs]
        differentiable = [(out, g) for out, g in zip(result, upstream, strict=False)
                          if isinstance(out, Tensor) and out.requires_grad and g is not None]
        if not differentiable:
            return _skipped("no upstream gradient reached this node")
        seeds = [Tensor._from_data(np.array(g.reshape(out.shape), copy=True))
                 for out, g in differentiable]
        analytic = autograd_grad([out for out, _ in differentiable],
                                 [tensors[p] for p in checked], seeds, allow_unused=True)
        inputs = []
        for argument, position, gradient in zip(arguments, checked, analytic, strict=True):
            gradient = (np.zeros_like(call.arrays[position]) if gradient is None
                        else np.asarray(gradient._host(), dtype=np.float64))
            name = argument_names[argument] if argument < len(argument_names) else None
            inputs.append({"input": argument, "name": name,
                           **_check_input(call, position, gradient, upstream)})
    except Exception as error:  # a forward that cannot re-run in float64: say so, go on
        return _skipped(f"could not re-run this op in float64: {type(error).__name__}: {error}")
    finally:
        default_generator().numpy.bit_generator.state = saved_state
    worst = max((item["max_error"] for item in inputs), default=0.0)
    return {"status": "pass" if worst <= TOLERANCE else "fail", "max_error": worst,
            "tolerance": TOLERANCE, "epsilon": EPSILON, "inputs": inputs, "reason": ""}


def _tensor_positions(snapshot: list) -> dict[int, int]:
    """For each argument that is a Tensor, its place among all tensor arguments."""
    positions, count = {}, 0
    for argument, (kind, value) in enumerate(snapshot):
        if kind == "tensor":
            positions[argument] = count
            count += 1
        elif kind in ("list", "tuple"):
            count += sum(1 for item_kind, _ in value if item_kind == "tensor")
    return positions


def _skipped(reason: str) -> dict:
    return {"status": "skipped", "max_error": None, "tolerance": TOLERANCE,
            "epsilon": EPSILON, "inputs": [], "reason": reason}


def _vjp(outputs: list, upstream: list) -> float:
    """Σ over outputs of Σ_j g[j] · y[j] for nudged-forward outputs ``outputs``."""
    total = 0.0
    for out, g in zip(outputs, upstream, strict=False):
        if out is not None and g is not None:
            total += float(np.sum(g.reshape(out.shape) * out))
    return total


def _numeric(call: _Call, position: int, direction: np.ndarray, upstream: list) -> float:
    """The central difference of Σ g·y along ``direction`` of tensor argument ``position``.

    The two forwards are subtracted output element by output element before the weighted
    sum, so elements the nudge did not change cancel exactly instead of adding rounding."""
    plus = call.nudged(position, direction, EPSILON)
    minus = call.nudged(position, direction, -EPSILON)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: a nan error, reported
        differences = [None if p is None else (p - m) / (2 * EPSILON)
                       for p, m in zip(plus, minus, strict=True)]
        return _vjp(differences, upstream)


def relative_error(analytic: float, numeric: float, floor: float) -> float:
    """``|analytic − numeric| / max(|analytic|, |numeric|, floor)`` (0 when both are 0)."""
    if not (np.isfinite(analytic) and np.isfinite(numeric)):
        return 0.0 if analytic == numeric else float("inf")
    difference = abs(analytic - numeric)
    scale = max(abs(analytic), abs(numeric), floor)
    return difference / scale if scale > 0 else 0.0


def _positions(gradient: np.ndarray) -> list[int]:
    """Flat positions checked one by one: all of a small input; evenly spaced ones and
    the one with the largest gradient in a large one."""
    size = gradient.size
    if size <= ELEMENTS_CHECKED:
        return list(range(size))
    spaced = np.linspace(0, size - 1, ELEMENTS_CHECKED).astype(np.int64).tolist()
    largest = int(np.argmax(np.abs(np.nan_to_num(gradient.ravel()))))
    return sorted(set(spaced) | {largest})


def _check_input(call: _Call, position: int, gradient: np.ndarray, upstream: list) -> dict:
    """Element-by-element (and one random direction's) errors of tensor argument
    ``position``, whose analytic gradient is ``gradient``."""
    shape = call.arrays[position].shape
    flat_gradient = gradient.reshape(-1)
    numerics = []
    for flat in _positions(gradient):
        direction = np.zeros(call.arrays[position].size)
        direction[flat] = 1.0
        numerics.append((flat, _numeric(call, position, direction.reshape(shape), upstream)))
    largest = max((abs(n) for _, n in numerics), default=0.0)
    floor = max(RELATIVE_FLOOR * largest, 1e-12)
    elements = []
    for flat, numeric in numerics:
        analytic = float(flat_gradient[flat])
        elements.append({"index": [int(i) for i in np.unravel_index(flat, shape)] if shape
                         else [], "analytic": analytic, "numeric": numeric,
                         "error": relative_error(analytic, numeric, floor)})
    record = {"shape": list(shape),
              "numel": int(gradient.size), "elements": elements, "direction": None}
    if gradient.size > len(elements):
        direction = np.random.default_rng(position).standard_normal(shape)
        numeric = _numeric(call, position, direction, upstream)
        analytic = float(np.sum(gradient * direction))
        floor = max(RELATIVE_FLOOR * abs(numeric), 1e-12)
        record["direction"] = {"analytic": analytic, "numeric": numeric,
                               "error": relative_error(analytic, numeric, floor)}
    errors = [e["error"] for e in elements]
    if record["direction"] is not None:
        errors.append(record["direction"]["error"])
    record["max_error"] = max(errors, default=0.0)
    return record


class _LossOfParameters:
    """The loss as a function of a float64 copy of the model's parameters (path mode)."""

    def __init__(self, model, loss_of, rng_state):
        import copy

        self.model = copy.deepcopy(model).double()
        self.parameters = [p for _, p in self.model.named_parameters()]
        self.names = [n for n, _ in self.model.named_parameters()]
        self.arrays = [np.array(p._host(), dtype=np.float64) for p in self.parameters]
        self.loss_of = loss_of
        self.rng_state = rng_state

    def loss(self):
        from numbanet.random import default_generator

        default_generator().numpy.bit_generator.state = self.rng_state
        return self.loss_of(self.model)

    def nudged(self, position: int, direction: np.ndarray, step: float) -> list[np.ndarray]:
        from numbanet.autograd.grad_mode import no_grad

        parameter = self.parameters[position]
        original = parameter._data.copy()
        parameter._data[...] = self.arrays[position] + step * direction
        try:
            with no_grad():
                return [np.asarray(self.loss()._host(), dtype=np.float64)]
        finally:
            parameter._data[...] = original


def check_parameters(model, loss_of, rng_state) -> dict:
    """Path mode: each parameter's gradient of the loss against central differences of the
    loss, both in float64 on a copy of ``model`` (``loss_of(model_copy)`` computes the
    loss; ``rng_state``: the generator's state before the original forward). Returns
    ``{parameter name: result}`` in :func:`check_node`'s format, one input each."""
    from numbanet.random import default_generator

    saved_state = default_generator().numpy.bit_generator.state
    results = {}
    try:
        function = _LossOfParameters(model, loss_of, rng_state)
        for parameter in function.parameters:
            parameter.grad = None
        function.loss().backward()
        for position, (name, parameter) in enumerate(
                zip(function.names, function.parameters, strict=True)):
            if parameter.grad is None:
                results[name] = _skipped("this parameter does not reach the loss")
                continue
            gradient = np.asarray(parameter.grad._host(), dtype=np.float64)
            item = {"input": 0, "name": name,
                    **_check_input(function, position, gradient, [np.ones(())])}
            results[name] = {"status": "pass" if item["max_error"] <= TOLERANCE else "fail",
                             "max_error": item["max_error"], "tolerance": TOLERANCE,
                             "epsilon": EPSILON, "inputs": [item], "reason": ""}
    except Exception as error:
        reason = f"could not re-run the model in float64: {type(error).__name__}: {error}"
        return {"*": _skipped(reason)}
    finally:
        default_generator().numpy.bit_generator.state = saved_state
    return results
