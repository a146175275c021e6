"""``numbanet.compile``: run a training step eagerly once, capture it once, replay it after.

::

    @torch.compile
    def train_step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for x, y in loader:
        loss = train_step(x, y)      # call 1: eager; call 2: captured; then replayed

Call 1 runs eagerly: Numba compiles the kernels, the optimizer creates its state. Call 2
runs eagerly too while :class:`~numbanet.jit.capture.Recorder` writes down every kernel
call. Every later call copies the new input tensors into the captured input arrays and
replays the list (see :mod:`numbanet.jit.capture`). ``train_step.launches`` is the captured
list as plain data, ``print(train_step.listing())`` shows it.

What the capture is keyed by (a new key captures again, like a new shape in PyTorch):
the shape, dtype and device of every tensor argument, the value of every other argument,
whether grad mode is on, and the ``training`` flag of every module the step ran. A function
that cannot be captured (see the capture module) runs eagerly, with one warning saying
which line stopped it.

Rules a replay relies on, as for a CUDA graph:

- tensors the step *returns* come back as new tensors holding the values of this call,
  detached from autograd (a captured step has no graph); the step should call
  ``backward()`` itself;
- what the step reads must come in as tensor arguments, or live in the model and the
  optimizer; a tensor captured from an enclosing scope is read at its captured memory;
- Python side effects of the step (appending to a list, printing a string, a scheduler's
  ``step()``) happen in the eager calls only: call schedulers outside the step.

``torch.compile(model)`` returns an :class:`OptimizedModule`: its forward replays under
``torch.no_grad()`` (inference, evaluation) and runs eagerly while autograd records,
because the caller needs the graph for ``loss.backward()``; compile the whole training
step to replay training.
"""

from __future__ import annotations

import functools
import warnings

from numbanet import trace as _trace
from numbanet.autograd import is_grad_enabled
from numbanet.jit.capture import Captured, Launch, Recorder, listing
from numbanet.nn.module import Module
from numbanet.tensor import Tensor

CACHE_SIZE_LIMIT = 8  # captures per compiled function, as torch._dynamo's cache_size_limit


class _Entry:
    """What the compiled function knows about one key: calls so far and the capture."""

    __slots__ = ("calls", "captured", "inputs", "outputs", "grads", "grads_after",
                 "optimizers", "modes")

    def __init__(self):
        self.calls = 0
        self.captured: Captured | None = None
        self.inputs: list = []  # the arrays the captured step reads its inputs from
        self.outputs = None  # rebuilds the return value from the captured arrays
        self.grads: list = []  # (param, grad array or None) when the capture started
        self.grads_after: list = []  # (param, grad tensor) when it ended
        self.optimizers: list = []  # the optimizers whose step() the warm-up call ran
        self.modes: list = []  # (module, its training flag) for the modules the step ran


class CompiledFunction:
    """A step function wrapped by :func:`compile` (call it as the function itself)."""

    def __init__(self, function, fullgraph: bool = False, module: Module | None = None):
        self.function = function
        self.fullgraph = fullgraph
        self.module = module
        self.name = getattr(function, "__qualname__", None) or type(function).__name__
        self.refused: str | None = None  # the message, once a capture was refused
        self.captures = 0  # how many times a call was captured
        self.replays = 0  # how many calls were replayed
        self._entries: dict = {}
        self._latest: _Entry | None = None
        functools.update_wrapper(self, function, updated=())

    # ---- what was captured -----------------------------------------------------------------
    @property
    def launches(self) -> list[dict]:
        """The latest captured step as plain data: one dict per kernel call, in order."""
        captured = self._latest.captured if self._latest else None
        return [launch.as_dict() for launch in captured.launches] if captured else []

    def listing(self) -> str:
        """The latest captured step as a printable table of its kernel calls."""
        captured = self._latest.captured if self._latest else None
        launches: list[Launch] = captured.launches if captured else []
        return listing(launches)

    # ---- calling ----------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self.refused is not None or _trace._active is not None:
            return self.function(*args, **kwargs)  # eager: refused, or a trace records it
        flat: list = []
        key = self._key(args, kwargs, flat)
        if key is None:
            return self.function(*args, **kwargs)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= CACHE_SIZE_LIMIT:
                self._refuse(f"numbanet.compile: {self.name} was captured for "
                             f"{CACHE_SIZE_LIMIT} different input shapes or arguments "
                             "(torch's cache_size_limit); it runs eagerly from now on.")
                return self.function(*args, **kwargs)
            entry = self._entries[key] = _Entry()
        entry.calls += 1
        if entry.captured is not None and self._still_valid(entry):
            return self._replay(entry, flat)
        if entry.calls == 1:
            return self._warm_up(entry, args, kwargs)  # compiles kernels, makes state
        return self._capture(entry, args, kwargs, flat)

    def _key(self, args, kwargs, flat: list):
        """A hashable summary of the arguments (tensors by shape, dtype and device), filling
        ``flat`` with the tensors in order; None (and a warning) when one is unusable."""
        parts = [is_grad_enabled()]
        if self.module is not None:
            parts.append(tuple(m.training for m in self.module.modules()))
        for value in (*args, *kwargs.items()):
            part = self._part(value, flat)
            if part is None:
                return None
            parts.append(part)
        return tuple(parts)

    def _part(self, value, flat: list):
        if isinstance(value, Tensor):
            if value.requires_grad:
                self._refuse(f"numbanet.compile: {self.name} takes a tensor that requires "
                             "grad as an argument; a replay has no autograd graph to give it "
                             "a .grad, so it runs eagerly from now on.")
                return None
            flat.append(value)
            data = value._data  # shape, dtype and device, cheaply: this runs every call
            return (data.shape, data.dtype, value._backend)
        if isinstance(value, (tuple, list)):
            parts = [self._part(item, flat) for item in value]
            return None if any(p is None for p in parts) else (type(value), *parts)
        if isinstance(value, dict):
            parts = [(k, self._part(v, flat)) for k, v in value.items()]
            return None if any(p is None for _, p in parts) else (dict, *parts)
        try:
            hash(value)
        except TypeError:
            self._refuse(f"numbanet.compile: {self.name} takes a {type(value).__name__} "
                         "argument; a capture can only bind tensors (and remember plain "
                         "values), so it runs eagerly from now on: pass torch tensors.")
            return None
        return ("value", type(value), value)

    def _refuse(self, message: str) -> None:
        if self.fullgraph:
            from numbanet.jit.capture import CaptureError

            raise CaptureError(message)
        if self.refused is None:
            self.refused = message
            warnings.warn(message, UserWarning, stacklevel=4)

    # ---- capture and replay ---------------------------------------------------------------
    def _warm_up(self, entry: _Entry, args, kwargs):
        """Call 1, eager; recorded only to learn early what cannot be captured and which
        optimizers the step uses (their parameters' gradients are checked at each replay)."""
        recorder = Recorder(self.fullgraph)
        with recorder:
            result = self.function(*args, **kwargs)
        if recorder.refusal is not None:
            self._refuse(recorder.refusal.message(self.name))
        entry.optimizers = recorder.optimizers
        return result

    def _capture(self, entry: _Entry, args, kwargs, flat: list):
        # The capture runs on private copies of the inputs: a replay copies each new input
        # into them, which must not write into the caller's tensors (a batch may be a view
        # of the whole data set).
        private = {id(t): Tensor._from_data(_copy(t)) for t in flat}
        args, kwargs = _substitute((args, kwargs), private)
        params = self._params(entry.optimizers)
        grads_before = [(p, p.grad._data if p.grad is not None else None) for p in params]
        recorder = Recorder(self.fullgraph)
        with recorder:
            result = self.function(*args, **kwargs)
        if recorder.refusal is not None:
            self._refuse(recorder.refusal.message(self.name))
            return result
        if not recorder.backward_ran and any(t.grad_fn is not None for t in _tensors(result)):
            self._refuse(f"numbanet.compile: {self.name} returns a tensor that still needs "
                         "its autograd graph (it has a grad_fn); a replay has no graph, so it "
                         "runs eagerly from now on. Call loss.backward() inside the compiled "
                         "function, or compile it under torch.no_grad().")
            return result
        buffers = recorder.buffers
        # A gradient the captured kernels read (accumulation, zero_grad(set_to_none=False))
        # must still be that array at a replay; a None one must still be None.
        entry.grads = [(p, g) for p, g in grads_before
                       if g is None or any(b is g or getattr(b, "base", None) is g
                                           for b in buffers)]
        params = self._params(recorder.optimizers)
        entry.grads_after = [(p, p.grad) for p in params]
        entry.modes = [(module, module.training) for module in recorder.modules]
        entry.inputs = [private[id(t)]._data for t in flat]
        entry.outputs = _rebuilder(result)
        entry.captured = recorder.captured()
        self._latest = entry
        self.captures += 1
        return result

    def _params(self, optimizers) -> list:
        """The parameters of the compiled module and of these optimizers, each once."""
        params = list(self.module.parameters()) if self.module is not None else []
        seen = {id(p) for p in params}
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if id(param) not in seen:
                        seen.add(id(param))
                        params.append(param)
        return params

    def _still_valid(self, entry: _Entry) -> bool:
        """Whether every parameter's ``.grad`` is what it was when the capture started (None
        stays None, an existing gradient is the same array) and every module the step ran
        is in the same mode (``train()``/``eval()``): else capture again."""
        for module, training in entry.modes:
            if module.training is not training:
                entry.captured = None
                return False
        for param, grad in entry.grads:
            now = param.grad
            if (now is None) != (grad is None) or (now is not None and now._data is not grad):
                entry.captured = None  # the step runs differently now: capture it again
                return False
        return True

    def _replay(self, entry: _Entry, flat: list):
        self._latest = entry
        self.replays += 1
        for into, tensor in zip(entry.inputs, flat, strict=True):
            if tensor._data is not into:
                tensor._backend.copy_into(into, tensor._data)
        for function, arguments in entry.captured.steps:
            function(*arguments)
        for param, grad in entry.grads_after:
            param.grad = grad
        return entry.outputs()


def _copy(tensor: Tensor):
    """A new contiguous array holding ``tensor``'s values, on its device."""
    backend = tensor._backend
    out = backend.empty(tuple(tensor.shape), tensor._data.dtype)
    backend.copy_into(out, tensor._data)
    return out


def _tensors(value) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _substitute(value, private: dict):
    """``value`` with each tensor replaced by its private copy (same nesting)."""
    if isinstance(value, Tensor):
        return private.get(id(value), value)
    if isinstance(value, tuple):
        return tuple(_substitute(item, private) for item in value)
    if isinstance(value, list):
        return [_substitute(item, private) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, private) for key, item in value.items()}
    return value


def _rebuilder(value):
    """A function returning ``value`` again, each tensor a fresh copy of its array now."""
    if isinstance(value, Tensor):
        array, backend = value._data, value._backend

        def copy():
            out = backend.empty(array.shape, array.dtype)
            backend.copy_into(out, array)
            return Tensor._from_data(out)

        return copy
    if isinstance(value, (tuple, list)):
        parts = [_rebuilder(item) for item in value]
        kind = type(value)
        return lambda: kind(part() for part in parts)
    if isinstance(value, dict):
        parts = {key: _rebuilder(item) for key, item in value.items()}
        return lambda: {key: part() for key, part in parts.items()}
    return lambda: value


class OptimizedModule(Module):
    """What ``torch.compile(model)`` returns: calls ``model`` through a compiled forward.

    Under ``torch.no_grad()`` (evaluation, inference) the forward is captured and
    replayed. While autograd records, it runs eagerly: the caller needs the autograd graph
    of the output for ``loss.backward()``, which a replay does not build — compile the
    whole training step for that. Attributes not found here are looked up on the model
    (``compiled.fc1``), and ``_orig_mod`` is the model, as in PyTorch.
    """

    def __init__(self, module: Module, fullgraph: bool = False):
        super().__init__()
        self._orig_mod = module
        self._compiled_forward = CompiledFunction(module.forward, fullgraph, module=module)

    def forward(self, *args, **kwargs):
        if is_grad_enabled():
            return self._orig_mod(*args, **kwargs)
        return self._compiled_forward(*args, **kwargs)

    @property
    def launches(self) -> list[dict]:
        return self._compiled_forward.launches

    def listing(self) -> str:
        return self._compiled_forward.listing()

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",  # noqa: A001 - torch.compile's name
            mode=None, options=None, disable: bool = False):
    """Capture a training step (or a model's forward) once and replay its kernels after,
    as ``torch.compile``. Usable as ``compile(fn)``, ``@compile`` and
    ``@compile(fullgraph=True)``.

    Args:
        model: a function (a whole training step) or an ``nn.Module``.
        fullgraph: raise :class:`~numbanet.jit.capture.CaptureError` where the function
            cannot be captured, instead of running it eagerly with a warning.
        dynamic, backend, mode, options: accepted for PyTorch code and ignored: numbanet has
            one way to compile, and captures again for each new input shape.
        disable: return ``model`` unchanged.
    """
    def wrap(target):
        if disable:
            return target
        if isinstance(target, Module):
            return OptimizedModule(target, fullgraph=fullgraph)
        if not callable(target):
            raise RuntimeError(f"compile: expected a function or an nn.Module, got "
                               f"{type(target).__name__}")
        return CompiledFunction(target, fullgraph=fullgraph)

    return wrap if model is None else wrap(model)
