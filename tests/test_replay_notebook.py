"""A notebook executed headless (``nbclient``, a real IPython kernel): a ``Trace`` as the
last line of a cell displays as the HTML replay, and ``viz.draw(loss)`` as an SVG picture
even where no system Graphviz is installed."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' installs nbformat")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' installs nbclient")
pytest.importorskip("ipykernel", reason="pip install -e '.[test]' installs ipykernel")

CELLS = [
    "import os\nos.environ['NUMBANET_GRAPHVIZ_RENDERER'] = 'wasm'  # as with no Graphviz",
    "import numbanet as torch\nimport numbanet.nn as nn\nimport numbanet.optim as optim\n"
    "from numbanet import trace as tracing, viz\n"
    "torch.manual_seed(0)\n"
    "model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))\n"
    "optimizer = optim.SGD(model.parameters(), lr=0.1)\n"
    "x, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)\n"
    "with tracing.record(model) as trace:\n"
    "    loss = nn.CrossEntropyLoss()(model(x), y)\n"
    "    loss.backward(retain_graph=True)\n"
    "    optimizer.step()",
    "trace",
    "viz.draw(loss, params=dict(model.named_parameters()))",
]


def test_a_notebook_displays_the_replay_and_the_graph():
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    replay_outputs = notebook.cells[2].outputs
    assert replay_outputs and replay_outputs[0]["output_type"] == "execute_result"
    html = replay_outputs[0]["data"]["text/html"]
    assert html.startswith('<iframe class="numbanet-replay" srcdoc="')
    for part in ("trace-data", "&lt;svg", "chain-rule", "keydown"):  # escaped page inside
        assert part in html
    svg = notebook.cells[3].outputs[0]["data"]["image/svg+xml"]
    assert "AddmmBackward" in svg or "AddBackward" in svg
    assert "0.weight" in svg
