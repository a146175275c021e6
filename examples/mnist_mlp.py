"""Handwritten digits with a multi-layer perceptron: 784 -> 128 -> 10, trained with Adam.

The model of the first tutorial (``nn.Sequential`` of Linear, ReLU, Linear, LogSoftmax),
with ``nn.Flatten()`` in front so that a 1x28x28 image becomes 784 inputs, and the
tutorial's training and test loops. ``import numbanet as torch`` is the only change.

    python examples/mnist_mlp.py                      # 15 epochs: 96.4% on held-out digits
    python examples/mnist_mlp.py --epochs 3 --batch-size 128 --data ~/datasets/mnist

Trained on 8,000 digits, the tutorial's 10 epochs give 95.3-96.0% depending on the seed;
15 epochs give a little more.
"""

import argparse
import time

from common import ProgressBar, default_data_dir, train_and_test_sets

import numbanet as torch
import numbanet.nn as nn
from numbanet.utils.data import DataLoader
from numbanet.vision import transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir(),
                        help="folder with the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    # Data: pixels scaled to [0, 1], then normalised with MNIST's mean and std
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,))
    ])
    train_data, test_data, split = train_and_test_sets(args.data, transform)
    print(split)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_data, batch_size=1000)

    # Model: the output is log-probabilities, so the loss is the negative log-likelihood
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
    criterion = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    # Training
    for epoch in range(args.epochs):
        model.train()
        running_loss = 0.0
        progress = ProgressBar(f"Epoch {epoch + 1}/{args.epochs}", len(train_loader))
        for i, data in enumerate(train_loader, 0):
            inputs, labels = data
            optimizer.zero_grad()

            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            progress.update(i + 1, labels.size(0), running_loss / (i + 1))
        progress.close()

    # Test
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print(f"Accuracy of the network on the {total} test images: {100 * correct / total:.2f}%")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
