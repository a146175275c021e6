"""``draw``: a recorded iteration or an output tensor, as a ``graphviz.Digraph``.

::

    import numbanet.viz as viz

    with numbanet.trace.record(model) as trace:          # a whole iteration ...
        loss = criterion(model(x), y); loss.backward(); optimizer.step()
    viz.draw(trace)                                     # forward and backward, linked
    viz.draw(trace, view="forward", depth=1)            # modules one level deep
    viz.draw(loss, params=dict(model.named_parameters()))   # ... or just the autograd graph

    viz.save(viz.draw(trace), "step.svg")               # .svg, .png (needs dot), .dot

How the picture reads: values flow *down* the forward graph (black arrows). In
``view="both"`` gradients flow back *up* the backward graph (pink arrows), drawn beside the
forward one as its mirror image, so each backward op sits about level with the forward op
it differentiates (``links=True`` joins the two with a dashed grey line and holds them in
one row). In ``view="backward"`` the backward graph reads top to bottom, from the loss down
to the parameters' gradients. Colours are explained by a small legend (``legend=False``
leaves it out). An ``nn.Linear`` is one node, as PyTorch draws it (``linear`` forward,
``AddmmBackward0`` backward); ``expand=True`` shows the ops numbanet runs for it.

Every node and edge carries its kind as an SVG ``class`` (``node gradient``,
``edge link``), so a page can restyle them with CSS.

Gradient edges of the mirrored view are written to DOT reversed, ``receiver -> sender
[dir=back]``: the arrow still points the way the gradient goes, but Graphviz ranks the
receiver *above* the sender. ``rank=same`` puts a backward op and what it saved in one row
(the saved edge is reversed too, so the saved node sits to the right).
"""

from __future__ import annotations

import numbanet
from numbanet.trace import Trace, graph_trace

from . import style
from .from_tensor import picture_from_graph
from .from_trace import picture_from_trace
from .netgraph import NetGraph
from .picture import Picture

VIEWS = ("both", "forward", "backward")
DEFAULT_MAX_NODES = 2000


def draw(source, view: str = "both", depth: int | None = None,
         highlight: int | str | None = None, params: dict | None = None,
         max_nodes: int = DEFAULT_MAX_NODES, show_saved: bool = True,
         legend: bool = True, links: bool = False, expand: bool = False,
         focus: str | None = None, gradient_width: bool = False) -> NetGraph:
    """Draw ``source`` — a :class:`~numbanet.trace.Trace` or an output ``Tensor``.

    view
        ``"forward"``, ``"backward"`` or ``"both"`` (linked by dashed lines). A tensor
        without a trace has only its autograd graph, which is the backward graph.
    depth
        keep this many levels of module clusters; deeper modules become one node each
        (``depth=0``: the whole model as one node). None draws every op.
    highlight
        a trace event id (or autograd node id for a tensor), or a drawn node name
        (``"n12"``), to draw with a thick red border — the stepper's current node.
    params
        for a tensor source: ``dict(model.named_parameters())``, to name the leaves.
    max_nodes
        refuse, quickly, to lay out more nodes than this: Graphviz needs minutes for tens
        of thousands, and nobody can read them.
    show_saved
        draw what each forward op saved for its backward (orange nodes).
    legend
        draw the small key to the colours (``--no-legend`` leaves it out, for slides).
    links
        in ``view="both"``, a dashed line from each forward op to its backward op, the two
        drawn level with each other (off by default: a dozen long dashed lines crowd a
        slide; the stepper's highlight shows the pairing better).
    expand
        draw an ``nn.Linear`` as the transpose, matmul and add it runs instead of one
        ``linear`` node whose backward is PyTorch's ``AddmmBackward0``.
    focus
        a parameter's name (``"fc1.weight"``): draw only the paths from it to the loss —
        the ops its value flows through, and the backward ops that bring its gradient back.
    gradient_width
        draw each gradient arrow as thick as the gradient it carries is large (its root
        mean square, relative to the largest in the graph): vanishing gradients thin out.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be 0 or more (or None for every op), not {depth}")
    if isinstance(source, Trace):
        picture = picture_from_trace(source, view, depth, show_saved, links, expand, focus)
        fewer = ("collapse modules with depth=1 (numbanet graph --depth 1), draw one half "
                 "with view='forward' (--view forward)")
    elif isinstance(source, numbanet.Tensor):
        if focus is not None:
            raise ValueError("focus needs a recorded trace (numbanet.trace.record()): a "
                             "tensor's autograd graph does not know the forward ops")
        if view == "forward":
            raise ValueError(
                "a tensor only remembers its backward graph (grad_fn); record a trace "
                "(with numbanet.trace.record() as trace: ...) and draw(trace, "
                "view='forward') to see the forward graph")
        picture = picture_from_graph(graph_trace(source, params), show_saved)
        fewer = "leave out saved tensors with show_saved=False, draw a recorded trace " \
                "with depth=1"
    else:
        raise TypeError(f"draw() takes a numbanet Trace or Tensor, not {type(source).__name__}")
    if len(picture.nodes) > max_nodes:
        raise ValueError(
            f"this graph has {len(picture.nodes)} nodes, more than max_nodes={max_nodes}: "
            f"Graphviz would take very long and the picture would be unreadable. To draw "
            f"fewer: {fewer}, or raise max_nodes.")
    return to_digraph(picture, _highlighted_name(picture, highlight), legend, gradient_width)


def _highlighted_name(picture: Picture, highlight: int | str | None) -> str | None:
    if highlight is None:
        return None
    name = highlight if isinstance(highlight, str) else picture.name_of(highlight)
    if name is None or name not in picture.nodes:
        raise ValueError(f"cannot highlight {highlight!r}: it is not drawn in this graph "
                         "(is it in the other half? try view='both')")
    return name


def to_digraph(picture: Picture, highlight: str | None = None,
               legend: bool = True, gradient_width: bool = False) -> NetGraph:
    """Write ``picture`` as DOT: nested module clusters, styled nodes and edges, a legend."""
    graph = NetGraph(name="numbanet", graph_attr=style.GRAPH_ATTRIBUTES,
                     node_attr=style.NODE_ATTRIBUTES, edge_attr=style.EDGE_ATTRIBUTES)
    cluster_paths = picture.clusters()
    clusters = {path: NetGraph(name="cluster_" + ".".join(path),
                               graph_attr=style.cluster_attributes(
                                   len(path) - 1, picture.cluster_labels.get(path, path[-1]),
                                   path[:1] in picture.loss_clusters))
                for path in cluster_paths}
    for node in picture.nodes.values():
        target = clusters[node.cluster] if node.cluster else graph
        attributes = style.node_attributes(node.kind, highlighted=node.name == highlight)
        attributes.update({"id": node.name, "class": node.kind})  # for CSS and tests
        if node.tooltip:
            attributes["tooltip"] = node.tooltip
        target.node(node.name, node.label, _attributes=attributes)
    # Attach the deepest clusters first, so each is complete when its parent takes it.
    for path in sorted(cluster_paths, key=len, reverse=True):
        parent = clusters[path[:-1]] if len(path) > 1 else graph
        parent.subgraph(clusters[path])
    widths = style.gradient_widths(picture.gradient_sizes) if gradient_width else {}
    for edge in picture.edges:
        attributes = {**style.EDGE_STYLE[edge.kind], "class": edge.kind}
        if (edge.tail, edge.head) in widths:
            attributes["penwidth"] = widths[edge.tail, edge.head]
        reversed_kinds = ("gradient", "saved") if picture.gradients_flow_up else ("saved",)
        if edge.kind in reversed_kinds:  # reversed on purpose: see the docstring
            graph.edge(edge.head, edge.tail, _attributes=attributes)
        elif edge.kind == "gradient":  # written as it flows: the arrowhead at its head
            graph.edge(edge.tail, edge.head, _attributes={**attributes, "dir": "forward"})
        else:
            graph.edge(edge.tail, edge.head, _attributes=attributes)
    for forward_name, backward_name in picture.same_rank:
        graph.body.append(f"\t{{rank=same; {forward_name}; {backward_name}}}\n")
    if legend:
        node_kinds, edge_kinds = picture.kinds()
        style.add_legend(graph, node_kinds, edge_kinds, with_highlight=highlight is not None)
    graph.node_names = {node_id: node.name for node in picture.nodes.values()
                        for node_id in node.node_ids}
    graph.node_count = len(picture.nodes)
    return graph
