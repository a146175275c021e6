"""One training iteration as a single HTML file that replays it, step by step, offline.

``numbanet export step.json -o step.html`` (or ``LESSON.py``), or in Python
``viz.replay_html(trace)``; in Jupyter a :class:`~numbanet.trace.Trace` shows itself as this
replay. The file holds everything: the graph as inline SVG (rendered once, here, by
Graphviz), the events as JSON, and a few lines of JavaScript and CSS — no server, no CDN, so
it opens from a USB stick or an e-mail attachment.

What the page does: it walks the events in the order they ran (forward, loss, backward,
optimizer). The current event's node gets a thick red border in the graph, and a panel
shows its values, the gradients it received and sent, and its chain-rule line
(∂L/∂input = ∂L/∂output × ∂output/∂input, with the op's own derivative). Keys:

====================  ===========================================
``→`` ``n`` ``j``     next event
``←`` ``p`` ``k``     previous event
``]`` / ``[``         first event of the next / previous phase
``Home`` / ``End``    first / last event
====================  ===========================================

The page's DOM says where it is, for people and for tests: ``<body data-step="3">``, the
current node's SVG group has the class ``current``, and ``#node-title`` names the event.
"""

from __future__ import annotations

import html
import json

from numbanet.trace import Event, TensorRecord, Trace

from . import labels
from .graph import draw
from .heatmap import event_grids, hex_colour, limit_of
from .render import render_svg

PHASE_ORDER = ("forward", "loss", "backward", "optimizer")


def replay_steps(trace: Trace, node_names: dict[int, str]) -> list[dict]:
    """The events in the order they ran, each as what the page shows: its drawn node
    (``node``: the SVG group id, None when the graph does not draw it), title, phase, source
    line, value rows, gradient rows, chain-rule lines and heat maps."""
    forward_of = {event.node_id: event for event in trace.events
                  if event.phase in ("forward", "loss")}
    steps = []
    for event in trace.events:
        if event.phase not in PHASE_ORDER:
            continue
        steps.append({
            "id": event.node_id,
            "node": node_names.get(event.node_id),
            "title": f"{event.op} (n{event.node_id})",
            "phase": event.phase,
            "module": event.module_path,
            "source": event.source,
            "values": _value_rows(event),
            "gradients": _gradient_rows(event, forward_of.get(event.forward_node_id)),
            "chain": chain_rule_lines(event, forward_of.get(event.forward_node_id)),
            "lens": trace.metadata.get("kernel_lens", {}).get(str(event.node_id)),
            "heatmaps": heatmap_steps(event, trace),
        })
    return steps


def heatmap_steps(event: Event, trace: Trace) -> list[dict]:
    """The event's heat maps (:mod:`numbanet.viz.heatmap`) as cell colours for the page."""
    maps = []
    for label, matrix in event_grids(event, trace):
        limit = limit_of(matrix)
        maps.append({"label": label, "limit": limit,
                     "rows": [[hex_colour(value, limit) for value in row] for row in matrix]})
    return maps


def _summary(record: TensorRecord | None) -> str:
    if record is None:
        return "none"
    return "  ".join([labels.shape_text(record.shape)
                      + (f" {record.dtype}" if record.dtype else ""),
                      *labels.value_rows(record.stats, record.values)])


def _value_rows(event: Event) -> list[str]:
    """What a forward op read and produced; what an optimizer changed."""
    if event.phase in ("forward", "loss"):
        rows = [f"in {index}{' ' + record.name if record and record.name else ''}: "
                f"{_summary(record)}" for index, record in enumerate(event.inputs)
                if record is not None]
        rows += [f"out: {_summary(record)}" for record in event.outputs if record is not None]
        return rows
    if event.phase == "optimizer":
        return [f"{update.name}: change {_summary(update.update)}" for update in event.updates]
    if event.op == "AccumulateGrad" and event.saved:
        return [f"leaf {event.saved[0].name or ''}: {_summary(event.saved[0])}"]
    return []


def _gradient_rows(event: Event, forward: Event | None) -> list[str]:
    """For a backward op: the gradient that arrived and each one it sent."""
    if event.phase != "backward":
        return []
    if event.op == "AccumulateGrad":
        rows = [f"+ {_summary(c.gradient)}" for c in event.contributions]
        return rows + [f"= .grad {_summary(r)}" for r in event.outputs if r is not None]
    rows = [f"∂L/∂output: {_summary(record)}" for record in event.inputs[:1]
            if record is not None]
    for index, record in enumerate(event.outputs):
        if record is not None:
            rows.append(f"∂L/∂{_input_name(forward, index)}: {_summary(record)}")
    return rows


def _input_name(forward: Event | None, index: int) -> str:
    if forward is not None and index < len(forward.inputs):
        record = forward.inputs[index]
        if record is not None and record.name:
            return record.name
    return f"input {index}"


def chain_rule_lines(event: Event, forward: Event | None) -> list[str]:
    """The chain rule this event applies (or will have applied to it), in words."""
    formula = event.formula or (forward.formula if forward else "")
    rule = next((line.strip() for line in formula.splitlines()
                 if line.strip().lower().startswith("gradient")), "")
    if event.phase == "backward" and event.op == "AccumulateGrad":
        return [".grad += the sum of every gradient that reaches this leaf"]
    if event.phase == "backward":
        lines = ["∂L/∂input = ∂L/∂output × ∂output/∂input"]
        if rule:
            lines.append(f"local derivative: {rule}")
        if event.elementwise or (forward is not None and forward.elementwise):
            lines.append("elementwise: each ∂L/∂input[i] uses ∂L/∂output[i] only")
        return lines
    if event.phase == "optimizer":
        return ["parameter ← parameter + change (the change is computed from .grad)"]
    first = formula.strip().splitlines()[0] if formula.strip() else event.op
    return [f"forward: {first}", *( [f"its backward: {rule}"] if rule else [])]


def replay_html(trace: Trace, title: str = "numbanet: one training iteration",
                renderer: str | None = None, depth: int | None = None) -> str:
    """The whole replay page: one self-contained HTML document (inline SVG, JS and CSS)."""
    graph = draw(trace, view="both", depth=depth, legend=True)
    svg = render_svg(graph, renderer)
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE: HTML inlines it
    steps = replay_steps(trace, graph.node_names or {})
    data = json.dumps({"steps": steps, "phases": list(PHASE_ORDER)}, ensure_ascii=False)
    data = data.replace("</", "<\\/")  # a "</script>" inside a label cannot end the script
    return (_PAGE.replace("{{TITLE}}", html.escape(title))
            .replace("{{SVG}}", svg).replace("{{DATA}}", data))


def replay_iframe(trace: Trace, height_px: int = 640, **options) -> str:
    """The replay for a notebook cell: the page inside an ``<iframe srcdoc=...>``, so its
    script and styles run apart from the notebook's own (click it, then use the keys)."""
    page = replay_html(trace, **options)
    return (f'<iframe class="numbanet-replay" srcdoc="{html.escape(page, quote=True)}" '
            f'style="width: 100%; height: {height_px}px; border: 1px solid #ccc" '
            f'title="numbanet trace replay"></iframe>')


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; display: flex; height: 100vh; }
#graph { flex: 1 1 65%; overflow: auto; border-right: 1px solid #ccc; }
#graph svg { max-width: 100%; height: auto; }
#panel { flex: 1 1 35%; padding: 0.8em 1em; overflow: auto; font-size: 15px; }
#panel pre { font-size: 13px; white-space: pre-wrap; margin: 0.2em 0 0.8em; }
#node-title { font-size: 1.3em; margin: 0.2em 0; }
#kernel-lens { border-collapse: collapse; font-size: 11px; }
#kernel-lens td { min-width: 1.8em; text-align: right; color: white; padding: 0 2px; }
.current polygon, .current path { stroke: #d62728 !important; stroke-width: 5px; }
.phase { display: inline-block; padding: 0 0.5em; border-radius: 0.4em; background: #eee; }
.keys { color: #555; font-size: 13px; }
.heatmap { border-collapse: collapse; margin: 0.2em 0 0.8em; }
.heatmap td { width: 9px; height: 9px; padding: 0; }
button { font-size: 14px; }
</style>
</head>
<body data-step="0">
<div id="graph">{{SVG}}</div>
<div id="panel">
  <div>
    <button id="previous" title="previous (p, ←)">◀ previous</button>
    <button id="next" title="next (n, →)">next ▶</button>
    <span id="position"></span>
  </div>
  <p class="keys">keys: → / n next, ← / p previous, ] / [ next / previous phase,
    Home / End first / last</p>
  <div id="node-title"></div>
  <div><span id="phase" class="phase"></span> <span id="module"></span></div>
  <pre id="source"></pre>
  <h3>values</h3><pre id="values"></pre>
  <h3>gradients</h3><pre id="gradients"></pre>
  <h3>chain rule</h3><pre id="chain-rule"></pre>
  <div id="kernel-lens-section" hidden><h3>kernel lens: which GPU thread wrote each element</h3>
    <table id="kernel-lens"></table><pre id="kernel-lens-summary"></pre></div>
  <h3>heat maps</h3><div id="heatmaps"></div>
</div>
<script type="application/json" id="trace-data">{{DATA}}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("trace-data").textContent);
const steps = data.steps;
let step = 0;
function text(id, value) { document.getElementById(id).textContent = value; }
function show(index) {
  step = Math.max(0, Math.min(steps.length - 1, index));
  const s = steps[step];
  document.body.dataset.step = String(step);
  document.querySelectorAll(".current").forEach(g => g.classList.remove("current"));
  const node = s.node ? document.getElementById(s.node) : null;
  if (node) {
    node.classList.add("current");
    node.scrollIntoView({block: "nearest", inline: "nearest"});
  }
  text("node-title", s.title);
  text("phase", s.phase);
  text("module", s.module ? "in " + s.module : "");
  text("source", s.source || "");
  text("values", s.values.join("\\n") || "-");
  text("gradients", s.gradients.join("\\n") || "-");
  text("chain-rule", s.chain.join("\\n"));
  text("position", (step + 1) + " / " + steps.length);
  showLens(s.lens);
  const maps = document.getElementById("heatmaps");
  maps.replaceChildren();
  for (const map of s.heatmaps) {
    const caption = document.createElement("div");
    caption.textContent = map.label + "  (blue " + (-map.limit).toPrecision(3) +
      " · white 0 · red " + map.limit.toPrecision(3) + ")";
    const table = document.createElement("table");
    table.className = "heatmap";
    for (const row of map.rows) {
      const tr = table.insertRow();
      for (const cellColour of row) { tr.insertCell().style.background = cellColour; }
    }
    maps.append(caption, table);
  }
  if (!s.heatmaps.length) maps.textContent = "-";
}
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
  "#3182bd"];
function showLens(lens) {
  // the output grid of a kernel lens kept with the trace (numbanet export --kernel-lens):
  // each cell the thread that wrote it, coloured by thread; · never written, ✗ a race
  document.getElementById("kernel-lens-section").hidden = !lens;
  const table = document.getElementById("kernel-lens");
  table.replaceChildren();
  if (!lens) return;
  for (const row of lens.writers) {
    const tr = table.insertRow();
    for (const thread of row) {
      const td = tr.insertCell();
      td.textContent = thread === -1 ? "·" : thread === -2 ? "✗" : String(thread);
      td.style.background = thread === -1 ? "#ddd" : thread === -2 ? "#b00"
        : PALETTE[thread % PALETTE.length];
      td.title = thread >= 0 ? "block " + Math.floor(thread / lens.threads_per_block) +
        ", thread " + (thread % lens.threads_per_block) + " of its block" : "";
    }
  }
  text("kernel-lens-summary", lens.summary);
}
function phaseJump(direction) {
  const order = data.phases, here = order.indexOf(steps[step].phase);
  for (let p = here + direction; p >= 0 && p < order.length; p += direction) {
    const found = steps.findIndex(s => s.phase === order[p]);
    if (found >= 0) { show(found); return; }
  }
}
document.addEventListener("keydown", event => {
  const key = event.key;
  if (key === "ArrowRight" || key === "n" || key === "j") show(step + 1);
  else if (key === "ArrowLeft" || key === "p" || key === "k") show(step - 1);
  else if (key === "]") phaseJump(1);
  else if (key === "[") phaseJump(-1);
  else if (key === "Home") show(0);
  else if (key === "End") show(steps.length - 1);
  else return;
  event.preventDefault();
});
document.getElementById("next").onclick = () => show(step + 1);
document.getElementById("previous").onclick = () => show(step - 1);
steps.forEach((s, index) => {
  const node = s.node ? document.getElementById(s.node) : null;
  if (node) { node.style.cursor = "pointer"; node.addEventListener("click", () => show(index)); }
});
show(0);
</script>
</body>
</html>
"""
