"""Lesson files the training-dynamics tests build: deep MLPs with chosen activations,
initialisations, biases and learning rates, written to a temporary folder.

Each is a complete lesson (see numbanet.lesson): ``numbanet step --headless --diagnose``
and ``TraceSource`` run them as they would a user's file.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = '''\
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "{title}"
torch.manual_seed(0)
layers = []
width = {width}
for index in range({depth}):
    linear = nn.Linear({inputs} if index == 0 else width, width)
    if "{init}" == "normal":
        nn.init.normal_(linear.weight, 0.0, 1.0)
    else:
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
    nn.init.constant_(linear.bias, {bias})
    layers += [linear, nn.{activation}()]
layers.append(nn.Linear(width, 2))
model = nn.Sequential(*layers)
criterion = nn.CrossEntropyLoss()
optimizer = optim.{optimizer}
inputs = torch.randn(64, {inputs})
targets = (inputs[:, 0] > 0).long()
'''


def write_lesson(folder: Path, name: str, *, activation: str = "ReLU", init: str = "kaiming",
                 bias: float = 0.0, depth: int = 10, width: int = 32, inputs: int = 8,
                 optimizer: str = "SGD(model.parameters(), lr=0.01)") -> Path:
    """A lesson file: ``depth`` Linear+activation layers of ``width`` units and a 2-way
    classifier; ``init`` "normal" (N(0, 1) weights) or "kaiming" (He); every bias ``bias``."""
    path = Path(folder) / f"{name}.py"
    path.write_text(TEMPLATE.format(title=name, width=width, depth=depth, inputs=inputs,
                                    init=init, bias=bias, activation=activation,
                                    optimizer=optimizer))
    return path
