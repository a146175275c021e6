"""Graphs for a teacher's slides, and the graphviz habits every user has.

Slide fit is measured, not eyeballed: a 16:9 slide shown 1920 px wide is 1440 × 810 pt
(CSS: 96 px and 72 pt to the inch). Scaled down (never up) to fit, the smallest text of the
SVG must still be at least 10 pt. Measured on the two graphs a lesson shows: ``numbanet
graph --demo`` (the spirals MLP, ``--view both``) and the seed CNN of
``examples/lesson_cnn.py`` at ``--depth 1``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import numbanet as torch
from numbanet import trace as trace_module
from numbanet import viz
from numbanet.cli import main as numbanet_main
from numbanet.lesson import load_lesson, record_iteration
from numbanet.trace import Trace

SLIDE_PT = (1440.0, 810.0)  # 1920 × 1080 px
MIN_TEXT_PT = 10.0
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def webassembly_renderer(monkeypatch):
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")


@pytest.fixture(scope="module")
def spirals_trace() -> Trace:
    return record_iteration(load_lesson(None), 0)


@pytest.fixture(scope="module")
def cnn_trace() -> Trace:
    return record_iteration(load_lesson(EXAMPLES / "lesson_cnn.py"), 0)


def slide_fit(svg: str) -> tuple[float, float, float, float]:
    """(width pt, height pt, smallest font pt, that font's size on the slide in pt)."""
    width, height = (float(v) for v in
                     re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    fonts = [float(size) for size in re.findall(r'font-size="([\d.]+)"', svg)]
    scale = min(1.0, SLIDE_PT[0] / width, SLIDE_PT[1] / height)
    return width, height, min(fonts), min(fonts) * scale


@pytest.mark.parametrize("lesson, depth", [("spirals_trace", None), ("cnn_trace", 1)])
def test_both_views_fit_a_16_9_slide_with_10pt_text(lesson, depth, request):
    trace = request.getfixturevalue(lesson)
    svg = viz.render_svg(viz.draw(trace, view="both", depth=depth))
    width, height, smallest, on_slide = slide_fit(svg)
    assert on_slide >= MIN_TEXT_PT, (
        f"{lesson}: {width:.0f} x {height:.0f} pt, smallest text {smallest} pt, "
        f"{on_slide:.1f} pt on a 1920 px slide")
    # and the picture is a landscape one, not a tall column or a thin strip
    assert 1.0 < width / height < 3.0


def test_a_slide_without_the_legend_is_smaller(spirals_trace):
    with_legend = slide_fit(viz.render_svg(viz.draw(spirals_trace)))
    without = slide_fit(viz.render_svg(viz.draw(spirals_trace, legend=False)))
    assert without[0] < with_legend[0]
    assert "legend_" not in viz.draw(spirals_trace, legend=False).source


def test_legend_is_narrower_than_the_graph_at_depth_1(cnn_trace):
    svg = viz.render_svg(viz.draw(cnn_trace, depth=1))
    legend = re.search(r'<g id="clust\d+" class="cluster">\s*<title>cluster_legend</title>'
                       r'\s*<path[^>]*d="([^"]+)"', svg)
    xs = [float(x) for x in re.findall(r"(-?[\d.]+),-?[\d.]+", legend.group(1))]
    legend_width = max(xs) - min(xs)
    assert legend_width < 0.25 * slide_fit(svg)[0]


def test_linear_is_one_node_named_as_pytorch_names_it(spirals_trace):
    folded = viz.draw(spirals_trace)
    expanded = viz.draw(spirals_trace, expand=True)
    assert folded.source.count("AddmmBackward0") == 3  # three nn.Linear layers
    assert "AddmmBackward0" not in expanded.source and "MatmulBackward" in expanded.source
    assert "linear: x @ weight.T + bias" in folded.source
    # every event still has a node: the Linear's Permute, Matmul and Add share one
    matmuls = [e for e in spirals_trace.events if e.op == "Matmul" and e.phase == "forward"]
    adds = [e for e in spirals_trace.events if e.op == "Add" and e.phase == "forward"]
    assert folded.node_name(matmuls[0].node_id) == folded.node_name(adds[0].node_id)
    assert expanded.node_name(matmuls[0].node_id) != expanded.node_name(adds[0].node_id)


def test_links_are_optional(spirals_trace):
    assert "class=link" not in viz.draw(spirals_trace).source
    assert "class=link" in viz.draw(spirals_trace, links=True).source


def test_saved_tensors_say_what_they_are(spirals_trace):
    source = viz.draw(spirals_trace).source
    assert "computed in forward" not in source
    assert "output of Sequential.0: Linear [16, 16]" in source  # what ReLU's backward reads
    assert "made inside CrossEntropy [16, 2]" in source  # the loss's own probabilities
    expanded = viz.draw(spirals_trace, expand=True).source
    assert "input x [16, 2]" in expanded  # the matmul of the first layer saved the batch


def node_centres(svg: str) -> dict[str, tuple[float, float]]:
    """Drawn node name -> (x, y) of its text, from the SVG (y grows downwards)."""
    centres = {}
    for name, x, y in re.findall(r'<g id="(\w+)" class="node[^"]*">.*?<text[^>]*x="([-\d.]+)"'
                                 r' y="([-\d.]+)"', svg, re.S):
        centres[name] = (float(x), float(y))
    return centres


def test_backward_view_reads_top_to_bottom_in_one_column(spirals_trace):
    graph = viz.draw(spirals_trace, view="backward", legend=False, show_saved=False)
    centres = node_centres(viz.render_svg(graph))
    backward = [e for e in spirals_trace.events if e.phase == "backward"]
    first, last = graph.node_name(backward[0].node_id), graph.node_name(backward[-1].node_id)
    assert centres[first][1] < centres[last][1]  # the loss's backward is on top
    # ... and the arrows point down, the way the gradients go
    assert "dir=forward" in graph.source and "dir=back" not in graph.source.replace(
        "arrowtail=odot", "")
    # no staircase: the chain of backward ops keeps (nearly) one x
    chain = [centres[graph.node_name(e.node_id)] for e in backward
             if e.op != "AccumulateGrad"]
    assert max(x for x, _ in chain) - min(x for x, _ in chain) < 200


# ---- focus and gradient width ------------------------------------------------------------
def test_focus_keeps_only_the_paths_from_a_parameter_to_the_loss(spirals_trace):
    whole = viz.draw(spirals_trace)
    focused = viz.draw(spirals_trace, focus="2.weight")
    # the middle Linear, the ReLU after it, the last Linear and the loss: not the first layer
    assert "Sequential.0: Linear" in whole.source
    assert "Sequential.0: Linear" not in focused.source
    assert "Sequential.2: Linear" in focused.source and "Sequential.4: Linear" in focused.source
    assert focused.source.count("AddmmBackward0") == 2
    assert "input x" not in focused.source  # the batch does not lie on those paths
    assert "input 1" not in focused.source  # nor does the dropped transpose of 4.weight
    assert focused.node_count < whole.node_count
    with pytest.raises(ValueError, match="no parameter 'nope'.*2.weight"):
        viz.draw(spirals_trace, focus="nope")


def test_gradient_width_follows_the_size_of_the_gradient(spirals_trace):
    graph = viz.draw(spirals_trace, gradient_width=True, expand=True)
    gradient_edges = [line for line in graph.source.splitlines()
                      if re.match(r"\t+\w+ -> \w+ \[", line) and "class=gradient" in line]
    widths = [float(match.group(1)) for line in gradient_edges
              if (match := re.search(r"penwidth=([\d.]+)", line))]
    assert len(widths) >= 10 and len(widths) >= len(gradient_edges) - 2
    assert max(widths) == pytest.approx(6.0) and min(widths) < 1.0
    assert "penwidth=6.00" not in viz.draw(spirals_trace, expand=True).source


def test_repeated_blocks_are_folded_into_one_node():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8),
                                *[torch.nn.Linear(8, 8) for _ in range(12)],
                                torch.nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with trace_module.record(model) as trace:
        output = model(torch.randn(4, 2))
        with trace_module.phase("loss"):
            loss = torch.nn.CrossEntropyLoss()(output, torch.tensor([0, 1, 0, 1]))
        loss.backward()
        optimizer.step()
    graph = viz.draw(trace)
    # Linear(2, 8) differs (its weight is [8, 2]), then 12 identical, then Linear(8, 2)
    assert "Sequential.1 ... Sequential.12: Linear \u00d7 12" in graph.source
    assert "AddmmBackward0 \u00d7 12" in graph.source
    assert "Sequential.0: Linear" in graph.source and "Sequential.13: Linear" in graph.source
    assert graph.node_count < 15 < viz.draw(trace, expand=True).node_count
    svg = viz.render_svg(graph)
    assert slide_fit(svg)[3] >= MIN_TEXT_PT


# ---- graphviz habits --------------------------------------------------------------------
def test_render_and_pipe_work_without_system_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on PATH, whatever is installed
    x = torch.randn(3, 2, requires_grad=True)
    graph = viz.draw((x * 2).sum())
    written = graph.render(tmp_path / "mine", format="svg")
    assert written == str(tmp_path / "mine.svg")
    assert (tmp_path / "mine").read_text().startswith("digraph")  # the DOT source, as graphviz
    assert "<svg" in (tmp_path / "mine.svg").read_text()
    assert graph.pipe(format="svg").startswith(b"<?xml") or b"<svg" in graph.pipe("svg")
    assert "<svg" in graph.pipe(format="svg", encoding="utf-8")
    assert "<svg" in graph._repr_svg_()
    out = graph.render(outfile=tmp_path / "other.svg")
    assert out == str(tmp_path / "other.svg") and "<svg" in Path(out).read_text()
    with pytest.raises(viz.RenderingError, match="needs the Graphviz program 'dot'"):
        graph.pipe(format="png")


def test_cli_slide_options(tmp_path, spirals_trace):
    trace_file = tmp_path / "step.json"
    spirals_trace.save(trace_file)
    plain, slide = tmp_path / "plain.dot", tmp_path / "slide.dot"
    assert numbanet_main(["graph", str(trace_file), "-o", str(plain)]) == 0
    assert numbanet_main(["graph", str(trace_file), "-o", str(slide), "--no-legend",
                          "--links", "--expand"]) == 0
    assert "legend_" in plain.read_text() and "legend_" not in slide.read_text()
    assert "class=link" in slide.read_text() and "MatmulBackward" in slide.read_text()
