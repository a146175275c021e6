"""numbanet.ao.quantization's API without PyTorch: quantized tensors, modules, the
workflow, checkpoints and what a trace records (``test_quant_torch.py`` compares the
numbers with PyTorch's)."""

import numpy as np
import pytest

import numbanet
import numbanet.nn as nn
from numbanet.ao import quantization as nq
from numbanet.ao.nn import quantized as nnq


def test_quantize_per_tensor_levels_and_parameters():
    q = numbanet.quantize_per_tensor(numbanet.tensor([-1.0, 0.0, 1.0, 2.0, 30.0]), 0.1, 10,
                                     numbanet.quint8)
    assert q.dtype is numbanet.quint8 and q.is_quantized
    assert q.int_repr().tolist() == [0, 10, 20, 30, 255]  # -1.0 -> 0, 30.0 clamps at 255
    assert q.int_repr().dtype == numbanet.uint8
    assert q.q_scale() == 0.1 and q.q_zero_point() == 10
    assert q.qscheme() is numbanet.per_tensor_affine
    np.testing.assert_allclose(q.dequantize().numpy(), [-1.0, 0.0, 1.0, 2.0, 24.5], rtol=1e-6)
    assert numbanet.dequantize(q).dtype == numbanet.float32


def test_printing():
    q = numbanet.quantize_per_tensor(numbanet.tensor([-1.0, 0.0]), 0.5, 2, numbanet.quint8)
    assert repr(q) == ("tensor([-1.,  0.], size=(2,), dtype=numbanet.quint8,\n"
                       "       quantization_scheme=numbanet.per_tensor_affine, scale=0.5, "
                       "zero_point=2)")


def test_per_channel_parameters():
    weight = numbanet.tensor([[0.1, -0.2], [3.0, 1.5]])
    scales = numbanet.tensor([0.01, 0.1], dtype=numbanet.float64)
    q = numbanet.quantize_per_channel(weight, scales, numbanet.tensor([0, 0]), 0,
                                      numbanet.qint8)
    assert q.int_repr().tolist() == [[10, -20], [30, 15]]
    assert q.q_per_channel_scales().tolist() == [0.01, 0.1]
    assert q.q_per_channel_axis() == 0
    with pytest.raises(RuntimeError, match="q_scale: expected per-tensor"):
        q.q_scale()


def test_maths_on_levels_is_refused_with_a_hint():
    q = numbanet.quantize_per_tensor(numbanet.ones(3), 0.1, 0, numbanet.qint8)
    with pytest.raises(NotImplementedError, match="'add'.*QuantizedCPU.*dequantize"):
        q + 1
    with pytest.raises(NotImplementedError, match="'exp'.*dequantize"):
        q.exp()
    with pytest.raises(TypeError, match="int_repr"):
        q.numpy()


def test_errors_name_the_op():
    with pytest.raises(RuntimeError, match="quantize_per_tensor.*Float Tensor"):
        numbanet.quantize_per_tensor(numbanet.tensor([1, 2]), 0.1, 0, numbanet.quint8)
    with pytest.raises(RuntimeError, match="zero_point 300 is out of range"):
        numbanet.quantize_per_tensor(numbanet.ones(2), 0.1, 300, numbanet.quint8)
    with pytest.raises(RuntimeError, match="dtype must be"):
        numbanet.quantize_per_tensor(numbanet.ones(2), 0.1, 0, numbanet.float32)


def test_relu_pool_and_flatten_work_on_levels():
    x = numbanet.tensor([[[[-1.0, 0.5], [2.0, -3.0]]]])
    q = numbanet.quantize_per_tensor(x, 0.1, 50, numbanet.quint8)
    relu = nn.functional.relu(q)
    assert relu.int_repr().flatten().tolist() == [50, 55, 70, 50]  # the zero point is 0.0
    pooled = nn.functional.max_pool2d(q, 2)
    assert pooled.is_quantized and pooled.dequantize().item() == pytest.approx(2.0)
    assert numbanet.flatten(q, 1).shape == (1, 4) and numbanet.flatten(q, 1).q_zero_point() == 50


def test_observer_formulas():
    observer = nq.MinMaxObserver()
    observer(numbanet.tensor([-1.0, 3.0]))
    scale, zero_point = observer.calculate_qparams()
    assert scale.item() == pytest.approx(4.0 / 255) and zero_point.item() == 64
    symmetric = nq.MinMaxObserver(dtype=numbanet.qint8, qscheme=numbanet.per_tensor_symmetric)
    symmetric(numbanet.tensor([-1.0, 3.0]))
    scale, zero_point = symmetric.calculate_qparams()
    assert scale.item() == pytest.approx(3.0 / 127.5) and zero_point.item() == 0
    reduced = nq.MinMaxObserver(reduce_range=True)
    assert (reduced.quant_min, reduced.quant_max) == (0, 127)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = nq.QuantStub()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(3 * 3 * 3, 4)
        self.dequant = nq.DeQuantStub()

    def forward(self, x):
        x = nn.functional.max_pool2d(self.relu(self.conv(self.quant(x))), 2)
        return self.dequant(self.fc(numbanet.flatten(x, 1)))


def _quantized_small_net(qconfig):
    numbanet.manual_seed(0)
    model = SmallNet().eval()
    model.qconfig = qconfig
    prepared = nq.prepare(nq.fuse_modules(model, [["conv", "relu"]]))
    assert isinstance(prepared.conv, numbanet.ao.nn.intrinsic.ConvReLU2d)
    assert isinstance(prepared.conv.activation_post_process, nq.ObserverBase)
    prepared(numbanet.randn(16, 1, 6, 6))
    return model, nq.convert(prepared)


@pytest.mark.parametrize("qconfig", [nq.default_qconfig, nq.get_default_qconfig("x86")])
def test_static_workflow_swaps_modules_and_stays_close(qconfig):
    model, quantized = _quantized_small_net(qconfig)
    assert isinstance(quantized.quant, nnq.Quantize)
    assert type(quantized.conv).__name__ == "ConvReLU2d" and isinstance(quantized.fc, nnq.Linear)
    assert isinstance(quantized.relu, nn.Identity)
    x = numbanet.randn(5, 1, 6, 6)
    with numbanet.no_grad():
        difference = (quantized(x) - model(x)).abs().max().item()
    assert difference < 0.1
    assert "QuantizedConvReLU2d(1, 3, kernel_size=(3, 3)" in repr(quantized)


def test_quantized_layer_refuses_float_input():
    _, quantized = _quantized_small_net(nq.default_qconfig)
    with pytest.raises(RuntimeError, match="QuantizedLinear: expects a quantized input.*"
                                           "QuantStub"):
        quantized.fc(numbanet.randn(2, 27))


def test_quantize_dynamic_swaps_linears_only():
    numbanet.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    quantized = nq.quantize_dynamic(model, {nn.Linear}, dtype=numbanet.qint8)
    assert type(quantized[0]).__name__ == "Linear" and quantized[0]._get_name() == (
        "DynamicQuantizedLinear")
    assert isinstance(model[0], nn.Linear)  # not in place
    x = numbanet.randn(4, 8)
    with numbanet.no_grad():
        assert (quantized(x) - model(x)).abs().max().item() < 0.05


def test_fuse_conv_batchnorm_relu_folds_the_batchnorm():
    numbanet.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    model.train()
    model(numbanet.randn(8, 2, 5, 5))  # running statistics away from 0 and 1
    model.eval()
    fused = nq.fuse_modules(model, ["0", "1", "2"])
    assert isinstance(fused[0], numbanet.ao.nn.intrinsic.ConvReLU2d)
    x = numbanet.randn(2, 2, 5, 5)
    with numbanet.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), atol=1e-5)


def test_quantized_state_dict_round_trips_through_a_checkpoint(tmp_path):
    _, quantized = _quantized_small_net(nq.get_default_qconfig("x86"))
    path = tmp_path / "quantized.pt"
    numbanet.save(quantized.state_dict(), path)
    loaded = numbanet.load(path)
    assert loaded["fc.weight"].qscheme() is numbanet.per_channel_affine
    _, fresh = _quantized_small_net(nq.default_qconfig)  # other qparams, per tensor
    fresh.load_state_dict(loaded)
    x = numbanet.randn(3, 1, 6, 6)
    np.testing.assert_array_equal(fresh(x).numpy(), quantized(x).numpy())
    assert fresh.fc.weight().qscheme() is numbanet.per_channel_affine


def test_a_trace_shows_quantize_accumulate_requantize_with_integers():
    _, quantized = _quantized_small_net(nq.default_qconfig)
    with numbanet.trace.record() as trace:
        quantized(numbanet.randn(2, 1, 6, 6))
    ops = [event.op for event in trace.events]
    assert ops.index("Quantize") < ops.index("Int8Conv2dAccumulate") < ops.index("Requantize")
    assert "Int8LinearAccumulate" in ops and ops[-1] == "Dequantize"
    quantize = trace.events[ops.index("Quantize")]
    assert quantize.attributes["scale"] > 0 and quantize.attributes["dtype"] == "quint8"
    assert quantize.outputs[0].dtype == "uint8"  # the levels
    accumulate = trace.events[ops.index("Int8LinearAccumulate")]
    assert accumulate.outputs[0].dtype == "int32" and accumulate.inputs[0].dtype == "quint8"
    assert accumulate.inputs[0].producer_node_id is not None  # linked to the pooling
    assert all(float(v).is_integer() for v in accumulate.outputs[0].values[0])
    requantize = trace.events[len(ops) - 1 - ops[::-1].index("Requantize")]
    assert {"input_scale", "output_scale", "zero_point"} <= set(requantize.attributes)
    assert "round" in requantize.formula
