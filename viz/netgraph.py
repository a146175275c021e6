"""``NetGraph``: a ``graphviz.Digraph`` that works with no Graphviz installed.

Every graphviz user has the habit ``graph.render("mine", format="svg")`` (write
``mine`` and ``mine.svg``) or ``graph.pipe(format="svg")`` (the bytes), and Jupyter shows a
``Digraph`` by calling ``_repr_svg_()``. A plain ``graphviz.Digraph`` runs the system
``dot`` program for all three and fails with ``ExecutableNotFound`` where it is missing.
``NetGraph`` keeps the same methods and arguments, and when no ``dot`` is on ``PATH`` (or
``NUMBANET_GRAPHVIZ_RENDERER=wasm``) it lays the graph out with Graphviz compiled to
WebAssembly instead (see :mod:`numbanet.viz.render`). That renderer writes SVG only; other
formats still need the system ``dot`` and say so.

It also remembers which drawn node stands for which trace event, for code that wants to
point at one (the stepper and the HTML replay highlight the current node).
"""

from __future__ import annotations

import os
from pathlib import Path

import graphviz

from .render import RenderingError, choose_renderer, render_png, render_svg

WASM_FORMATS = ("svg",)  # what the WebAssembly renderer can write


class NetGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` plus a Graphviz-free fallback and the event -> node map."""

    #: trace event (or autograd node) id -> name of the drawn node that shows it
    node_names: dict[int, str] | None = None
    #: the number of drawn nodes, legend excluded
    node_count: int = 0

    # ---- notebook display ----------------------------------------------------------
    def _repr_image_svg_xml(self) -> str:
        return render_svg(self)

    def _repr_image_png(self) -> bytes:
        return render_png(self)

    def _repr_svg_(self) -> str:
        return render_svg(self)

    # ---- graphviz's own API, with the WebAssembly fallback --------------------------
    def _use_wasm(self, engine: str | None) -> bool:
        """True when the system ``dot`` is missing (or the environment asks for wasm)."""
        if (engine or self.engine) != "dot":
            return False  # neato, fdp, ...: only the system Graphviz has them
        return choose_renderer() == "wasm"

    def pipe(self, format: str | None = None, *args, engine: str | None = None,  # noqa: A002
             encoding: str | None = None, **kwargs):
        """``graphviz.Digraph.pipe``: the rendered bytes (or text, with ``encoding``)."""
        if not self._use_wasm(engine):
            return super().pipe(format, *args, engine=engine, encoding=encoding, **kwargs)
        data = self._wasm_bytes(format or self.format)
        return data.decode(encoding) if encoding else data

    def render(self, filename: str | os.PathLike | None = None,
               directory: str | os.PathLike | None = None, view: bool = False,
               cleanup: bool = False, format: str | None = None,  # noqa: A002
               *args, outfile: str | os.PathLike | None = None, engine: str | None = None,
               **kwargs) -> str:
        """``graphviz.Digraph.render``: save the DOT source to ``filename`` and the picture
        to ``filename.<format>`` (or to ``outfile``, whose suffix picks the format); return
        the picture's path."""
        if not self._use_wasm(engine) or view:
            return super().render(filename, directory, view, cleanup, format, *args,
                                  outfile=outfile, engine=engine, **kwargs)
        if outfile is not None:
            outfile = Path(outfile)
            format = format or outfile.suffix.lstrip(".") or self.format  # noqa: A001
            if filename is None:
                filename = outfile.with_suffix(".gv")
        source_path = Path(self.save(filename, directory=directory))
        output_path = outfile or Path(f"{source_path}.{format or self.format}")
        output_path.write_bytes(self._wasm_bytes(format or self.format))
        if cleanup:
            source_path.unlink()
        return os.fspath(output_path)

    def _wasm_bytes(self, output_format: str) -> bytes:
        if output_format not in WASM_FORMATS:
            raise RenderingError(
                f"format {output_format!r} needs the Graphviz program 'dot', which is not "
                "installed here (apt install graphviz, brew install graphviz or conda "
                "install graphviz); the built-in WebAssembly Graphviz writes format='svg'")
        return render_svg(self, "wasm").encode("utf-8")

    # ---- trace ids ------------------------------------------------------------------
    def node_name(self, node_id: int) -> str:
        """The drawn node for trace event ``node_id`` (``n12``, or ``m7`` when collapsed)."""
        if not self.node_names or node_id not in self.node_names:
            raise KeyError(f"node {node_id} is not drawn in this graph")
        return self.node_names[node_id]
