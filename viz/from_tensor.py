"""An output tensor's autograd graph as a :class:`Picture` — no trace needed.

Like torchviz's ``make_dot(y, params=dict(model.named_parameters()))``: start at
``y.grad_fn`` and follow each node's ``next_edges`` to the nodes that produced its inputs,
until the leaves (parameters and inputs with ``requires_grad=True``). This is exactly the
graph ``y.backward()`` walks, so what you see is the backward graph: one node per
``...Backward`` op, an arrow for each gradient it will send, and the leaves whose ``.grad``
the gradients end in. Pass ``params`` to label parameters by name.

The walk uses an explicit stack, so a 10,000-op chain draws without touching Python's
recursion limit. Nodes are named by the autograd node's own counter (``n12``) and tensors by
their own id (``t5``), never by ``id()``.

Saved tensors are shown while the graph still holds them: before ``backward()``, or after
``backward(retain_graph=True)``.
"""

from __future__ import annotations

import numpy as np

from . import labels
from .picture import DrawnNode, Picture


def tensor_summary(tensor) -> tuple[list[int], str, dict, list | float | None]:
    """(shape, dtype, stats, values-when-tiny) of a live tensor, as a trace records them."""
    array = np.asarray(tensor.detach().cpu().numpy())
    as_float = array.astype(np.float64, copy=False).ravel()
    finite = as_float[np.isfinite(as_float)]
    stats = {"numel": int(as_float.size),
             "nan": int(np.isnan(as_float).sum()), "inf": int(np.isinf(as_float).sum())}
    for key, reduce in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
        stats[key] = float(reduce(finite)) if finite.size else float("nan")
    values = array.tolist() if array.size <= labels.TINY else None
    return list(array.shape), str(tensor.dtype).replace("numbanet.", ""), stats, values


def _tensor_rows(tensor) -> list[str]:
    shape, dtype, stats, values = tensor_summary(tensor)
    return [f"{labels.shape_text(shape)}  {dtype}", *labels.value_rows(stats, values)]


def picture_from_tensor(output, params: dict | None = None,
                        show_saved: bool = True) -> Picture:
    """The autograd graph that ends in ``output``, leaves named from ``params``."""
    names = {tensor._uid: name for name, tensor in (params or {}).items()}
    picture = Picture()
    output_name = f"t{output._uid}"
    picture.add_node(DrawnNode(output_name, "activation",
                               labels.node_label("output", _tensor_rows(output))))
    root = output.grad_fn
    if root is None:
        if output.requires_grad:
            picture.nodes[output_name].kind = "parameter"
        return picture
    picture.add_edge(output_name, f"n{root.node_id}", "gradient")
    stack, seen = [root], {root.node_id}
    while stack:
        node = stack.pop()
        name = f"n{node.node_id}"
        rows = [f"-> input {index}: {labels.shape_text(meta[0])}  {np.dtype(meta[1]).name}"
                for index, meta in enumerate(node.input_meta) if meta is not None]
        picture.add_node(DrawnNode(name, "gradient", labels.node_label(node.backward_name(), rows),
                                   tooltip=labels.tooltip(f"{name}: {node.backward_name()}"),
                                   node_ids=(node.node_id,)))
        saved = [t for t in (node._saved or ()) if hasattr(t, "_uid")]
        if show_saved and saved and not node.released:
            saved_rows = [f"{names.get(t._uid, 'tensor')} {labels.shape_text(t.shape)}"
                          for t in saved]
            picture.add_node(DrawnNode(f"s{node.node_id}", "saved",
                                       labels.node_label("saved for backward", saved_rows)))
            picture.add_edge(f"s{node.node_id}", name, "saved")
        for edge in node.next_edges:
            if edge is None:
                continue
            target = edge.node
            if hasattr(target, "variable"):  # a leaf's AccumulateGrad
                picture.add_edge(name, _add_leaf(picture, target.variable, names), "gradient")
            else:
                picture.add_edge(name, f"n{target.node_id}", "gradient")
                if target.node_id not in seen:
                    seen.add(target.node_id)
                    stack.append(target)
    return picture


def _add_leaf(picture: Picture, leaf, names: dict) -> str:
    """A leaf tensor: where ``backward()`` accumulates a gradient into ``.grad``."""
    name = f"t{leaf._uid}"
    if name not in picture.nodes:
        is_parameter = leaf._uid in names or type(leaf).__name__ == "Parameter"
        rows = _tensor_rows(leaf)
        if leaf.grad is not None:
            _, _, stats, values = tensor_summary(leaf.grad)
            rows += ["grad: " + row for row in labels.value_rows(stats, values)]
        title = names.get(leaf._uid, "parameter" if is_parameter else "leaf")
        picture.add_node(DrawnNode(name, "parameter" if is_parameter else "input",
                                   labels.node_label(title, rows),
                                   tooltip=labels.tooltip(f"{name}: {title}")))
    return name
