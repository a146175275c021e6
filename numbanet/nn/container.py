"""Containers: modules that hold other modules.

- :class:`Sequential` chains modules: ``Sequential(a, b, c)(x)`` is ``c(b(a(x)))``. Its
  children are named ``"0"``, ``"1"``, ... (or by the keys of an ``OrderedDict``), which is
  where state-dict keys such as ``"0.weight"`` come from.
- :class:`ModuleList` is a list whose modules are registered, so their parameters are
  found by ``parameters()`` — a plain Python list would hide them from the optimizer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from numbanet.nn.module import Module


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
