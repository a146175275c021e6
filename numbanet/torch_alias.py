"""``import torch`` answered by numbanet: how ``numbanet run`` runs an unmodified PyTorch script.

While :func:`aliased` is active, an import hook (a finder on ``sys.meta_path``) answers the
imports of ``torch``, ``torch.*``, ``torchvision`` and ``torchvision.*`` with numbanet's own
modules::

    torch                   -> numbanet
    torch.nn, torch.optim   -> numbanet.nn, numbanet.optim (every torch.X -> numbanet.X)
    torch.utils.data        -> numbanet.utils.data
    torchvision             -> numbanet.vision
    torchvision.datasets    -> numbanet.vision.datasets (every torchvision.X -> numbanet.vision.X)

The script receives a thin stand-in for each module (:class:`TorchModule`) that reads and
writes the numbanet module's attributes, so ``torch.nn.Linear`` *is* ``numbanet.nn.Linear``
and ``torch.backends.cudnn.benchmark = True`` sets numbanet's flag. The stand-in exists so
that a name numbanet lacks fails with one clear error, :class:`MissingTorchAPI`, naming the
PyTorch API (``torch.fft.rfft``) and the script's line, instead of an ``AttributeError`` about
a numbanet module the script never mentioned. It subclasses ``AttributeError`` (or
``ModuleNotFoundError`` for an import), so ``hasattr(torch.backends, "xpu")`` and
``try: import torchvision.io except ImportError:`` behave as under PyTorch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import linecache
import os
import re
import sys
import types
from contextlib import contextmanager

ALIASES = (("torchvision", "numbanet.vision"), ("torch", "numbanet"))
"""PyTorch's top-level packages and the numbanet package that answers for each."""


class MissingTorchAPI(Exception):  # noqa: N818 - read as "missing torch API: torch.fft"
    """A PyTorch name the script uses that numbanet does not have (yet).

    ``api`` is the PyTorch name (``"torch.fft.rfft"``: the missing ``torch.fft`` completed
    with what ``source``, the script's line, goes on to use), ``where`` the script's
    ``file:line`` (empty when unknown).
    """

    def __init__(self, api: str, where: str = "", source: str = ""):
        self.api = complete_api_name(api, source)
        self.where = where
        at = f"{where}: " if where else ""
        super().__init__(f"{at}{self.api} is not available in numbanet (numbanet implements "
                         "PyTorch's beginner API; this name is not part of it yet)")


class MissingTorchAttribute(MissingTorchAPI, AttributeError):
    """``torch.something`` that numbanet's module does not define."""


class MissingTorchModule(MissingTorchAPI, ModuleNotFoundError):
    """``import torch.something`` for a module numbanet does not have."""


def numbanet_name(torch_name: str) -> str | None:
    """``"torch.nn.functional"`` -> ``"numbanet.nn.functional"``; None for other names."""
    for torch_prefix, numbanet_prefix in ALIASES:
        if torch_name == torch_prefix or torch_name.startswith(torch_prefix + "."):
            return numbanet_prefix + torch_name[len(torch_prefix):]
    return None


def torch_name(numbanet_module_name: str) -> str:
    """``"numbanet.vision.datasets"`` -> ``"torchvision.datasets"`` (the inverse mapping)."""
    for torch_prefix, numbanet_prefix in ALIASES:
        if (numbanet_module_name == numbanet_prefix
                or numbanet_module_name.startswith(numbanet_prefix + ".")):
            return torch_prefix + numbanet_module_name[len(numbanet_prefix):]
    return numbanet_module_name


class TorchModule(types.ModuleType):
    """What the script sees as ``torch`` (or ``torch.nn``, ``torchvision``...): every
    attribute read and write goes to the numbanet module behind it; a submodule comes back as
    another ``TorchModule``; a missing name raises :class:`MissingTorchAttribute`."""

    def __init__(self, name: str, target: types.ModuleType):
        super().__init__(name, target.__doc__)
        object.__setattr__(self, "_numbanet_module", target)
        if hasattr(target, "__path__"):  # a package: ``import torch.nn`` looks inside it
            object.__setattr__(self, "__path__", [])

    def __getattr__(self, name: str):
        target = object.__getattribute__(self, "_numbanet_module")
        try:
            value = getattr(target, name)
        except AttributeError:
            if name.startswith("__"):  # protocol probes (__wrapped__, ...) stay plain
                raise
            value = _import_submodule(f"{target.__name__}.{name}")
            if value is None:
                raise MissingTorchAttribute(f"{self.__name__}.{name}",
                                            *script_location()) from None
        if isinstance(value, types.ModuleType) and value.__name__.startswith("numbanet"):
            return module_for(torch_name(value.__name__), value)
        return value

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, TorchModule) or (name.startswith("__") and name.endswith("__")):
            # the import system naming a submodule, or setting this module's own
            # __spec__, __loader__, __package__: they describe the stand-in
            object.__setattr__(self, name, value)
        else:  # torch.backends.cudnn.benchmark = True: numbanet's own flag
            setattr(object.__getattribute__(self, "_numbanet_module"), name, value)

    def __dir__(self):
        return dir(object.__getattribute__(self, "_numbanet_module"))

    def __repr__(self) -> str:
        target = object.__getattribute__(self, "_numbanet_module")
        return f"<module {self.__name__!r} (numbanet: {target.__name__})>"


_modules: dict[str, TorchModule] = {}  # torch name -> its stand-in, one per module


def module_for(name: str, target: types.ModuleType) -> TorchModule:
    """The one stand-in named ``name`` for numbanet module ``target``."""
    module = _modules.get(name)
    if module is None or object.__getattribute__(module, "_numbanet_module") is not target:
        module = _modules[name] = TorchModule(name, target)
    return module


def _import_submodule(name: str) -> types.ModuleType | None:
    """Import numbanet module ``name`` if it exists (``numbanet.backends`` is not imported
    by ``import numbanet``); None if there is no such module."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name)


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system the stand-in made by the finder; runs nothing."""

    def __init__(self, module: TorchModule):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module) -> None:
        return None


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    """The import hook: finds ``torch*``/``torchvision*`` among numbanet's modules."""

    def find_spec(self, fullname: str, path=None, target=None):
        target_name = numbanet_name(fullname)
        if target_name is None:
            return None
        numbanet_module = _import_submodule(target_name)
        if numbanet_module is None:
            raise MissingTorchModule(fullname, *script_location())
        module = module_for(fullname, numbanet_module)
        spec = importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(numbanet_module, "__path__"))
        return spec


def _is_torch_name(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix, _ in ALIASES)


@contextmanager
def aliased():
    """Inside the block, ``import torch`` (and ``torchvision``, and their submodules) gives
    numbanet. Any real PyTorch already imported is set aside and put back afterwards."""
    finder = TorchAliasFinder()
    set_aside = {name: sys.modules.pop(name) for name in list(sys.modules)
                 if _is_torch_name(name)}
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if _is_torch_name(name)]:
            del sys.modules[name]
        sys.modules.update(set_aside)


# ---- which line of the script, which PyTorch name ---------------------------------------------
def script_location() -> tuple[str, str]:
    """``("train.py:12", "y = torch.fft.rfft(x)")``: the innermost frame outside numbanet and
    the libraries it runs under (the script's line that used the name), and its text."""
    from numbanet.trace import user_source_line

    where, _, source = user_source_line().partition(": ")
    return where, source


def traceback_location(tb) -> tuple[str, str]:
    """:func:`script_location` for an exception already raised: its innermost traceback
    frame outside numbanet and the libraries."""
    from numbanet.trace import _LIBRARY_DIRS

    found = ("", "")
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<") and \
                not os.path.realpath(filename).startswith(_LIBRARY_DIRS):
            found = (f"{os.path.basename(filename)}:{tb.tb_lineno}",
                     linecache.getline(filename, tb.tb_lineno).strip())
        tb = tb.tb_next
    return found


_ATTRIBUTE_CHAIN = r"(?:\.[A-Za-z_]\w*)*"


def complete_api_name(api: str, source_line: str) -> str:
    """Extend the missing name with what the line goes on to use: for ``torch.fft`` missing on
    the line ``y = torch.fft.rfft(x)``, ``torch.fft.rfft``."""
    last = api.rsplit(".", 1)[-1]
    match = re.search(rf"\b{re.escape(last)}({_ATTRIBUTE_CHAIN})", source_line)
    return api + match.group(1) if match else api


def public_torch_name(kind: type) -> str:
    """``numbanet.nn.linear.Linear`` -> ``"torch.nn.Linear"``: the shortest numbanet module
    that exports the class, under its PyTorch name."""
    parts = kind.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None and getattr(module, kind.__name__, None) is kind:
            return f"{torch_name(module.__name__)}.{kind.__qualname__}"
    return f"{torch_name(kind.__module__)}.{kind.__qualname__}"


def as_missing_api(error: BaseException) -> MissingTorchAPI | None:
    """``error`` as a :class:`MissingTorchAPI` when it is one, an ``AttributeError`` on a
    numbanet object (``x.frac_()`` on a Tensor: ``torch.Tensor.frac_``) or a ``from torch.X
    import name`` that failed; else None."""
    if isinstance(error, MissingTorchAPI):
        return error
    if isinstance(error, ImportError):  # from torchvision.transforms import v2
        found = re.match(r"cannot import name '(\w+)' from '([\w.]+)'", str(error))
        if found is None or not _is_torch_name(found.group(2)):
            return None
        return MissingTorchModule(f"{found.group(2)}.{found.group(1)}",
                                  *traceback_location(error.__traceback__))
    if not isinstance(error, AttributeError) or error.name is None:
        return None
    owner = error.obj
    if owner is None:
        return None
    kind = owner if isinstance(owner, type) else type(owner)
    if not kind.__module__.startswith("numbanet") or owner.__class__ is TorchModule:
        return None
    return MissingTorchAttribute(f"{public_torch_name(kind)}.{error.name}",
                                 *traceback_location(error.__traceback__))
