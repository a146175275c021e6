"""Tensors print as PyTorch prints them (``repr``, ``print``, f-strings, ``set_printoptions``):
stated strings always, and the same cases against ``repr(torch.tensor(...))`` when PyTorch is
installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import numbanet
from numbanet import nn

NAN, INF = float("nan"), float("inf")

# (how to build it from a library module, the string PyTorch 2.13 prints)
STATED = [
    (lambda m: m.tensor([1.0, 2.0, 3.0]), "tensor([1., 2., 3.])"),
    (lambda m: m.tensor([0.1, 2.5, -3.25]), "tensor([ 0.1000,  2.5000, -3.2500])"),
    (lambda m: m.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda m: m.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
    (lambda m: m.tensor([123456.789, 0.5]), "tensor([1.2346e+05, 5.0000e-01])"),
    (lambda m: m.tensor([[1, 2], [3, 400]]), "tensor([[  1,   2],\n        [  3, 400]])"),
    (lambda m: m.tensor(3.5), "tensor(3.5000)"),
    (lambda m: m.tensor(7), "tensor(7)"),
    (lambda m: m.tensor([True, False]), "tensor([ True, False])"),
    (lambda m: m.tensor([NAN, INF, -INF, 1.5]), "tensor([   nan,    inf,   -inf, 1.5000])"),
    (lambda m: m.tensor([NAN, 1.0, 2.0]), "tensor([nan, 1., 2.])"),
    (lambda m: m.tensor([-0.0, 0.0]), "tensor([-0., 0.])"),
    (lambda m: m.zeros(0), "tensor([])"),
    (lambda m: m.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda m: m.tensor([], dtype=m.int64), "tensor([], dtype=torch.int64)"),
    (lambda m: m.ones(3, dtype=m.float64), "tensor([1., 1., 1.], dtype=torch.float64)"),
    (lambda m: m.tensor([1, 2], dtype=m.int32), "tensor([1, 2], dtype=torch.int32)"),
    (lambda m: m.tensor([1.0, 2.0], dtype=m.float16), "tensor([1., 2.], dtype=torch.float16)"),
    (lambda m: m.ones(2, requires_grad=True), "tensor([1., 1.], requires_grad=True)"),
    (lambda m: m.tensor([[[1.5, 2], [3, 4]], [[5, 6], [7, 8]]]),
     "tensor([[[1.5000, 2.0000],\n         [3.0000, 4.0000]],\n\n"
     "        [[5.0000, 6.0000],\n         [7.0000, 8.0000]]])"),
    (lambda m: m.arange(0.0, 3.0, 0.25),  # wraps at 80 columns, under the first element
     "tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, 1.7500, 2.0000,\n"
     "        2.2500, 2.5000, 2.7500])"),
    (lambda m: m.arange(2000).reshape(40, 50),  # summarised: over 1000 elements
     "tensor([[   0,    1,    2,  ...,   47,   48,   49],\n"
     "        [  50,   51,   52,  ...,   97,   98,   99],\n"
     "        [ 100,  101,  102,  ...,  147,  148,  149],\n"
     "        ...,\n"
     "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n"
     "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n"
     "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]])"),
    (lambda m: m.arange(1001.0),
     "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])"),
]


def as_numbanet(text: str) -> str:
    return text.replace("torch.", "numbanet.")


@pytest.mark.parametrize(("make", "expected"), STATED)
def test_stated_strings(make, expected):
    assert repr(make(numbanet)) == as_numbanet(expected)
    assert str(make(numbanet)) == as_numbanet(expected)


@pytest.mark.parametrize(("make", "expected"), STATED)
def test_stated_strings_are_pytorchs(make, expected):
    torch = pytest.importorskip("torch")
    assert repr(make(torch)) == expected


CASES = [
    lambda m: m.tensor([[0.5, -1.25, 1000.0], [3.0, 4.0, 5.0]]),
    lambda m: m.tensor([1e-3, 1e-2, 0.5]),
    lambda m: m.tensor([1e8, 2e8]),
    lambda m: m.tensor([1e-8, 0.0]),
    lambda m: m.tensor([[1e-8, 5.0], [NAN, INF]]),
    lambda m: m.tensor([100000.0, 1.0]),
    lambda m: m.tensor([-1, 0, 12345678901]),
    lambda m: m.tensor([[True], [False]]),
    lambda m: m.tensor(-0.0),
    lambda m: m.tensor(1e-20),
    lambda m: m.tensor(NAN),
    lambda m: m.zeros(2, 0, 3),
    lambda m: m.zeros(0, dtype=m.float64),
    lambda m: m.tensor([[1, 2]], dtype=m.uint8),
    lambda m: m.tensor([0.1, 0.2], dtype=m.float64),
    lambda m: m.arange(30.0).reshape(2, 3, 5) / 3,
    lambda m: m.arange(3000.0).reshape(10, 10, 30) / 7,
    lambda m: m.arange(1200).reshape(2, 600),
    lambda m: m.arange(-50.0, 50.0, 1.0) * 1.5,
    lambda m: m.arange(0.0, 40.0, 1.0).reshape(8, 5).t() * 1e5,
    lambda m: m.ones(2, 3)[:, 1],
]


@pytest.mark.parametrize("make", CASES)
def test_same_as_pytorch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(numbanet)) == as_numbanet(repr(make(torch)))


def test_same_as_pytorch_on_random_values():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape in [(7,), (3, 4), (2, 3, 4), (30, 40), (5, 300)]:
        for scale in (1e-6, 1e-2, 1.0, 1e3, 1e9):
            values = (rng.standard_normal(shape) * scale).astype(np.float32)
            assert repr(numbanet.tensor(values)) == as_numbanet(repr(torch.tensor(values)))


def test_autograd_suffixes():
    w = numbanet.ones(2, 3, requires_grad=True)
    product = w * 2
    text = repr(product)
    assert text.startswith("tensor([[2., 2., 2.],\n        [2., 2., 2.]], grad_fn=<Mul")
    assert text.endswith(">)") and text.count("grad_fn=") == 1
    assert "requires_grad" not in text  # a non-leaf shows its grad_fn only
    with numbanet.no_grad():
        assert repr(w * 2) == "tensor([[2., 2., 2.],\n        [2., 2., 2.]])"
    parameter = nn.Parameter(numbanet.tensor([0.5, -0.5]))
    assert repr(parameter) == "Parameter containing:\ntensor([ 0.5000, -0.5000], " \
                              "requires_grad=True)"


def test_a_suffix_past_the_line_width_goes_on_its_own_line():
    values = numbanet.arange(0.0, 2.25, 0.25, dtype=numbanet.float64)
    assert repr(values) == ("tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, "
                            "1.7500, 2.0000],\n       dtype=numbanet.float64)")


def test_device_suffix(monkeypatch):
    """A CUDA tensor says so (``device='cuda:0'``); checked through the formatter with a
    stand-in tensor, as CI has no GPU."""
    from numbanet import printing

    class OnGPU:
        device = numbanet.device("cuda", 0)
        dtype = numbanet.float32
        grad_fn = None
        requires_grad = False
        shape = (2,)

        def numel(self):
            return 2

        def dim(self):
            return 1

    monkeypatch.setattr("numbanet.creation.host_array",
                        lambda tensor: np.array([1.0, 2.5], dtype=np.float32))
    assert printing.tensor_repr(OnGPU()) == "tensor([1.0000, 2.5000], device='cuda:0')"


def test_f_strings_of_0d_tensors_format_the_number():
    loss = numbanet.tensor(0.123456)
    label = numbanet.tensor(3)
    assert f"{loss:.3f}" == "0.123" and f"{loss:>10.2e}" == "  1.23e-01"
    assert f"Label: {label}" == "Label: 3"
    assert f"{numbanet.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    with pytest.raises(TypeError):
        f"{numbanet.tensor([1.0, 2.0]):.2f}"


def test_f_strings_match_pytorch():
    torch = pytest.importorskip("torch")
    for spec in ("", ".3f", ">8", "e"):
        assert format(numbanet.tensor(2.5), spec) == format(torch.tensor(2.5), spec)
    assert format(numbanet.tensor(4), "03d") == format(torch.tensor(4), "03d")


@pytest.fixture
def default_printoptions():
    yield
    numbanet.set_printoptions(profile="default")


def test_set_printoptions(default_printoptions):
    values = numbanet.tensor([1.0 / 3, 2.0 / 3, 1e-5])
    numbanet.set_printoptions(precision=2)
    assert repr(numbanet.tensor([1.0 / 3, 2.0])) == "tensor([0.33, 2.00])"
    numbanet.set_printoptions(sci_mode=False)
    assert repr(values) == "tensor([0.33, 0.67, 0.00])"  # precision stays 2; no e-notation
    numbanet.set_printoptions(profile="default", sci_mode=True)
    assert repr(numbanet.tensor([1.5])) == "tensor([1.5000e+00])"
    numbanet.set_printoptions(threshold=5, edgeitems=1)
    assert repr(numbanet.arange(10)) == "tensor([0,  ..., 9])"
    numbanet.set_printoptions(profile="full")
    assert "..." not in repr(numbanet.arange(2000))
    numbanet.set_printoptions(linewidth=20, profile="default")
    options = numbanet.get_printoptions()  # the profile first, then the named options
    assert (options["linewidth"], options["precision"]) == (20, 4)
    with pytest.raises(ValueError, match="Invalid profile: wide"):
        numbanet.set_printoptions(profile="wide")


def test_set_printoptions_matches_pytorch(default_printoptions):
    torch = pytest.importorskip("torch")
    calls = [dict(precision=2), dict(sci_mode=True), dict(threshold=10, edgeitems=2),
             dict(linewidth=40), dict(profile="short"), dict(profile="full"),
             dict(edgeitems=0, threshold=5)]
    try:
        for options in calls:
            numbanet.set_printoptions(**options)
            torch.set_printoptions(**options)
            for make in (lambda m: m.arange(50.0).reshape(5, 10) / 3,
                         lambda m: m.tensor([1e-5, 0.5, math.pi])):
                assert repr(make(numbanet)) == as_numbanet(repr(make(torch))), options
    finally:
        torch.set_printoptions(profile="default")
