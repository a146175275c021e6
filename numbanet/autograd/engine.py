"""The backward pass: walking the graph from the loss back to the leaves.

``loss.backward()`` calls :func:`run_backward`. The algorithm, in three steps:

1. **Count dependencies.** Starting from the loss's node, visit every node reachable
   through ``next_edges`` (iteratively — a 10,000-op chain must not hit Python's recursion
   limit) and count, for each node, how many edges point at it.
2. **Process nodes in topological order.** A node is ready when every node that feeds it a
   gradient has run (its count fell to 0). Its incoming gradients are summed, its
   ``backward`` turns them into one gradient per input (the chain rule: upstream gradient
   times local derivative), and each input gradient goes down its edge. A gradient whose
   shape was broadcast in the forward pass is summed back to the input's shape here, once,
   so no individual op has to.
3. **Accumulate into leaves.** Every contribution reaching a leaf (a parameter, an input
   with ``requires_grad=True``) is summed and *added* to ``leaf.grad`` — which is why
   gradients accumulate across iterations until ``optimizer.zero_grad()``.

Unless ``retain_graph=True``, each node frees its saved tensors after running, and a second
``backward()`` through it raises, as in PyTorch.
"""

from __future__ import annotations

import heapq
import time
from contextlib import nullcontext

from numbanet import trace as _trace
from numbanet.autograd import grad_mode


def sum_to_shape(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``.

    Gradient of broadcasting: if ``b`` of shape ``(128,)`` was added to every row of a
    ``(64, 128)`` matrix, each element of ``b`` influenced 64 outputs, so its gradient is
    the sum of those 64 upstream gradients.
    """
    if grad.shape == shape:
        return grad
    extra = grad.dim() - len(shape)
    axes = list(range(extra))
    axes += [extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1]
    if axes:
        grad = grad.sum(dim=tuple(axes), keepdim=True)
    return grad.reshape(shape)


def _discover_dependencies(roots) -> dict:
    """Number of edges pointing at each node reachable from ``roots`` (iterative DFS)."""
    dependencies: dict = {}
    stack = list(roots)
    seen = {id(node) for node in roots}
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is not None and edge[0] == "node":
                child = edge[1]
                dependencies[child] = dependencies.get(child, 0) + 1
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append(child)
    return dependencies


def _add(existing, new):
    return new if existing is None else existing + new


def run_backward(outputs, seed_grads, retain_graph: bool = False, capture=None) -> dict:
    """Propagate ``seed_grads`` from ``outputs`` back through the graph.

    ``capture`` (used by ``autograd.grad``) maps tensors' ids to slots: gradients for those
    tensors are returned in a dict instead of being accumulated into ``.grad``.
    """
    capture = capture or {}
    captured: dict = {}
    recording = _trace._active
    buffers: dict = {}  # node -> {output index: summed gradient}
    senders: dict = {}  # node -> trace ids of the nodes that sent it gradients
    leaf_contributions: dict = {}  # id(leaf) -> (leaf, [(sender id, gradient)])
    roots = []
    for output, seed in zip(outputs, seed_grads, strict=True):
        node = output.grad_fn
        if node is None:
            if output.requires_grad:
                leaf_contributions.setdefault(id(output), (output, []))[1].append((None, seed))
            continue
        slots = buffers.setdefault(node, {})
        slots[output._output_index] = _add(slots.get(output._output_index), seed)
        senders.setdefault(node, []).append(None)
        roots.append(node)
    dependencies = _discover_dependencies(roots)
    ready = [(-node.node_id, node) for node in dict.fromkeys(roots) if not dependencies.get(node)]
    heapq.heapify(ready)
    with grad_mode.no_grad():
        while ready:
            _, node = heapq.heappop(ready)
            slots = buffers.pop(node, {})
            if node.released:
                node.saved_tensors  # noqa: B018 - raises the "backward twice" error
            grad_outputs = []
            for index in range(max(slots, default=0) + 1):
                grad = slots.get(index)
                for hook in node.output_hooks.get(index, ()):
                    replaced = hook(grad)
                    grad = replaced if replaced is not None else grad
                key = ("node", node.node_id, index)
                if key in capture:
                    captured[key] = grad
                grad_outputs.append(grad)
            start = time.perf_counter()
            with recording.paused() if recording is not None else nullcontext():
                grad_inputs = node.function.backward(node, *grad_outputs)
                if not isinstance(grad_inputs, tuple):
                    grad_inputs = (grad_inputs,)
                grad_inputs = _fit_to_inputs(node, grad_inputs)
            event_id = None
            if recording is not None:
                event_id = recording.record_backward(
                    node, grad_outputs, grad_inputs, senders.pop(node, []),
                    time.perf_counter() - start)
            for edge, grad in zip(node.next_edges, grad_inputs, strict=False):
                if edge is None:
                    continue
                kind, target, index = edge
                if kind == "node":
                    if grad is not None:
                        target_slots = buffers.setdefault(target, {})
                        target_slots[index] = _add(target_slots.get(index), grad)
                        senders.setdefault(target, []).append(event_id)
                    dependencies[target] -= 1
                    if dependencies[target] == 0:
                        heapq.heappush(ready, (-target.node_id, target))
                elif grad is not None:
                    entry = leaf_contributions.setdefault(id(target), (target, []))
                    entry[1].append((event_id, grad))
            if not retain_graph:
                node.release()
        # storage a .grad must not share: the caller's seeds, and what was handed out already
        claimed: set = {id(seed._data) for seed in seed_grads}
        for leaf, contributions in leaf_contributions.values():
            with recording.paused() if recording is not None else nullcontext():
                _accumulate_leaf(leaf, contributions, capture, captured, claimed)
            if recording is not None and not capture:
                recording.record_accumulate(leaf, contributions, leaf.grad)
    return captured


def _fit_to_inputs(node, grad_inputs) -> tuple:
    """Check the number of gradients and bring each to its input's shape and dtype."""
    if len(grad_inputs) < len(node.next_edges):
        raise RuntimeError(
            f"function {node.backward_name()} returned an incorrect number of gradients "
            f"(expected {len(node.next_edges)}, got {len(grad_inputs)})"
        )
    fitted = []
    for grad, meta in zip(grad_inputs, node.input_meta, strict=False):
        if grad is None or meta is None:
            fitted.append(None)
            continue
        shape, dtype = meta
        grad = sum_to_shape(grad, shape)
        if grad._data.dtype != dtype:
            grad = grad.to(dtype=grad._dtype_from_numpy(dtype))
        fitted.append(grad)
    return tuple(fitted)


def _owns_storage(gradient, claimed: set) -> bool:
    """Whether ``gradient`` can become a ``.grad`` as it is: a writable, contiguous array
    that no other ``.grad`` of this pass holds (``Add``'s backward hands the *same*
    gradient to both inputs; a sum's backward hands out a stride-0 broadcast view)."""
    data = gradient._data
    flags = getattr(data, "flags", None)
    writable = flags.writeable if flags is not None else True
    if id(data) in claimed or not writable or not gradient.is_contiguous():
        return False
    claimed.add(id(data))
    return True


def _accumulate_leaf(leaf, contributions, capture, captured, claimed: set) -> None:
    total = None
    for _, grad in contributions:
        total = _add(total, grad)
    for hook in leaf._hooks or ():
        replaced = hook(total)
        total = replaced if replaced is not None else total
    key = ("leaf", leaf._uid, 0)
    if key in capture:
        captured[key] = total
        return
    if capture:  # autograd.grad() never touches .grad of tensors it was not asked for
        return
    if leaf.grad is None:
        leaf.grad = total.detach() if _owns_storage(total, claimed) else total.clone()
    else:
        leaf.grad = leaf.grad + total
