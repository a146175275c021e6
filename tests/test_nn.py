"""``numbanet.nn``: Module bookkeeping, layers, losses, init, checkpoints, hooks, the trace hook.

Layers are compared with numpy references and — when PyTorch is installed — with PyTorch
layers holding identical weights (forward values and every gradient).
"""

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import numbanet as nb
import numbanet.nn as nn
import numbanet.nn.functional as F
from numbanet import trace
from numbanet.autograd import gradcheck

RNG = np.random.default_rng(99)


class Net(nn.Module):
    """The shape of the PyTorch tutorials' models: layers as attributes, F in forward."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.dropout(self.fc1(x)))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        return self.fc1(nb.flatten(x, 1))


# ---- Parameter -------------------------------------------------------------------------------


def test_parameter_is_a_leaf_tensor_that_requires_grad_and_shares_storage():
    data = nb.zeros(2, 3)
    parameter = nn.Parameter(data)
    assert isinstance(parameter, nn.Parameter) and isinstance(parameter, nb.Tensor)
    assert parameter.requires_grad and parameter.is_leaf
    data[0, 0] = 5.0
    assert parameter[0, 0].item() == 5.0
    assert not nn.Parameter(nb.ones(2), requires_grad=False).requires_grad
    assert repr(nn.Parameter(nb.tensor([1.0, 2.0]))) == (
        "Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    parameter.data = nb.ones(4)
    assert isinstance(parameter, nn.Parameter) and parameter.shape == (4,)
    assert type(parameter * 2) is nb.Tensor
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(nb.tensor([1, 2]))


# ---- registration and traversal --------------------------------------------------------------


def test_parameters_children_and_modules_are_registered_in_order():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "head.1.weight", "head.1.bias"]
    assert len(list(net.parameters())) == 4
    assert [name for name, _ in net.named_children()] == ["fc1", "dropout", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "fc1", "dropout", "head",
                                                          "head.0", "head.1"]
    assert net.get_submodule("head.1") is net.head[1]
    assert isinstance(net.fc1.weight, nn.Parameter)


def test_shared_parameters_are_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(3, 3)
            self.decoder = nn.Linear(3, 3)
            self.decoder.weight = self.encoder.weight

    tied = Tied()
    assert [name for name, _ in tied.named_parameters()] == [
        "encoder.weight", "encoder.bias", "decoder.bias"]
    assert list(tied.state_dict()) == ["encoder.weight", "encoder.bias", "decoder.weight",
                                       "decoder.bias"]


def test_buffers_attribute_rules_and_deletion():
    module = nn.Module()
    module.register_buffer("steps", nb.zeros(1))
    module.register_buffer("scratch", nb.zeros(2), persistent=False)
    module.weight = nn.Parameter(nb.ones(2))
    module.plain = 3
    assert [name for name, _ in module.named_buffers()] == ["steps", "scratch"]
    assert list(module.state_dict()) == ["weight", "steps"]
    with pytest.raises(TypeError, match="cannot assign 'numbanet.FloatTensor' as parameter"):
        module.weight = nb.ones(2)
    module.steps = nb.ones(1)
    assert module.steps.item() == 1.0
    del module.weight
    assert list(module.parameters()) == []
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'weight'"):
        module.weight
    with pytest.raises(KeyError, match="already exists"):
        module.register_buffer("plain", nb.zeros(1))


def test_forgetting_super_init_says_so():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call.*super"):
        Broken()


def test_sequential_indexing_slicing_and_editing():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    assert len(model) == 3
    assert isinstance(model[0], nn.Linear) and model[-1] is model[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is model[0]
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    model.append(nn.Sigmoid())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    del model[1]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError, match="index 9 is out of range"):
        model[9]
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(TypeError, match="nn.ReLU\\(\\) rather than F.relu"):
        nn.Sequential(F.relu)
    x = nb.randn(5, 2)
    assert np.allclose(model(x).detach().numpy(),
                       model[2](model[1](model[0](x))).detach().numpy())


def test_module_list_registers_its_modules():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    stack = Stack()
    assert len(list(stack.parameters())) == 6
    assert "layers.2.bias" in stack.state_dict()
    stack.layers.append(nn.Linear(2, 1))
    assert stack(nb.randn(3, 2)).shape == (3, 1)
    assert isinstance(stack.layers[1:], nn.ModuleList) and len(stack.layers[1:]) == 3


# ---- modes, gradients, devices -------------------------------------------------------------


def test_train_and_eval_switch_dropout():
    net = Net()
    assert net.training and net.head[0].training
    x = nb.randn(16, 4)
    net.eval()
    assert not net.training and not net.dropout.training and not net.head[1].training
    assert np.array_equal(net(x).detach().numpy(), net(x).detach().numpy())
    hidden = net.fc1(x)
    assert np.array_equal(net.dropout(hidden).detach().numpy(), hidden.detach().numpy())
    net.train()
    dropped = net.dropout(nb.ones(100, 10)).detach().numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}


def test_zero_grad_and_requires_grad():
    net = Net()
    net(nb.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.fc1.requires_grad_(False)
    net(nb.randn(2, 4)).sum().backward()
    assert net.fc1.weight.grad is None and net.head[1].weight.grad is not None


def test_to_double_converts_in_place_keeping_parameter_identity():
    net = Net()
    weight = net.fc1.weight
    net(nb.randn(2, 4)).sum().backward()
    assert net.double() is net
    assert net.fc1.weight is weight and weight.dtype == nb.float64
    assert weight.grad.dtype == nb.float64
    assert net(nb.randn(2, 4, dtype=nb.float64)).dtype == nb.float64
    assert net.to("cpu") is net and net.float().fc1.bias.dtype == nb.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(nb.int64)


def test_apply_and_init_functions():
    def init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)
            nn.init.zeros_(module.bias)

    net = Net().apply(init_weights)
    assert np.all(net.head[1].weight.detach().numpy() == 0.5)
    assert np.all(net.fc1.bias.detach().numpy() == 0.0)


def test_init_distributions_and_fans():
    weight = nb.empty(300, 200)
    assert nn.init.calculate_fan_in_and_fan_out(weight) == (200, 300)
    assert nn.init.calculate_fan_in_and_fan_out(nb.empty(6, 3, 5, 5)) == (75, 150)
    bound = math.sqrt(6 / 500)
    values = nn.init.xavier_uniform_(weight).numpy()
    assert values.max() <= bound and values.min() >= -bound and values.std() > bound / 2
    values = nn.init.kaiming_normal_(weight, nonlinearity="relu").numpy()
    assert abs(values.std() - math.sqrt(2 / 200)) < 0.005
    values = nn.init.xavier_normal_(weight).numpy()
    assert abs(values.std() - math.sqrt(2 / 500)) < 0.005
    values = nn.init.kaiming_uniform_(weight, mode="fan_out", nonlinearity="relu").numpy()
    assert values.max() <= math.sqrt(6 / 300)
    assert np.all(nn.init.ones_(nb.empty(3)).numpy() == 1)
    assert abs(nn.init.normal_(nb.empty(4000), 2.0, 0.5).numpy().mean() - 2.0) < 0.05
    assert nn.init.calculate_gain("tanh") == 5 / 3
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nb.empty(3))


def test_default_init_matches_pytorch_bounds():
    linear, conv = nn.Linear(50, 20), nn.Conv2d(3, 4, 5)
    for layer, fan_in in ((linear, 50), (conv, 75)):
        bound = 1 / math.sqrt(fan_in)
        for parameter in (layer.weight, layer.bias):
            values = parameter.detach().numpy()
            assert values.min() >= -bound and values.max() <= bound
            assert values.std() > bound / 4
    assert nn.Linear(3, 2, bias=False).bias is None


def test_manual_seed_makes_init_and_dropout_reproducible():
    nb.manual_seed(0)
    first = Net()
    first_drop = nn.Dropout()(nb.ones(5, 5)).numpy()
    nb.manual_seed(0)
    second = Net()
    second_drop = nn.Dropout()(nb.ones(5, 5)).numpy()
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert np.array_equal(first_drop, second_drop)
    third = Net()
    assert not np.array_equal(third.fc1.weight.detach().numpy(),
                              first.fc1.weight.detach().numpy())


# ---- hooks -----------------------------------------------------------------------------------


def test_forward_hooks_and_pre_hooks_with_removable_handles():
    layer = nn.Linear(3, 2)
    seen = []
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(
        (module, inputs[0].shape, output.shape)))
    layer(nb.randn(4, 3))
    assert seen == [(layer, (4, 3), (4, 2))]
    handle.remove()
    layer(nb.randn(4, 3))
    assert len(seen) == 1
    with layer.register_forward_hook(lambda module, inputs, output: output * 0):
        assert np.all(layer(nb.randn(4, 3)).detach().numpy() == 0)
    assert np.any(layer(nb.ones(1, 3)).detach().numpy() != 0)
    pre = layer.register_forward_pre_hook(lambda module, inputs: (inputs[0] * 0,))
    assert np.allclose(layer(nb.randn(2, 3)).detach().numpy(), layer.bias.detach().numpy())
    pre.remove()


# ---- checkpoints -----------------------------------------------------------------------------


def test_state_dict_keys_detached_values_and_round_trip(tmp_path):
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == ["fc1.weight", "fc1.bias", "head.1.weight", "head.1.bias"]
    assert all(not value.requires_grad for value in state.values())
    assert list(nn.Sequential(nn.Linear(2, 2)).state_dict()) == ["0.weight", "0.bias"]
    nb.save(net.state_dict(), tmp_path / "net.pt")
    restored = Net()
    result = restored.load_state_dict(nb.load(tmp_path / "net.pt"))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    x = nb.randn(3, 4)
    net.eval()
    restored.eval()
    assert np.allclose(net(x).detach().numpy(), restored(x).detach().numpy())
    snapshot = copy.deepcopy(net.state_dict())
    with nb.no_grad():
        net.fc1.weight.add_(1.0)
    assert np.allclose(snapshot["fc1.weight"].numpy() + 1, net.fc1.weight.detach().numpy())
    assert isinstance(copy.deepcopy(net).fc1.weight, nn.Parameter)


def test_load_state_dict_errors_read_like_pytorch():
    net = Net()
    state = net.state_dict()
    del state["fc1.bias"]
    state["fc2.weight"] = nb.zeros(1)
    state["head.1.weight"] = nb.zeros(3, 9)
    with pytest.raises(RuntimeError) as error:
        net.load_state_dict(state)
    message = str(error.value)
    assert message.startswith(
        'Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: '
        '"fc1.bias". \n\tUnexpected key(s) in state_dict: "fc2.weight". \n\tsize mismatch '
        "for head.1.weight: copying a param with shape numbanet.Size([3, 9]) from checkpoint, "
        "the shape in current model is numbanet.Size([3, 8]).")
    state["head.1.weight"] = nb.zeros(3, 8)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["fc2.weight"]
    assert np.all(net.head[1].weight.detach().numpy() == 0)
    with pytest.raises(TypeError, match="numbanet.load"):
        net.load_state_dict("net.pt")
    wrapped = OrderedDict(("module." + k, v) for k, v in Net().state_dict().items())
    with pytest.raises(RuntimeError, match="start with 'module.'"):
        net.load_state_dict(wrapped)


def test_loss_weights_are_buffers():
    criterion = nn.CrossEntropyLoss(weight=nb.tensor([1.0, 2.0]))
    assert list(criterion.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []


# ---- repr ------------------------------------------------------------------------------------

EXPECTED_NET_REPR = """Net(
  (fc1): Linear(in_features=4, out_features=8, bias=True)
  (dropout): Dropout(p=0.5, inplace=False)
  (head): Sequential(
    (0): ReLU()
    (1): Linear(in_features=8, out_features=3, bias=True)
  )
)"""


def test_reprs_match_pytorch_text():
    assert repr(Net()) == EXPECTED_NET_REPR
    assert repr(nn.Linear(784, 128)) == "Linear(in_features=784, out_features=128, bias=True)"
    assert repr(nn.Conv2d(1, 6, 5)) == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))"
    assert repr(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


@pytest.mark.torch
def test_reprs_equal_pytorch_reprs():
    torch = pytest.importorskip("torch")
    for library in (nn, torch.nn):
        model = library.Sequential(
            library.Conv2d(1, 6, 5, padding=2), library.MaxPool2d(2, 2), library.Dropout2d(0.25),
            library.Flatten(), library.Linear(6 * 14 * 14, 10), library.LogSoftmax(dim=1),
            library.Sequential(library.Tanh(), library.Sigmoid(), library.Identity()))
        if library is nn:
            ours = repr(model)
        else:
            assert repr(model) == ours


# ---- layers against references ----------------------------------------------------------------


def test_linear_layer_and_wrong_width_error_names_the_line():
    layer = nn.Linear(4, 3)
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    expected = x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    assert np.allclose(layer(nb.tensor(x)).detach().numpy(), expected, atol=1e-6)
    with pytest.raises(RuntimeError) as error:
        layer(nb.randn(2, 5))
    message = str(error.value)
    assert "matmul" in message and "(2x5 and 4x3)" in message
    assert "test_nn.py" in message and "layer(nb.randn(2, 5))" in message


def test_conv2d_layer_wrong_channels_error_names_the_layer_and_line():
    layer = nn.Conv2d(3, 6, 5)
    with pytest.raises(RuntimeError) as error:
        layer(nb.randn(4, 1, 32, 32))
    message = str(error.value)
    assert message.startswith("Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1)): ")
    assert "expected input[4, 1, 32, 32] to have 3 channels, but got 1" in message
    assert "(N, 3, H, W)" in message and "(4, 1, 32, 32)" in message
    assert "test_nn.py" in message and "layer(nb.randn(4, 1, 32, 32))" in message
    with pytest.raises(NotImplementedError, match="groups=1"):
        nn.Conv2d(4, 4, 3, groups=2)


def test_gradcheck_layers_in_float64():
    net = ConvNet().double()
    x = nb.tensor(RNG.normal(size=(2, 1, 8, 8)), requires_grad=True)
    assert gradcheck(net, (x,))
    weight, bias = net.conv1.weight, net.conv1.bias
    assert gradcheck(lambda w, b: F.conv2d(x.detach(), w, b), (weight, bias))
    dropout = nn.Dropout().eval()
    assert gradcheck(dropout, (nb.tensor(RNG.normal(size=(3, 3)), requires_grad=True),))


def test_loss_modules_reduce_like_their_functions():
    scores = nb.tensor(RNG.normal(size=(4, 3)), requires_grad=True)
    labels = nb.tensor([0, 2, 1, 2])
    assert np.isclose(nn.CrossEntropyLoss()(scores, labels).item(),
                      F.cross_entropy(scores, labels).item())
    per_sample = nn.NLLLoss(reduction="none")(F.log_softmax(scores, 1), labels)
    assert per_sample.shape == (4,)
    assert np.isclose(per_sample.sum().item(),
                      nn.NLLLoss(reduction="sum")(nn.LogSoftmax(dim=1)(scores), labels).item())
    assert nn.MSELoss(reduction="sum")(scores, scores * 0).item() == pytest.approx(
        (scores.detach().numpy() ** 2).sum())
    assert nn.CrossEntropyLoss(reduce=False)(scores, labels).shape == (4,)


@pytest.mark.torch
def test_layers_match_pytorch_with_identical_weights():
    torch = pytest.importorskip("torch")
    ours = ConvNet().double()
    theirs = torch.nn.Module()
    theirs.conv1 = torch.nn.Conv2d(1, 2, 3).double()
    theirs.pool = torch.nn.MaxPool2d(2, 2)
    theirs.fc1 = torch.nn.Linear(18, 3).double()
    with torch.no_grad():
        for name, parameter in theirs.named_parameters():
            parameter.copy_(torch.from_numpy(ours.state_dict()[name].numpy().copy()))
    x = RNG.normal(size=(3, 1, 8, 8))
    labels = np.array([2, 0, 1])

    def torch_forward(images):
        hidden = theirs.pool(torch.relu(theirs.conv1(images)))
        return theirs.fc1(torch.flatten(hidden, 1))

    our_x = nb.tensor(x, requires_grad=True)
    their_x = torch.tensor(x, requires_grad=True)
    our_scores, their_scores = ours(our_x), torch_forward(their_x)
    assert np.allclose(our_scores.detach().numpy(), their_scores.detach().numpy())
    our_loss = nn.CrossEntropyLoss()(our_scores, nb.tensor(labels)) + nn.NLLLoss()(
        nn.LogSoftmax(dim=1)(our_scores), nb.tensor(labels))
    their_loss = torch.nn.CrossEntropyLoss()(their_scores, torch.tensor(labels)) + \
        torch.nn.NLLLoss()(torch.nn.LogSoftmax(dim=1)(their_scores), torch.tensor(labels))
    assert np.isclose(our_loss.item(), their_loss.item())
    our_loss.backward()
    their_loss.backward()
    assert np.allclose(our_x.grad.numpy(), their_x.grad.numpy())
    for name, parameter in theirs.named_parameters():
        mine = dict(ours.named_parameters())[name]
        assert np.allclose(mine.grad.numpy(), parameter.grad.numpy()), name


# ---- training and the trace hook ---------------------------------------------------------------


def test_a_tutorial_training_loop_reduces_the_loss():
    nb.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    images = nb.randn(24, 4, 4)
    labels = nb.randint(0, 3, (24,))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(15):
        loss = loss_fn(model(images), labels)
        model.zero_grad()
        loss.backward()
        with nb.no_grad():  # "Learning PyTorch with Examples": the update by hand
            for param in model.parameters():
                param -= 0.5 * param.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_trace_records_module_paths_and_parameter_names():
    net = Net()
    with trace.record() as recorded:
        loss = nn.CrossEntropyLoss()(net(nb.randn(2, 4)), nb.tensor([0, 2]))
        loss.backward()
    paths = [event.module_path for event in recorded.by_phase("forward")]
    assert "Net.fc1" in paths and "Net.dropout" in paths
    assert "Net.head.1" in paths and "CrossEntropyLoss" in paths
    assert set(recorded.parameter_names.values()) == {
        "fc1.weight", "fc1.bias", "head.1.weight", "head.1.bias"}
    backward_paths = {event.module_path for event in recorded.by_phase("backward")}
    assert "Net.fc1" in backward_paths
    assert trace.active() is None  # recording ended with the block
    cross_entropy = next(e for e in recorded.events if e.op == "CrossEntropy")
    assert "softmax" in cross_entropy.formula and cross_entropy.kernels


@pytest.mark.cuda
def test_model_on_cuda_matches_cpu_values_and_gradients():
    if not nb.cuda.is_available():
        pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")
    nb.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(8, 3)).eval()
    x, labels = nb.randn(2, 1, 4, 4), nb.tensor([0, 2])
    weight = nb.tensor([1.0, 2.0, 0.5])

    def loss_of(model, device):
        scores = model(x.to(device))
        targets = labels.to(device)
        return (F.cross_entropy(scores, targets, weight=weight.to(device))
                + F.nll_loss(F.log_softmax(scores, 1), nb.tensor([-100, 1], device=device)))

    cpu_loss = loss_of(net, "cpu")
    cpu_loss.backward()
    cpu_grads = [p.grad.numpy().copy() for p in net.parameters()]
    first_weight = net[0].weight
    assert net.cuda() is net and net[0].weight is first_weight
    assert first_weight.is_cuda and first_weight.grad.is_cuda
    net.zero_grad()
    cuda_loss = loss_of(net, "cuda")
    cuda_loss.backward()
    assert np.isclose(cuda_loss.item(), cpu_loss.item(), atol=1e-5)
    for expected, parameter in zip(cpu_grads, net.parameters(), strict=True):
        assert np.allclose(parameter.grad.cpu().numpy(), expected, atol=1e-5)
    copy_on_cpu = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(8, 3))
    copy_on_cpu.load_state_dict(net.state_dict())
    assert np.allclose(copy_on_cpu[5].bias.detach().numpy(), net[5].bias.detach().cpu().numpy())
    net.train()
    nb.manual_seed(1)
    dropped = net[3](nb.ones(4, 6, 1, 1, device="cuda")).cpu().numpy()
    assert set(np.unique(dropped)) <= {0.0, 2.0}
