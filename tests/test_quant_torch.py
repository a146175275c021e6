"""numbanet's quantization against PyTorch's (fbgemm/x86 engine on this CPU), for the same
inputs, scales and zero points: the same levels, the same qparams, quantized layers'
outputs within one quantization step. Skipped without torch."""

import numpy as np
import pytest

import numbanet
import numbanet.nn as nn
from numbanet.ao import quantization as nq
from numbanet.ao.nn import quantized as nnq

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch,  # torch 2.13 warns that torch.ao.quantization is deprecated
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
RNG = np.random.default_rng(0)


def _both(array):
    return numbanet.tensor(array), torch.tensor(array)


@pytest.mark.parametrize(("dtype", "zero_point"), [("quint8", 7), ("qint8", -3),
                                                    ("qint32", 11)])
def test_quantize_per_tensor_gives_torchs_levels(dtype, zero_point):
    ours, theirs = _both(RNG.normal(0, 2, (6, 33)).astype(np.float32))
    q = numbanet.quantize_per_tensor(ours, 0.037, zero_point, getattr(numbanet, dtype))
    expected = torch.quantize_per_tensor(theirs, 0.037, zero_point, getattr(torch, dtype))
    np.testing.assert_array_equal(q.int_repr().numpy(), expected.int_repr().numpy())
    np.testing.assert_array_equal(q.dequantize().numpy(), expected.dequantize().numpy())
    assert q.q_scale() == expected.q_scale() and q.q_zero_point() == expected.q_zero_point()


def test_quantize_per_channel_gives_torchs_levels():
    ours, theirs = _both(RNG.normal(0, 1, (4, 3, 5)).astype(np.float32))
    scales = np.array([0.01, 0.02, 0.05], np.float64)
    zero_points = np.array([0, 3, -2], np.int64)
    q = numbanet.quantize_per_channel(ours, numbanet.tensor(scales),
                                      numbanet.tensor(zero_points), 1, numbanet.qint8)
    expected = torch.quantize_per_channel(theirs, torch.tensor(scales),
                                          torch.tensor(zero_points), 1, torch.qint8)
    np.testing.assert_array_equal(q.int_repr().numpy(), expected.int_repr().numpy())
    np.testing.assert_array_equal(q.q_per_channel_scales().numpy(),
                                  expected.q_per_channel_scales().numpy())
    assert q.q_per_channel_axis() == 1


def test_printing_follows_torch():
    q = numbanet.quantize_per_tensor(numbanet.tensor([-1.0, 0.0, 1.0, 2.0]), 0.1, 10,
                                     numbanet.quint8)
    expected = torch.quantize_per_tensor(torch.tensor([-1.0, 0.0, 1.0, 2.0]), 0.1, 10,
                                         torch.quint8)
    assert repr(q).replace("numbanet.", "torch.") == repr(expected)


OBSERVERS = [
    ("MinMaxObserver", {}),
    ("MinMaxObserver", {"reduce_range": True}),
    ("MinMaxObserver", {"dtype": "qint8", "qscheme": "per_tensor_symmetric"}),
    ("MinMaxObserver", {"quant_min": 0, "quant_max": 127}),
    ("PerChannelMinMaxObserver", {"dtype": "qint8", "qscheme": "per_channel_symmetric"}),
    ("PerChannelMinMaxObserver", {"ch_axis": 1}),
    ("HistogramObserver", {"reduce_range": True}),
    ("HistogramObserver", {"bins": 256}),
]


def _arguments(library, kwargs):
    return {key: getattr(library, value) if key in ("dtype", "qscheme") else value
            for key, value in kwargs.items()}


@pytest.mark.parametrize(("name", "kwargs"), OBSERVERS)
def test_observers_choose_torchs_qparams(name, kwargs):
    ours = getattr(nq, name)(**_arguments(numbanet, kwargs))
    theirs = getattr(torch.ao.quantization, name)(**_arguments(torch, kwargs))
    data = RNG.normal(0.3, 1.5, (8, 6, 5)).astype(np.float32)
    data[0, 0, 0] = 9.0  # an outlier the histogram observer should clip
    ours(numbanet.tensor(data))
    theirs(torch.tensor(data))
    scale, zero_point = ours.calculate_qparams()
    expected_scale, expected_zero_point = theirs.calculate_qparams()
    np.testing.assert_allclose(scale.numpy(), expected_scale.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(zero_point.numpy(), expected_zero_point.numpy())


def test_histogram_observer_over_several_batches_is_close_to_torchs():
    ours, theirs = nq.HistogramObserver(), torch.ao.quantization.HistogramObserver()
    for spread in (1.0, 2.0, 0.5):
        data = RNG.normal(0, spread, (64, 32)).astype(np.float32)
        ours(numbanet.tensor(data))
        theirs(torch.tensor(data))
    scale, _ = ours.calculate_qparams()
    expected, _ = theirs.calculate_qparams()
    np.testing.assert_allclose(scale.numpy(), expected.numpy(), rtol=0.05)


def _quantized_weight(library, weight, per_channel):
    if per_channel:
        scales = np.abs(weight).reshape(weight.shape[0], -1).max(axis=1) / 127.5
        return library.quantize_per_channel(library.tensor(weight),
                                            library.tensor(scales.astype(np.float64)),
                                            library.zeros(len(scales), dtype=library.int64), 0,
                                            library.qint8)
    return library.quantize_per_tensor(library.tensor(weight), float(np.abs(weight).max()
                                                                       / 127.5), 0,
                                       library.qint8)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_quantized_linear_within_one_step_of_torchs(per_channel, relu):
    weight = RNG.normal(0, 0.2, (24, 40)).astype(np.float32)
    bias = RNG.normal(0, 0.5, 24).astype(np.float32)
    x = RNG.normal(0, 1, (9, 40)).astype(np.float32)
    out_scale, out_zero_point = 0.043, 61
    layer = (nnq.Linear if not relu else numbanet.ao.nn.intrinsic.quantized.LinearReLU)(40, 24)
    layer.set_weight_bias(_quantized_weight(numbanet, weight, per_channel),
                          numbanet.tensor(bias))
    layer.scale, layer.zero_point = out_scale, out_zero_point
    reference = (torch.ao.nn.quantized.Linear if not relu
                 else torch.ao.nn.intrinsic.quantized.LinearReLU)(40, 24)
    reference.set_weight_bias(_quantized_weight(torch, weight, per_channel), torch.tensor(bias))
    reference.scale, reference.zero_point = out_scale, out_zero_point
    ours = layer(numbanet.quantize_per_tensor(numbanet.tensor(x), 0.02, 64, numbanet.quint8))
    theirs = reference(torch.quantize_per_tensor(torch.tensor(x), 0.02, 64, torch.quint8))
    difference = np.abs(ours.int_repr().numpy().astype(int) - theirs.int_repr().numpy())
    assert difference.max() <= 1
    np.testing.assert_allclose(ours.dequantize().numpy(), theirs.dequantize().numpy(),
                               atol=out_scale * 1.0001)


@pytest.mark.parametrize(("stride", "padding", "per_channel"), [(1, 0, True), (2, 1, False)])
def test_quantized_conv2d_within_one_step_of_torchs(stride, padding, per_channel):
    weight = RNG.normal(0, 0.3, (5, 3, 3, 3)).astype(np.float32)
    bias = RNG.normal(0, 0.2, 5).astype(np.float32)
    x = RNG.normal(0, 1, (2, 3, 9, 8)).astype(np.float32)
    layer = nnq.Conv2d(3, 5, 3, stride=stride, padding=padding)
    layer.set_weight_bias(_quantized_weight(numbanet, weight, per_channel),
                          numbanet.tensor(bias))
    layer.scale, layer.zero_point = 0.05, 70
    reference = torch.ao.nn.quantized.Conv2d(3, 5, 3, stride=stride, padding=padding)
    reference.set_weight_bias(_quantized_weight(torch, weight, per_channel), torch.tensor(bias))
    reference.scale, reference.zero_point = 0.05, 70
    ours = layer(numbanet.quantize_per_tensor(numbanet.tensor(x), 0.03, 60, numbanet.quint8))
    theirs = reference(torch.quantize_per_tensor(torch.tensor(x), 0.03, 60, torch.quint8))
    difference = np.abs(ours.int_repr().numpy().astype(int) - theirs.int_repr().numpy())
    assert difference.max() <= 1


def test_quantize_dynamic_linear_matches_torchs():
    weight = RNG.normal(0, 0.2, (16, 30)).astype(np.float32)
    bias = RNG.normal(0, 0.1, 16).astype(np.float32)
    ours_float, theirs_float = nn.Linear(30, 16), torch.nn.Linear(30, 16)
    with numbanet.no_grad(), torch.no_grad():
        ours_float.weight.copy_(numbanet.tensor(weight))
        ours_float.bias.copy_(numbanet.tensor(bias))
        theirs_float.weight.copy_(torch.tensor(weight))
        theirs_float.bias.copy_(torch.tensor(bias))
    ours = nq.quantize_dynamic(nn.Sequential(ours_float), {nn.Linear}, dtype=numbanet.qint8)
    theirs = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(theirs_float),
                                                    {torch.nn.Linear}, dtype=torch.qint8)
    assert ours[0].weight().q_scale() == pytest.approx(theirs[0].weight().q_scale(), rel=1e-7)
    np.testing.assert_array_equal(ours[0].weight().int_repr().numpy(),
                                  theirs[0].weight().int_repr().numpy())
    x = RNG.normal(0, 1, (7, 30)).astype(np.float32)
    with numbanet.no_grad(), torch.no_grad():
        got, expected = ours(numbanet.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


class _Ours(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = nq.QuantStub()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 4 * 4, 6)
        self.dequant = nq.DeQuantStub()

    def forward(self, x):
        x = nn.functional.max_pool2d(self.relu(self.conv(self.quant(x))), 2)
        return self.dequant(self.fc(numbanet.flatten(x, 1)))


class _Theirs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.fc = torch.nn.Linear(4 * 4 * 4, 6)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(self.relu(self.conv(self.quant(x))), 2)
        return self.dequant(self.fc(torch.flatten(x, 1)))


def test_static_workflow_matches_torchs():
    """Fuse, prepare with the x86 default qconfig, calibrate on one batch, convert: the
    same qparams and outputs within a step of PyTorch's."""
    ours, theirs = _Ours().eval(), _Theirs().eval()
    with torch.no_grad():
        for name, value in ours.state_dict().items():
            theirs.state_dict()[name].copy_(torch.tensor(value.numpy()))
    calibration = RNG.normal(0, 1, (16, 2, 8, 8)).astype(np.float32)
    results = []
    for library, model, quantization in ((numbanet, ours, nq),
                                         (torch, theirs, torch.ao.quantization)):
        model.qconfig = quantization.get_default_qconfig("x86")
        fused = quantization.fuse_modules(model, [["conv", "relu"]])
        prepared = quantization.prepare(fused)
        prepared(library.tensor(calibration))
        results.append(quantization.convert(prepared))
    converted, expected = results
    assert float(converted.quant.scale.item()) == pytest.approx(float(expected.quant.scale),
                                                                rel=1e-6)
    for name in ("conv", "fc"):
        assert float(getattr(converted, name).scale) == pytest.approx(
            getattr(expected, name).scale, rel=1e-6)
        assert int(getattr(converted, name).zero_point) == getattr(expected, name).zero_point
    x = RNG.normal(0, 1, (3, 2, 8, 8)).astype(np.float32)
    got = converted(numbanet.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected(torch.tensor(x)).numpy(),
                               atol=float(converted.fc.scale) * 1.0001)
