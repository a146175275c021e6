"""``Optimizer``: what every optimizer shares — parameter groups, state, ``step``, ``zero_grad``.

A training iteration ends with two calls::

    loss.backward()        # autograd fills param.grad for every parameter
    optimizer.step()       # the optimizer moves each parameter against its gradient
    optimizer.zero_grad()  # forget the gradients: backward *adds* into param.grad

The pieces, as in ``torch.optim``:

- ``param_groups``: a list of dicts. Each holds ``"params"`` (a list of tensors) and the
  hyper-parameters for them (``"lr"``, ``"momentum"``, ...). ``SGD(model.parameters(),
  lr=0.1)`` makes one group; ``SGD([{"params": a}, {"params": b, "lr": 0.01}], lr=0.1)``
  makes two, the second with its own learning rate. A key a group leaves out takes the
  optimizer's default. Learning-rate schedulers change ``group["lr"]`` between steps.
- ``state``: per parameter, what the rule remembers between steps (SGD's momentum buffer,
  Adam's running averages, the step count). It is empty until the first ``step()``.
- ``step()``: for every parameter that has a gradient, one *fused kernel* of the backend
  (``sgd_update``, ``adam_update``, ``rmsprop_update``) reads the parameter, its gradient and
  its state once and writes the new parameter and state in place. Each subclass's
  ``_update`` says which kernel and with which numbers; its docstring gives the formula.

Updating in place keeps the ``Parameter`` objects the model holds, so the model sees the new
values without being told. Because the change is in place, the parameter's version counter
is bumped: a graph built before ``step()`` that saved the parameter refuses to backward
through the stale value, as in PyTorch.

While a trace is recording (``numbanet.trace.record()``), ``step()`` also records one
optimizer event: per parameter its value before, its gradient, the update and its value
after (``after = before + update``). Without a recording that costs one ``is None`` check.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numbanet import trace as _trace
from numbanet.autograd import enable_grad, no_grad
from numbanet.creation import zeros_like
from numbanet.tensor import Tensor

_UNORDERED_PARAMETERS = ("optimizer parameters need to be organized in ordered collections, but "
                         "the ordering of tensors in sets will change between runs. Please use "
                         "a list instead.")


class Optimizer:
    """Base class of the optimizers: subclasses define ``_update`` (one parameter's step).

    Args:
        params: an iterable of tensors (``model.parameters()``) or of dicts, each a
            parameter group: ``{"params": [...], "lr": 0.01, ...}``.
        defaults: the hyper-parameters of a group that does not set its own.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_type_name(params)} (pass "
                            "model.parameters() or [tensor], not a single tensor)")
        if isinstance(params, set):
            raise TypeError(_UNORDERED_PARAMETERS)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list (did the model define "
                             "its layers as attributes in __init__?)")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with their own hyper-parameters (e.g. to fine-tune a
        new layer with a larger learning rate); unset keys take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_type_name(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(_UNORDERED_PARAMETERS)
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params "
                                f"is {_type_name(param)}")
            if not (param.is_leaf or param._retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor (optimize the leaf it was "
                                 "computed from, or use .detach().requires_grad_())")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)
        already_optimized = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in already_optimized for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient before the next backward.

        ``set_to_none=True`` (the default) drops ``param.grad`` (it becomes None, and the
        next backward allocates a fresh one); ``False`` fills the existing gradients with
        zeros instead.
        """
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    if param.grad.grad_fn is not None:
                        param.grad.detach_()
                    else:
                        param.grad.requires_grad_(False)
                    param.grad.zero_()

    # ---- one step ----------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient, in place.

        ``closure``, when given, re-evaluates the model and returns the loss (some
        optimizers need it; these accept it for compatibility). Returns its loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        recording = _trace._active
        with no_grad():
            if recording is None:
                for group in self.param_groups:
                    for param in group["params"]:
                        grad = param.grad
                        if grad is not None:
                            self._update(param, grad, self.state[param], group)
                            param._version_box[0] += 1
            else:
                self._recorded_step(recording)
        return loss

    def _update(self, param: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        """One parameter's update, in place (on ``param._data`` and the state arrays)."""
        raise NotImplementedError(f"{type(self).__name__} must define _update")

    def _recorded_step(self, recording: _trace.Recorder) -> None:
        """``step()`` while a trace records: the same updates, plus one optimizer event."""
        updates = []
        seconds = 0.0  # in the updates themselves, not in taking the snapshots
        for group in self.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                name = recording.parameter_names.get(param._uid) or f"parameter {len(updates)}"
                before_values = np.array(param._host(), copy=True)
                gradient = _snapshot(recording, grad._host(), grad, "gradient", name)
                started = time.perf_counter()
                self._update(param, grad, self.state[param], group)
                seconds += time.perf_counter() - started
                param._version_box[0] += 1
                after_values = param._host()
                updates.append(_trace.ParameterUpdate(
                    name=name,
                    before=_snapshot(recording, before_values, param, "parameter", name),
                    gradient=gradient,
                    update=_snapshot(recording, after_values - before_values, None, "update",
                                     name, device=param.device),
                    after=_snapshot(recording, after_values, param, "parameter", name),
                ))
        attributes = {key: _json_value(value) for key, value in self.param_groups[0].items()
                      if key != "params"}
        if len(self.param_groups) > 1:
            attributes["param_groups"] = len(self.param_groups)
        recording.record_optimizer(type(self).__name__, updates, attributes, seconds)

    # ---- helpers for subclasses --------------------------------------------------------
    @staticmethod
    def _buffer(state: dict, key: str, param: Tensor) -> tuple[Tensor, bool]:
        """``state[key]``, created as zeros shaped like ``param`` when missing; and whether
        it was just created (SGD's first step copies the gradient into a new buffer)."""
        buffer = state.get(key)
        if buffer is None:
            buffer = zeros_like(param)
            state[key] = buffer
            return buffer, True
        return buffer, False

    @staticmethod
    def _count_step(state: dict) -> int:
        """Add one to ``state["step"]`` (a float tensor, as in PyTorch) and return it."""
        step = state.get("step")
        if step is None:
            step = Tensor._from_data(np.zeros((), dtype=np.float32))
            state["step"] = step
        count = step._data.item() + 1  # plain Python arithmetic: a ufunc on a 0-d array
        step._data[()] = count  # costs ten times more, once per parameter per step
        return int(count)

    # ---- saving and resuming -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout, parameters named by position::

            {"state": {0: {"momentum_buffer": tensor(...)}, 1: {...}},
             "param_groups": [{"lr": 0.01, "momentum": 0.9, ..., "params": [0, 1]}]}

        Positions count through the groups in order, so the dict can be loaded into an
        optimizer built the same way over a model built the same way.
        """
        index_of: dict[int, int] = {}
        param_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed["params"] = [index_of[id(param)] for param in group["params"]]
            param_groups.append(packed)
        state = {index_of[id(param)]: values for param, values in self.state.items()
                 if id(param) in index_of}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: hyper-parameters per group, and per parameter a
        copy of its state moved to the parameter's device (and dtype, for float tensors)."""
        state_dict = {"state": state_dict["state"],
                      "param_groups": copy.deepcopy(state_dict["param_groups"])}
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)} saved, {len(self.param_groups)} here)")
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 f"match the size of optimizer's group ({len(saved['params'])}"
                                 f" saved, {len(group['params'])} here)")
        param_of = {}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            param_of.update(zip(saved["params"], group["params"], strict=True))
        self.state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            param = param_of.get(int(index))
            if param is None:
                continue
            self.state[param] = {key: _state_value(key, value, param)
                                 for key, value in values.items()}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            saved["params"] = group["params"]
        self.param_groups = saved_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)


def _type_name(value) -> str:
    return "numbanet.Tensor" if isinstance(value, Tensor) else type(value).__name__


def _state_value(key: str, value, param: Tensor):
    """A loaded state entry ready for the update kernels: a contiguous copy on the
    parameter's device; float tensors in the parameter's dtype, except the step count."""
    if key == "step":
        count = value.item() if isinstance(value, Tensor) else value
        return Tensor._from_data(np.array(float(count), dtype=np.float32))
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if value.is_floating_point():
        value = value.to(dtype=param.dtype)
    return value.to(param.device).detach().clone().contiguous()


def _snapshot(recording: _trace.Recorder, values: np.ndarray, of: Tensor | None, role: str,
              name: str, device=None) -> _trace.TensorRecord:
    """A trace record of host ``values``: the values of tensor ``of`` at this moment (its id,
    device and dtype), or with ``of=None`` a derived quantity living on ``device``."""
    record = recording.tensor_record(Tensor._from_data(values), role)
    record.name = name
    if of is not None:
        record.tensor_id = of._uid
        record.requires_grad = bool(of.requires_grad)
        device = of.device
    record.device = str(device)
    return record


def _json_value(value):
    """A hyper-parameter as plain JSON (tuples such as Adam's betas become lists)."""
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, Tensor):
        return value.item()
    return value
