"""The module tree: the model's modules, and under each the nodes that ran inside it.

``Net.fc1`` becomes ``Net`` > ``fc1  Linear``; a module lists its forward ops and, from the
backward pass, the gradient nodes that differentiate them — so opening ``fc1`` shows what
the layer computed and how its gradients were computed. Nodes outside any module (the
optimizer step, ops on raw tensors) hang from the root.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from numbanet.trace import MODULE_TYPES, Trace

from ..theme import phase_style


class ModuleTree(Tree[int]):
    """A tree of module paths whose leaves are events (their data is the event's index)."""

    @dataclass
    class NodeChosen(Message):
        """The user selected the leaf of the node at ``index``."""

        index: int

    def __init__(self, **kwargs):
        super().__init__("modules", **kwargs)
        self._leaves: dict[int, TreeNode[int]] = {}

    def show_trace(self, trace: Trace, title: str) -> None:
        """Rebuild the tree for ``trace``."""
        self.clear()
        self.root.set_label(title)
        self._leaves.clear()
        modules: dict[str, TreeNode[int]] = {"": self.root}
        forward_ops: dict[str, list[str]] = {}
        for index, event in enumerate(trace.events):
            parent = self._module_node(modules, event.module_path)
            label = Text.assemble((f"{index:>3} ", "dim"), (event.op, phase_style(event.phase)))
            self._leaves[index] = parent.add_leaf(label, data=index)
            if event.phase in ("forward", "loss") and event.module_path:
                ops = forward_ops.setdefault(event.module_path, [])
                if event.op not in ops:
                    ops.append(event.op)
        classes = trace.metadata.get(MODULE_TYPES, {})
        for path, node in modules.items():
            if path:  # "fc1  Linear", or, for a trace without classes, its ops
                name = path.rpartition(".")[2]
                hint = classes.get(path) or " ".join(forward_ops.get(path, [])[:4])
                node.set_label(Text.assemble((name, "bold"),
                                             ("  " + hint if hint != name else "", "dim")))
        self.root.expand()

    def _module_node(self, modules: dict[str, TreeNode[int]], path: str) -> TreeNode[int]:
        """The tree node of module ``path``, creating it and its parents on first use."""
        if path not in modules:
            parent_path, _, name = path.rpartition(".")
            parent = self._module_node(modules, parent_path)
            modules[path] = parent.add(Text(name, style="bold"), expand=False)
        return modules[path]

    def show_position(self, index: int) -> None:
        """Open the modules around node ``index`` and put the cursor on its leaf."""
        leaf = self._leaves.get(index)
        if leaf is None:
            return
        closed = []
        ancestor = leaf.parent
        while ancestor is not None:
            if not ancestor.is_expanded:
                closed.append(ancestor)
            ancestor = ancestor.parent
        if not closed:
            self.move_cursor(leaf)
            return
        for node in closed:
            node.expand()
        self.call_after_refresh(self.move_cursor, leaf)  # its line is known after the redraw

    def on_tree_node_selected(self, message: Tree.NodeSelected) -> None:
        message.stop()
        if message.node.data is not None:
            self.post_message(self.NodeChosen(message.node.data))
