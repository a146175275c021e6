"""Post-training int8 quantization of the MNIST MLP and the seed CNN: accuracy, size, speed.

PyTorch's eager-mode recipes, with ``import numbanet as torch``:

- the MLP (784-128-10): **dynamic** quantization, one line —
  ``torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)``;
- the seed CNN (``examples/mnist_cnn.py``): **static** quantization — QuantStub/DeQuantStub
  around the model, conv+relu and fc+relu fused, observers calibrated on training images,
  ``convert``. Once with per-tensor weights (``default_qconfig``), once with one scale per
  output channel (``get_default_qconfig("x86")``, PyTorch's default).

For each model it prints test accuracy (fp32 and int8), the size of the saved state dict,
and inference time over the test set::

    python examples/mnist_quantize.py                         # trains both, ~2 minutes
    python examples/mnist_quantize.py --checkpoints ckpt/     # trains once, then loads

Trained models are saved to (and later loaded from) ``--checkpoints`` when given.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import default_data_dir, train_and_test_sets
from mnist_cnn import CNN

import numbanet as torch
import numbanet.nn as nn
import numbanet.nn.functional as F
from numbanet.ao import quantization
from numbanet.utils.data import DataLoader
from numbanet.vision import transforms


class QuantizableCNN(CNN):
    """The seed CNN with quantization stubs, and its ReLUs as modules so they can be fused.
    Same parameters (and state dict keys) as ``CNN``."""

    def __init__(self):
        super().__init__()
        self.quant = quantization.QuantStub()
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.dequant = quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)                                 # float -> quint8
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = F.max_pool2d(x, 2)                            # max of the levels: stays quint8
        x = self.dropout1(x)                              # identity in eval mode
        x = torch.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        x = self.dequant(x)                               # quint8 -> float
        return F.log_softmax(x, dim=1)


def mlp() -> nn.Module:
    """The first tutorial's MLP (``examples/mnist_mlp.py``)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10),
                         nn.LogSoftmax(dim=1))


def train(model: nn.Module, loader, epochs: int, optimizer, label: str) -> None:
    criterion = nn.NLLLoss()
    for epoch in range(epochs):
        model.train()
        started, total = time.perf_counter(), 0.0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"  {label} epoch {epoch + 1}/{epochs}: loss {total / len(loader):.4f} "
              f"({time.perf_counter() - started:.1f} s)")


def trained(model: nn.Module, name: str, loader, epochs: int, make_optimizer,
            checkpoints: Path | None) -> nn.Module:
    """``model`` with weights loaded from ``checkpoints/name.pt``, else trained (and saved
    there when a folder is given)."""
    path = checkpoints / f"{name}.pt" if checkpoints else None
    if path is not None and path.exists():
        model.load_state_dict(torch.load(path))
        print(f"  {name}: loaded {path}")
    else:
        train(model, loader, epochs, make_optimizer(model), name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), path)
    return model.eval()


def accuracy(model: nn.Module, loader) -> float:
    """Percent of test digits classified correctly."""
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predicted = model(images).argmax(dim=1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
    return 100.0 * correct / total


def state_dict_bytes(model: nn.Module) -> int:
    """Size of ``numbanet.save(model.state_dict())`` on disk (PyTorch's file format)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pt")
        torch.save(model.state_dict(), path)
        return os.path.getsize(path)


def inference_seconds(model: nn.Module, batches: list, repeats: int = 3) -> float:
    """Median wall time of one pass over ``batches`` (after one warm-up pass)."""
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            started = time.perf_counter()
            for images in batches:
                model(images)
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def quantize_cnn(model: QuantizableCNN, qconfig, calibration: list) -> nn.Module:
    """Fuse, prepare, calibrate on ``calibration`` batches, convert (a quantized copy)."""
    model.qconfig = qconfig
    fused = quantization.fuse_modules(
        model, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]])
    prepared = quantization.prepare(fused)
    with torch.no_grad():
        for images in calibration:
            prepared(images)
    return quantization.convert(prepared)


def report(name: str, float_model, int8_model, test_loader, timing_batches,
           timing_repeats: int = 3) -> dict:
    """Accuracy, state dict size and inference time, fp32 against int8, printed."""
    row = {
        "fp32_accuracy": accuracy(float_model, test_loader),
        "int8_accuracy": accuracy(int8_model, test_loader),
        "fp32_bytes": state_dict_bytes(float_model),
        "int8_bytes": state_dict_bytes(int8_model),
        "fp32_seconds": inference_seconds(float_model, timing_batches, timing_repeats),
        "int8_seconds": inference_seconds(int8_model, timing_batches, timing_repeats),
    }
    print(f"{name}\n"
          f"  accuracy   fp32 {row['fp32_accuracy']:.2f}%  int8 {row['int8_accuracy']:.2f}%  "
          f"(difference {row['int8_accuracy'] - row['fp32_accuracy']:+.2f} points)\n"
          f"  state dict fp32 {row['fp32_bytes'] / 1024:,.0f} KiB  int8 "
          f"{row['int8_bytes'] / 1024:,.0f} KiB  ({row['fp32_bytes'] / row['int8_bytes']:.2f}x "
          f"smaller)\n"
          f"  inference  fp32 {row['fp32_seconds'] * 1000:.0f} ms  int8 "
          f"{row['int8_seconds'] * 1000:.0f} ms  (int8 takes "
          f"{row['int8_seconds'] / row['fp32_seconds']:.2f}x the fp32 time)")
    return row


def run(train_data, test_data, mlp_epochs: int = 5, cnn_epochs: int = 2,
        calibration_batches: int = 16, checkpoints: Path | None = None,
        timing_images: int = 1000, timing_repeats: int = 3) -> dict:
    """Train (or load) both models, quantize them, and return the measurements."""
    train_loader = DataLoader(train_data, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_data, batch_size=500)
    timing_batches = [images for images, _ in DataLoader(test_data, batch_size=500)]
    timing_batches = timing_batches[:max(1, timing_images // 500)]
    calibration = [images for images, _ in itertools.islice(
        DataLoader(train_data, batch_size=64, shuffle=True), calibration_batches)]

    print("Training (or loading) the fp32 models")
    float_mlp = trained(mlp(), "mlp", train_loader, mlp_epochs,
                        lambda m: torch.optim.Adam(m.parameters(), lr=1e-3), checkpoints)
    float_cnn = trained(QuantizableCNN(), "cnn", train_loader, cnn_epochs,
                        lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.5),
                        checkpoints)

    results = {}
    dynamic_mlp = quantization.quantize_dynamic(float_mlp, {nn.Linear}, dtype=torch.qint8)
    results["mlp_dynamic"] = report("MLP 784-128-10, dynamic quantization (int8 weights, "
                                    "activations quantized per batch)", float_mlp,
                                    dynamic_mlp, test_loader, timing_batches, timing_repeats)
    per_tensor = quantize_cnn(float_cnn, quantization.default_qconfig, calibration)
    results["cnn_per_tensor"] = report("seed CNN, static quantization, per-tensor weights "
                                       "(default_qconfig)", float_cnn, per_tensor,
                                       test_loader, timing_batches, timing_repeats)
    per_channel = quantize_cnn(float_cnn, quantization.get_default_qconfig("x86"),
                               calibration)
    results["cnn_per_channel"] = report("seed CNN, static quantization, per-channel weights "
                                        "(get_default_qconfig('x86'))", float_cnn,
                                        per_channel, test_loader, timing_batches,
                                        timing_repeats)
    print(per_channel)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir(),
                        help="folder with the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--mlp-epochs", type=int, default=5)
    parser.add_argument("--cnn-epochs", type=int, default=2)
    parser.add_argument("--calibration-batches", type=int, default=16,
                        help="training batches of 64 the observers see (default: 16)")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="folder to load trained fp32 models from, or save them to")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    train_data, test_data, split = train_and_test_sets(args.data, transform)
    print(split)
    run(train_data, test_data, args.mlp_epochs, args.cnn_epochs, args.calibration_batches,
        args.checkpoints)
    print(f"Wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
