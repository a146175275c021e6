"""Graphs for a teacher's slides, and the graphviz habits every user has.

Slide fit is measured, not eyeballed: a 16:9 slide shown 1920 px wide is 1440 × 810 pt
(CSS: 96 px and 72 pt to the inch). Scaled down (never up) to fit, the smallest text of the
SVG must still be at least 10 pt. Measured on the two graphs a lesson shows: ``numbanet
graph --demo`` (the spirals MLP, ``--view both``) and the seed CNN of
``examples/lesson_cnn.py`` at ``--depth 1``.
"""

from __future__ import annotations

import re
from itertools import pairwise
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
    assert "TBackward0" not in folded.source
    # expanded: PyTorch's own two nodes, the weight's transpose and the addmm
    assert expanded.source.count('label="AddmmBackward0') == 3
    assert expanded.source.count('label="TBackward0') == 3
    assert "linear: x @ weight.T + bias" in folded.source
    # every event still has a node: the Linear's transpose and addmm share one
    transposes = [e for e in spirals_trace.events if e.op == "T" and e.phase == "forward"]
    addmms = [e for e in spirals_trace.events if e.op == "Addmm" and e.phase == "forward"]
    assert folded.node_name(transposes[0].node_id) == folded.node_name(addmms[0].node_id)
    assert expanded.node_name(transposes[0].node_id) != expanded.node_name(addmms[0].node_id)


def test_links_are_optional(spirals_trace):
    assert "class=link" not in viz.draw(spirals_trace).source
    assert "class=link" in viz.draw(spirals_trace, links=True).source



# ---- links routed off the cluster labels ----------------------------------------------------
def _cubic_points(d: str, steps: int = 24) -> list[tuple[float, float]]:
    """The points of an SVG path ``M x,y C x,y x,y x,y ...`` (Graphviz edges are cubic
    Béziers), each curve sampled at ``steps`` points."""
    numbers = [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]
    points = [numbers[0]]
    for i in range(1, len(numbers) - 2, 3):
        p0, p1, p2, p3 = points[-1], numbers[i], numbers[i + 1], numbers[i + 2]
        for step in range(1, steps + 1):
            t = step / steps
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
            points.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                           a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
    return points


def _segment_meets_box(p, q, box) -> bool:
    """Whether the segment p-q meets the rectangle (left, top, right, bottom): Liang-Barsky
    clipping, the segment's parameter interval narrowed by each of the four edges."""
    (x0, y0), (x1, y1), (left, top, right, bottom) = p, q, box
    low, high = 0.0, 1.0
    for delta, distance in ((x0 - x1, x0 - left), (x1 - x0, right - x0),
                            (y0 - y1, y0 - top), (y1 - y0, bottom - y0)):
        if delta == 0:
            if distance < 0:
                return False
            continue
        t = distance / delta
        if delta < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


def cluster_label_boxes(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, box) of every line of every cluster's label. Graphviz writes a label line as
    ``<text text-anchor="middle" x= y= font-size=>`` with y the baseline; the box is that
    line's width (the font is Courier: each character 0.6 em wide) and its height from the
    ascent (0.8 em above the baseline) to the descent (0.25 em below)."""
    boxes = []
    for group in re.findall(r'<g id="clust\d+" class="cluster">(.*?)</g>', svg, re.S):
        for attributes, text in re.findall(r"<text([^>]*)>([^<]*)</text>", group):
            x, y, size = (float(re.search(f'{key}="(-?[\\d.]+)"', attributes).group(1))
                          for key in ("x", "y", "font-size"))
            width = 0.6 * size * len(text)
            left = {"start": x, "end": x - width}.get(
                (re.search(r'text-anchor="(\w+)"', attributes) or [None, "middle"])[1],
                x - width / 2)
            boxes.append((text, (left, y - 0.8 * size, left + width, y + 0.25 * size)))
    return boxes


def link_label_crossings(svg: str) -> tuple[list[str], int, int]:
    """(each link edge that runs through a cluster label, how many links, how many label
    lines): a link is a ``<g class="edge link">``, its path a chain of cubic Béziers."""
    links = re.findall(r'<g id="edge\d+" class="edge link">\s*<title>([^<]*)</title>'
                       r'\s*<path[^>]*\sd="([^"]+)"', svg)
    boxes = cluster_label_boxes(svg)
    crossings = []
    for title, d in links:
        points = _cubic_points(d)
        for text, box in boxes:
            if any(_segment_meets_box(p, q, box) for p, q in pairwise(points)):
                crossings.append(f"{title.replace('&#45;&gt;', ' -> ')} through {text!r}")
    return crossings, len(links), len(boxes)


def test_label_crossing_detector_sees_a_crossing():
    """The detector itself: a link drawn straight through a label is caught, one beside
    it is not."""
    svg = ('<g id="clust1" class="cluster"><title>cluster_A</title>'
           '<text text-anchor="middle" x="100" y="-200" font-size="10.00">Sequential</text></g>'
           '<g id="edge1" class="edge link">\n<title>a&#45;&gt;b</title>\n'
           '<path d="M0,-203C50,-203 150,-203 200,-203"/></g>'
           '<g id="edge2" class="edge link">\n<title>c&#45;&gt;d</title>\n'
           '<path d="M0,-180C50,-180 150,-180 200,-180"/></g>')
    assert link_label_crossings(svg) == (["a -> b through 'Sequential'"], 2, 1)


@pytest.mark.parametrize("lesson, depth, slide", [
    ("spirals_trace", None, True), ("cnn_trace", 1, True),
    # every module opened: 0.weight's link to its AccumulateGrad ran, without ports, through
    # the label "Sequential.0: Conv2d" (not a slide: 9 pt text on 1920 px)
    ("cnn_trace", None, False)])
def test_links_are_routed_off_the_cluster_labels(lesson, depth, slide, request):
    trace = request.getfixturevalue(lesson)
    svg = viz.render_svg(viz.draw(trace, view="both", depth=depth, links=True))
    crossings, links, labels = link_label_crossings(svg)
    assert links >= 4 and labels >= 3  # there is something to cross
    assert crossings == [], f"{lesson}: {len(crossings)} of {links} links cross a label"
    if slide:  # ... and the slide still fits
        assert slide_fit(svg)[3] >= MIN_TEXT_PT

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
    assert "class=link" in slide.read_text() and "TBackward0" in slide.read_text()
