"""A hand-written backward, done right: the fixed version of ``lesson_custom_function_bug.py``.

``LecunTanh`` is the scaled tanh of LeCun et al. (1998), written as a custom
``autograd.Function``:

    y = 1.7159 · tanh(2x / 3)
    dy/dx = 1.7159 · (2/3) · (1 − tanh²(2x / 3))

Its backward multiplies by the inner derivative 2/3 that the chain rule takes from
``2x / 3``, so every node passes the gradient check::

    numbanet step examples/lesson_custom_function.py --headless --gradcheck    (exit 0)
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Fixed: a custom autograd.Function with a correct backward"
description = ("A 2-8-1 network with a hand-written LeCun tanh activation (a custom "
               "autograd.Function) whose backward applies the whole chain rule. Press v at "
               "a backward node to compare its gradient with finite differences.")

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
        return grad_output * SCALE * SLOPE * (1 - inner * inner)  # the chain rule, whole


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
