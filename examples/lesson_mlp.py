"""A multilayer perceptron, written as an ``nn.Module`` subclass, sorts points into 3 blobs.

Where the built-in lesson uses ``nn.Sequential``, this one writes ``forward`` by hand, the
way most PyTorch tutorials do. The stepper's module tree then reads ``Classifier`` >
``hidden``, ``output``, and the functional ``F.relu`` call shows up as a node of
``Classifier`` itself — step into (``i``) and out of (``o``) the layers to see the
difference between a module call and a function call.

The optimizer is Adam: at the optimizer node, compare a parameter before and after, and
notice that the update is not simply ``-lr * grad`` (Adam divides by a running estimate of
the gradient's size).
"""

import math

import numbanet as torch
import numbanet.nn as nn
import numbanet.nn.functional as F
import numbanet.optim as optim

title = "Three blobs: a 2-12-3 MLP (nn.Module subclass), cross-entropy, Adam"
description = ("Points scattered around three centres. A hidden layer of 12 ReLU units and "
               "an output layer of 3 class scores; cross-entropy against the true blob; "
               "Adam adapts each weight's step size.")

torch.manual_seed(1)

points_per_class = 32
centres = [(math.cos(angle), math.sin(angle)) for angle in (0.0, 2.1, 4.2)]
points = torch.cat([torch.tensor([list(centre)]) + 0.35 * torch.randn(points_per_class, 2)
                    for centre in centres])
labels = torch.cat([torch.full((points_per_class,), label, dtype=torch.int64)
                    for label in range(len(centres))])


class Classifier(nn.Module):
    """Two linear layers with a ReLU between them."""

    def __init__(self, hidden_units: int = 12, classes: int = 3):
        super().__init__()
        self.hidden = nn.Linear(2, hidden_units)
        self.output = nn.Linear(hidden_units, classes)

    def forward(self, x):
        return self.output(F.relu(self.hidden(x)))


model = Classifier()
criterion = nn.CrossEntropyLoss()
optimizer = optim.Adam(model.parameters(), lr=0.05)

batch_size = 12


def batch(iteration: int):
    """A different random mini-batch each iteration, the same one for the same iteration."""
    generator = torch.Generator().manual_seed(iteration)
    chosen = torch.randperm(len(points), generator=generator)[:batch_size]
    return points[chosen], labels[chosen]
