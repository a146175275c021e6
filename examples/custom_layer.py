"""Your own building blocks: a custom ``nn.Module`` layer and a custom autograd ``Function``.

- A **layer** is a ``Module`` subclass: parameters made in ``__init__`` (``nn.Parameter``
  registers them, so ``model.parameters()`` finds them), the computation in ``forward``.
  Autograd differentiates it through the ops it uses; nothing else to write.
- A **Function** is one op with a hand-written gradient: ``forward(ctx, ...)`` computes the
  output and saves what the gradient needs; ``backward(ctx, grad_output)`` returns
  ``d loss / d input`` given ``d loss / d output``. Call it as ``MyReLU.apply(x)``.
  ``gradcheck`` compares that backward with finite differences.

``ScaleShift`` and ``MyReLU`` are used in a small network that learns y = x^2 on [-1, 1].

    python examples/custom_layer.py
"""

import numbanet as torch
import numbanet.nn as nn


class MyLayer(nn.Module):
    """The tutorial's first custom layer: adds one. No parameters, so nothing to learn."""

    def __init__(self):
        super(MyLayer, self).__init__()  # noqa: UP008 - the tutorial's spelling

    def forward(self, x):
        return x + 1


class ScaleShift(nn.Module):
    """y = x * scale + shift, with a learnable scale and shift for every feature."""

    def __init__(self, features):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(features))
        self.shift = nn.Parameter(torch.zeros(features))

    def forward(self, x):
        return x * self.scale + self.shift


class MyReLU(torch.autograd.Function):
    """relu(x) = max(x, 0)

    Gradient: d relu(x) / dx = 1 where x > 0, else 0 — so grad_input is grad_output with the
    entries of negative inputs set to zero.
    """

    @staticmethod
    def forward(ctx, input):  # noqa: A002 - PyTorch's name for it
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors  # noqa: A001
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 32)
        self.scale_shift = ScaleShift(32)
        self.fc2 = nn.Linear(32, 1)

    def forward(self, x):
        x = self.scale_shift(self.fc1(x))
        x = MyReLU.apply(x)
        return self.fc2(x)


def main():
    torch.manual_seed(0)
    print("MyLayer()([1, 2]) =", MyLayer()(torch.tensor([1.0, 2.0])))

    # The hand-written backward agrees with finite differences (in float64, as gradcheck
    # needs; the inputs avoid 0, where relu has no derivative).
    x = torch.tensor([-1.5, -0.3, 0.2, 0.7, 2.0], dtype=torch.float64, requires_grad=True)
    print("gradcheck(MyReLU):", torch.autograd.gradcheck(MyReLU.apply, (x,)))

    model = Net()
    print(model)
    print("parameters:", [name for name, _ in model.named_parameters()])

    inputs = torch.linspace(-1, 1, 64).unsqueeze(1)
    targets = inputs ** 2
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(1, 501):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"step {step:3d}  loss {loss.item():.5f}")

    with torch.no_grad():
        probe = torch.tensor([[-0.5], [0.0], [0.9]])
        for name, values in [("x", probe), ("x^2", probe ** 2), ("model(x)", model(probe))]:
            print(f"{name:>8}:", [round(v, 3) for v in values.flatten().tolist()])


if __name__ == "__main__":
    main()
