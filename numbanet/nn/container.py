"""Containers: modules that hold other modules.

- :class:`Sequential` chains modules: ``Sequential(a, b, c)(x)`` is ``c(b(a(x)))``. Its
  children are named ``"0"``, ``"1"``, ... (or by the keys of an ``OrderedDict``), which is
  where state-dict keys such as ``"0.weight"`` come from.
- :class:`ModuleList` is a list whose modules are registered, so their parameters are
  found by ``parameters()`` — a plain Python list would hide them from the optimizer.
- :class:`ModuleDict` and :class:`ParameterList` do the same for a dict of modules and a
  list of parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from numbanet.nn.module import Module
from numbanet.nn.parameter import Parameter
from numbanet.tensor import Tensor


class _IndexedModules(Module):
    """The list behaviour Sequential and ModuleList share: children keyed "0", "1", ...

    Subclasses define ``_from_items(items)``: the container a slice returns.
    """

    def _key(self, index: int) -> str:
        """The registry key of position ``index`` (negative counts from the end)."""
        if not isinstance(index, int):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, not "
                            f"{type(index).__name__}")
        size = len(self._modules)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        return list(self._modules)[index % size]

    def _renumber(self) -> None:
        """Keys "0".."n-1" again after a deletion or insertion, as PyTorch does."""
        modules = list(self._modules.values())
        self._modules.clear()
        for index, module in enumerate(modules):
            self._modules[str(index)] = module

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._from_items(list(self._modules.items())[index])
        return self._modules[self._key(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._key(index), module)

    def __delitem__(self, index) -> None:
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            del self._modules[key]
        self._renumber()

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module):
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for position, item in enumerate(modules):
            self.add_module(str(position), item)


class Sequential(_IndexedModules):
    """Modules applied one after the other: ``forward(x)`` feeds each module's output to
    the next.

    ``Sequential(nn.Linear(2, 8), nn.ReLU())`` names its children "0" and "1";
    ``Sequential(OrderedDict(fc=..., act=...))`` uses the dict's keys. Index it
    (``model[0]``), slice it (``model[:2]`` is a Sequential), ``len()`` and ``append`` it.
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _from_items(self, items: list) -> Sequential:
        return type(self)(OrderedDict(items))

    def forward(self, input):  # noqa: A002 - PyTorch's argument name
        for module in self:
            input = module(input)  # noqa: A001
        return input


class ModuleList(_IndexedModules):
    """A list of registered modules (no forward of its own: you decide how to call them).

    ``self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])`` makes parameters
    ``layers.0.weight`` ... visible to ``parameters()``.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _from_items(self, items: list) -> ModuleList:
        return type(self)(module for _, module in items)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)


class ModuleDict(Module):
    """A dict of registered modules, keyed by name (no forward of its own).

    ``self.heads = nn.ModuleDict({"cls": nn.Linear(8, 2), "box": nn.Linear(8, 4)})`` makes
    parameters ``heads.cls.weight`` ... visible to ``parameters()``; keys keep their
    insertion order.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove the module under ``key`` and return it."""
        module = self[key]
        del self[key]
        return module

    def keys(self):
        """The names, in insertion order."""
        return self._modules.keys()

    def items(self):
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def update(self, modules) -> None:
        """Add modules from a mapping or from ``(name, module)`` pairs."""
        if hasattr(modules, "keys") and hasattr(modules, "__getitem__"):
            for key in modules.keys():  # noqa: SIM118 - a Mapping need not iterate its keys
                self[key] = modules[key]
            return
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise TypeError("ModuleDict.update should be called with an iterable of key/value "
                            f"pairs, but got {type(modules).__name__}")
        for index, pair in enumerate(modules):
            if not isinstance(pair, Iterable) or isinstance(pair, (str, Module)):
                raise TypeError(f"ModuleDict update sequence element #{index} should be "
                                f"Iterable; is {type(pair).__name__}")
            pair = tuple(pair)
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{index} has length "
                                 f"{len(pair)}; 2 is required")
            self[pair[0]] = pair[1]


class ParameterList(Module):
    """A list of registered parameters, named ``"0"``, ``"1"``, ...

    ``self.scales = nn.ParameterList([nn.Parameter(torch.ones(4)) for _ in range(3)])``:
    the optimizer finds them through ``parameters()``. A plain tensor appended becomes a
    Parameter, as in PyTorch.
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _key(self, index: int) -> str:
        if not isinstance(index, int):
            raise TypeError(f"ParameterList indices must be integers or slices, not "
                            f"{type(index).__name__}")
        if not -self._size <= index < self._size:
            raise IndexError(f"index {index} is out of range")
        return str(index % self._size)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)([self[i] for i in range(self._size)[index]])
        return getattr(self, self._key(index))

    def __setitem__(self, index: int, value) -> None:
        key = self._key(index)
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, key, value)

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __iadd__(self, values) -> ParameterList:
        return self.extend(values)

    def append(self, value) -> ParameterList:
        """Add ``value`` at the end (a tensor is wrapped as a Parameter); returns self."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> ParameterList:
        """Append each of ``values``; returns self."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        lines = []
        for index, value in enumerate(self):
            if isinstance(value, Tensor):
                size = "x".join(str(size) for size in value.size())
                device = f" ({value.device})" if value.device.type == "cuda" else ""
                kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
                lines.append(f"  ({index}): {kind} containing: [{value.dtype} of size "
                             f"{size}{device}]")
            else:
                lines.append(f"  ({index}): Object of type: {type(value).__name__}")
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")
