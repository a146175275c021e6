"""What a JIT does: the linear regression's training step, compiled with ``torch.compile``.

The step below is the tutorial's (zero_grad, forward, loss, backward, SGD step), put in a
function. ``torch.compile`` runs it eagerly once, records the kernel calls of the second
call, and from then on replays that flat list — no Tensor objects, no autograd graph.
The script prints the list it captured, checks that the replayed training learns exactly
what eager training learns, and times both.

    python examples/compiled_step.py
"""

import time

import numpy as np

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
y = torch.tensor([[2.0], [4.0], [6.0], [8.0]])


def make_step():
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


def train(step, epochs: int) -> float:
    started = time.perf_counter()
    for _ in range(epochs):
        step(x, y)
    return time.perf_counter() - started


def main(epochs: int = 1000) -> None:
    eager_model, eager_step = make_step()
    model, step = make_step()
    compiled = torch.compile(step)
    eager_seconds = train(eager_step, epochs)
    compiled_seconds = train(compiled, epochs)
    print("The captured step, in the order the replay runs it:")
    print(compiled.listing())
    same = all(np.array_equal(a.detach().numpy(), b.detach().numpy())
               for a, b in zip(eager_model.parameters(), model.parameters(), strict=True))
    print(f"\n{epochs} steps: eager {eager_seconds * 1e3:.0f} ms, compiled "
          f"{compiled_seconds * 1e3:.0f} ms ({compiled.replays} of them replayed)")
    print(f"learned: y = {model.weight.item():.4f} * x + {model.bias.item():.4f}; "
          f"the same bits as eager training: {same}")


if __name__ == "__main__":
    main()
