"""numbanet on a CUDA device, the way a PyTorch tutorial uses one.

What a learner writes — ``device = numbanet.device("cuda")``, ``model.to(device)``,
``images.to(device)``, ``(predicted == labels).sum().item()`` — must work on CUDA tensors and
give the CPU's numbers; tensors must stay on the GPU between ops (data moves only when the
code asks: ``.to()``, ``.cpu()``, ``.item()``, printing); mixing devices must fail with a
message naming both devices, the op and the learner's line; and the trace must show each
CUDA launch with its grid and block.

Runs on a GPU, or without one under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` in
the environment before numba is imported; ``make test-cuda``). The simulator runs every GPU
thread as a Python thread — a 16 x 16 matmul block takes about a second — so every model here
is tiny and the two training runs are shared by the tests that inspect them.
"""

from __future__ import annotations

import collections
import copy

import numpy as np
import pytest

import numbanet as nb
import numbanet.nn as nn
import numbanet.nn.functional as F
from numbanet import optim
from numbanet.kernels import contract
from numbanet.kernels import cpu as cpu_backend
from numbanet.utils.data import DataLoader, TensorDataset

if not nb.cuda.is_available():
    pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

import numbanet.kernels.cuda as cuda_backend  # noqa: E402 - only importable with CUDA

pytestmark = pytest.mark.cuda

CUDA = nb.device("cuda")
RNG = np.random.default_rng(7)


def values(tensor) -> np.ndarray:
    """A tensor's values on the host, from either device."""
    return tensor.detach().cpu().numpy()


def assert_close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(values(actual) if isinstance(actual, nb.Tensor) else actual,
                               values(expected) if isinstance(expected, nb.Tensor) else expected,
                               rtol=1e-4, atol=atol)


def same_on_both(function, *arrays, requires_grad=False):
    """Run ``function`` on CPU tensors and on CUDA tensors made from ``arrays``; assert every
    output is on the right device with the same values (and the same input gradients when
    ``requires_grad``: the outputs' sum is differentiated)."""
    results = {}
    for device in ("cpu", "cuda"):
        inputs = [nb.tensor(a, device=device, requires_grad=requires_grad and a.dtype.kind == "f")
                  for a in arrays]
        outputs = function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        assert all(out.device.type == device for out in outputs)
        if requires_grad:
            sum(out.sum() for out in outputs if out.is_floating_point()).backward()
        results[device] = outputs + tuple(t.grad for t in inputs if t.requires_grad)
    for expected, actual in zip(results["cpu"], results["cuda"], strict=True):
        assert (actual is None) == (expected is None)  # e.g. no gradient for class weights
        if expected is not None:
            assert actual.is_cuda and actual.dtype == expected.dtype
            assert actual.shape == expected.shape
            assert_close(actual, expected)


# ---------------------------------------------------------------- counting host <-> GPU copies


class TransferCounter:
    """Counts copies between host and GPU memory while active: ``counts["to_device"]`` and
    ``counts["to_host"]``, and ``where[kind]`` the numbanet lines that asked for them.

    On a GPU it wraps the driver calls every copy goes through. Under the simulator, where a
    "device array" is a numpy array in disguise, it wraps what stands for those copies:
    ``cuda.to_device``, ``copy_to_device`` from a numpy array and the automatic copy of a
    numpy array passed to a kernel (to the device), ``copy_to_host`` and any read of its
    values from host code (to the host).
    """

    def __init__(self):
        self.monkeypatch = pytest.MonkeyPatch()
        self.counts: collections.Counter = collections.Counter()
        self.where: dict = collections.defaultdict(collections.Counter)

    def note(self, kind: str) -> None:
        self.counts[kind] += 1
        import traceback

        ours = [f"{frame.filename.rsplit('numbanet/', 1)[-1]}:{frame.lineno}"
                for frame in traceback.extract_stack()[:-2]
                if "/numbanet/" in frame.filename]
        self.where[kind][" <- ".join(reversed(ours[-3:]))] += 1

    def __enter__(self) -> TransferCounter:
        from numba import config

        if config.ENABLE_CUDASIM:
            self._wrap_simulator()
        else:
            self._wrap_driver()
        return self

    def __exit__(self, *exc_info) -> None:
        self.monkeypatch.undo()

    def _counting(self, kind: str, function):
        def counted(*args, **kwargs):
            self.note(kind)
            return function(*args, **kwargs)

        return counted

    def _wrap_driver(self) -> None:
        from numba.cuda.cudadrv import driver

        self.monkeypatch.setattr(driver, "host_to_device",
                                 self._counting("to_device", driver.host_to_device))
        self.monkeypatch.setattr(driver, "device_to_host",
                                 self._counting("to_host", driver.device_to_host))

    def _wrap_simulator(self) -> None:
        from numba import cuda
        from numba.cuda.simulator import kernel
        from numba.cuda.simulator.cudadrv import devicearray

        fake = devicearray.FakeCUDAArray
        patch = self.monkeypatch.setattr
        patch(cuda, "to_device", self._counting("to_device", cuda.to_device))
        original_auto_device = devicearray.auto_device

        def auto_device(array, *args, **kwargs):
            if not isinstance(array, fake):  # a host array handed to a kernel
                self.note("to_device")
            return original_auto_device(array, *args, **kwargs)

        patch(devicearray, "auto_device", auto_device)
        original_copy_to_device = fake.copy_to_device

        def copy_to_device(array, source, *args, **kwargs):
            if not isinstance(source, fake):
                self.note("to_device")
            return original_copy_to_device(array, source, *args, **kwargs)

        patch(fake, "copy_to_device", copy_to_device)
        patch(fake, "copy_to_host", self._counting("to_host", fake.copy_to_host))
        original_getitem = fake.__getitem__

        def getitem(array, index):
            item = original_getitem(array, index)
            if kernel._kernel_context is None and not isinstance(item, fake):
                self.note("to_host")  # host code reading one value: a copy on a real GPU
            return item

        patch(fake, "__getitem__", getitem)
        patch(fake, "__array__", lambda array, dtype=None, copy=None: (
            self.note("to_host"), np.asarray(array._ary, dtype))[1], raising=False)
        for name in ("item", "tolist"):
            patch(fake, name, lambda array, *args, _name=name: (
                self.note("to_host"), getattr(array._ary, _name)(*args))[1], raising=False)


# ------------------------------------------------------------------- the two training runs


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


class TinyCNN(nn.Module):
    """The tutorials' CNN, shrunk: conv -> relu -> pool -> flatten -> linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        return self.fc(nb.flatten(x, 1))


TrainingRun = collections.namedtuple(
    "TrainingRun", "losses parameters gradients state transfers item_transfers")


def train(model, optimizer_class, options, inputs, labels, steps):
    """``steps`` iterations of the tutorial loop on ``model``'s device: the batch moved once,
    then zero_grad / forward / loss / backward / step, and ``loss.item()``. The transfers of
    each iteration and of each ``loss.item()`` are counted apart."""
    device = next(model.parameters()).device
    optimizer = optimizer_class(model.parameters(), **options)
    loss_function = nn.CrossEntropyLoss()
    inputs, labels = inputs.to(device), labels.to(device)
    losses, transfers, item_transfers = [], [], []
    for _ in range(steps):
        with TransferCounter() as counted:
            optimizer.zero_grad()
            loss = loss_function(model(inputs), labels)
            loss.backward()
            optimizer.step()
        with TransferCounter() as counted_item:
            losses.append(loss.item())
        transfers.append(dict(counted.counts))
        item_transfers.append(dict(counted_item.counts))
    return TrainingRun(
        losses=losses,
        parameters=[values(p) for p in model.parameters()],
        gradients=[values(p.grad) for p in model.parameters()],
        state={key: value for parameter in model.parameters()
               for key, value in optimizer.state[parameter].items()},
        transfers=transfers,
        item_transfers=item_transfers,
    )


def cpu_and_cuda_runs(make_model, optimizer_class, options, inputs, labels):
    """Two steps from the same seeded initial weights: on the CPU, and on a copy on CUDA."""
    nb.manual_seed(0)
    model = make_model()
    on_gpu = copy.deepcopy(model).to(CUDA)
    assert all(p.is_cuda for p in on_gpu.parameters())
    return (train(model, optimizer_class, options, inputs, labels, steps=2),
            train(on_gpu, optimizer_class, options, inputs, labels, steps=2))


@pytest.fixture(scope="module")
def mlp_runs():
    inputs = nb.tensor(RNG.standard_normal((5, 4)), dtype=nb.float32)
    labels = nb.tensor([0, 2, 1, 1, 0])
    return cpu_and_cuda_runs(tiny_mlp, optim.SGD, {"lr": 0.1, "momentum": 0.9}, inputs,
                             labels)


@pytest.fixture(scope="module")
def cnn_runs():
    inputs = nb.tensor(RNG.standard_normal((2, 1, 4, 4)), dtype=nb.float32)
    labels = nb.tensor([2, 0])
    return cpu_and_cuda_runs(TinyCNN, optim.Adam, {"lr": 0.01}, inputs, labels)


@pytest.mark.parametrize("runs", ["mlp_runs", "cnn_runs"])
def test_training_on_cuda_gives_the_cpu_losses_weights_and_gradients(runs, request):
    cpu_run, cuda_run = request.getfixturevalue(runs)
    np.testing.assert_allclose(cuda_run.losses, cpu_run.losses, rtol=1e-5)
    assert cuda_run.losses[1] < cuda_run.losses[0]  # it learns
    for name in ("parameters", "gradients"):
        for actual, expected in zip(getattr(cuda_run, name), getattr(cpu_run, name),
                                    strict=True):
            assert_close(actual, expected)
    assert cuda_run.state.keys() == cpu_run.state.keys()
    for key, state in cuda_run.state.items():
        if key != "step":  # PyTorch keeps Adam's step count on the CPU too
            assert state.is_cuda
            assert_close(state, cpu_run.state[key])


@pytest.mark.parametrize("runs", ["mlp_runs", "cnn_runs"])
def test_a_training_step_on_cuda_copies_nothing_between_host_and_gpu(runs, request):
    """zero_grad, forward, CrossEntropyLoss, backward and the optimizer step (SGD with
    momentum for the MLP, Adam for the CNN, including the step that creates their state)
    run on the GPU without a single copy. ``loss.item()`` then copies the loss to the host
    and, the first time after a loss, the count of bad class indices the loss kernels
    checked on the GPU (see kernels/cuda/indexing.py) — nothing else."""
    cpu_run, cuda_run = request.getfixturevalue(runs)
    assert cpu_run.transfers == cpu_run.item_transfers == [{}, {}]  # the counter's control
    assert cuda_run.transfers == [{}, {}]
    assert cuda_run.item_transfers == [{"to_host": 2}, {"to_host": 2}]


# ------------------------------------------------------------------------ device semantics


def test_devices_and_the_cuda_module():
    assert CUDA == nb.device("cuda:0") == "cuda" and CUDA != nb.device("cpu")
    assert nb.device("cuda", 0) == CUDA and str(nb.device("cuda:0")) == "cuda:0"
    assert repr(nb.device("cuda")) == "device(type='cuda')"
    assert nb.cuda.is_available() and nb.cuda.device_count() >= 1
    assert nb.cuda.current_device() == 0
    assert nb.device(nb.cuda.current_device()) == CUDA
    assert isinstance(nb.cuda.get_device_name(), str)
    assert nb.cuda.synchronize() is None


def test_tensors_move_between_devices():
    host = nb.tensor([[1.0, -2.0], [3.0, 4.0]])
    for moved in (host.to("cuda"), host.to(CUDA), host.cuda(), host.to(device="cuda:0"),
                  host.to(nb.zeros(1, device="cuda"))):
        assert moved.is_cuda and moved.device == CUDA and moved.device.type == "cuda"
        assert str(moved.device) == "cuda:0" and moved.device.index == 0
        np.testing.assert_array_equal(moved.cpu().numpy(), host.numpy())
    on_gpu = host.cuda()
    assert on_gpu.to("cuda") is on_gpu and on_gpu.cuda() is on_gpu
    back = on_gpu.cpu()
    assert not back.is_cuda and back.device == nb.device("cpu")
    both = host.to("cuda", nb.float64)
    assert both.is_cuda and both.dtype == nb.float64
    assert on_gpu.type() == "numbanet.cuda.FloatTensor"
    with pytest.raises(TypeError, match=r"Tensor\.cpu\(\) to copy"):
        on_gpu.numpy()


def test_creation_functions_take_a_device():
    made = [nb.zeros(2, 3, device="cuda"), nb.ones(2, device=CUDA), nb.full((2,), 7.0,
            device="cuda"), nb.arange(4, device="cuda"), nb.eye(2, device="cuda"),
            nb.randn(2, device="cuda"), nb.rand(2, device="cuda"),
            nb.randint(0, 5, (3,), device="cuda"), nb.tensor([1, 2], device="cuda")]
    assert all(t.is_cuda for t in made)
    reference = nb.ones(2, 2, device="cuda")
    assert all(t.is_cuda for t in (nb.zeros_like(reference), nb.ones_like(reference),
                                   nb.randn_like(reference), nb.full_like(reference, 2)))
    np.testing.assert_array_equal(values(nb.arange(4, device="cuda")), np.arange(4))
    assert values(nb.full((2,), 7.0, device="cuda")).tolist() == [7.0, 7.0]


def test_repr_of_a_cuda_tensor():
    assert repr(nb.tensor([1.0, 2.5], device="cuda")) == "tensor([1.0000, 2.5000], device='cuda:0')"
    weights = nb.ones(2, device="cuda", requires_grad=True)
    assert repr(weights) == "tensor([1., 1.], device='cuda:0', requires_grad=True)"
    assert repr(weights * 2).startswith("tensor([2., 2.], device='cuda:0', grad_fn=<Mul")
    assert repr(nb.tensor([1, 2], device="cuda")) == "tensor([1, 2], device='cuda:0')"


def test_indexing_on_cuda_tensors_matches_the_cpu():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    mask = x > 0
    same_on_both(lambda t: t[1], x, requires_grad=True)
    same_on_both(lambda t: t[1:, ::2], x, requires_grad=True)
    same_on_both(lambda t: t[..., None, -1], x, requires_grad=True)
    same_on_both(lambda t: t[[2, 0, 2]], x, requires_grad=True)  # a row picked twice
    same_on_both(lambda t, m: t[m], x, mask, requires_grad=True)
    same_on_both(lambda t, rows: t[rows, 1:], x, np.array([0, 2]), requires_grad=True)

    def assign(t, m):
        t = t.clone()
        t[m] = 0.0
        t[0] = -1.0
        return t

    same_on_both(assign, x, mask)


def test_reductions_max_and_comparisons_on_cuda_match_the_cpu():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    same_on_both(lambda t: (t.sum(), t.sum(1), t.mean(0, keepdim=True)), x, requires_grad=True)
    same_on_both(lambda t: t.max(1), x, requires_grad=True)  # (values, indices)
    same_on_both(lambda t: (t.max(), t.min(0).values, t.argmax(1)), x, requires_grad=True)
    same_on_both(lambda t: (t * 2.0 + 1 - t / 4) ** 2, x, requires_grad=True)  # scalars
    same_on_both(lambda a, b: (a == b, a > 0, a <= b, (a > 0) & (b > 0)), x, x.round())


def test_the_test_loop_idiom_on_cuda_batches():
    """DataLoader batches moved with .to(device), then the tutorials' accuracy count."""
    nb.manual_seed(0)
    model = tiny_mlp()
    on_gpu = copy.deepcopy(model).to(CUDA)
    images = nb.tensor(RNG.standard_normal((6, 4)), dtype=nb.float32)
    labels = nb.tensor([0, 1, 2, 0, 1, 2])
    loader = DataLoader(TensorDataset(images, labels), batch_size=3)
    correct = {"cpu": 0, "cuda": 0}
    nb.cuda.synchronize()  # also reports index checks other tests left on the GPU
    with nb.no_grad():
        for device, net in (("cpu", model), ("cuda", on_gpu)):
            for inputs, targets in loader:
                with TransferCounter() as moving:
                    inputs, targets = inputs.to(device), targets.to(device)
                with TransferCounter() as counting:
                    outputs = net(inputs)
                    _, predicted = nb.max(outputs.data, 1)
                    correct[device] += (predicted == targets).sum().item()
                if device == "cuda":
                    assert inputs.is_cuda and predicted.is_cuda
                    assert dict(moving.counts) == {"to_device": 2}  # the batch, and no more
                    assert dict(counting.counts) == {"to_host": 1}  # the .item()
    assert correct["cuda"] == correct["cpu"]


def test_module_to_moves_parameters_and_gradients_and_optimizer_state_follows():
    nb.manual_seed(0)
    model = tiny_mlp()
    model(nb.ones(1, 4)).sum().backward()  # gradients exist while still on the CPU
    weight = model[0].weight
    assert model.to(CUDA) is model and model[0].weight is weight  # moved in place
    assert all(p.is_cuda and p.grad.is_cuda for p in model.parameters())
    assert model.cpu() is model and not weight.is_cuda and not weight.grad.is_cuda
    model.cuda()
    assert weight.is_cuda


@pytest.mark.parametrize("optimizer_class, options, state_keys", [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     ["momentum_buffer"]),
    (optim.Adam, {"lr": 0.01, "weight_decay": 0.01}, ["exp_avg", "exp_avg_sq"]),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True},
     ["square_avg", "momentum_buffer", "grad_avg"]),
])
def test_optimizers_step_cuda_parameters_like_cpu_ones(optimizer_class, options, state_keys):
    start = RNG.standard_normal(5).astype(np.float32)
    gradients = RNG.standard_normal((3, 5)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        parameter = nn.Parameter(nb.tensor(start, device=device))
        optimizer = optimizer_class([parameter], **options)
        for gradient in gradients:
            parameter.grad = nb.tensor(gradient, device=device)
            with TransferCounter() as counted:
                optimizer.step()
                optimizer.zero_grad(set_to_none=False)
            assert parameter.grad.is_cuda == (device == "cuda")
            if device == "cuda":
                assert not counted.counts
        state = optimizer.state[parameter]
        assert all(state[key].device.type == device for key in state_keys)
        results[device] = [parameter] + [state[key] for key in state_keys]
    for actual, expected in zip(results["cuda"], results["cpu"], strict=True):
        assert_close(actual, expected)


def test_losses_on_cuda_match_the_cpu():
    scores = RNG.standard_normal((4, 3)).astype(np.float32)
    indices = np.array([2, 0, 1, 2])
    probabilities = nb.softmax(nb.tensor(RNG.standard_normal((4, 3)), dtype=nb.float32),
                               1).numpy()
    weight = np.array([1.0, 2.0, 0.5], np.float32)
    same_on_both(lambda s, t: nn.CrossEntropyLoss()(s, t), scores, indices, requires_grad=True)
    same_on_both(lambda s, t, w: F.cross_entropy(s, t, weight=w, reduction="sum"), scores,
                 np.array([2, -100, 1, 2]), weight, requires_grad=True)  # ignore_index
    same_on_both(lambda s, p: nn.CrossEntropyLoss()(s, p), scores, probabilities,
                 requires_grad=True)
    same_on_both(lambda s, t: nn.NLLLoss()(F.log_softmax(s, dim=1), t), scores, indices,
                 requires_grad=True)
    same_on_both(lambda s, p: nn.MSELoss()(s, p), scores, probabilities, requires_grad=True)


def test_a_bad_class_index_on_cuda_is_reported_at_the_next_read():
    """The loss kernels check targets on the GPU and the verdict is read with the next copy
    to the host — here ``loss.item()`` — instead of stalling the forward pass."""
    scores = nb.randn(2, 3, device="cuda", requires_grad=True)
    with TransferCounter() as counted:
        loss = F.cross_entropy(scores, nb.tensor([0, 3]).cuda())
        loss.backward()
    assert dict(counted.counts) == {"to_device": 1}  # the targets, moved by .cuda()
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        loss.item()
    assert np.isnan(loss.item())  # reported once; the bad row's loss is NaN
    assert F.cross_entropy(scores, nb.tensor([0, 2]).cuda()).item() > 0


def test_conv_pool_and_dropout_layers_on_cuda():
    images = RNG.standard_normal((2, 1, 4, 4)).astype(np.float32)
    nb.manual_seed(0)
    conv, pool = nn.Conv2d(1, 2, 3, stride=1, padding=1), nn.MaxPool2d(2)
    conv_on_gpu = copy.deepcopy(conv).to(CUDA)
    for device, layer in (("cpu", conv), ("cuda", conv_on_gpu)):
        x = nb.tensor(images, device=device, requires_grad=True)
        pool(layer(x)).sum().backward()
    assert_close(conv_on_gpu.weight.grad, conv.weight.grad)
    assert_close(conv_on_gpu.bias.grad, conv.bias.grad)
    same_on_both(pool, images, requires_grad=True)

    dropout = nn.Dropout(0.5)
    x = nb.ones(4, 8, device="cuda", requires_grad=True)
    kept = dropout(x)
    kept.sum().backward()
    assert kept.is_cuda and set(np.unique(values(kept))) <= {0.0, 2.0}
    np.testing.assert_array_equal(values(x.grad), values(kept))  # d out/d x = the mask
    assert dropout.eval()(x) is x
    planes = nn.Dropout2d(0.5)(nb.ones(2, 3, 2, 2, device="cuda"))
    assert (values(planes).reshape(6, 4).std(axis=1) == 0).all()  # whole planes kept/dropped


def test_dropout_on_cuda_copies_only_its_generator_states():
    """The one copy left in a training step with dropout: kernels/cuda/dropout.py seeds the
    random generators of each mask on the host (numba's ``create_xoroshiro128p_states``)
    and copies them to the GPU; the mask itself is drawn there."""
    x = nb.ones(4, 8, device="cuda", requires_grad=True)
    with TransferCounter() as counted:
        F.dropout(x, 0.5).sum().backward()
    assert dict(counted.counts) == {"to_device": 1}


def test_save_and_load_with_map_location(tmp_path):
    nb.manual_seed(0)
    model = tiny_mlp().to(CUDA)
    path = tmp_path / "model.pth"
    nb.save(model.state_dict(), path)
    on_cpu = nb.load(path, map_location="cpu")
    assert all(not t.is_cuda for t in on_cpu.values())
    restored = nb.load(path)
    assert all(t.is_cuda for t in restored.values())
    for name, tensor in model.state_dict().items():
        assert_close(on_cpu[name], tensor)
        assert_close(restored[name], tensor)
    cpu_model = tiny_mlp()
    cpu_model.load_state_dict(on_cpu)
    nb.save(cpu_model.state_dict(), tmp_path / "cpu.pth")
    moved = nb.load(tmp_path / "cpu.pth", map_location=CUDA)
    assert all(t.is_cuda for t in moved.values())
    fresh = tiny_mlp().to(CUDA)
    fresh.load_state_dict(moved)
    assert all(p.is_cuda for p in fresh.parameters())
    assert_close(fresh[2].bias, model[2].bias)


# --------------------------------------------------------------------------- mixing devices


def _line_of(source: str) -> str:
    """The line of this file that holds ``source``, as error messages quote it."""
    with open(__file__) as this_file:
        number = next(i for i, line in enumerate(this_file, 1) if source in line)
    return f"test_cuda_device.py:{number}"


MIXES = {
    "add": lambda gpu, cpu: gpu + cpu,
    "matmul": lambda gpu, cpu: gpu @ cpu.t(),
    "cat": lambda gpu, cpu: nb.cat([gpu, cpu]),
    "Linear(in_features=3": lambda gpu, cpu: nn.Linear(3, 2).to(CUDA)(cpu),
    "Conv2d(1, 1": lambda gpu, cpu: nn.Conv2d(1, 1, 2).to(CUDA)(cpu.reshape(1, 1, 2, 3)),
    "cross_entropy": lambda gpu, cpu: F.cross_entropy(gpu, cpu.argmax(1)),
}


@pytest.mark.parametrize("op", list(MIXES))
def test_mixing_devices_names_both_devices_the_op_and_your_line(op):
    gpu, cpu = nb.ones(2, 3, device="cuda"), nb.ones(2, 3)
    with pytest.raises(RuntimeError) as raised:
        MIXES[op](gpu, cpu)
    message = str(raised.value)
    assert message.startswith(op) and "cpu" in message and "cuda:0" in message
    assert _line_of(f'"{op}": lambda') in message


# --------------------------------------------------------------------------------- tracing


def test_the_trace_records_cuda_launches_with_grid_and_block():
    x = nb.randn(2, 3, device="cuda", requires_grad=True)
    with nb.trace.record() as recorded:
        (x * 2.0).relu().sum().backward()
    for phase in ("forward", "backward"):
        events = [e for e in recorded.events if e.phase == phase and e.kernels]
        assert events, f"no {phase} event ran a kernel"
        for kernel in (k for e in events for k in e.kernels):
            assert kernel.device == "cuda"
            assert kernel.grid and all(n >= 1 for n in kernel.grid)
            assert kernel.block and all(n >= 1 for n in kernel.block)
    assert {r.device for e in recorded.events for r in e.outputs if r} == {"cuda:0"}
    names = [k.name for e in recorded.events for k in e.kernels]
    assert any(name.endswith("sum_rows_kernel") for name in names)


# ------------------------------------------------------- every CUDA kernel vs its CPU twin

A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)  # broadcasts against A's rows
POSITIVE = np.abs(A) + 0.5
GRAD = RNG.standard_normal((3, 4)).astype(np.float32)
INTEGERS = RNG.integers(-2, 3, (3, 4))
LOG_PROBS = np.log(np.full((4, 3), 1 / 3, np.float32)) + RNG.standard_normal((4, 3)).astype(
    np.float32)
TARGETS = np.array([2, 0, 1, 2])
IMAGES = RNG.standard_normal((2, 1, 4, 4)).astype(np.float32)
FILTERS = RNG.standard_normal((2, 1, 3, 3)).astype(np.float32)
CONV_GRAD = RNG.standard_normal((2, 2, 2, 2)).astype(np.float32)
LEVELS = (A * 40).astype(np.int8)  # quantized operands for the int8 kernels
ACTIVATION_LEVELS = (POSITIVE * 60).astype(np.uint8)
IMAGE_LEVELS = (np.abs(IMAGES) * 50).astype(np.uint8)
FILTER_LEVELS = (FILTERS * 40).astype(np.int8)
ACCUMULATOR = (GRAD * 5000).astype(np.int32)
CHANNEL_SCALES = np.array([0.05, 0.1, 0.02])
CHANNEL_ZERO_POINTS = np.array([0, 3, -2])


def _emptied(k, put):
    out = k.empty((2, 3), np.int64)  # whatever the memory held: compare shape and dtype
    k.fill(out, 0)
    return out


def _filled(k, put):
    out = put(A.copy())
    k.fill(k.basic_index(out, (slice(None), 1)), 7.0)
    return out


def _copied(k, put):
    out = k.full((3, 4), 0.0, np.float32)
    k.copy_into(out, put(B))
    return out


def _scattered(k, put):
    out = put(np.zeros(6, np.float32))
    k.scatter_add(out, put(np.array([0, 5, 5, 2])), put(np.array([1.0, 2.0, 3.0, 4.0],
                                                                     np.float32)))
    return out


def _scattered_by(name, positions):
    """``name`` (scatter, scatter_multiply) of four values into ones at ``positions``."""

    def run(k, put):
        out = put(np.ones(6, np.float32))
        getattr(k, name)(out, put(np.array(positions)), put(np.array([1.5, 2.0, 3.0, 4.0],
                                                                     np.float32)))
        return out

    return run


def _pool_backward(k, put):
    _, argmax = k.max_pool2d_forward(put(IMAGES), (2, 2), (2, 2), (0, 0))
    return k.max_pool2d_backward(put(GRAD[:2, :4].reshape(2, 1, 2, 2)), argmax, IMAGES.shape)


def _optimizer_steps(name, *state_shapes):
    """Two steps of the fused update ``name`` on a parameter and its state; returns them."""

    def run(k, put):
        param = put(A.copy())
        state = [None if shape is None else k.full(shape, 0.0, np.float32)
                 for shape in state_shapes]
        for step in (1, 2):
            gradient = put(GRAD * step)
            if name == "sgd_update":
                k.sgd_update(param, gradient, state[0], 0.1, 0.9, 0.1, True, 0.01, step == 1)
            elif name == "adam_update":
                k.adam_update(param, gradient, *state, 0.01, 0.9, 0.999, 1e-8, 0.01, step)
            else:
                k.rmsprop_update(param, gradient, *state, 0.01, 0.99, 1e-8, 0.01, 0.5, True)
        return (param, *[s for s in state if s is not None])

    return run


TWINS = {  # name -> (backend, put: numpy array -> that backend's array) -> result(s)
    "empty": _emptied,
    "full": lambda k, put: k.full((2, 3), 1.5, np.float32),
    "arange": lambda k, put: k.arange(1, 8, 2, np.int64),
    "from_host": lambda k, put: k.from_host(A),
    "to_host": lambda k, put: k.to_host(k.permute(put(A), (1, 0))),
    "astype": lambda k, put: k.astype(put(A * 3), np.int64),
    "contiguous": lambda k, put: k.contiguous(k.permute(put(A), (1, 0))),
    "copy_into": _copied,
    "fill": _filled,
    "reshape": lambda k, put: k.reshape(put(A), (2, 6)),
    "permute": lambda k, put: k.permute(put(A), (1, 0)),
    "broadcast_to": lambda k, put: k.broadcast_to(put(B), (3, 4)),
    "basic_index": lambda k, put: k.basic_index(put(A), (slice(1, None), slice(None, None, 2))),
    **{name: (lambda k, put, name=name: getattr(k, name)(put(A), put(B)))
       for name in contract.ELEMENTWISE_BINARY if name not in ("pow", "logical_and",
                                                                "logical_or")
       and not name.startswith("bitwise")},
    **{name: (lambda k, put, name=name: getattr(k, name)(put(INTEGERS), put(INTEGERS[::-1])))
       for name in contract.ELEMENTWISE_BINARY if name.startswith("bitwise")},
    "pow": lambda k, put: k.pow(put(POSITIVE), put(B)),
    "logical_and": lambda k, put: k.logical_and(put(INTEGERS), put(A > 0)),
    "logical_or": lambda k, put: k.logical_or(put(INTEGERS), put(A > 0)),
    **{name: (lambda k, put, name=name: getattr(k, name)(put(A)))
       for name in contract.ELEMENTWISE_UNARY if name not in ("log", "sqrt", "bitwise_not")},
    "bitwise_not": lambda k, put: k.bitwise_not(put(INTEGERS)),
    "log": lambda k, put: k.log(put(POSITIVE)),
    "sqrt": lambda k, put: k.sqrt(put(POSITIVE)),
    "clamp": lambda k, put: k.clamp(put(A), -0.5, 0.5),
    "where": lambda k, put: k.where(put(A > 0), put(A), put(B)),
    "relu_backward": lambda k, put: k.relu_backward(put(GRAD), put(A)),
    "sigmoid_backward": lambda k, put: k.sigmoid_backward(put(GRAD), put(1 / (1 + np.exp(-A)))),
    "tanh_backward": lambda k, put: k.tanh_backward(put(GRAD), put(np.tanh(A))),
    "clamp_backward": lambda k, put: k.clamp_backward(put(GRAD), put(A), -0.5, 0.5),
    "sum": lambda k, put: k.sum(put(A), (1,), True),
    "max": lambda k, put: k.max(put(A), 1, False),
    "min": lambda k, put: k.min(put(A), 0, True),
    "matmul": lambda k, put: k.matmul(put(A), put(POSITIVE.T.copy())),
    "addmm_backward": lambda k, put: k.addmm_backward(  # mat2 a transposed view, as weight.t()
        put(GRAD), put(POSITIVE[:, :3].copy()), k.permute(put(A.T.copy()), (1, 0)),
        (True, True, True)),
    "gather": lambda k, put: k.gather(put(A), put(np.array([0, 5, 11, 5]))),
    "scatter_add": _scattered,
    "scatter": _scattered_by("scatter", [0, 5, 3, 2]),  # distinct: one right answer
    "scatter_multiply": _scattered_by("scatter_multiply", [0, 5, 5, 2]),
    "sort": lambda k, put: k.sort(put(np.concatenate([A, A[:, :2]], axis=1)), True),
    "log_softmax": lambda k, put: k.log_softmax(put(A)),
    "softmax": lambda k, put: k.softmax(put(A)),
    "log_softmax_backward": lambda k, put: k.log_softmax_backward(put(GRAD), put(A - 2)),
    "softmax_backward": lambda k, put: k.softmax_backward(put(GRAD), put(POSITIVE / 8)),
    "nll_loss_rows": lambda k, put: k.nll_loss_rows(
        put(LOG_PROBS), put(np.array([2, -100, 1, 2])), put(POSITIVE[0, :3].copy()), -100),
    "nll_loss_backward": lambda k, put: k.nll_loss_backward(
        put(B), put(TARGETS), put(POSITIVE[1].copy()), put(np.float32(2.5)), 3, np.float32),
    "conv2d_forward": lambda k, put: k.conv2d_forward(
        put(IMAGES), put(FILTERS), put(B[:2]), (2, 2), (1, 1)),
    "conv2d_input_grad": lambda k, put: k.conv2d_input_grad(
        put(CONV_GRAD), put(FILTERS), IMAGES.shape, (2, 2), (1, 1)),
    "conv2d_weight_grad": lambda k, put: k.conv2d_weight_grad(
        put(CONV_GRAD), put(IMAGES), FILTERS.shape, (2, 2), (1, 1)),
    "max_pool2d_forward": lambda k, put: k.max_pool2d_forward(put(IMAGES), (2, 2), (2, 2),
                                                              (0, 0)),
    "max_pool2d_backward": _pool_backward,
    "sgd_update": _optimizer_steps("sgd_update", (3, 4)),
    "adam_update": _optimizer_steps("adam_update", (3, 4), (3, 4)),
    "rmsprop_update": _optimizer_steps("rmsprop_update", (3, 4), (3, 4), (3, 4)),
    "quantize": lambda k, put: k.quantize(put(A), CHANNEL_SCALES, CHANNEL_ZERO_POINTS, 0, -128,
                                          127, np.int8),
    "dequantize": lambda k, put: k.dequantize(put(LEVELS), CHANNEL_SCALES, CHANNEL_ZERO_POINTS,
                                              0),
    "int8_linear_accumulate": lambda k, put: k.int8_linear_accumulate(
        put(ACTIVATION_LEVELS.T.copy()), 7, put(LEVELS.T.copy()), np.array([0, 1, -1, 2])),
    "int8_conv2d_accumulate": lambda k, put: k.int8_conv2d_accumulate(
        put(IMAGE_LEVELS), 9, put(FILTER_LEVELS), np.array([0, 2]), (2, 2), (1, 1)),
    "requantize": lambda k, put: k.requantize(put(ACCUMULATOR), B * 100, POSITIVE[0] / 50, 5,
                                              0, 255, np.uint8),
    "accumulator_to_float": lambda k, put: k.accumulator_to_float(put(ACCUMULATOR),
                                                                  POSITIVE[0] / 50, B),
}


def test_every_contract_kernel_has_a_cpu_twin_check():
    assert sorted(TWINS) == sorted(set(contract.KERNEL_CONTRACT) - {"dropout_mask"})


@pytest.mark.parametrize("name", sorted(TWINS))
def test_cuda_kernel_matches_its_cpu_twin(name):
    """The same call on both backends gives the same dtype, shape and values (numpy
    arrays in, each backend's ``from_host`` to place them)."""
    cpu_result = TWINS[name](cpu_backend, cpu_backend.from_host)
    cuda_result = TWINS[name](cuda_backend, cuda_backend.from_host)
    cpu_result = cpu_result if isinstance(cpu_result, tuple) else (cpu_result,)
    cuda_result = cuda_result if isinstance(cuda_result, tuple) else (cuda_result,)
    for expected, actual in zip(cpu_result, cuda_result, strict=True):
        expected = cpu_backend.to_host(expected)
        actual = actual if isinstance(actual, np.ndarray) else cuda_backend.to_host(actual)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_dropout_masks_on_both_devices_keep_with_the_same_probability_and_scale():
    """The two devices draw from different generators, so masks differ; what must agree is
    the law: each element kept (as 1/keep) with probability keep, and a seed repeats."""
    for k in (cpu_backend, cuda_backend):
        mask = k.to_host(k.dropout_mask((64,), 0.75, np.float32, 11))
        assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, np.float32(1 / 0.75)}
        assert 0.5 < np.count_nonzero(mask) / mask.size < 0.95
        np.testing.assert_array_equal(k.to_host(k.dropout_mask((64,), 0.75, np.float32, 11)),
                                      mask)
