"""``Module``: the base class of every layer and every model.

A module is a Python object with three registries, filled automatically by attribute
assignment in ``__init__``::

    class Net(nn.Module):
        def __init__(self):
            super().__init__()                 # creates the registries — call it first
            self.fc1 = nn.Linear(784, 128)     # a Module  -> self._modules["fc1"]
            self.scale = nn.Parameter(...)     # a Parameter -> self._parameters["scale"]
            self.register_buffer("steps", t)   # a Tensor that is state, not learned

        def forward(self, x):
            return self.fc1(x) * self.scale

Everything else walks those registries recursively: ``parameters()`` (what the optimizer
updates), ``state_dict()`` (what a checkpoint stores, keyed ``"fc1.weight"``), ``to(device)``,
``train()``/``eval()``, ``zero_grad()``. Calling the module, ``model(x)``, runs ``forward``
with the hooks around it.

When a trace is recording, ``__call__`` also pushes the module's name onto the trace's module
stack (``Net``, then ``Net.fc1`` ...), so every op knows which layer it ran in. When none is
recording that costs a single ``is None`` check.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator

from numbanet import dtypes
from numbanet import trace as _trace
from numbanet.autograd import grad_mode
from numbanet.nn.parameter import Parameter
from numbanet.tensor import Tensor

_running_modules: list[Module] = []  # modules whose forward is running, while recording
_hook_ids = itertools.count()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it could not match (empty when all did)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``handle.remove()`` unregisters the hook.

    Also a context manager: the hook is removed when the ``with`` block ends.
    """

    def __init__(self, hooks: OrderedDict):
        self.hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def _add_indent(text: str, spaces: int) -> str:
    """Indent every line but the first (how a child's repr nests inside its parent's)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for all neural network modules. Subclasses define ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these registries to exist first.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function: '
            "define `def forward(self, x): ...` in your class")

    # ---- calling -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if (_trace._active is None and not self._forward_hooks
                and not self._forward_pre_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        """``forward`` between the pre-hooks and the hooks, inside its trace scope."""
        recording = _trace._active
        if recording is not None:
            recording.module_stack.append(self._name_in_trace(recording))
            _running_modules.append(self)
        try:
            for hook in list(self._forward_pre_hooks.values()):
                replaced = hook(self, args)
                if replaced is not None:
                    args = replaced if isinstance(replaced, tuple) else (replaced,)
            result = self.forward(*args, **kwargs)
            for hook in list(self._forward_hooks.values()):
                replaced = hook(self, args, result)
                if replaced is not None:
                    result = replaced
            return result
        finally:
            if recording is not None:
                recording.module_stack.pop()
                _running_modules.pop()

    def _name_in_trace(self, recording) -> str:
        """The class name for the outermost module (``Net``), else the attribute path in the
        module that called it (``fc1``, ``features.0``); names parameters the first time."""
        if not recording.module_stack or not _running_modules:
            first = next(self.parameters(), None)
            if first is not None and first._uid not in recording.parameter_names:
                _trace.name_parameters(recording.trace, self)
            return type(self).__name__
        for path, module in _running_modules[-1].named_modules():
            if module is self and path:
                return path
        return type(self).__name__  # made on the fly inside forward, not an attribute

    # ---- registration --------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        registries = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if registries is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call "
                                     "(call super().__init__() first in your __init__)")
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif registries is not None and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign '{_type_name(value)}' as parameter '{name}' "
                                "(numbanet.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif isinstance(value, Module):
            if registries is None:
                raise AttributeError("cannot assign module before Module.__init__() call "
                                     "(call super().__init__() first in your __init__)")
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif registries is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_type_name(value)}' as child module "
                                f"'{name}' (numbanet.nn.Module or None expected)")
            self._modules[name] = None
        elif registries is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_type_name(value)}' as buffer '{name}' "
                                "(numbanet.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict) -> None:
        """Remove ``name`` from the instance dict and every registry but ``keep`` (where it
        is about to be re-bound, keeping its place in the order)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: look in the registries.
        registries = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in registries and name in registries[registry]:
                return registries[registry][name]
        if "_parameters" not in registries and name in ("_parameters", "_buffers", "_modules",
                                                         "training"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}': "
                                 "did you forget to call super().__init__() in __init__?")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, like a Linear without bias)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_type_name(param)}' object to parameter "
                            f"'{name}' (numbanet.nn.Parameter or None required)")
        self._check_new_name(name, "parameter", self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is part of the module's state but not learned (running
        statistics, fixed masks). Buffers move with ``to()`` and, when ``persistent``,
        are saved in ``state_dict()``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_type_name(tensor)}' object to buffer '{name}' "
                            "(numbanet.Tensor or None required)")
        self._check_new_name(name, "buffer", self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (what ``self.name = module`` does)."""
        if module is not None and not isinstance(module, Module):
            hint = (" (wrap a function in a Module: nn.ReLU() rather than F.relu)"
                    if callable(module) else "")
            raise TypeError(f"{_type_name(module)} is not a Module subclass{hint}")
        self._check_new_name(name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    def _check_new_name(self, name: str, kind: str, registry: dict) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f'{kind} name can\'t contain "." or be empty, got "{name}"')
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute '{name}' already exists")

    # ---- walking the tree ------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(path, module)`` for this module (path ``""``) and every descendant."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            child_prefix = prefix + ("." if prefix else "") + name
            yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct child, each module once."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True):
        """``(qualified name, tensor)`` from one registry of every module; a tensor shared
        by two modules (tied weights) is listed once, under its first name."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``("fc1.weight", parameter)`` for every parameter of this module and its children."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every learnable parameter (what you pass to an optimizer), each once."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The descendant at a dotted path: ``model.get_submodule("features.0")``."""
        module = self
        for name in target.split(".") if target else ():
            if name not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
            module = module._modules[name]
        return module

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every child (recursively), then on this module — e.g. custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and all its children."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for child in self.children():
            child.train(mode)  # through the method, so a child's own override runs
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout passes its input through unchanged. Same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient tracking of every parameter (freeze a layer with False)."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` — gradients add up until you do."""
        for parameter in self.parameters():
            if parameter.grad is None:
                continue
            if set_to_none:
                parameter.grad = None
            else:
                with grad_mode.no_grad():
                    parameter.grad.zero_()

    # ---- devices and dtypes ----------------------------------------------------------------
    def _apply(self, convert: Callable[[Tensor], Tensor]) -> Module:
        """Convert every parameter, gradient and buffer in place. Parameters keep their
        identity (``param.data`` is replaced), so an optimizer made earlier still holds them."""
        with grad_mode.no_grad():
            for module in self.modules():
                for parameter in module._parameters.values():
                    if parameter is None:
                        continue
                    parameter.data = convert(parameter.data)
                    if parameter.grad is not None:
                        parameter.grad = convert(parameter.grad)
                for name, buffer in module._buffers.items():
                    if buffer is not None:
                        module._buffers[name] = convert(buffer)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move parameters and buffers to a device and/or cast floating ones to a dtype:
        ``model.to("cuda")``, ``model.to(numbanet.float64)``. Returns the module itself."""
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        for arg in args:
            if isinstance(arg, dtypes.DType):
                dtype = arg
            elif isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            else:
                device = arg
        if dtype is not None and not dtypes.as_dtype(dtype).is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got "
                            f"desired dtype={dtype}")

        def convert(tensor: Tensor) -> Tensor:
            if device is not None:
                tensor = tensor.to(device)
            if dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            return tensor

        return self._apply(convert)

    def cuda(self, device=None) -> Module:
        return self.to("cuda" if device is None else device)

    def cpu(self) -> Module:
        return self.to("cpu")

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def double(self) -> Module:
        return self.to(dtypes.float64)

    # ---- hooks -------------------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a returned value
        replaces the output. Handy to capture activations."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a returned value (a tuple, or
        a single input) replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self, *, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by qualified name (``"fc1.weight"``),
        detached from the graph but sharing memory with the module (copy it with
        ``copy.deepcopy`` to keep a snapshot)."""
        if destination is None:
            destination = OrderedDict()
        # A module shared by two parents is saved under both names, as in PyTorch.
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip("."),
                                                        remove_duplicate=False):
            dotted = module_prefix + "." if module_prefix else ""
            for name, parameter in module._parameters.items():
                if parameter is not None:
                    destination[dotted + name] = parameter if keep_vars else parameter.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    destination[dotted + name] = buffer if keep_vars else buffer.detach()
        return destination

    def load_state_dict(self, state_dict, strict: bool = True) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (the default) the keys must match ``self.state_dict()`` exactly.
        A shape mismatch always raises. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            hint = (" Load the file first: model.load_state_dict(numbanet.load(path))."
                    if isinstance(state_dict, str) else "")
            raise TypeError(f"Expected state_dict to be dict-like, got "
                            f"{type(state_dict)}.{hint}")
        targets = self.state_dict(keep_vars=True)
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{key}"' for key in missing) + ". ")
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{key}"' for key in unexpected) + ". ")
        copies = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(f'While copying the parameter named "{key}", expected '
                              f"numbanet.Tensor from checkpoint but received {type(value)}")
            elif value.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{value.shape} from checkpoint, the shape in current model is "
                              f"{target.shape}.")
            else:
                copies.append((target, value))
        if errors:
            hints = _load_hints(missing, unexpected, strict)
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors) + hints)
        with grad_mode.no_grad():
            for target, value in copies:
                target.copy_(value.to(dtype=target.dtype))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (its settings)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(repr(module), 2)
                       for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _type_name(value) -> str:
    """``numbanet.FloatTensor``, ``numbanet.nn.functional.relu``, ``builtins.int`` ..."""
    if isinstance(value, Tensor):
        return value.type()
    named = value if hasattr(value, "__qualname__") else type(value)
    return f"{named.__module__}.{named.__qualname__}"


def _load_hints(missing: list, unexpected: list, strict: bool) -> str:
    """What to do about a failed load, appended after PyTorch's own lines."""
    hints = []
    if unexpected and all(key.startswith("module.") for key in unexpected):
        hints.append("The checkpoint's keys start with 'module.' (saved from a wrapped "
                     "model): strip that prefix from its keys before loading.")
    elif strict and (missing or unexpected):
        hints.append("Was the checkpoint saved from a different model definition? "
                     "Compare model.state_dict().keys() with the checkpoint's keys, or pass "
                     "strict=False to load only the keys that match.")
    return "".join("\n\t" + hint for hint in hints)
