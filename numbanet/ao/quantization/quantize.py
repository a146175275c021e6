"""The eager-mode workflow: ``quantize_dynamic``, and ``prepare`` -> calibrate -> ``convert``.

Dynamic (weights int8 ahead of time, activations quantized per batch at run time)::

    qmodel = quantize_dynamic(model, {nn.Linear}, dtype=numbanet.qint8)

Static (everything int8 between a QuantStub and a DeQuantStub; the activations' scales
come from *calibration*, running representative data through observers)::

    model.eval()
    model.qconfig = get_default_qconfig("x86")
    model = fuse_modules(model, [["conv1", "relu1"]])        # optional, recommended
    prepared = prepare(model)             # observers after every quantizable layer
    for images, _ in calibration_batches:
        prepared(images)                  # observers record ranges
    qmodel = convert(prepared)            # layers swapped for nn.quantized ones

``prepare`` gives each module that has a quantized version (and a ``qconfig``) a child
``activation_post_process`` — an observer, fed the module's output by a forward hook.
``convert`` replaces each such module with its quantized version, made by
``from_float(module)``: the weight quantized by ``qconfig.weight()``, the output's scale
and zero point from the observer.
"""

from __future__ import annotations

import copy
import warnings

from numbanet.ao.nn.intrinsic.modules import ConvReLU2d, LinearReLU
from numbanet.ao.quantization.qconfig import default_dynamic_qconfig
from numbanet.ao.quantization.qtensor import qint8
from numbanet.ao.quantization.stubs import DeQuantStub, QuantStub
from numbanet.nn.conv import Conv2d
from numbanet.nn.linear import Linear
from numbanet.nn.module import Module

_LEAVES = (LinearReLU, ConvReLU2d)  # fused: observed and converted as one module


def get_default_static_quant_module_mappings() -> dict:
    """Float module type -> its quantized version, for ``convert``."""
    from numbanet.ao.nn import intrinsic, quantized  # here: they import this package

    return {QuantStub: quantized.Quantize, DeQuantStub: quantized.DeQuantize,
            Linear: quantized.Linear, Conv2d: quantized.Conv2d,
            LinearReLU: intrinsic.quantized.LinearReLU,
            ConvReLU2d: intrinsic.quantized.ConvReLU2d}


def get_default_dynamic_quant_module_mappings() -> dict:
    """Float module type -> its dynamically quantized version, for ``quantize_dynamic``."""
    from numbanet.ao.nn.quantized import dynamic

    return {Linear: dynamic.Linear}


def propagate_qconfig_(module: Module, qconfig_dict: dict | None = None,
                       parent_qconfig=None) -> None:
    """Give every submodule a ``qconfig``: its own, one from ``qconfig_dict`` (by type or
    qualified name), or its parent's."""
    qconfig_dict = qconfig_dict or {}

    def visit(current: Module, name: str, inherited) -> None:
        qconfig = qconfig_dict.get(type(current), inherited)
        qconfig = qconfig_dict.get(name, qconfig)
        qconfig = current.__dict__.get("qconfig", qconfig)
        current.qconfig = qconfig
        for child_name, child in current.named_children():
            visit(child, f"{name}.{child_name}" if name else child_name, qconfig)

    visit(module, "", parent_qconfig)


def _observer_forward_hook(module: Module, inputs, output):
    """Feed a module's output to its observer (the output itself is unchanged)."""
    return module.activation_post_process(output)


def _add_observers(module: Module, mapping: dict) -> None:
    for child in module.children():
        if type(child) in mapping and getattr(child, "qconfig", None) is not None:
            if type(child) is not DeQuantStub:
                child.activation_post_process = child.qconfig.activation()
                child.register_forward_hook(_observer_forward_hook)
        if not isinstance(child, _LEAVES):
            _add_observers(child, mapping)


def prepare(model: Module, inplace: bool = False, allow_list=None,
            observer_non_leaf_module_list=None, prepare_custom_config_dict=None) -> Module:
    """Add an observer after every quantizable module that has a ``qconfig`` (set one on
    the model: ``model.qconfig = get_default_qconfig("x86")``). Then calibrate: run
    representative inputs through the returned model."""
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    mapping = get_default_static_quant_module_mappings()
    if not any(getattr(m, "qconfig", None) is not None for m in model.modules()):
        warnings.warn("None of the submodule got qconfig applied. Make sure you passed "
                      "correct configuration through `qconfig_dict` or by assigning the "
                      "`.qconfig` attribute directly on submodules", stacklevel=2)
    _add_observers(model, mapping)
    return model


def _swap(module: Module, mapping: dict, needs_observer: bool) -> Module:
    for name, child in list(module.named_children()):
        kind = type(child)
        converted = None
        if kind in mapping and getattr(child, "qconfig", None) is not None:
            if not needs_observer or kind is DeQuantStub or hasattr(
                    child, "activation_post_process"):
                converted = mapping[kind].from_float(child)
        if converted is not None:
            converted.train(False)
            setattr(module, name, converted)
        elif not isinstance(child, _LEAVES):
            _swap(child, mapping, needs_observer)
    return module


def convert(module: Module, mapping: dict | None = None, inplace: bool = False,
            remove_qconfig: bool = True, **_options) -> Module:
    """Swap every observed module for its quantized version (``from_float``); QuantStub
    becomes ``nn.quantized.Quantize``, DeQuantStub ``nn.quantized.DeQuantize``."""
    if not inplace:
        module = copy.deepcopy(module)
    _swap(module, mapping or get_default_static_quant_module_mappings(), needs_observer=True)
    if remove_qconfig:
        for submodule in module.modules():
            submodule.__dict__.pop("qconfig", None)
    return module


def quantize(model: Module, run_fn, run_args, mapping=None, inplace: bool = False) -> Module:
    """``prepare``, ``run_fn(prepared, *run_args)`` (calibration), ``convert``, in one."""
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, mapping, inplace=True)
    return model


def quantize_dynamic(model: Module, qconfig_spec=None, dtype=qint8, mapping=None,
                     inplace: bool = False) -> Module:
    """Replace the listed module types (``{nn.Linear}``) — or names, or a dict of type or
    name to QConfig — by dynamically quantized versions: int8 weights now, activations
    quantized per batch at run time, float in and out."""
    if dtype is not qint8:
        raise ValueError(f"Don't know how to quantize with default settings for {dtype!r}. "
                         "numbanet's dynamic quantization supports numbanet.qint8")
    if qconfig_spec is None:
        qconfig_spec = {Linear}
    if not isinstance(qconfig_spec, dict):
        qconfig_spec = dict.fromkeys(qconfig_spec, default_dynamic_qconfig)
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model, qconfig_spec)
    _swap(model, mapping or get_default_dynamic_quant_module_mappings(), needs_observer=False)
    for submodule in model.modules():
        submodule.__dict__.pop("qconfig", None)
    return model
