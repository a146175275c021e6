"""Automatic differentiation: ``Function``, ``backward``, ``grad``, ``gradcheck``."""

from __future__ import annotations

from numbanet.autograd.anomaly import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from numbanet.autograd.engine import run_backward
from numbanet.autograd.function import Function, Node, grad_accumulator
from numbanet.autograd.grad_mode import (
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from numbanet.autograd.gradcheck import gradcheck

__all__ = ["Function", "Node", "backward", "detect_anomaly", "enable_grad", "grad",
           "gradcheck", "is_anomaly_check_nan_enabled", "is_anomaly_enabled",
           "is_grad_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled"]


def _seeds(outputs, grad_outputs, op: str) -> list:
    from numbanet.tensor import Tensor

    seeds = []
    for output, seed in zip(outputs, grad_outputs, strict=True):
        if not output.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn (did you create it under no_grad, or forget "
                               "requires_grad=True on the inputs?)")
        if seed is None:
            if output.numel() != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar "
                                   f"outputs; this output has shape {list(output.shape)}. "
                                   "Pass a gradient of that shape.")
            # the gradient of the output with respect to itself: ones (ones_like's work,
            # without its argument handling: every backward() of a loss makes one)
            data = output._data
            seed = Tensor._from_data(output._backend.full(data.shape, 1, data.dtype))
        elif seed.shape != output.shape:
            raise RuntimeError(f"{op}: Mismatch in shape: grad_output[0] has a shape of "
                               f"{list(seed.shape)} and output[0] has a shape of "
                               f"{list(output.shape)}.")
        seeds.append(seed)
    return seeds


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate d tensors/d leaf into ``leaf.grad`` for every leaf of the graph."""
    if create_graph:
        raise NotImplementedError("numbanet computes first derivatives only "
                                  "(create_graph=True is not supported)")
    outputs = _as_list(tensors)
    seeds = _seeds(outputs, _as_list(grad_tensors) if grad_tensors is not None
                   else [None] * len(outputs), "backward")
    if inputs is not None:
        wanted = _as_list(inputs)
        captured = grad(outputs, wanted, seeds, retain_graph=retain_graph, allow_unused=True)
        for tensor, gradient in zip(wanted, captured, strict=True):
            if gradient is None:
                continue
            if tensor.grad is None:
                tensor.grad = gradient
            else:
                with no_grad():
                    tensor.grad += gradient  # in place, as the engine accumulates
        return
    run_backward(outputs, seeds, retain_graph=bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Return d outputs/d inputs without touching any ``.grad``."""
    if create_graph:
        raise NotImplementedError("numbanet computes first derivatives only "
                                  "(create_graph=True is not supported)")
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    seeds = _seeds(outputs, _as_list(grad_outputs) if grad_outputs is not None
                   else [None] * len(outputs), "grad")
    keys = []  # (node, input_nr): where each input's gradient arrives
    for tensor in inputs:
        if not tensor.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        keys.append((grad_accumulator(tensor), 0) if tensor.grad_fn is None
                    else (tensor.grad_fn, tensor._output_index))
    captured = run_backward(outputs, seeds, retain_graph=bool(retain_graph),
                            capture=dict.fromkeys(keys))
    results = tuple(captured.get(key) for key in keys)
    if not allow_unused and any(result is None for result in results):
        raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                           "in the graph. Set allow_unused=True if this is the desired "
                           "behavior.")
    return results
