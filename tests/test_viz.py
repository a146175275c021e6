"""The graph renderer: DOT structure against the autograd graph, highlight, depth, SVG.

The expected node and edge counts are not written down by hand: they come from walking the
autograd graph (``grad_fn`` / ``next_edges``) and the trace's events independently of the
renderer, so the tests say "the picture shows exactly the graph autograd built".

Every test renders with the WebAssembly Graphviz (forced through the environment variable),
except the one that checks the system ``dot``, which is skipped where it is not installed.
"""

from __future__ import annotations

import re
import shutil
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict

import pytest

import numbanet as torch
import numbanet.nn as nn
import numbanet.nn.functional as F
import numbanet.optim as optim
from numbanet import trace as trace_module
from numbanet import viz
from numbanet.trace import Event, TensorRecord, Trace

NODE = re.compile(r"^\t+(\w+) \[label=.*?\bclass=(\w+)", re.M)
EDGE = re.compile(r"^\t+(\w+) -> (\w+) \[[^\]]*\bclass=(\w+)", re.M)
CLUSTER = re.compile(r'subgraph "?cluster_([^"\s{]+)"? \{')


@pytest.fixture(autouse=True)
def webassembly_renderer(monkeypatch):
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")


# ---- reading the DOT back --------------------------------------------------------------
def nodes_of(graph, kind: str | None = None) -> list[str]:
    """Drawn node names (the legend's samples left out), optionally of one kind."""
    return [name for name, node_kind in NODE.findall(graph.source)
            if not name.startswith("legend_") and kind in (None, node_kind)]


def edges_of(graph, kind: str) -> list[tuple[str, str]]:
    return [(tail, head) for tail, head, edge_kind in EDGE.findall(graph.source)
            if edge_kind == kind]


def clusters_of(graph) -> set[str]:
    return set(CLUSTER.findall(graph.source)) - {"legend"}


def autograd_graph(output) -> tuple[int, int, int]:
    """(backward nodes, leaves, edges) reachable from ``output.grad_fn``, walked here."""
    nodes, leaves, edges = set(), set(), 0
    stack = [output.grad_fn]
    nodes.add(output.grad_fn.node_id)
    while stack:
        node = stack.pop()
        for target, _ in node.next_functions:  # PyTorch's public view of the edges
            if target is None:
                continue
            edges += 1
            if hasattr(target, "variable"):  # AccumulateGrad: the leaf's own node
                leaves.add(target.variable._uid)
            elif target.node_id not in nodes:
                nodes.add(target.node_id)
                stack.append(target)
    return len(nodes), len(leaves), edges


# ---- the models ------------------------------------------------------------------------
class CNN(nn.Module):
    """PyTorch's MNIST example network, the seed CNN of the tutorials."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


def record(model, inputs, targets, criterion):
    """One recorded iteration: (trace, loss), the graph kept for the autograd walk."""
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    with trace_module.record(model) as trace:
        optimizer.zero_grad()
        outputs = model(inputs)
        with trace_module.phase("loss"):
            loss = criterion(outputs, targets)
        loss.backward(retain_graph=True)
        optimizer.step()
    return trace, loss


@pytest.fixture(scope="module")
def mlp_run():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    trace, loss = record(model, torch.randn(4, 2), torch.tensor([0, 1, 1, 0]),
                         nn.CrossEntropyLoss())
    return model, trace, loss


@pytest.fixture(scope="module")
def cnn_run():
    torch.manual_seed(0)
    model = CNN()
    trace, loss = record(model, torch.randn(2, 1, 28, 28), torch.tensor([3, 7]), F.nll_loss)
    return model, trace, loss


# Expanded (expand=True: every primitive op drawn). A module running one op (a ReLU, a
# Dropout) is no box of its own: its name goes into that op's title.
MLP_CLUSTERS = {"Sequential", "Sequential.0", "Sequential.2", "CrossEntropyLoss"}
CNN_CLUSTERS = {"CNN", "CNN.conv1", "CNN.conv2", "CNN.fc1", "CNN.fc2", "loss"}


# ---- structure -------------------------------------------------------------------------
@pytest.mark.parametrize("run, clusters", [("mlp_run", MLP_CLUSTERS),
                                           ("cnn_run", CNN_CLUSTERS)])
def test_trace_graph_matches_the_autograd_graph(run, clusters, request):
    model, trace, loss = request.getfixturevalue(run)
    backward_nodes, leaves, gradient_edges = autograd_graph(loss)
    forward_events = [e for e in trace.events if e.phase in ("forward", "loss")]
    parameters = len(list(model.parameters()))
    assert leaves == parameters

    forward = viz.draw(trace, view="forward", expand=True)
    assert len(nodes_of(forward, "activation")) == len(forward_events)
    assert len(nodes_of(forward, "parameter")) == parameters
    assert len(nodes_of(forward, "input")) == 2  # the batch and its targets
    data_edges = {(("op", r.producer_node_id) if r.producer_node_id is not None
                   else ("leaf", r.tensor_id), e.node_id)
                  for e in forward_events for r in e.inputs if r is not None}
    assert len(edges_of(forward, "data")) == len(data_edges)
    assert clusters_of(forward) == clusters

    backward = viz.draw(trace, view="backward", expand=True)
    assert len(nodes_of(backward, "gradient")) == backward_nodes
    assert len(nodes_of(backward, "leaf_gradient")) == leaves
    assert len(edges_of(backward, "gradient")) == gradient_edges
    assert nodes_of(backward, "activation") == []

    both = viz.draw(trace, expand=True, links=True)
    assert len(nodes_of(both)) == (len(nodes_of(forward)) + len(nodes_of(backward))
                                   + len(trace.by_phase("optimizer")))
    # every backward node is tied to its forward op, every AccumulateGrad to its parameter
    assert len(edges_of(both, "link")) == backward_nodes + leaves
    assert len(edges_of(both, "update")) == parameters
    assert clusters_of(both) == clusters


@pytest.mark.parametrize("run", ["mlp_run", "cnn_run"])
def test_tensor_graph_is_the_autograd_graph(run, request):
    model, _, loss = request.getfixturevalue(run)
    backward_nodes, leaves, gradient_edges = autograd_graph(loss)
    graph = viz.draw(loss, params=dict(model.named_parameters()))
    assert len(nodes_of(graph, "gradient")) == backward_nodes
    assert len(nodes_of(graph, "parameter")) == leaves
    assert len(edges_of(graph, "gradient")) == gradient_edges + 1  # + output -> grad_fn
    for name, _ in model.named_parameters():
        assert f"label={name}\\n" in graph.source.replace('"', "")


def test_tensor_graph_shows_saved_tensors_until_backward_frees_them():
    weight = torch.randn(3, 2, requires_grad=True)
    output = (torch.randn(4, 3) @ weight).relu().sum()
    assert len(nodes_of(viz.draw(output), "saved")) == 2  # matmul's inputs, relu's input
    output.backward()
    assert nodes_of(viz.draw(output), "saved") == []


def test_node_names_are_the_trace_ids(mlp_run):
    _, trace, _ = mlp_run
    graph = viz.draw(trace, expand=True)
    for event in trace.events:
        assert graph.node_name(event.node_id) == f"n{event.node_id}"
    assert {f"n{e.node_id}" for e in trace.events} <= set(nodes_of(graph))


# ---- highlight and depth ---------------------------------------------------------------
def highlighted(graph) -> list[str]:
    return [line.split()[0] for line in graph.source.splitlines()
            if "penwidth=4" in line and not line.strip().startswith("legend_")]


def test_highlight_draws_one_node_distinctly(mlp_run):
    _, trace, _ = mlp_run
    backward_event = trace.by_phase("backward")[2]
    graph = viz.draw(trace, highlight=backward_event.node_id, expand=True)
    assert highlighted(graph) == [f"n{backward_event.node_id}"]
    assert "legend_highlight" in graph.source
    assert highlighted(viz.draw(trace, highlight="n0", expand=True)) == ["n0"]
    assert highlighted(viz.draw(trace)) == []
    with pytest.raises(ValueError, match="not drawn"):
        viz.draw(trace, view="forward", highlight=backward_event.node_id)


def test_depth_collapses_modules_into_one_node_each(mlp_run):
    _, trace, _ = mlp_run
    shallow = viz.draw(trace, depth=1, expand=True, links=True)
    assert clusters_of(shallow) == {"Sequential", "CrossEntropyLoss"}
    modules = nodes_of(shallow, "module")
    assert len(modules) == 3  # Sequential.0 (Linear), .1 (ReLU), .2 (Linear)
    assert nodes_of(shallow, "parameter") == []  # inside their modules now
    assert len(nodes_of(shallow, "input")) == 2
    chain = edges_of(shallow, "data")
    assert (modules[0], modules[1]) in chain and (modules[1], modules[2]) in chain
    # backward: one node per collapsed module, linked to it
    assert {(m, f"{m}b") for m in modules} <= set(edges_of(shallow, "link"))

    first_matmul = next(e for e in trace.events if e.op == "Addmm")
    graph = viz.draw(trace, depth=1, highlight=first_matmul.node_id, expand=True)
    assert highlighted(graph) == [modules[0]]
    assert graph.node_name(first_matmul.node_id) == modules[0]

    whole = viz.draw(trace, depth=0)
    assert clusters_of(whole) == set()
    assert len(nodes_of(whole, "module")) == 2  # the model and the loss
    assert nodes_of(whole, "parameter") == [] and len(nodes_of(whole, "input")) == 2


def test_depth_on_the_cnn_keeps_the_top_module(cnn_run):
    _, trace, _ = cnn_run
    graph = viz.draw(trace, view="forward", depth=1, expand=True)
    assert clusters_of(graph) == {"CNN", "loss"}
    # conv1, conv2, dropout1, fc1, fc2 collapse; relu, max_pool2d, flatten... stay ops
    assert len(nodes_of(graph, "module")) == 5


# ---- rendering -------------------------------------------------------------------------
def parse_svg(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg.encode())
    assert root.tag.endswith("svg")
    return root


def test_webassembly_svg_is_well_formed(cnn_run):
    _, trace, _ = cnn_run
    assert viz.choose_renderer() == "wasm"
    graph = viz.draw(trace)
    root = parse_svg(viz.render_svg(graph))
    ids = {element.get("id") for element in root.iter()}
    assert set(nodes_of(graph)) <= ids


@pytest.mark.skipif(shutil.which("dot") is None, reason="system Graphviz is not installed")
def test_system_dot_svg_and_png(mlp_run, tmp_path):
    _, trace, _ = mlp_run
    graph = viz.draw(trace)
    parse_svg(viz.render_svg(graph, renderer="dot"))
    assert viz.save(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


def test_png_without_system_dot_says_what_to_install(mlp_run, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(viz.RenderingError, match="PNG.*Graphviz"):
        viz.save(viz.draw(mlp_run[1]), tmp_path / "g.png")


def test_save_picks_the_format_by_suffix(mlp_run, tmp_path):
    graph = viz.draw(mlp_run[1])
    parse_svg(viz.save(graph, tmp_path / "g.svg").read_text())
    assert viz.save(graph, tmp_path / "g.dot").read_text() == graph.source
    with pytest.raises(ValueError, match=r"\.svg, \.png"):
        viz.save(graph, tmp_path / "g.jpeg")


def test_notebook_display_uses_our_renderer(mlp_run):
    graph = viz.draw(mlp_run[1])
    parse_svg(graph._repr_svg_())
    bundle = graph._repr_mimebundle_()
    parse_svg(bundle["image/svg+xml"])


# ---- large graphs ----------------------------------------------------------------------
def chain_trace(length: int) -> Trace:
    """A trace of ``length`` forward ops in a line, each feeding the next, built by hand."""
    def tensor(tensor_id: int, producer: int | None) -> TensorRecord:
        return TensorRecord(tensor_id, [1], "float32", "cpu", "activation",
                            producer_node_id=producer, values=[1.0],
                            stats={"numel": 1, "mean": 1.0, "std": 0.0, "min": 1.0,
                                   "max": 1.0, "nan": 0, "inf": 0})
    events = [Event(node_id=i, phase="forward", op="Mul",
                    inputs=[tensor(i, i - 1 if i else None)], outputs=[tensor(i + 1, i)],
                    input_node_ids=[i - 1 if i else None]) for i in range(length)]
    return Trace(events=events)


def test_a_10000_node_chain_fails_fast_or_renders():
    x = torch.ones(1, requires_grad=True)
    for _ in range(10_000):
        x = x * 1.0001
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"20002 nodes.*max_nodes=2000.*show_saved=False"):
        viz.draw(x)
    assert time.perf_counter() - start < 10

    trace = chain_trace(10_000)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"10001 nodes.*depth=1.*view='forward'"):
        viz.draw(trace)
    assert time.perf_counter() - start < 10

    graph = viz.draw(trace, max_nodes=20_000)  # iterative all the way: no RecursionError
    start = time.perf_counter()
    try:
        parse_svg(viz.render_svg(graph))
    except viz.RenderingError as error:  # the WebAssembly stack is too small for it
        assert "fewer nodes" in str(error)
    assert time.perf_counter() - start < 60
    parse_svg(viz.render_svg(viz.draw(chain_trace(50))))  # and the renderer recovers


# ---- traces on disk --------------------------------------------------------------------
def test_trace_json_round_trip_draws_the_same_graph(mlp_run, tmp_path):
    _, trace, _ = mlp_run
    trace.save(tmp_path / "trace.json")
    loaded = Trace.load(tmp_path / "trace.json")
    assert [asdict(e) for e in loaded.events] == [asdict(e) for e in trace.events]
    assert loaded.parameter_names == trace.parameter_names
    assert viz.draw(loaded).source == viz.draw(trace).source


# ---- labels and arguments --------------------------------------------------------------
def test_labels_show_values_when_tiny_and_flag_nan():
    assert viz.labels.value_rows({"numel": 2}, [0.5, -0.0]) == ["values [0.5, 0]"]
    stats = {"numel": 10, "mean": 0.5, "std": 1.0, "min": -1.0, "max": 2.0, "nan": 3, "inf": 0}
    rows = viz.labels.value_rows(stats)
    assert rows[0] == "mean 0.5  std 1" and rows[-1] == "!! 3 NAN !!"
    label = viz.labels.node_label("Conv2d", ["stride=(1,1)"], ["[2, 32]  float32"])
    assert label.startswith("Conv2d\\n______") and label.endswith("float32\\l")


def test_draw_rejects_what_it_cannot_draw(mlp_run):
    _, trace, loss = mlp_run
    with pytest.raises(ValueError, match="view must be"):
        viz.draw(trace, view="sideways")
    with pytest.raises(ValueError, match="only remembers its backward graph"):
        viz.draw(loss, view="forward")
    with pytest.raises(TypeError, match="Trace or Tensor"):
        viz.draw(42)
    with pytest.raises(ValueError, match="depth"):
        viz.draw(trace, depth=-1)
