"""The backward pass: walking the graph from the loss back to the leaves.

``loss.backward()`` calls :func:`run_backward`. The graph is made of nodes (one per op that
ran, plus one :class:`~numbanet.autograd.function.AccumulateGrad` per leaf) joined by
``Edge(node, input_nr)``\\ s. The algorithm, in two steps:

1. **Count dependencies.** Starting from the loss's node, visit every node reachable
   through ``next_edges`` (iteratively — a 10,000-op chain must not hit Python's recursion
   limit) and count, for each node, how many edges point at it.
2. **Process nodes in topological order.** A node is ready when every node that feeds it a
   gradient has run (its count fell to 0). Its incoming gradients are summed (an input used
   twice gets two contributions), its hooks run, and its ``run_backward`` turns them into
   one gradient per input (the chain rule: upstream gradient times local derivative); each
   goes down its edge. A gradient whose shape was broadcast in the forward pass is summed
   back to the input's shape there, once, so no individual op has to.
   A leaf's ``AccumulateGrad`` node is processed like any other: it *adds* its gradient to
   ``leaf.grad`` — which is why gradients accumulate across iterations until
   ``optimizer.zero_grad()``. Among the ready nodes, the most recently created op runs
   first and the AccumulateGrad nodes last, so every gradient is computed before any
   ``.grad`` changes (PyTorch runs an AccumulateGrad as soon as it is ready; the numbers are
   the same).

Unless ``retain_graph=True``, each node frees its saved tensors after running, and a second
``backward()`` through it raises, as in PyTorch.
"""

from __future__ import annotations

import heapq
import time

from numbanet import trace as _trace
from numbanet.autograd import anomaly as _anomaly
from numbanet.autograd import grad_mode
from numbanet.autograd.function import AccumulateGrad, grad_accumulator, sum_to_shape

__all__ = ["run_backward", "sum_to_shape"]


def _discover_dependencies(roots) -> dict:
    """Number of edges pointing at each node reachable from ``roots`` (iterative DFS)."""
    dependencies: dict = {}
    stack = list(roots)
    seen = {id(node) for node in roots}
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is not None:
                child = edge.node
                dependencies[child] = dependencies.get(child, 0) + 1
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append(child)
    return dependencies


def _priority(node, arrival: int) -> tuple:
    """Heap key: newest op first; AccumulateGrad nodes after every op, in arrival order."""
    if isinstance(node, AccumulateGrad):
        return (1, arrival, node.node_id)
    return (0, -node.node_id, 0)


def run_backward(outputs, seed_grads, retain_graph: bool = False, capture=None) -> dict:
    """Propagate ``seed_grads`` from ``outputs`` back through the graph.

    ``capture`` (used by ``autograd.grad``) holds ``(node, input_nr)`` pairs: the gradients
    arriving there are returned in a dict, and no ``.grad`` is touched.
    """
    captured: dict = {}
    recording = _trace._active
    # node -> {input_nr: [(trace id of the sending node or None for a seed, gradient)]}
    buffers: dict = {}
    arrival: dict = {}  # node -> the order in which gradients first reached it
    roots = []
    for output, seed in zip(outputs, seed_grads, strict=True):
        if output.grad_fn is not None:
            node, index = output.grad_fn, output._output_index
        elif output.requires_grad:
            node, index = grad_accumulator(output), 0
        else:
            continue
        _deliver(buffers, node, index, (None, seed))
        arrival.setdefault(node, len(arrival))
        roots.append(node)
    dependencies = _discover_dependencies(roots)
    ready = [(_priority(node, arrival[node]), node) for node in dict.fromkeys(roots)
             if not dependencies.get(node)]
    heapq.heapify(ready)
    claimed: set = {id(seed._data) for seed in seed_grads}  # storage a .grad must not keep
    with grad_mode.no_grad():
        while ready:
            _, node = heapq.heappop(ready)
            slots = buffers.pop(node, _NOTHING)
            if node.released:
                node.saved_tensors  # noqa: B018 - raises the "backward twice" error
            if recording is None:
                grad_outputs = _incoming(node, slots, capture, captured)
                if capture and isinstance(node, AccumulateGrad):
                    continue  # autograd.grad() never touches .grad
                grad_inputs = _chain_rule(node, grad_outputs, claimed)
                event_id = None
            else:
                start = time.perf_counter()
                # the additions and a backward rule's own ops are no trace events of their own
                with recording.paused():
                    grad_outputs = _incoming(node, slots, capture, captured)
                    if capture and isinstance(node, AccumulateGrad):
                        continue
                    grad_inputs = _chain_rule(node, grad_outputs, claimed)
                event_id = _record(recording, node, slots, grad_outputs, grad_inputs,
                                   time.perf_counter() - start)
            for position, edge in enumerate(node.next_edges):  # one gradient per edge
                if edge is None:
                    continue
                grad = grad_inputs[position]
                target = edge.node
                if grad is not None:
                    _deliver(buffers, target, edge.input_nr, (event_id, grad))
                    if target not in arrival:
                        arrival[target] = len(arrival)
                remaining = dependencies[target] - 1
                dependencies[target] = remaining
                if remaining == 0:
                    heapq.heappush(ready, (_priority(target, arrival.get(target, 0)), target))
            if not retain_graph:
                node.release()
    return captured


def _deliver(buffers: dict, node, input_nr: int, contribution: tuple) -> None:
    """File one gradient contribution for input ``input_nr`` of ``node``'s backward."""
    slots = buffers.get(node)
    if slots is None:
        buffers[node] = {input_nr: [contribution]}
    elif input_nr in slots:
        slots[input_nr].append(contribution)
    else:
        slots[input_nr] = [contribution]


_NOTHING: dict = {}  # the gradients of a node nothing sent any to (never written)


def _incoming(node, slots: dict, capture, captured: dict) -> list:
    """The gradient of each of ``node``'s outputs: the sum of the contributions that arrived
    (None when none did), passed through the output's hooks; noted in ``captured`` when
    ``capture`` asks for it."""
    hooks = node.output_hooks
    if not hooks and not capture and len(slots) == 1:  # the common case: one gradient
        arrived = slots.get(0)
        if arrived is not None and len(arrived) == 1:
            return [arrived[0][1]]
    grad_outputs = []
    for index in range(max(slots) + 1 if slots else 1):
        grad = None
        for _, contribution in slots.get(index, ()):
            grad = contribution if grad is None else grad + contribution
        for hook in hooks.get(index, ()) if hooks else ():
            replaced = hook(grad)
            grad = replaced if replaced is not None else grad
        if capture and (node, index) in capture:
            captured[(node, index)] = grad
        grad_outputs.append(grad)
    return grad_outputs


def _chain_rule(node, grad_outputs: list, claimed: set) -> tuple:
    """``node.run_backward``, its own ops checked for NaN/Inf under ``detect_anomaly()``."""
    if not _anomaly.enabled:
        return node.run_backward(grad_outputs, claimed)
    with _anomaly.backward_rule():
        grad_inputs = node.run_backward(grad_outputs, claimed)
    _anomaly.check_backward(node, grad_outputs, grad_inputs)
    return grad_inputs


def _record(recording, node, slots: dict, grad_outputs, grad_inputs, seconds: float) -> int:
    """Tell the recorder what one node did; returns its event id."""
    contributions = [item for index in sorted(slots) for item in slots[index]]
    if isinstance(node, AccumulateGrad):
        return recording.record_accumulate(node.variable, contributions, node.variable.grad)
    return recording.record_backward(node, grad_outputs, grad_inputs,
                                     [sender for sender, _ in contributions], seconds,
                                     contributions)
