"""How each kind of node and edge looks, and the legend that explains it.

A graph is easier to read when colour carries meaning. Every node has one *kind*:

==================  ==================================================================
kind                what it is
==================  ==================================================================
``parameter``       a learnable tensor (``fc1.weight``): what the optimizer changes
``input``           data fed to the model or the loss (inputs, targets)
``activation``      a forward op and the tensor it produced
``saved``           tensors a forward op kept for its backward (``ctx.save_for_backward``)
``gradient``        a backward op: turns the gradient of its output into gradients of its
                    inputs (the chain rule)
``leaf_gradient``   ``AccumulateGrad``: where gradients land in ``parameter.grad``
``optimizer``       the optimizer's update of every parameter
``module``          a whole module drawn as one box (``depth=`` collapsed it)
==================  ==================================================================

Edges have kinds too: ``data`` (forward values), ``gradient`` (backward values), ``link``
(a forward op and its backward op, drawn dashed), ``saved`` (dotted, from what was saved to
the backward op that reads it) and ``update`` (a gradient to the optimizer).

The palette is pastel (ColorBrewer Pastel1/Set3) so black text stays readable, and no two
kinds that sit next to each other share a hue.
"""

from __future__ import annotations

# Monospace, because Graphviz sizes each box from its estimate of the text width: every
# monospace font (Courier, DejaVu Sans Mono, Menlo) is 0.6 em per character, so the text
# fits its box in any viewer, and the numbers in a column line up.
FONT = "Courier"
TITLE_FONT = "Courier"  # not Courier-Bold: Graphviz underestimates its width

NODE_FILL = {
    "input": "#ccebc5",  # pastel green: data from outside
    "parameter": "#b3cde3",  # pastel blue: learnable weights
    "activation": "#fff2ae",  # pastel yellow: forward values
    "saved": "#fdcdac",  # pastel orange: kept for backward
    "gradient": "#f4cae4",  # pastel pink: backward ops
    "leaf_gradient": "#decbe4",  # pastel purple: parameter.grad
    "optimizer": "#e5d8bd",  # pastel brown: the update
    "module": "#f2f2f2",  # light grey: a collapsed module
}

LEGEND_TEXT = {  # short: the legend must stay narrower than the graph it explains
    "input": "input data",
    "parameter": "parameter",
    "activation": "forward op",
    "saved": "saved for backward",
    "gradient": "backward op",
    "leaf_gradient": "param.grad",
    "optimizer": "optimizer step",
    "module": "module (--depth)",
}

EDGE_STYLE = {
    "data": {"color": "#404040"},
    "gradient": {"color": "#c51b7d", "dir": "back"},  # written head-first: see graph.py
    # out of the forward node's east side, into the backward node's west side: a link of a
    # same-rank pair is one horizontal line at node-centre height, where no cluster label
    # sits (a label is at the top of its cluster, above the cluster's first rank)
    "link": {"color": "#9e9e9e", "style": "dashed", "dir": "none", "tailport": "e",
             "headport": "w"},
    "saved": {"color": "#e6550d", "style": "dotted", "dir": "back", "arrowtail": "odot"},
    "update": {"color": "#8c6d31", "style": "dashed", "constraint": "false"},
}

LEGEND_EDGE_TEXT = {
    "data": "black: values",
    "gradient": "pink: gradients",
    "link": "dashed grey: op, backward",
    "saved": "dotted: saved tensor",
    "update": "dashed: grad to optimizer",
}

HIGHLIGHT = {"color": "#d62728", "penwidth": "4"}

GRAPH_ATTRIBUTES = {
    "rankdir": "TB",
    "fontname": FONT,
    "fontsize": "12",
    "nodesep": "0.3",
    "ranksep": "0.35",
    "newrank": "true",  # rank nodes globally, so clusters do not distort the layout
}

NODE_ATTRIBUTES = {
    "shape": "box",
    "style": "filled,rounded",
    "fontname": FONT,
    "fontsize": "11",
    "color": "#5a5a5a",
    "penwidth": "1",
    "margin": "0.15,0.06",  # inches; a little more than the default, for wider fonts
}

EDGE_ATTRIBUTES = {"arrowsize": "0.7", "penwidth": "1.2"}

# Nested module clusters alternate two light backgrounds, so each level stands out.
CLUSTER_FILLS = ("#fbfbfb", "#eef3f8")
LOSS_CLUSTER_FILL = "#fff0f0"


def node_attributes(kind: str, highlighted: bool = False) -> dict[str, str]:
    """DOT attributes of one node of ``kind`` (a bold red border when highlighted)."""
    attributes = {"fillcolor": NODE_FILL[kind]}
    if kind == "module":
        attributes["peripheries"] = "2"
    if highlighted:
        attributes.update(HIGHLIGHT)
    return attributes


def cluster_attributes(depth: int, label: str, is_loss: bool) -> dict[str, str]:
    """DOT attributes of a module cluster nested ``depth`` levels deep (0 = outermost)."""
    return {
        "label": label,
        "labeljust": "l",
        "style": "rounded,filled",
        "color": "#c44e52" if is_loss else "#7f8c9b",
        "fillcolor": LOSS_CLUSTER_FILL if is_loss else CLUSTER_FILLS[depth % 2],
        "fontname": TITLE_FONT,
        "fontsize": "13",
    }


def add_legend(graph, node_kinds: list[str], edge_kinds: list[str],
               with_highlight: bool) -> None:
    """Add a compact "Legend" cluster: one small sample node per kind shown in ``graph``,
    stacked in a column, and one text node for the edge kinds.

    A column, not a row: a row of eight samples is wider than a small graph, and a graph's
    side has room to spare. Invisible edges stack the samples (Graphviz puts a node without
    edges on the top rank, so the column starts at the top, where a reader looks first).
    The samples are named ``legend_<kind>`` so that code counting the graph's own nodes can
    skip them.
    """
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="Legend", labeljust="l", style="rounded", color="#bdbdbd",
                    fontname=TITLE_FONT, fontsize="11", margin="4")
        legend.attr("node", fontsize="11", shape="box", style="filled,rounded",
                    margin="0.06,0.02", height="0.2")
        names = [f"legend_{kind}" for kind in node_kinds]
        for kind, name in zip(node_kinds, names, strict=True):
            legend.node(name, LEGEND_TEXT[kind], **node_attributes(kind))
        if with_highlight:
            names.append("legend_highlight")
            legend.node("legend_highlight", "current node", fillcolor="white", **HIGHLIGHT)
        if edge_kinds:
            names.append("legend_edges")
            text = "\\l".join(LEGEND_EDGE_TEXT[kind] for kind in edge_kinds) + "\\l"
            legend.node("legend_edges", text, shape="plaintext", style="")
        for upper, lower in zip(names, names[1:], strict=False):
            legend.edge(upper, lower, style="invis")


THINNEST, THICKEST = 0.5, 6.0  # gradient edge widths (points) with gradient_width=True


def gradient_widths(sizes: dict[tuple[str, str], float]) -> dict[tuple[str, str], str]:
    """Pen widths for gradient edges, proportional to the size of each gradient: the
    largest gets :data:`THICKEST`, one of size zero :data:`THINNEST`."""
    largest = max(sizes.values(), default=0.0)
    if not largest or largest != largest:  # all zero, or NaN somewhere
        return {}
    return {edge: f"{THINNEST + (THICKEST - THINNEST) * size / largest:.2f}"
            for edge, size in sizes.items()}
