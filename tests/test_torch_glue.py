"""The PyTorch glue names tutorial scripts touch before any maths: ``torch.backends.mps``,
``torch.backends.cudnn``, ``torch.accelerator``, the default dtype and device,
``inference_mode``."""

from __future__ import annotations

import pytest

import numbanet
from numbanet import nn


@pytest.fixture
def restore_defaults():
    yield
    numbanet.set_default_dtype(numbanet.float32)
    numbanet.set_default_device(None)


def test_backends_answer_as_on_a_machine_without_mps_or_cudnn():
    assert numbanet.backends.mps.is_available() is False
    assert numbanet.backends.mps.is_built() is False
    cudnn = numbanet.backends.cudnn
    assert cudnn.is_available() is False and cudnn.version() is None
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (True, False, False)


def test_the_quickstart_device_choice_falls_through_to_cpu_or_cuda():
    device = ("cuda" if numbanet.cuda.is_available()
              else "mps" if numbanet.backends.mps.is_available() else "cpu")
    assert device == ("cuda" if numbanet.cuda.is_available() else "cpu")


def test_accelerator_without_a_gpu_answers_as_pytorchs_cpu_build(monkeypatch):
    monkeypatch.setattr(numbanet.cuda, "is_available", lambda: False)
    assert numbanet.accelerator.is_available() is False
    assert numbanet.accelerator.current_accelerator() is None
    assert numbanet.accelerator.device_count() == 0
    assert numbanet.accelerator.current_device_index() == -1


def test_accelerator_with_a_gpu_is_cuda(monkeypatch):
    monkeypatch.setattr(numbanet.cuda, "is_available", lambda: True)
    monkeypatch.setattr(numbanet.cuda, "device_count", lambda: 1)
    assert numbanet.accelerator.is_available() is True
    current = numbanet.accelerator.current_accelerator()
    assert current == numbanet.device("cuda") and current.type == "cuda"
    assert numbanet.accelerator.device_count() == 1


def test_accelerator_matches_pytorch_on_this_machine():
    torch = pytest.importorskip("torch")
    if numbanet.cuda.is_available() != torch.cuda.is_available():
        pytest.skip("numba and PyTorch see different GPUs here")
    assert numbanet.accelerator.is_available() == torch.accelerator.is_available()
    ours, theirs = (numbanet.accelerator.current_accelerator(),
                    torch.accelerator.current_accelerator())
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert ours.type == theirs.type


def test_default_dtype_is_honoured_by_creation_and_layers(restore_defaults):
    assert numbanet.get_default_dtype() == numbanet.float32
    numbanet.set_default_dtype(numbanet.float64)
    assert numbanet.get_default_dtype() == numbanet.float64
    assert numbanet.tensor([1.5, 2.0]).dtype == numbanet.float64
    assert numbanet.zeros(2).dtype == numbanet.float64
    assert numbanet.randn(2, 2).dtype == numbanet.float64
    assert numbanet.arange(0.0, 1.0, 0.5).dtype == numbanet.float64
    assert numbanet.linspace(0, 1, 3).dtype == numbanet.float64
    assert nn.Linear(3, 2).weight.dtype == numbanet.float64
    # integers and bools keep their own dtypes; a Python float promotes to the default
    assert numbanet.tensor([1, 2]).dtype == numbanet.int64
    assert numbanet.arange(3).dtype == numbanet.int64
    assert (numbanet.tensor([1, 2]) * 1.5).dtype == numbanet.float64
    numbanet.set_default_dtype(numbanet.float32)
    assert numbanet.tensor([1.5]).dtype == numbanet.float32


def test_default_dtype_must_be_floating_point():
    with pytest.raises(TypeError, match="only floating-point types are supported as the "
                                        "default type"):
        numbanet.set_default_dtype(numbanet.int64)


def test_default_dtype_matches_pytorch(restore_defaults):
    torch = pytest.importorskip("torch")
    try:
        for dtype in ("float64", "float32"):
            numbanet.set_default_dtype(getattr(numbanet, dtype))
            torch.set_default_dtype(getattr(torch, dtype))
            for make in (lambda m: m.tensor([1.0]), lambda m: m.ones(2),
                         lambda m: m.tensor([1, 2]) / 2, lambda m: m.arange(0, 1, 0.25)):
                ours, theirs = make(numbanet).dtype, make(torch).dtype
                assert str(ours).split(".")[1] == str(theirs).split(".")[1]
    finally:
        torch.set_default_dtype(torch.float32)


def test_default_device(restore_defaults):
    assert numbanet.get_default_device() == numbanet.device("cpu")
    numbanet.set_default_device("cpu")
    assert numbanet.zeros(2).device == numbanet.device("cpu")
    numbanet.set_default_device(None)
    assert numbanet.get_default_device() == numbanet.device("cpu")


def test_default_device_cuda_without_a_gpu_says_why(restore_defaults, monkeypatch):
    monkeypatch.setattr(numbanet.cuda, "is_available", lambda: False)
    with pytest.raises((RuntimeError, AssertionError), match="(?i)cuda"):
        numbanet.set_default_device("cuda")
    assert numbanet.get_default_device() == numbanet.device("cpu")


def test_inference_mode_as_context_manager_and_decorator():
    w = numbanet.ones(2, requires_grad=True)
    with numbanet.inference_mode():
        assert numbanet.is_inference_mode_enabled()
        assert not numbanet.is_grad_enabled()
        y = w * 2
    assert not y.requires_grad and y.grad_fn is None
    assert numbanet.is_grad_enabled() and not numbanet.is_inference_mode_enabled()

    @numbanet.inference_mode()
    def evaluate(tensor):
        return tensor * 3

    assert not evaluate(w).requires_grad
    with numbanet.inference_mode(False):  # switched off: the graph is built
        assert (w * 2).requires_grad
    with numbanet.no_grad(), numbanet.inference_mode(False):  # ... and no_grad still holds
        assert not (w * 2).requires_grad


def test_inference_mode_matches_pytorch():
    torch = pytest.importorskip("torch")
    for library in (numbanet, torch):
        w = library.ones(2, requires_grad=True)
        with library.inference_mode():
            inside = w * 2
        with library.inference_mode(mode=False):
            outside = w * 2
        assert (inside.requires_grad, outside.requires_grad) == (False, True)
