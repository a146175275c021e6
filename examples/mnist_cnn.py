"""Handwritten digits with a convolutional network: the tutorial's CNN, trained with SGD.

Two 3x3 convolutions (32 then 64 channels), max pooling, dropout, and two fully connected
layers, exactly as in the tutorial (which follows PyTorch's own MNIST example); SGD with
momentum. ``import numbanet as torch`` is the only change to the model and the loops.

    python examples/mnist_cnn.py                     # 3 epochs, about 98% on held-out digits
    python examples/mnist_cnn.py --epochs 1 --lr 0.01 --momentum 0.5   # the tutorial's values

The tutorial's ``lr=0.01, momentum=0.5`` learns too slowly for a few epochs on 8,000
digits (about 94% after five); ``lr=0.05`` reaches 97% in two.
"""

import argparse
import time

from common import ProgressBar, default_data_dir, train_and_test_sets

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim
from numbanet.utils.data import DataLoader
from numbanet.vision import transforms


class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):                               # x: N x 1 x 28 x 28
        x = self.conv1(x)                               # N x 32 x 26 x 26
        x = nn.functional.relu(x)
        x = self.conv2(x)                               # N x 64 x 24 x 24
        x = nn.functional.relu(x)
        x = nn.functional.max_pool2d(x, 2)              # N x 64 x 12 x 12
        x = self.dropout1(x)
        x = torch.flatten(x, 1)                         # N x 9216
        x = self.fc1(x)                                 # N x 128
        x = nn.functional.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)                                 # N x 10
        output = nn.functional.log_softmax(x, dim=1)
        return output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir(),
                        help="folder with the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,))
    ])
    train_data, test_data, split = train_and_test_sets(args.data, transform)
    print(split)
    trainloader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True)
    testloader = DataLoader(test_data, batch_size=1000)

    # Model, loss and optimizer. The model already ends in log_softmax; CrossEntropyLoss
    # applies log_softmax once more, which changes nothing (log-probabilities are their own
    # log_softmax), so this is the negative log-likelihood, as nn.NLLLoss() would compute.
    model = CNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    # Training
    for epoch in range(1, args.epochs + 1):
        model.train()
        running_loss = 0.0
        progress = ProgressBar(f"Epoch {epoch}/{args.epochs}", len(trainloader))
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            progress.update(i + 1, labels.size(0), running_loss / (i + 1))
        progress.close()

    # Test: dropout off (model.eval()), no graph (no_grad)
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print(f"Accuracy: {100 * correct / total:.2f}% on {total} test images")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
