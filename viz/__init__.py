"""``numbanet.viz``: draw the computation graph of a training iteration.

Give :func:`draw` a recorded :class:`~numbanet.trace.Trace` (forward ops, backward ops,
gradients and the optimizer step of one iteration) or just an output tensor (its autograd
graph, like torchviz's ``make_dot``); get a ``graphviz.Digraph`` back. Render it with
:func:`render_svg` / :func:`save` — through the system Graphviz when installed, otherwise
through Graphviz compiled to WebAssembly, which ``pip`` installs with numbanet — or just
leave it as the last line of a notebook cell.

Files, one idea each: ``graph.py`` (draw), ``from_trace.py`` and ``from_tensor.py`` (what
to draw), ``picture.py`` (the nodes and edges in between), ``labels.py`` (the text in a
node), ``style.py`` (colours and legend), ``render.py`` (DOT -> SVG/PNG) and
``netgraph.py`` (graphviz's ``render``/``pipe`` and notebook display) and
``replay.py`` (one iteration as a self-contained HTML page that replays it).
"""

from numbanet.trace import MODULE_TYPES, module_types

from .graph import DEFAULT_MAX_NODES, VIEWS, draw, to_digraph
from .netgraph import NetGraph
from .render import (
    RENDERER_VARIABLE,
    RenderingError,
    choose_renderer,
    describe_renderer,
    render_png,
    render_svg,
    save,
)
from .replay import replay_html, replay_iframe

__all__ = [
    "DEFAULT_MAX_NODES", "MODULE_TYPES", "VIEWS", "NetGraph", "RENDERER_VARIABLE", "RenderingError",
    "choose_renderer", "describe_renderer", "draw", "module_types", "render_png",
    "render_svg", "replay_html", "replay_iframe", "save", "to_digraph",
]
