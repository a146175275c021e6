"""A hand-written backward with a bug in it — find it with the gradient-check lens.

``LecunTanh`` is the scaled tanh of LeCun et al. (1998), written as a custom
``autograd.Function``:

    y = 1.7159 · tanh(2x / 3)
    dy/dx = 1.7159 · (2/3) · (1 − tanh²(2x / 3))

Its backward below forgets the inner derivative, the factor 2/3 that the chain rule takes
from ``2x / 3`` (the most common bug in a hand-written backward). Training still runs and
the loss even falls a little, so nothing looks wrong — until you check the gradients::

    numbanet step examples/lesson_custom_function_bug.py --headless --gradcheck
    numbanet step examples/lesson_custom_function_bug.py      (then press v on a node)

The check flags exactly ``LecunTanh``'s backward node (relative error 1/3: the analytic
gradient is 3/2 of the true one) while every built-in node passes. The corrected version is
``lesson_custom_function.py``.
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Planted bug: a custom autograd.Function whose backward drops a factor"
description = ("A 2-8-1 network with a hand-written LeCun tanh activation (a custom "
               "autograd.Function). Its backward forgets the factor 2/3 of the chain rule. "
               "Press v at a backward node to compare its gradient with finite differences.")

SCALE, SLOPE = 1.7159, 2.0 / 3.0


class LecunTanh(torch.autograd.Function):
    """out = 1.7159 · tanh(2x / 3)

    Gradient: d out/d x = 1.7159 · (2/3) · (1 − tanh²(2x / 3))
    """

    @staticmethod
    def forward(ctx, x):
        inner = torch.tanh(x * SLOPE)
        ctx.save_for_backward(inner)
        return inner * SCALE

    @staticmethod
    def backward(ctx, grad_output):
        (inner,) = ctx.saved_tensors
        return grad_output * SCALE * (1 - inner * inner)  # BUG: the factor SLOPE is missing


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 8)
        self.output = nn.Linear(8, 1)

    def forward(self, x):
        return self.output(LecunTanh.apply(self.hidden(x)))


torch.manual_seed(0)
inputs = torch.randn(16, 2)
targets = (inputs[:, 0:1] * inputs[:, 1:2]).tanh()

model = Net()
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
