"""Linear regression: one weight and one bias learn the line y = 3x + 2.

The smallest lesson there is. Open it with ``numbanet step examples/lesson_linear_regression.py``
and watch the whole of backpropagation in a handful of nodes:

- forward: ``weight.t()`` and one ``addmm``, ``b + x @ w.T`` — PyTorch's own two nodes
  for an ``nn.Linear``;
- loss: the mean squared error between the predictions and the targets (one node, as in
  PyTorch: ``MseLossBackward0``);
- backward: the gradient of the loss flows back through the addmm (to ``bias``) and the
  transpose (to ``weight``);
- optimizer: SGD moves ``weight`` towards 3 and ``bias`` towards 2.

This lesson defines fixed ``inputs`` and ``targets`` instead of a ``batch(iteration)``
function: every iteration sees the same eight points, so the loss curve (press ``N`` a few
times) shows gradient descent alone, with no sampling noise.
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Linear regression: y = 3x + 2 with one nn.Linear(1, 1), MSE, SGD"
description = ("Eight points on the line y = 3x + 2 (plus a little noise). A single linear "
               "unit predicts y from x; the squared error says how far off it is; SGD moves "
               "the weight and the bias against their gradients.")

torch.manual_seed(0)

inputs = torch.linspace(-1.0, 1.0, 8).reshape(8, 1)
targets = 3.0 * inputs + 2.0 + 0.05 * torch.randn(8, 1)

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
