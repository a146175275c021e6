"""``tui/`` and ``viz/`` read traces and the public API only, never autograd internals.

The stepper and the renderer are lessons about a recorded iteration; if they reached into
``numbanet.autograd``, ``numbanet.ops`` or ``numbanet.kernels`` they would break whenever
those change, and a saved trace could not be shown without them. Every import statement in
their files is read (``ast``), including imports inside functions.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("numbanet.autograd", "numbanet.ops", "numbanet.kernels")
FILES = sorted(path for folder in ("tui", "viz") for path in (ROOT / folder).rglob("*.py"))


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import; ``from numbanet import ops`` counts as
    ``numbanet.ops``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_the_checker_sees_every_spelling():
    source = ("import numbanet.ops.shape\nfrom numbanet import kernels\n"
              "def f():\n    from numbanet.autograd.function import Function\n"
              "from numbanet.trace import Trace\nimport numbanet\n")
    assert sorted({line for line, module in imported_modules(source) if forbidden(module)}) == [
        1, 2, 4]


def test_there_are_files_to_check():
    assert any(path.parent.name == "tui" for path in FILES)
    assert any(path.parent.name == "viz" for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_only_the_trace_and_the_public_api(path):
    bad = [f"{path.relative_to(ROOT)}:{line}: {module}"
           for line, module in imported_modules(path.read_text()) if forbidden(module)]
    assert not bad, "tui/ and viz/ must not import autograd internals:\n" + "\n".join(bad)
