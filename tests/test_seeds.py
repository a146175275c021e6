"""The tutorials' programs, run unchanged on numbanet.

numbanet exists so that the code of five beginner PyTorch tutorials (``../shared/seeds``)
runs and learns with ``import numbanet as torch``. Here their code blocks are copied
verbatim and executed while ``import torch``, ``import torch.nn as nn``, ``from torchvision
import datasets, transforms``, ... resolve to numbanet's modules. Where a tutorial uses a name
it never defines (``train_loader``, ``criterion``) the test defines it first, with small
synthetic data, as its reader would have to; loops the tutorials run for many epochs run
for fewer here, to keep the suite fast.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import numbanet
import numbanet.nn
import numbanet.optim
import numbanet.utils.data
import numbanet.vision

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


NUMBANET_AS_TORCH = {
    "torch": numbanet,
    "torch.nn": numbanet.nn,
    "torch.nn.functional": numbanet.nn.functional,
    "torch.optim": numbanet.optim,
    "torch.cuda": numbanet.cuda,
    "torch.utils": numbanet.utils,
    "torch.utils.data": numbanet.utils.data,
    "torchvision": numbanet.vision,
    "torchvision.datasets": numbanet.vision.datasets,
    "torchvision.transforms": numbanet.vision.transforms,
}


def run_tutorial(code: str, *, on_pytorch: bool = False, **names) -> dict:
    """Execute tutorial code and return the namespace it left behind.

    ``import torch`` (and ``torch.nn``, ``torchvision``, ...) means numbanet while the code
    runs, unless ``on_pytorch``; ``names`` are defined beforehand (``torch`` itself too, for
    snippets that use it without importing it).
    """
    aliases = {} if on_pytorch else NUMBANET_AS_TORCH
    saved = {name: sys.modules.get(name) for name in aliases}
    sys.modules.update(aliases)
    try:
        namespace = {"__name__": "tutorial", **names}
        if not on_pytorch:
            namespace.setdefault("torch", numbanet)
        exec(compile(textwrap.dedent(code), "<tutorial>", "exec"), namespace)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return namespace


def tiny_loader(inputs_shape: tuple, size: int = 16, batch_size: int = 8, seed: int = 0):
    """A DataLoader over ``size`` random inputs and labels in 0..9 (the tutorials' loaders)."""
    rng = np.random.default_rng(seed)
    inputs = numbanet.from_numpy(rng.standard_normal((size, *inputs_shape)).astype(np.float32))
    labels = numbanet.from_numpy(rng.integers(0, 10, size).astype(np.int64))
    dataset = numbanet.utils.data.TensorDataset(inputs, labels)
    return numbanet.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)


# ---- tutorial 001: linear regression and a small CNN -----------------------------------

LINEAR_REGRESSION = """
    import torch
    import torch.nn as nn
    import torch.optim as optim

    # 生成数据
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[2.0], [4.0], [6.0], [8.0]])

    # 定义模型
    class LinearRegression(nn.Module):
        def __init__(self):
            super(LinearRegression, self).__init__()
            self.linear = nn.Linear(1, 1)

        def forward(self, x):
            return self.linear(x)

    # 创建模型实例
    model = LinearRegression()

    # 定义损失函数和优化器
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01)

    # 训练模型
    for epoch in range(1000):
        optimizer.zero_grad()
        y_pred = model(x)
        loss = criterion(y_pred, y)
        loss.backward()
        optimizer.step()

    # 查看最终参数
    for name, param in model.named_parameters():
        print(name, param)
"""


def test_linear_regression_learns_y_equals_2x(capsys):
    numbanet.manual_seed(0)
    result = run_tutorial(LINEAR_REGRESSION)
    linear = result["model"].linear
    assert linear.weight.item() == pytest.approx(2.0, abs=0.03)
    assert linear.bias.item() == pytest.approx(0.0, abs=0.08)
    assert result["loss"].item() < 1e-3
    printed = capsys.readouterr().out
    assert "linear.weight" in printed and "linear.bias" in printed


SMALL_CNN = """
    import torch
    import torch.nn as nn
    import torch.optim as optim

    # 生成数据
    x = torch.randn(1, 3, 32, 32)
    y = torch.randn(1, 10)

    # 定义模型
    class CNN(nn.Module):
        def __init__(self):
            super(CNN, self).__init__()
            self.conv1 = nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=1)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
            self.fc1 = nn.Linear(64 * 8 * 8, 128)
            self.fc2 = nn.Linear(128, 10)
            self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.pool(self.relu(self.conv1(x)))
            x = self.pool(self.relu(self.conv2(x)))
            x = x.view(-1, 64 * 8 * 8)
            x = self.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    # 创建模型实例
    model = CNN()

    # 定义损失函数和优化器
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01)

    # 训练模型
    losses = []
    for epoch in range(100):
        optimizer.zero_grad()
        y_pred = model(x)
        loss = criterion(y_pred, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
"""


def test_small_cnn_with_float_probability_targets():
    """``CrossEntropyLoss`` with float targets of the output's shape reads them as class
    probabilities: loss = -sum(y * log_softmax(output)) / batch.

    ``y = torch.randn(1, 10)`` are not probabilities: when they sum to less than zero the
    loss has no minimum, and 100 steps drive it to -inf (NaN after about 6 steps, in PyTorch
    as in numbanet — see the next test). Two steps show it decreasing.
    """
    numbanet.manual_seed(0)
    result = run_tutorial(SMALL_CNN.replace("range(100)", "range(2)"))
    model, x, y, losses = result["model"], result["x"], result["y"], result["losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    with numbanet.no_grad():
        logits = model(x).numpy().astype(np.float64)
        loss = result["criterion"](model(x), y).item()
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(y.numpy() * log_probabilities).sum() / logits.shape[0]
    assert loss == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.torch
def test_small_cnn_matches_torch_step_for_step():
    """The same weights and data in PyTorch give the same losses, step after step."""
    torch = pytest.importorskip("torch")
    numbanet.manual_seed(0)
    code = SMALL_CNN.replace("range(100)", "range(0)")  # models and data, no training yet
    ours = run_tutorial(code)
    theirs = run_tutorial(code, on_pytorch=True)
    theirs["model"].load_state_dict({name: torch.from_numpy(value.numpy().copy())
                                     for name, value in ours["model"].state_dict().items()})
    x, y = ours["x"].numpy(), ours["y"].numpy()
    pairs = [(ours["model"], numbanet, numbanet.from_numpy(x), numbanet.from_numpy(y)),
             (theirs["model"], torch, torch.from_numpy(x), torch.from_numpy(y))]
    losses = []
    for model, library, inputs, targets in pairs:
        optimizer = library.optim.SGD(model.parameters(), lr=0.01)
        criterion = library.nn.CrossEntropyLoss()
        history = []
        for _ in range(3):
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            history.append(loss.item())
        losses.append(history)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


# ---- tutorial 002: tensors and the pow/mean loss ---------------------------------------

TENSOR_BASICS = """
    import torch

    # 创建一个2x2的张量
    x = torch.tensor([[1, 2], [3, 4]])

    # 张量的操作
    y = x + 1
    z = x[0]
    w = x[:, 1]

    print(y)
    print(z)
    print(w)
"""


def test_tensor_creation_arithmetic_and_slicing(capsys):
    result = run_tutorial(TENSOR_BASICS)
    assert result["y"].tolist() == [[2, 3], [4, 5]]
    assert result["y"].dtype == numbanet.int64  # integers stay integers, as in PyTorch
    assert result["z"].tolist() == [1, 2]
    assert result["w"].tolist() == [2, 4]
    assert "tensor([[2, 3]," in capsys.readouterr().out


POW_MEAN_REGRESSION = """
    import torch

    # 定义一个简单的线性回归模型
    class LinearRegression(torch.nn.Module):
        def __init__(self):
            super(LinearRegression, self).__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, x):
            return self.linear(x)

    model = LinearRegression()

    # 训练神经网络
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    for epoch in range(1000):
        optimizer.zero_grad()
        y_pred = model(x)
        loss = (y_pred - y).pow(2).mean()
        loss.backward()
        optimizer.step()
"""


def test_regression_with_a_hand_written_loss():
    numbanet.manual_seed(1)
    x = numbanet.tensor([[1.0], [2.0], [3.0], [4.0]])  # the tutorial leaves x and y to you
    result = run_tutorial(POW_MEAN_REGRESSION, x=x, y=3 * x - 1)
    assert result["model"].linear.weight.item() == pytest.approx(3.0, abs=0.05)
    assert result["model"].linear.bias.item() == pytest.approx(-1.0, abs=0.15)


# ---- tutorial 003: an MLP classifier with train and test loops -------------------------

NET_TRAIN_TEST = """
    import torch
    import torch.nn as nn
    import torch.optim as optim

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = torch.flatten(x, 1)
            x = torch.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    net = Net()

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01)

    for epoch in range(10):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        print('Epoch: %d loss: %.3f' % (epoch + 1, running_loss / len(trainloader)))

    correct = 0
    total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print('Accuracy of the network on the 10000 test images: %d %%' % (100 * correct / total))
"""


def test_mlp_train_and_test_loops(capsys):
    numbanet.manual_seed(0)
    loader = tiny_loader((1, 28, 28))
    result = run_tutorial(NET_TRAIN_TEST, trainloader=loader, testloader=loader)
    losses = [float(line.split("loss: ")[1]) for line in capsys.readouterr().out.splitlines()
              if line.startswith("Epoch")]
    assert len(losses) == 10 and losses[-1] < losses[0]
    assert result["total"] == 16
    assert result["correct"] == 16  # 16 random images are easy to memorise in 10 epochs


# ---- tutorial 000: MNIST pipeline, Sequential + Adam, custom layer, save/load, GPU -----

MNIST_DATA = """
    from torchvision import datasets, transforms

    # 数据预处理
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,))
    ])

    # 加载数据
    test_data = datasets.MNIST(root=root, train=False, download=False, transform=transform)
"""


def test_mnist_pipeline_on_the_real_test_set(tmp_path):
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test set is not at {SHARED_MNIST} (a fresh clone has none)")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_MNIST / name)
    test_data = run_tutorial(MNIST_DATA, root=str(tmp_path))["test_data"]
    image, label = test_data[0]
    assert image.shape == (1, 28, 28) and label == 7
    assert image.numpy().min() == pytest.approx(-0.1307 / 0.3081, rel=1e-5)


SEQUENTIAL_MODEL = """
    import torch.nn as nn

    # 定义模型
    model = nn.Sequential(
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
"""

ADAM_TRAINING = """
    # 训练模型
    epochs = 10
    learning_rate = 0.01

    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    for epoch in range(epochs):
        running_loss = 0.0
        for i, data in enumerate(train_loader, 0):
            inputs, labels = data
            optimizer.zero_grad()

            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
        print(f'Epoch {epoch + 1}, Loss: {running_loss / len(train_loader)}')
"""


def test_sequential_mlp_with_adam(capsys):
    numbanet.manual_seed(0)
    run_tutorial(SEQUENTIAL_MODEL + ADAM_TRAINING, criterion=numbanet.nn.NLLLoss(),
                 train_loader=tiny_loader((784,)))
    losses = [float(line.split("Loss: ")[1]) for line in capsys.readouterr().out.splitlines()]
    assert len(losses) == 10 and losses[-1] < 0.5 * losses[0]


CUSTOM_LAYER = """
    import torch.nn as nn

    class MyLayer(nn.Module):
        def __init__(self):
            super(MyLayer, self).__init__()

        def forward(self, x):
            return x + 1
"""


def test_custom_layer():
    layer = run_tutorial(CUSTOM_LAYER)["MyLayer"]()
    assert layer(numbanet.tensor([1.0, 2.0])).tolist() == [2.0, 3.0]
    assert list(layer.parameters()) == []


SAVE_AND_LOAD = """
    model = saved_model  # the model trained before, in the tutorial

    # 保存模型
    torch.save(model.state_dict(), 'model.pth')

    # 加载模型
    model = nn.Sequential(
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
    model.load_state_dict(torch.load('model.pth'))
"""


def test_save_and_load_state_dict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    numbanet.manual_seed(0)
    trained = run_tutorial(SEQUENTIAL_MODEL)["model"]
    loaded = run_tutorial(SEQUENTIAL_MODEL + SAVE_AND_LOAD, saved_model=trained)["model"]
    assert loaded is not trained
    for (name, saved), (loaded_name, restored) in zip(trained.state_dict().items(),
                                                      loaded.state_dict().items(), strict=True):
        assert name == loaded_name
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())


GPU = """
    import torch.cuda

    device = torch.cuda.current_device()
    model.to(device)
"""


@pytest.mark.cuda
def test_model_to_current_cuda_device():
    if not numbanet.cuda.is_available():
        pytest.skip("no CUDA device (and NUMBA_ENABLE_CUDASIM is not set)")
    model = run_tutorial(SEQUENTIAL_MODEL)["model"]
    values = [param.detach().numpy().copy() for param in model.parameters()]
    run_tutorial(GPU, model=model)
    assert all(param.is_cuda for param in model.parameters())
    for param, value in zip(model.parameters(), values, strict=True):
        np.testing.assert_array_equal(param.detach().cpu().numpy(), value)
    if numba.config.ENABLE_CUDASIM:
        return  # the simulator runs each GPU thread in Python: a 784x128 layer takes minutes
    output = model(numbanet.randn(2, 784, device="cuda"))
    assert output.is_cuda and output.shape == (2, 10)


# ---- tutorial 004: the MNIST CNN with SGD and momentum ---------------------------------

MNIST_CNN = """
    import torch.nn as nn

    class CNN(nn.Module):
        def __init__(self):
            super(CNN, self).__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = nn.functional.relu(x)
            x = self.conv2(x)
            x = nn.functional.relu(x)
            x = nn.functional.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = nn.functional.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = nn.functional.log_softmax(x, dim=1)
            return output
"""

MNIST_CNN_TRAINING = """
    import torch.optim as optim

    # 初始化模型、数据集和优化器
    model = CNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)

    # 训练模型
    for epoch in range(1, 11):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        print(f"Epoch {epoch}, Loss: {running_loss / len(trainloader)}")

    # 测试模型
    correct = 0
    total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print(f"Accuracy: {100 * correct / total}%")
"""


def test_mnist_cnn_trains_with_sgd_momentum(capsys):
    numbanet.manual_seed(0)
    loader = tiny_loader((1, 28, 28), size=8, batch_size=4)
    code = MNIST_CNN + MNIST_CNN_TRAINING.replace("range(1, 11)", "range(1, 4)")
    result = run_tutorial(code, trainloader=loader, testloader=loader)
    printed = capsys.readouterr().out
    losses = [float(line.split("Loss: ")[1]) for line in printed.splitlines()
              if line.startswith("Epoch")]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert result["total"] == 8 and "Accuracy:" in printed
    momentum_buffers = [result["optimizer"].state[p]["momentum_buffer"]
                        for p in result["model"].parameters()]
    assert len(momentum_buffers) == 8


def test_mnist_cnn_dropout_is_off_in_eval_mode():
    numbanet.manual_seed(0)
    model = run_tutorial(MNIST_CNN)["CNN"]()
    images = numbanet.randn(2, 1, 28, 28)
    model.eval()
    with numbanet.no_grad():
        first, second = model(images), model(images)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert first.shape == (2, 10)
    np.testing.assert_allclose(np.exp(first.numpy()).sum(axis=1), 1.0, rtol=1e-5)
