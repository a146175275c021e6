"""``NetGraph``: a ``graphviz.Digraph`` that shows itself in a notebook with no Graphviz.

``graphviz.Digraph`` renders in Jupyter by running the system ``dot`` program; without it,
displaying the graph fails. ``NetGraph`` renders through :func:`numbanet.viz.render_svg`
instead — system ``dot`` when present, WebAssembly Graphviz otherwise — so
``numbanet.viz.draw(loss)`` as the last line of a cell always shows the picture.

It also remembers which drawn node stands for which trace event, for code that wants to
point at one (the stepper highlights the current node).
"""

from __future__ import annotations

import graphviz

from .render import render_png, render_svg


class NetGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` plus notebook display and the event -> node-name map."""

    #: trace event (or autograd node) id -> name of the drawn node that shows it
    node_names: dict[int, str] | None = None
    #: the number of drawn nodes, legend excluded
    node_count: int = 0

    def _repr_image_svg_xml(self) -> str:
        return render_svg(self)

    def _repr_image_png(self) -> bytes:
        return render_png(self)

    def _repr_svg_(self) -> str:
        return render_svg(self)

    def node_name(self, node_id: int) -> str:
        """The drawn node for trace event ``node_id`` (``n12``, or ``m7`` when collapsed)."""
        if not self.node_names or node_id not in self.node_names:
            raise KeyError(f"node {node_id} is not drawn in this graph")
        return self.node_names[node_id]
