"""Two spirals: a small MLP learns to tell two interleaved spirals of points apart.

The built-in lesson of ``numbanet step`` and ``numbanet graph --demo``. It needs no
download: the points are generated here. Written as PyTorch code with
``import numbanet as torch``; copy it to start a lesson of your own.
"""

import math

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Two spirals: a 2-16-16-2 MLP, cross-entropy, SGD with momentum"
description = (
    "Each point (x, y) belongs to one of two spirals. The network maps the 2 coordinates "
    "through two hidden layers of 16 ReLU units to 2 class scores; cross-entropy compares "
    "them with the true spiral; SGD nudges every weight against its gradient."
)

torch.manual_seed(0)


def make_spirals(points_per_class: int = 64, noise: float = 0.1):
    """Points on two spirals, with labels 0 and 1."""
    radius = torch.linspace(0.2, 1.0, points_per_class)
    angle = torch.linspace(0.0, 3 * math.pi, points_per_class)
    coordinates, labels = [], []
    for label in (0, 1):
        turns = [a + label * math.pi for a in angle.tolist()]
        x = radius * torch.tensor([math.cos(a) for a in turns])
        y = radius * torch.tensor([math.sin(a) for a in turns])
        coordinates.append(torch.stack([x, y], dim=1) + noise * torch.randn(points_per_class, 2))
        labels.append(torch.full((points_per_class,), label, dtype=torch.int64))
    return torch.cat(coordinates), torch.cat(labels)


points, classes = make_spirals()
batch_size = 16

model = nn.Sequential(
    nn.Linear(2, 16),
    nn.ReLU(),
    nn.Linear(16, 16),
    nn.ReLU(),
    nn.Linear(16, 2),
)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def batch(iteration: int):
    """The mini-batch for one iteration: a fixed shuffle, walked through in order."""
    order = torch.randperm(len(points), generator=torch.Generator().manual_seed(iteration))
    chosen = order[:batch_size]
    return points[chosen], classes[chosen]
