"""Replaying ``optimizer.step()`` of the built-in Adam and SGD as bare kernel launches.

A captured step keeps ``optimizer.step()`` as one entry that runs the optimizer's Python
again at each replay, because some of the numbers its kernels get change from step to
step: Adam's step count ``t`` and the bias corrections ``1 - beta1**t`` and
``sqrt(1 - beta2**t)``, and the learning rate, which a scheduler may change between
calls. For a small model that Python costs as much as the kernels: per parameter, a
state lookup, shape and dtype checks, a flat view of every array, the kernel's choice.

For the two optimizers whose numbers it knows, the replay does only what changes: per
parameter group it reads ``lr``, ``betas``, ``eps``, ``weight_decay`` again; per
parameter it counts the step in ``state["step"]`` (as ``Optimizer._count_step``),
computes the kernel's scalars with the formulas of the backend's ``adam_update`` /
``sgd_update`` and calls the compiled kernel on the flat arrays the capture recorded.

Those formulas are written a second time here, so the capture checks them: the scalars
this module computes for the captured step must equal, bit for bit, the ones the
optimizer's own Python passed to its kernels. If not (a changed formula, a subclass with
its own ``_update``, a gradient the backend had to copy, an SGD buffer created in that
very step), the optimizer keeps its Python entry. At each replay, a state tensor that is
no longer the captured one (``load_state_dict``) or a changed parameter group runs the
Python entry instead, for that call.
"""

from __future__ import annotations

import numpy as np

from numbanet.kernels.cpu.optimizers import adam_scalars, sgd_scalars
from numbanet.optim.adam import Adam
from numbanet.optim.sgd import SGD


def _adam_scalars(dtype, group: dict, step: int) -> tuple:
    """The scalars ``adam_update`` passes after the four arrays, for step ``step``."""
    beta1, beta2 = group["betas"]
    return adam_scalars(dtype, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                        step)


def _sgd_scalars(dtype, group: dict) -> tuple:
    """The scalars ``sgd_update`` passes after the three arrays, after the first step."""
    return sgd_scalars(dtype, group["lr"], group["momentum"], group["dampening"],
                       group["nesterov"], group["weight_decay"], first_step=False)


def _same(values: tuple, others: tuple) -> bool:
    """Whether two tuples of scalars are equal bit for bit, type included (NaN too)."""
    return len(values) == len(others) and all(
        type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()
        for a, b in zip(values, others, strict=True))


def _views_of(array, tensor) -> bool:
    """Whether ``array`` is ``tensor``'s whole memory (a flat view), not a copy of it."""
    data = tensor._data
    return (isinstance(array, np.ndarray) and isinstance(data, np.ndarray)
            and array.size == data.size and array.dtype == data.dtype
            and np.shares_memory(array, data))


def fast_step(optimizer, grads: list, calls: list, compiled):
    """A function replaying ``optimizer.step()`` as its bare kernels (it returns False,
    having done nothing, when the optimizer changed since the capture), or None.

    ``grads``: (parameter, its ``.grad``) as the captured ``step()`` found them;
    ``calls``: (backend function, [(kernel, arguments) of each launch]) of every backend
    call the captured ``step()`` made, in order; ``compiled(kernel, arguments)``: the
    kernel's machine code for those arguments.
    """
    rule = type(optimizer)
    if rule not in (Adam, SGD):  # exactly these: a subclass may update differently
        return None
    name = "adam_update" if rule is Adam else "sgd_update"
    if any(called != name or len(launched) != 1 for called, launched in calls):
        return None
    gradient = {id(param): grad for param, grad in grads}
    updates = [(param, group, gradient.get(id(param))) for group in optimizer.param_groups
               for param in group["params"] if gradient.get(id(param)) is not None]
    if len(updates) != len(calls):
        return None
    members = []  # (group, param, state, watched state tensors, step array, kernel, arrays,
    #              the thread sharing arguments)
    for (param, group, grad), (_, [(kernel, args)]) in zip(updates, calls, strict=True):
        state = optimizer.state[param]
        if rule is Adam:
            keys, arrays = ("exp_avg", "exp_avg_sq"), args[:4]
            step = state.get("step")
            if step is None:
                return None
            expected = _adam_scalars(param._data.dtype, group, int(step._data.item()))
        else:
            keys = ("momentum_buffer",) if group["momentum"] != 0 else ()
            arrays = args[:3]
            step = None
            expected = _sgd_scalars(param._data.dtype, group)
        # after the scalars: how the elements are shared out between threads, as captured
        scalars = args[len(arrays):len(arrays) + len(expected)]
        sharing = args[len(arrays) + len(expected):]
        tensors = [state.get(key) for key in keys]
        if (any(t is None for t in tensors) or not _same(tuple(scalars), expected)
                or not _views_of(arrays[0], param) or not _views_of(arrays[1], grad)
                or not all(_views_of(a, t) for a, t in zip(arrays[2:], tensors, strict=False))):
            return None
        watched = tuple(zip(keys, tensors, strict=True)) + ((("step", step),) if step else ())
        members.append((group, param, state, watched,
                        step._data if step is not None else None,
                        compiled(kernel, args), tuple(arrays), tuple(sharing)))
    groups = [(group, len(group["params"])) for group in optimizer.param_groups]
    watch = [(state, key, tensor) for _, _, state, watched, *_ in members
             for key, tensor in watched]

    def current() -> bool:
        """Whether the optimizer is still the one captured (groups and state tensors)."""
        now = optimizer.param_groups
        if len(now) != len(groups):
            return False
        for group, (captured, count) in zip(now, groups, strict=True):
            if group is not captured or len(group["params"]) != count:
                return False
        for state, key, tensor in watch:
            if state.get(key) is not tensor:
                return False
        return True

    def adam_step() -> bool:
        if not current():
            return False
        scalars: dict = {}  # (group id, step) -> scalars: computed once per group and step
        for group, param, _, _, step_array, kernel, arrays, sharing in members:
            count = step_array.item() + 1  # Optimizer._count_step
            step_array[()] = count
            key = (id(group), count)
            values = scalars.get(key)
            if values is None:
                values = scalars[key] = _adam_scalars(arrays[0].dtype, group, int(count))
            kernel(*arrays, *values, *sharing)
            param._version_box[0] += 1
        return True

    def sgd_step() -> bool:
        if not current():
            return False
        scalars: dict = {}
        for group, param, _, _, _, kernel, arrays, sharing in members:
            values = scalars.get(id(group))
            if values is None:
                values = scalars[id(group)] = _sgd_scalars(arrays[0].dtype, group)
            kernel(*arrays, *values, *sharing)
            param._version_box[0] += 1
        return True

    return adam_step if rule is Adam else sgd_step
