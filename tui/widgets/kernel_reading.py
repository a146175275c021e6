"""Kernels a student can read: what the kernel pane adds to the source of what ran.

- For an **elementwise** node, the generic loop ``out[i] = f(a[i])`` says little: the pane
  first shows the formula ``f`` that ran for every element — the op's formula, the line
  of ``numbanet/kernels/formulas.py`` the loop was compiled with.
- For a **matmul** or a **conv2d** forward node, the fast kernel is register-blocked and
  threaded, not a short function: the pane also shows the textbook kernel (a triple loop;
  direct convolution, ``numbanet/kernels/cpu/textbook.py``), both measured on this node's
  shapes (:func:`numbanet.textbook.compare`), and one sentence on what makes the fast one
  fast.
"""

from __future__ import annotations

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text

from numbanet.trace import Event

SUFFIXES = ("_contiguous", "_strided", "_scalar_right", "_scalar_left", "_scalar_bounds",
            "_rows_right", "_scalar")  # the loops of kernels/cpu/elementwise.py


def formula_name(kernel_name: str) -> str:
    """``numbanet.kernels.cpu.elementwise.relu_contiguous`` -> ``relu``."""
    name = kernel_name.rsplit(".", 1)[-1]
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def elementwise_formula(event: Event) -> Text | None:
    """``for every element i: out[i] = relu(a[i]), relu: out = max(0, a)``."""
    if not event.elementwise or not event.kernels or not event.formula:
        return None
    first = " ".join(line.strip() for line in event.formula.strip().split("\n\n")[0]
                     .splitlines())
    operands = ", ".join(f"{name}[i]" for name, record in zip("abcd", event.inputs,
                                                              strict=False)
                         if record is not None)
    name = formula_name(event.kernels[0].name)
    return Text.assemble(("The formula that ran, for every element i", "bold"), "\n  ",
                         (f"out[i] = {name}({operands})", "bold cyan"), "   where  ",
                         (first, "italic"),
                         ("\n  (one line of numbanet/kernels/formulas.py, compiled into the "
                          "loop below)", "dim"))


def textbook_case(event: Event) -> tuple[str, tuple, dict] | None:
    """(op, operand shapes, options) when ``event`` is a forward matmul or conv2d whose
    textbook twin can be timed on its shapes; None otherwise."""
    if event.phase not in ("forward", "loss") or not event.kernels:
        return None
    names = " ".join(record.name for record in event.kernels)
    shapes = [tuple(record.shape) for record in event.inputs if record is not None]
    if ".conv" in names:
        four = [shape for shape in shapes if len(shape) == 4]
        if len(four) >= 2:
            return "conv2d", (four[0], four[1]), {
                "stride": tuple(event.attributes.get("stride", (1, 1))),
                "padding": tuple(event.attributes.get("padding", (0, 0)))}
    if ".matmul" in names:
        two = [shape for shape in shapes if len(shape) == 2]
        for a, b in zip(two, two[1:], strict=False):
            if a[1] == b[0]:
                return "matmul", (a, b), {}
        for a, b in zip(two, two[1:], strict=False):  # x @ W.T with W recorded untransposed
            if a[1] == b[1]:
                return "matmul", (a, (b[1], b[0])), {}
    return None


def comparison_view(comparison) -> Group:
    """The textbook kernel's source, both times and the one sentence."""
    shapes = " and ".join("×".join(str(size) for size in shape) for shape in comparison.shapes)
    return Group(
        Text.assemble(("\nThe textbook kernel, beside the fast one", "bold"),
                      f"  (on this node's shapes: {shapes})"),
        Syntax(comparison.textbook_source, "python", theme="monokai", word_wrap=True),
        Text.assemble("  textbook ", (f"{comparison.textbook_seconds * 1e3:.3f} ms", "bold"),
                      "   fast ", (f"{comparison.fast_seconds * 1e3:.3f} ms", "bold"),
                      f"   ({comparison.speedup:.1f}× faster; results differ by at most "
                      f"{comparison.max_difference:.2g})"),
        Text(f"  {comparison.why_fast}", style="italic"))
