"""Anomaly detection: the first op that produced a NaN/Inf, in the forward and the backward
pass, named with its module and the user's line (numbanet.autograd.anomaly)."""

import warnings

import pytest

import numbanet as torch
import numbanet.nn as nn


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # detect_anomaly's "will increase the runtime"
        yield


def message_of(run) -> str:
    with pytest.raises(RuntimeError) as caught:
        run()
    return str(caught.value)


def test_the_inner_sqrt_of_sqrt_sqrt_x_minus_2_is_named():
    x = torch.tensor([1.0, 3.0])

    def run():
        with torch.autograd.detect_anomaly():
            torch.sqrt(torch.sqrt(x - 2))  # the line the error must name

    text = message_of(run)
    first = text.splitlines()[0]
    assert first.startswith("Function 'Sqrt' produced nan values in its 0th output")
    assert "(1 of 2 elements)" in first
    assert "test_anomaly.py" in text and "torch.sqrt(torch.sqrt(x - 2))" in text
    assert "at output[0] = nan from input 0 = -1" in text  # sqrt(1 - 2): the inner one
    assert "received" not in first  # produced here, not carried in


def test_log_of_minus_x_names_log_and_both_elements():
    x = torch.tensor([1.0, 3.0])

    def run():
        with torch.autograd.detect_anomaly():
            torch.log(-x)

    text = message_of(run)
    assert text.startswith("Function 'Log' produced nan values")
    assert "torch.log(-x)" in text
    assert "output[0] = nan from input 0 = -1" in text
    assert "output[1] = nan from input 0 = -3" in text


def test_a_forward_nan_names_the_module_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.head = nn.Sequential(nn.Linear(2, 2))

        def forward(self, x):
            return self.head(self.fc(x)).log()

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.fc.bias.fill_(-100.0)  # every log input negative

    def run():
        with torch.autograd.detect_anomaly():
            net(torch.ones(1, 2))

    text = message_of(run)
    assert "Function 'Log'" in text and "module: Net\n" in text
    assert "return self.head(self.fc(x)).log()" in text


def test_a_backward_nan_names_the_backward_node_and_its_forward_line():
    w = torch.tensor([0.0, 1.0], requires_grad=True)

    def run():
        with torch.autograd.detect_anomaly():
            out = (torch.sqrt(w) * 0).sum()  # sqrt'(0) = inf, times 0: nan in backward
            out.backward()

    text = message_of(run)
    lines = text.splitlines()
    assert lines[0].startswith("Function 'Sqrt") and "returned nan values in its 0th " \
        "output" in lines[0]
    assert "Backward" in lines[0].split("'")[1]
    assert "out = (torch.sqrt(w) * 0).sum()" in text
    assert "this backward rule produced it" in text
    assert "gradient[0] = nan" in text


def test_set_detect_anomaly_is_a_switch_and_a_context_manager():
    assert not torch.autograd.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(True)
    try:
        assert torch.autograd.is_anomaly_enabled()
        assert torch.autograd.is_anomaly_check_nan_enabled()
        with torch.autograd.set_detect_anomaly(False):
            assert not torch.autograd.is_anomaly_enabled()
            torch.log(-torch.ones(2))  # off: no error
        assert torch.autograd.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(False)
    assert not torch.autograd.is_anomaly_enabled()


def test_without_anomaly_mode_nothing_is_checked_and_finite_code_passes_with_it():
    assert all(value != value for value in torch.log(-torch.ones(2)).tolist())  # NaN
    x = torch.tensor([4.0, 9.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        torch.sqrt(x).sum().backward()
    assert x.grad.tolist() == [0.25, pytest.approx(1 / 6)]


def test_detect_anomaly_decorates_a_function_and_warns_as_pytorch():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        decorator = torch.autograd.detect_anomaly()

    @decorator
    def step(x):
        return torch.log(x)

    with pytest.raises(RuntimeError, match="Function 'Log' produced nan"):
        step(-torch.ones(1))
    assert not torch.autograd.is_anomaly_enabled()


def test_compare_with_pytorch_backward_message():
    torch_ = pytest.importorskip("torch")
    w = torch_.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as theirs, torch_.autograd.detect_anomaly():
        (torch_.sqrt(w) * 0).sum().backward()
    ours_w = torch.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as ours, torch.autograd.detect_anomaly():
        (torch.sqrt(ours_w) * 0).sum().backward()
    # PyTorch: "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert str(theirs.value).startswith("Function 'SqrtBackward")
    assert str(ours.value).split("'")[1].startswith("SqrtBackward")
    assert "returned nan values in its 0th output." in str(theirs.value)
    assert "returned nan values in its 0th output." in str(ours.value).splitlines()[0]
