"""Saving a trained model and loading it back: ``save(model.state_dict())`` and
``load_state_dict(load(path))``, as in the tutorial.

A ``state_dict`` is a dict from parameter names (``"0.weight"``, ``"2.bias"``, ...) to
tensors: the learned numbers, without the code. To load, build the same model again and pour
the numbers in. The optimizer has a state_dict too (momentum buffers, Adam's averages), so
training can resume exactly where it stopped.

The file is PyTorch's own checkpoint format, so ``torch.load(path, weights_only=True)`` reads
it; loading one in numbanet never runs code from it (see ``numbanet/checkpoint_format.py``).

    python examples/save_load.py
"""

import tempfile
from pathlib import Path

import numbanet as torch
import numbanet.nn as nn


def main():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    # A few training steps on random data, so that there is optimizer state to save too
    inputs, labels = torch.randn(32, 784), torch.randint(0, 10, (32,))
    criterion = nn.NLLLoss()
    for _ in range(5):
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        outputs_before = model(inputs)

    folder = Path(tempfile.mkdtemp())
    # Save the model ...
    torch.save(model.state_dict(), folder / "model.pth")
    # ... and, to resume training later, the optimizer
    torch.save({"epoch": 1, "optimizer": optimizer.state_dict()}, folder / "checkpoint.pth")
    print("saved:", sorted(path.name for path in folder.iterdir()))
    print("model.state_dict():", {name: list(t.shape) for name, t in model.state_dict().items()})

    # Load the model: build the same architecture, then load the parameters into it
    model = nn.Sequential(
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
    model.load_state_dict(torch.load(folder / "model.pth"))
    model.eval()
    with torch.no_grad():
        outputs_after = model(inputs)
    print("same outputs after loading:", torch.equal(outputs_before, outputs_after))

    # Resume: a new optimizer over the new model's parameters, with the saved state
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    checkpoint = torch.load(folder / "checkpoint.pth")
    optimizer.load_state_dict(checkpoint["optimizer"])
    state = optimizer.state[model[0].weight]
    print(f"resumed after epoch {checkpoint['epoch']}: Adam has taken "
          f"{state['step'].item():.0f} steps; exp_avg of the first layer: "
          f"{list(state['exp_avg'].shape)}")


if __name__ == "__main__":
    main()
