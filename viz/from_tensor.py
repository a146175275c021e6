"""An output tensor's autograd graph as a :class:`Picture` — no recording needed.

Like torchviz's ``make_dot(y, params=dict(model.named_parameters()))``: the graph that
``y.backward()`` walks, from ``y.grad_fn`` to the leaves (parameters and inputs with
``requires_grad=True``). :func:`numbanet.trace.graph_trace` walks it and returns a
:class:`~numbanet.trace.Trace`; this module only draws that trace: one node per
``...Backward`` op, an arrow for each gradient it will send, and the leaves whose ``.grad``
the gradients end in. Pass ``params`` to label parameters by name.

Nodes are named by the autograd node's own counter (``n12``) and tensors by their own id
(``t5``), never by ``id()``. Saved tensors are shown while the graph still holds them:
before ``backward()``, or after ``backward(retain_graph=True)``.
"""

from __future__ import annotations

from numbanet.trace import Event, Trace

from . import labels
from .picture import DrawnNode, Picture


def picture_from_graph(trace: Trace, show_saved: bool = True) -> Picture:
    """Draw a trace made by :func:`numbanet.trace.graph_trace`."""
    output_event, *nodes = trace.events
    output = output_event.outputs[0]
    picture = Picture()
    output_name = f"t{output.tensor_id}"
    picture.add_node(DrawnNode(output_name, "activation",
                               labels.node_label("output", labels.tensor_rows(output))))
    if not nodes:
        if output.requires_grad:
            picture.nodes[output_name].kind = "parameter"
        return picture
    drawn = {-1: output_name}
    for event in nodes:
        drawn[event.node_id] = _draw_node(picture, event, show_saved)
    for event in nodes:
        for sender in event.input_node_ids:
            picture.add_edge(drawn[sender], drawn[event.node_id], "gradient")
    return picture


def _draw_node(picture: Picture, event: Event, show_saved: bool) -> str:
    """Draw one backward node (or a leaf, for AccumulateGrad); return its drawn name."""
    if event.op == "AccumulateGrad":
        return _add_leaf(picture, event)
    name = f"n{event.node_id}"
    rows = [f"-> input {index}: {labels.shape_text(record.shape)}  {record.dtype}"
            for index, record in enumerate(event.outputs) if record is not None]
    picture.add_node(DrawnNode(name, "gradient", labels.node_label(event.op, rows),
                               tooltip=labels.tooltip(f"{name}: {event.op}"),
                               node_ids=(event.node_id,)))
    if show_saved and event.saved:
        saved_rows = [f"{record.name or 'tensor'} {labels.shape_text(record.shape)}"
                      for record in event.saved]
        picture.add_node(DrawnNode(f"s{event.node_id}", "saved",
                                   labels.node_label("saved for backward", saved_rows)))
        picture.add_edge(f"s{event.node_id}", name, "saved")
    return name


def _add_leaf(picture: Picture, event: Event) -> str:
    """A leaf tensor: where ``backward()`` accumulates a gradient into ``.grad``."""
    leaf = event.saved[0]
    name = f"t{leaf.tensor_id}"
    rows = labels.tensor_rows(leaf)
    if event.outputs:
        grad = event.outputs[0]
        rows += ["grad: " + row for row in labels.value_rows(grad.stats, grad.values)]
    title = leaf.name or ("parameter" if leaf.role == "parameter" else "leaf")
    picture.add_node(DrawnNode(name, "parameter" if leaf.role == "parameter" else "input",
                               labels.node_label(title, rows),
                               tooltip=labels.tooltip(f"{name}: {title}")))
    return name
