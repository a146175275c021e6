"""What will be drawn, before it becomes DOT: nodes, edges and the clusters they sit in.

Two builders fill a :class:`Picture` — :mod:`numbanet.viz.from_trace` (a recorded
iteration) and :mod:`numbanet.viz.from_tensor` (an output tensor's autograd graph) — and
:mod:`numbanet.viz.graph` turns it into a ``graphviz.Digraph``. Keeping this middle step
plain data makes the graph easy to test (count nodes and edges) and keeps the DOT details in
one place.

Node names are stable and readable: ``n12`` is trace event (or autograd node) 12, ``t5`` is
tensor 5 (a parameter or an input), ``s12`` what event 12 saved for backward, ``m7`` a
collapsed module whose first event is 7. Never ``id()``, which Python reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The order in which kinds appear in the legend.
NODE_KINDS = ("input", "parameter", "activation", "saved", "gradient", "leaf_gradient",
              "optimizer", "module")
EDGE_KINDS = ("data", "gradient", "link", "saved", "update")


@dataclass
class DrawnNode:
    """One box in the picture."""

    name: str  # DOT node name: n12, t5, s12, m7
    kind: str  # one of NODE_KINDS (it picks the colour)
    label: str  # the text, see labels.node_label
    cluster: tuple[str, ...] = ()  # module path of the cluster holding it; () = top level
    tooltip: str = ""
    node_ids: tuple[int, ...] = ()  # the trace events (or autograd nodes) it stands for


@dataclass(frozen=True)
class DrawnEdge:
    """An arrow from ``tail`` to ``head``, in the direction its values flow."""

    tail: str
    head: str
    kind: str  # one of EDGE_KINDS


@dataclass
class Picture:
    """Nodes, edges and cluster labels; edges are deduplicated and never self-loops."""

    nodes: dict[str, DrawnNode] = field(default_factory=dict)
    edges: dict[DrawnEdge, None] = field(default_factory=dict)  # an ordered set
    cluster_labels: dict[tuple[str, ...], str] = field(default_factory=dict)
    loss_clusters: set[tuple[str, ...]] = field(default_factory=set)
    same_rank: list[tuple[str, str]] = field(default_factory=list)  # drawn level with each other
    #: True: the backward graph mirrors the forward one (gradients drawn flowing up, beside
    #: it); False: it reads top to bottom, from the loss down to the parameters.
    gradients_flow_up: bool = True
    #: (tail, head) of a gradient edge -> the size (RMS) of the gradient it carries
    gradient_sizes: dict[tuple[str, str], float] = field(default_factory=dict)

    def add_node(self, node: DrawnNode) -> DrawnNode:
        """Add ``node`` unless a node of that name exists; return the one kept."""
        return self.nodes.setdefault(node.name, node)

    def add_edge(self, tail: str, head: str, kind: str) -> None:
        if tail != head:
            self.edges[DrawnEdge(tail, head, kind)] = None

    def name_of(self, node_id: int) -> str | None:
        """The drawn node standing for trace event (or autograd node) ``node_id``."""
        for node in self.nodes.values():
            if node_id in node.node_ids:
                return node.name
        return None

    def clusters(self) -> list[tuple[str, ...]]:
        """Every cluster path in use, parents included, in order of first appearance."""
        seen: dict[tuple[str, ...], None] = {}
        for node in self.nodes.values():
            for length in range(1, len(node.cluster) + 1):
                seen.setdefault(node.cluster[:length], None)
        return list(seen)

    def kinds(self) -> tuple[list[str], list[str]]:
        """The node kinds and edge kinds present, in legend order."""
        node_kinds = {node.kind for node in self.nodes.values()}
        edge_kinds = {edge.kind for edge in self.edges}
        return ([k for k in NODE_KINDS if k in node_kinds],
                [k for k in EDGE_KINDS if k in edge_kinds])

    def inline_lone_clusters(self) -> None:
        """A module box around a single node (a ``ReLU`` holding one ``Relu`` op) costs a
        label and a margin for nothing: drop the box and put its name in the node's title
        (``Sequential.1: ReLU | Relu (n3)``). Loss clusters stay: their red frame says
        "this is the loss"."""
        members: dict[tuple[str, ...], list[DrawnNode]] = {}
        for node in self.nodes.values():
            for length in range(1, len(node.cluster) + 1):
                members.setdefault(node.cluster[:length], []).append(node)
        for path, inside in members.items():
            if len(inside) != 1 or path[:1] in self.loss_clusters:
                continue
            node = inside[0]
            if node.cluster != path:
                continue  # the lone node sits deeper: its own cluster is handled
            title, _, rest = node.label.partition("\\n")
            name = self.cluster_labels.get(path, path[-1]).replace("\\", "\\\\")
            node.label = f"{name} | {title}" + (f"\\n{rest}" if rest else "")
            node.cluster = path[:-1]
