"""BatchNorm1d/2d, LayerNorm, Embedding, GELU (and erf), ModuleDict, ParameterList and
gradient clipping: stated values always, and values, gradients, buffers and state dicts
against PyTorch (weights copied across) where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import numbanet
import numbanet.nn.functional as F
from numbanet import nn
from numbanet.ops.special import Erf


def as_numpy(tensor) -> np.ndarray:
    return tensor.detach().numpy()


def copy_into_torch(ours, theirs, torch):
    """Copy our module's parameters and buffers into the same-shaped torch module."""
    state = {key: torch.tensor(as_numpy(value)) for key, value in ours.state_dict().items()}
    theirs.load_state_dict(state)


def assert_close(ours, theirs, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(as_numpy(ours), theirs.detach().numpy(), rtol=rtol, atol=atol)


# ---- erf and GELU ------------------------------------------------------------------------


def test_erf_values_and_gradient():
    points = [-3.0, -1.0, -0.25, 0.0, 0.5, 2.0]
    x = numbanet.tensor(points, dtype=numbanet.float64, requires_grad=True)
    y = Erf.apply(x)
    np.testing.assert_allclose(as_numpy(y), [math.erf(p) for p in points], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(as_numpy(x.grad),
                               [2 / math.sqrt(math.pi) * math.exp(-p * p) for p in points],
                               rtol=1e-14)


def test_gelu_stated_values():
    x = numbanet.tensor([-1.0, 0.0, 1.0])
    # x * Phi(x): Phi(1) = 0.8413447
    np.testing.assert_allclose(as_numpy(F.gelu(x)), [-0.1586553, 0.0, 0.8413447], atol=1e-6)
    np.testing.assert_allclose(as_numpy(F.gelu(x, approximate="tanh")),
                               [-0.1588080, 0.0, 0.8411920], atol=1e-6)
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(x, approximate="fast")


def test_gelu_is_one_node():
    x = numbanet.tensor([0.5], requires_grad=True)
    node = nn.GELU()(x).grad_fn
    assert "GeluBackward0" in repr(node)
    ((leaf, _),) = [edge for edge in node.next_functions if edge[0] is not None]
    assert leaf.variable is x  # straight to x's AccumulateGrad: one node, not a chain


@pytest.mark.torch
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    torch = pytest.importorskip("torch")
    values = np.linspace(-5, 5, 41, dtype=np.float32).reshape(41, 1) * np.ones(
        (1, 3), np.float32)
    x = numbanet.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    y = nn.GELU(approximate)(x)
    ty = torch.nn.GELU(approximate)(tx)
    assert_close(y, ty)
    upstream = np.random.default_rng(0).standard_normal(values.shape).astype(np.float32)
    (y * numbanet.tensor(upstream)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    assert_close(x.grad, tx.grad)


# ---- batch norm --------------------------------------------------------------------------


def test_batch_norm_stated_values_and_running_stats():
    bn = nn.BatchNorm1d(1)
    y = bn(numbanet.tensor([[1.0], [3.0]]))
    # mean 2, biased var 1: (x - 2) / sqrt(1 + 1e-5)
    np.testing.assert_allclose(as_numpy(y), [[-1 / math.sqrt(1 + 1e-5)],
                                             [1 / math.sqrt(1 + 1e-5)]], rtol=1e-6)
    # running: 0.9 * 0 + 0.1 * 2; 0.9 * 1 + 0.1 * 2 (unbiased var of [1, 3] is 2)
    np.testing.assert_allclose(as_numpy(bn.running_mean), [0.2], rtol=1e-6)
    np.testing.assert_allclose(as_numpy(bn.running_var), [1.1], rtol=1e-6)
    assert bn.num_batches_tracked.item() == 1
    assert bn.num_batches_tracked.dtype == numbanet.int64
    bn.eval()
    out = bn(numbanet.tensor([[0.2]]))
    np.testing.assert_allclose(as_numpy(out), [[0.0]], atol=1e-6)  # (0.2 - 0.2) / ...
    out = bn(numbanet.tensor([[0.2 + math.sqrt(1.1 + 1e-5)]]))
    np.testing.assert_allclose(as_numpy(out), [[1.0]], rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1  # eval does not count


def test_batch_norm_layout_and_errors():
    bn = nn.BatchNorm2d(3)
    assert repr(bn) == ("BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        bn(numbanet.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(numbanet.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when "
                                         "training"):
        nn.BatchNorm1d(3)(numbanet.randn(1, 3))
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == []
    assert plain.running_mean is None and plain.weight is None
    plain.eval()  # no running stats: eval still normalizes with the batch's own
    y = plain(numbanet.randn(8, 4) * 3 + 5)
    np.testing.assert_allclose(as_numpy(y.mean(0)), np.zeros(4), atol=1e-5)


def test_batch_norm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(1, momentum=None)
    for batch in ([[0.0], [2.0]], [[4.0], [6.0]]):
        bn(numbanet.tensor(batch))
    np.testing.assert_allclose(as_numpy(bn.running_mean), [3.0], rtol=1e-6)  # (1 + 5) / 2
    np.testing.assert_allclose(as_numpy(bn.running_var), [2.0], rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize(("layer", "shape", "kwargs"), [
    ("BatchNorm1d", (6, 4), {}),
    ("BatchNorm1d", (5, 4, 3), {"momentum": 0.3}),
    ("BatchNorm2d", (3, 4, 5, 5), {}),
    ("BatchNorm2d", (3, 4, 2, 2), {"affine": False, "eps": 1e-3}),
    ("BatchNorm2d", (3, 4, 2, 2), {"track_running_stats": False}),
    ("BatchNorm1d", (6, 4), {"momentum": None}),
    ("BatchNorm1d", (6, 4), {"bias": False}),
])
def test_batch_norm_matches_torch_in_train_and_eval(layer, shape, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    ours = getattr(nn, layer)(4, **kwargs)
    theirs = getattr(torch.nn, layer)(4, **kwargs)
    if ours.weight is not None:
        with numbanet.no_grad():
            ours.weight.copy_(numbanet.tensor(rng.uniform(0.5, 2, 4).astype(np.float32)))
            if ours.bias is not None:
                ours.bias.copy_(numbanet.tensor(rng.standard_normal(4).astype(np.float32)))
    copy_into_torch(ours, theirs, torch)
    assert repr(ours) == repr(theirs)
    for _ in range(3):  # training steps: outputs, gradients, running statistics
        values = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        upstream = rng.standard_normal(shape).astype(np.float32)
        x = numbanet.tensor(values, requires_grad=True)
        tx = torch.tensor(values, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        assert_close(y, ty)
        (y * numbanet.tensor(upstream)).sum().backward()
        (ty * torch.tensor(upstream)).sum().backward()
        assert_close(x.grad, tx.grad, atol=1e-5)
        for (name, param), their_param in zip(ours.named_parameters(), theirs.parameters(),
                                              strict=True):
            assert_close(param.grad, their_param.grad, rtol=1e-4, atol=1e-5)
            del name
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(as_numpy(ours.state_dict()[key]), value.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    ours.eval()
    theirs.eval()
    values = rng.standard_normal(shape).astype(np.float32)
    assert_close(ours(numbanet.tensor(values)), theirs(torch.tensor(values)), atol=1e-5)


@pytest.mark.torch
def test_functional_batch_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    values = rng.standard_normal((4, 3, 2)).astype(np.float32)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    ours_mean, ours_var = numbanet.tensor(mean), numbanet.tensor(var)
    their_mean, their_var = torch.tensor(mean), torch.tensor(var)
    y = F.batch_norm(numbanet.tensor(values), ours_mean, ours_var, training=True,
                     momentum=0.2)
    ty = torch.nn.functional.batch_norm(torch.tensor(values), their_mean, their_var,
                                        training=True, momentum=0.2)
    assert_close(y, ty)
    assert_close(ours_mean, their_mean)
    assert_close(ours_var, their_var)
    y = F.batch_norm(numbanet.tensor(values), ours_mean, ours_var)  # eval: running stats
    assert_close(y, torch.nn.functional.batch_norm(torch.tensor(values), their_mean,
                                                   their_var))


# ---- layer norm --------------------------------------------------------------------------


def test_layer_norm_stated_values_and_layout():
    norm = nn.LayerNorm(2)
    y = norm(numbanet.tensor([[1.0, 3.0], [10.0, 10.0]]))
    scale = 1 / math.sqrt(1 + 1e-5)
    np.testing.assert_allclose(as_numpy(y), [[-scale, scale], [0.0, 0.0]], rtol=1e-6)
    assert repr(norm) == "LayerNorm((2,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert list(norm.state_dict()) == ["weight", "bias"]
    assert list(nn.LayerNorm([2, 3], elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[2\], expected input "
                                           r"with shape \[\*, 2\], but got input of size"):
        norm(numbanet.randn(2, 3))


@pytest.mark.torch
@pytest.mark.parametrize(("normalized_shape", "shape", "kwargs"), [
    (5, (4, 5), {}),
    ((3, 4), (2, 3, 4), {"eps": 1e-3}),
    (6, (2, 3, 6), {"elementwise_affine": False}),
    (6, (2, 6), {"bias": False}),
])
def test_layer_norm_matches_torch(normalized_shape, shape, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    ours = nn.LayerNorm(normalized_shape, **kwargs)
    theirs = torch.nn.LayerNorm(normalized_shape, **kwargs)
    if ours.weight is not None:
        with numbanet.no_grad():
            ours.weight.copy_(numbanet.tensor(
                rng.uniform(0.5, 2, ours.weight.shape).astype(np.float32)))
            if ours.bias is not None:
                ours.bias.copy_(numbanet.tensor(
                    rng.standard_normal(ours.bias.shape).astype(np.float32)))
    copy_into_torch(ours, theirs, torch)
    assert repr(ours) == repr(theirs)
    values = (rng.standard_normal(shape) * 3).astype(np.float32)
    upstream = rng.standard_normal(shape).astype(np.float32)
    x, tx = numbanet.tensor(values, requires_grad=True), torch.tensor(values,
                                                                     requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty)
    (y * numbanet.tensor(upstream)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    assert_close(x.grad, tx.grad, atol=1e-5)
    for param, their_param in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert_close(param.grad, their_param.grad, rtol=1e-4, atol=1e-5)


# ---- embedding ---------------------------------------------------------------------------


def test_embedding_lookup_and_gradient_rows():
    weight = numbanet.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(weight, freeze=False, padding_idx=0)
    assert repr(emb) == "Embedding(3, 2, padding_idx=0)"
    index = numbanet.tensor([[1, 2, 1], [0, 2, 0]])
    out = emb(index)
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(as_numpy(out[0]), [[1, 2], [3, 4], [1, 2]])
    out.sum().backward()
    # row 1 looked up twice, row 2 twice, row 0 is padding: no gradient
    np.testing.assert_array_equal(as_numpy(emb.weight.grad), [[0, 0], [2, 2], [2, 2]])
    fresh = nn.Embedding(10, 3, padding_idx=-1)
    assert fresh.padding_idx == 9
    np.testing.assert_array_equal(as_numpy(fresh.weight[9]), [0, 0, 0])
    assert list(fresh.state_dict()) == ["weight"]
    frozen = nn.Embedding.from_pretrained(weight)
    assert frozen.weight.requires_grad is False
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        emb(numbanet.tensor([1.0]))
    with pytest.raises(IndexError, match="index out of range in self"):
        emb(numbanet.tensor([3]))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", [
    {}, {"padding_idx": 2}, {"scale_grad_by_freq": True},
    {"max_norm": 1.0}, {"max_norm": 1.5, "norm_type": 1.0, "padding_idx": 0},
])
def test_embedding_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours = nn.Embedding(6, 4, **kwargs)
    theirs = torch.nn.Embedding(6, 4, **kwargs)
    copy_into_torch(ours, theirs, torch)
    indices = np.array([[0, 2, 5, 2], [1, 2, 3, 3]])
    upstream = np.random.default_rng(4).standard_normal((2, 4, 4)).astype(np.float32)
    y = ours(numbanet.tensor(indices))
    ty = theirs(torch.tensor(indices))
    assert_close(y, ty)
    (y * numbanet.tensor(upstream)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad)
    assert_close(ours.weight, theirs.weight)  # max_norm renormalizes rows in place
    assert repr(ours) == repr(theirs)


# ---- containers --------------------------------------------------------------------------


def test_module_dict():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "box": nn.Linear(4, 3)})
    heads["extra"] = nn.ReLU()
    heads.update([("act", nn.Tanh())])
    assert list(heads) == ["cls", "box", "extra", "act"]
    assert len(heads) == 4 and "box" in heads and "nope" not in heads
    assert [name for name, _ in heads.named_parameters()] == [
        "cls.weight", "cls.bias", "box.weight", "box.bias"]
    assert isinstance(heads.pop("extra"), nn.ReLU)
    del heads["act"]
    assert list(heads.keys()) == ["cls", "box"]
    assert [type(m).__name__ for m in heads.values()] == ["Linear", "Linear"]
    assert repr(heads) == ("ModuleDict(\n  (cls): Linear(in_features=4, out_features=2, "
                           "bias=True)\n  (box): Linear(in_features=4, out_features=3, "
                           "bias=True)\n)")
    with pytest.raises(TypeError):
        heads.update(nn.ReLU())


def test_parameter_list():
    params = nn.ParameterList([nn.Parameter(numbanet.ones(2, 3)), numbanet.zeros(4)])
    assert len(params) == 2
    assert isinstance(params[1], nn.Parameter) and params[1].requires_grad
    params.append(numbanet.ones(1))
    assert list(params.state_dict()) == ["0", "1", "2"]
    assert len(list(params.parameters())) == 3
    assert params[-1].shape == (1,)
    model = nn.Module()
    model.scales = params
    assert [name for name, _ in model.named_parameters()] == [
        "scales.0", "scales.1", "scales.2"]
    assert repr(nn.ParameterList([numbanet.ones(2, 3)])) == (
        "ParameterList(  (0): Parameter containing: [numbanet.float32 of size 2x3])")


@pytest.mark.torch
def test_containers_match_torch_layout():
    torch = pytest.importorskip("torch")
    ours = nn.ParameterList([numbanet.ones(2, 3), numbanet.ones(4)])
    theirs = torch.nn.ParameterList([torch.ones(2, 3), torch.ones(4)])
    assert repr(ours).replace("numbanet.", "torch.") == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours_dict = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.BatchNorm1d(2)})
    their_dict = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 2),
                                      "b": torch.nn.BatchNorm1d(2)})
    assert list(ours_dict.state_dict()) == list(their_dict.state_dict())
    assert repr(ours_dict) == repr(their_dict)


# ---- gradient clipping -------------------------------------------------------------------


def test_clip_grad_norm_stated_values():
    a = numbanet.zeros(2, requires_grad=True)
    b = numbanet.zeros(1, requires_grad=True)
    a.grad = numbanet.tensor([3.0, 0.0])
    b.grad = numbanet.tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(as_numpy(a.grad), [3 / (5 + 1e-6), 0], rtol=1e-6)
    np.testing.assert_allclose(as_numpy(b.grad), [4 / (5 + 1e-6)], rtol=1e-6)
    total = nn.utils.clip_grad_norm_([a, b], max_norm=10.0)  # under the cap: unchanged
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(as_numpy(b.grad), [4 / (5 + 1e-6)], rtol=1e-6)
    a.grad = numbanet.tensor([float("inf"), 0.0])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([numbanet.zeros(1, requires_grad=True)], 1.0).item() == 0
    b.grad = numbanet.tensor([-4.0])
    nn.utils.clip_grad_value_(b, 0.5)
    np.testing.assert_array_equal(as_numpy(b.grad), [-0.5])


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in [(3, 4), (4,), (2,)]]
    ours = [numbanet.zeros(*g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(*g.shape, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads, strict=True):
        p.grad, tp.grad = numbanet.tensor(g), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=norm_type)
    assert total.item() == pytest.approx(their_total.item(), rel=1e-5)
    for p, tp in zip(ours, theirs, strict=True):
        assert_close(p.grad, tp.grad)
    nn.utils.clip_grad_value_(ours, 0.01)
    torch.nn.utils.clip_grad_value_(theirs, 0.01)
    for p, tp in zip(ours, theirs, strict=True):
        assert_close(p.grad, tp.grad)


# ---- the same layers on the GPU (or the CUDA simulator) -------------------------------------


def _cuda_usable() -> bool:
    import os

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    from numba import cuda

    return cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda_usable(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")
def test_layers_and_optimizers_agree_on_cuda_and_cpu():
    values = np.random.default_rng(6).standard_normal((6, 3)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        numbanet.manual_seed(0)
        # no bias before the batch norm: its gradient is 0 up to rounding, and Adam-style
        # steps turn rounding noise into steps of +-lr whose signs differ by device
        model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.GELU(),
                              nn.LayerNorm(4), nn.GELU("tanh")).to(device)
        embedding = nn.Embedding(5, 4, padding_idx=0).to(device)
        optimizers = [numbanet.optim.AdamW(model.parameters(), lr=0.1),
                      numbanet.optim.Adagrad(embedding.parameters(), lr=0.1)]
        x = numbanet.tensor(values, device=device, requires_grad=True)
        index = numbanet.tensor([0, 1, 1, 4, 0, 2], device=device)
        out = model(x) + embedding(index)
        (out * out).sum().backward()
        total = nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
        for optimizer in optimizers:
            optimizer.step()
        model.eval()
        results[device] = [out, x.grad, total, model(x), model[1].running_var,
                           embedding.weight, Erf.apply(x)]
    for cpu, gpu in zip(results["cpu"], results["cuda"], strict=True):
        assert gpu.device.type == "cuda"
        np.testing.assert_allclose(as_numpy(gpu.cpu()), as_numpy(cpu), rtol=1e-5, atol=1e-5)


def test_running_statistics_are_no_events_of_a_trace():
    from numbanet import trace

    bn = nn.BatchNorm1d(2)
    with trace.record(bn) as recording:
        bn(numbanet.randn(4, 2))
    assert "Assign" not in [event.op for event in recording.events]
    assert bn.num_batches_tracked.item() == 1
