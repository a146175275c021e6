"""The official beginner tutorials, run as a new user runs them: ``numbanet run SCRIPT.py``.

``tests/tutorials/`` holds our own versions of the tutorials' programs — "Learn the Basics",
"Deep Learning with PyTorch: A 60 Minute Blitz", "Learning PyTorch with Examples",
pytorch/examples' ``mnist/main.py`` and the five seed tutorials of ``../shared/seeds`` — written
with their ``import torch`` and their API calls, smaller (fewer images, epochs and steps) so
each runs in seconds. Each test runs one script through :func:`numbanet.runner.run_script`,
the function behind ``numbanet run``, in a folder where the tests wrote tiny datasets in the
real on-disk formats (MNIST and Fashion-MNIST IDX files under ``data/<Name>/raw``, CIFAR-10's
pickled python batches under ``data/cifar-10-batches-py``), and checks that it completes and
that the loss it prints falls.

The images are made to be learnable: each class is a bright band at its own place over
noise, so a few steps of training reduce the loss as on the real data.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from numbanet.runner import run_script

TUTORIALS = Path(__file__).resolve().parent / "tutorials"
TRAIN_IMAGES, TEST_IMAGES = 512, 128


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of the MNIST files: zero, zero, type 0x08 (ubyte), the number of
    dimensions, each dimension as a big-endian int32, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.astype(np.uint8).tobytes()


def banded_images(count: int, channels: int, size: int, seed: int):
    """``count`` uint8 images (N, size, size, channels) and labels 0..9: label k is a bright
    horizontal band at rows 2k..2k+size/10 over dim noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.integers(0, 60, (count, size, size, channels))
    band = max(2, size // 10)
    for image, label in zip(images, labels, strict=True):
        start = int(label) * (size - band) // 9
        image[start:start + band] += 180
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_mnist_like(root: Path, name: str, seed: int) -> None:
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for split, count in (("train", TRAIN_IMAGES), ("t10k", TEST_IMAGES)):
        images, labels = banded_images(count, 1, 28, seed + (split == "t10k"))
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images[..., 0]))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def write_cifar10(root: Path, seed: int) -> None:
    """CIFAR-10's python version: pickled dicts with bytes keys, as Python 2 wrote them."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
             "test_batch"]
    for index, name in enumerate(names):
        images, labels = banded_images(TRAIN_IMAGES // 5 if index < 5 else TEST_IMAGES, 3, 32,
                                       seed + index)
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R plane, G, B
        batch = {b"batch_label": name.encode(), b"labels": [int(k) for k in labels],
                 b"data": rows, b"filenames": [b"x.png"] * len(images)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog",
                             b"frog", b"horse", b"ship", b"truck"], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tutorial-data") / "data"
    write_mnist_like(root, "MNIST", seed=1)
    write_mnist_like(root, "FashionMNIST", seed=3)
    write_cifar10(root, seed=5)
    return root


@pytest.fixture
def workdir(tmp_path, datasets, monkeypatch) -> Path:
    """A folder with ``data`` (the tutorials' ``root="data"``) beside the script and
    ``../data`` (pytorch/examples' ``'../data'``), as the current directory."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "data").symlink_to(datasets, target_is_directory=True)
    (tmp_path / "data").symlink_to(datasets, target_is_directory=True)
    monkeypatch.chdir(work)
    return work


def run_tutorial(name: str, workdir: Path, capsys, arguments=()) -> str:
    """Copy tutorial ``name`` into ``workdir``, run it with ``numbanet run``; its output."""
    script = shutil.copy(TUTORIALS / f"{name}.py", workdir / f"{name}.py")
    status = run_script(str(script), list(arguments))
    captured = capsys.readouterr()
    assert status == 0, f"{name} failed:\n{captured.err[-3000:]}"
    return captured.out


def losses(output: str, pattern: str = r"loss:?\s*=?\s*([-+0-9.eE]+)") -> list[float]:
    """The loss values a tutorial printed (``loss: 2.301``, ``loss = 0.5``, ...)."""
    return [float(value) for value in re.findall(pattern, output, flags=re.IGNORECASE)]


def assert_falls(values: list[float], at_least: int = 2) -> None:
    assert len(values) >= at_least, f"expected {at_least}+ losses, got {values}"
    assert all(np.isfinite(values)), values
    assert values[-1] < values[0], f"the loss did not fall: {values}"



# ---- Learn the Basics ------------------------------------------------------------------------
def test_basics_quickstart(workdir, capsys):
    out = run_tutorial("basics_quickstart", workdir, capsys)
    assert "Shape of X [N, C, H, W]: " in out and "Done!" in out and "Predicted: " in out
    assert_falls(losses(out, r"Avg loss: ([0-9.]+)"), at_least=3)
    assert_falls(losses(out, r"train loss ([0-9.]+)"))
    assert (workdir / "model.pth").is_file()


def test_basics_tensors(workdir, capsys):
    out = run_tutorial("basics_tensors", workdir, capsys)
    assert "Ones Tensor:" in out and "First column:" in out


def test_basics_datasets_and_dataloaders(workdir, capsys):
    out = run_tutorial("basics_data", workdir, capsys)
    assert "Feature batch shape: " in out and "Label: " in out
    assert "custom item: (1, 28, 28)" in out


def test_basics_transforms(workdir, capsys):
    out = run_tutorial("basics_transforms", workdir, capsys)
    assert "(1, 28, 28)" in out


def test_basics_build_the_model(workdir, capsys):
    out = run_tutorial("basics_buildmodel", workdir, capsys)
    assert "Predicted class: " in out and "Layer: linear_relu_stack.0.weight" in out
    assert_falls(losses(out), at_least=5)


def test_basics_autograd(workdir, capsys):
    out = run_tutorial("basics_autograd", workdir, capsys)
    assert "Gradient function for loss = " in out and "Call after zeroing gradients" in out
    assert_falls(losses(out), at_least=5)


def test_basics_optimization(workdir, capsys):
    out = run_tutorial("basics_optimization", workdir, capsys)
    assert_falls(losses(out, r"Avg loss: ([0-9.]+)"), at_least=3)


def test_basics_save_and_load(workdir, capsys):
    out = run_tutorial("basics_saveload", workdir, capsys)
    assert (workdir / "model_weights.pth").is_file()
    assert_falls(losses(out), at_least=4)


# ---- Deep Learning with PyTorch: A 60 Minute Blitz ------------------------------------------
def test_blitz_tensors(workdir, capsys):
    out = run_tutorial("blitz_tensors", workdir, capsys)
    assert "tensor @ tensor.T" in out


def test_blitz_autograd(workdir, capsys):
    out = run_tutorial("blitz_autograd", workdir, capsys)
    assert "Does `b` require gradients?: True" in out
    assert_falls(losses(out), at_least=3)


def test_blitz_neural_networks(workdir, capsys):
    out = run_tutorial("blitz_neural_networks", workdir, capsys)
    assert "conv1.bias.grad after backward" in out
    assert_falls(losses(out), at_least=5)


def test_blitz_training_a_classifier_on_cifar10(workdir, capsys):
    out = run_tutorial("blitz_cifar10", workdir, capsys)
    assert "Finished Training" in out and "Accuracy of the network on the 128 test" in out
    assert_falls(losses(out), at_least=4)


# ---- Learning PyTorch with Examples (the polynomial series) ---------------------------------
STEP_LOSS = r"^\d+ ([-+0-9.eE]+)$"  # `print(t, loss)` every 100 steps


@pytest.mark.parametrize("name", [
    "examples_polynomial_tensor",
    "examples_polynomial_autograd",
    "examples_polynomial_custom_function",
    "examples_polynomial_nn",
    "examples_polynomial_optim",
    "examples_polynomial_module",
    "examples_dynamic_net",
])
def test_learning_pytorch_with_examples(name, workdir, capsys):
    out = run_tutorial(name, workdir, capsys)
    assert "Result: " in out
    values = [float(v) for v in re.findall(STEP_LOSS, out, flags=re.MULTILINE)]
    assert_falls(values, at_least=6)


# ---- pytorch/examples mnist/main.py ---------------------------------------------------------
def test_pytorch_examples_mnist(workdir, capsys):
    out = run_tutorial("examples_mnist_main", workdir, capsys,
                       ["--epochs", "1", "--log-interval", "2", "--save-model"])
    assert_falls(losses(out, r"\tLoss: ([0-9.]+)"), at_least=4)
    test_loss = losses(out, r"Test set: Average loss: ([0-9.]+)")
    assert len(test_loss) == 1 and test_loss[0] < 2.3  # below chance: ln(10) = 2.303
    assert (workdir / "mnist_cnn.pt").is_file()


# ---- the five seed tutorials (../shared/seeds), completed as their readers would -------------
@pytest.mark.parametrize(("name", "loss_pattern"), [
    ("seed_000_mnist_mlp_adam", r"Loss: ([0-9.]+)"),
    ("seed_001_regression_and_cnn", r"regression loss: ([0-9.]+)"),
    ("seed_002_tensors_and_regression", r"loss: ([0-9.]+)"),
    ("seed_003_mlp_train_test", r"loss: ([0-9.]+)"),
    ("seed_004_mnist_cnn_momentum", r"batch loss: ([0-9.]+)"),
])
def test_seed_tutorials(name, loss_pattern, workdir, capsys):
    out = run_tutorial(name, workdir, capsys)
    assert_falls(losses(out, loss_pattern), at_least=3)
    if name.startswith("seed_001"):
        assert_falls(losses(out, r"cnn loss: ([-0-9.]+)"), at_least=5)


# ---- numbanet step on an unmodified tutorial -------------------------------------------------
def test_numbanet_step_records_iteration_k_of_a_tutorial(workdir, capsys):
    """``numbanet step basics_quickstart.py --iteration 2 --headless --json``: the third
    training step of the quickstart's own loop, in the four phases."""
    import json

    from numbanet import tui

    script = shutil.copy(TUTORIALS / "basics_quickstart.py", workdir / "quickstart.py")
    assert tui.main([str(script), "--iteration", "2", "--headless", "--json"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    header, nodes = records[0], records[1:]
    assert header["iteration"] == 2 and header["lesson"] == "quickstart.py"
    assert [node["phase"] for node in nodes][-1] == "optimizer"
    assert {node["phase"] for node in nodes} == {"forward", "loss", "backward", "optimizer"}
    assert nodes[0]["module"].startswith("NeuralNetwork")
    assert "Shape of X" in captured.err  # the script's own prints: on stderr, not in the JSON
