"""``numbanet.nn.functional`` and the Functions of ``numbanet/ops/neural.py``.

Every op is checked three ways: values against a numpy reference written independently
here (explicit loops for convolution and pooling), gradients against finite differences
(``gradcheck`` in float64), and — when PyTorch is installed — values and gradients against
PyTorch with identical inputs.
"""

import numpy as np
import pytest

import numbanet as nb
import numbanet.nn.functional as F
from numbanet.autograd import gradcheck

RNG = np.random.default_rng(1234)


def leaf(array, dtype=nb.float64) -> nb.Tensor:
    return nb.tensor(np.asarray(array), dtype=dtype, requires_grad=True)


def values(tensor: nb.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


# ---- numpy references ----------------------------------------------------------------------


def np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_conv2d(x, weight, bias, stride, padding):
    """Direct definition: every output is a dot product of a weight and a padded patch."""
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, height, width = padded.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    out = np.zeros((n, out_channels, out_h, out_w))
    for b in range(n):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    patch = padded[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[b, o, i, j] = (patch * weight[o]).sum()
            if bias is not None:
                out[b, o] += bias[o]
    return out


def np_max_pool2d(x, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    n, c, height, width = padded.shape
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    out = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max((2, 3))
    return out


# ---- activations and softmax -------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_and_softmax_match_numpy(dim):
    x = RNG.normal(size=(3, 4)) * 5
    assert np.allclose(values(F.log_softmax(leaf(x), dim)), np_log_softmax(x, dim))
    assert np.allclose(values(F.softmax(leaf(x), dim)), np.exp(np_log_softmax(x, dim)))


def test_softmax_along_a_middle_dim_of_a_4d_tensor():
    x = RNG.normal(size=(2, 3, 2, 2))
    assert np.allclose(values(F.softmax(leaf(x), dim=1)), np.exp(np_log_softmax(x, 1)))
    assert np.allclose(values(nb.tensor(x).log_softmax(1)), np_log_softmax(x, 1))


def test_log_softmax_is_stable_for_large_scores():
    x = np.array([[1000.0, 0.0, -1000.0]])
    out = values(F.log_softmax(leaf(x), 1))
    assert np.isfinite(out).all()
    assert np.allclose(out, [[0.0, -1000.0, -2000.0]])


def test_softmax_without_dim_warns_and_uses_pytorch_default():
    x = nb.tensor(RNG.normal(size=(2, 3)))
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        out = F.softmax(x)
    assert np.allclose(values(out).sum(1), 1.0)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_gradcheck_softmax_and_log_softmax(dim):
    x = leaf(RNG.normal(size=(2, 3, 2)))
    assert gradcheck(lambda t: F.softmax(t, dim), (x,))
    assert gradcheck(lambda t: F.log_softmax(t, dim), (x,))


def test_activations_match_numpy():
    x = RNG.normal(size=(3, 4))
    t = leaf(x)
    assert np.allclose(values(F.relu(t)), np.maximum(x, 0))
    assert np.allclose(values(F.sigmoid(t)), 1 / (1 + np.exp(-x)))
    assert np.allclose(values(F.tanh(t)), np.tanh(x))
    assert np.allclose(values(F.leaky_relu(t, 0.1)), np.where(x > 0, x, 0.1 * x))
    assert gradcheck(lambda a: F.leaky_relu(a, 0.1), (t,))


# ---- linear ----------------------------------------------------------------------------------


def test_linear_matches_numpy_and_gradchecks():
    x, w, b = RNG.normal(size=(3, 4)), RNG.normal(size=(2, 4)), RNG.normal(size=2)
    assert np.allclose(values(F.linear(leaf(x), leaf(w), leaf(b))), x @ w.T + b)
    assert np.allclose(values(F.linear(leaf(x), leaf(w))), x @ w.T)
    assert gradcheck(F.linear, (leaf(x), leaf(w), leaf(b)))


@pytest.mark.parametrize("needing", ["x", "w", "b", "wb", "xw"])
def test_linear_gradients_of_only_the_inputs_that_need_them(needing):
    """Addmm's fused backward computes only the gradients asked for (an MLP's first layer:
    the images need none); each still equals the textbook rule."""
    x, w, b = RNG.normal(size=(5, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=3)
    grad = RNG.normal(size=(5, 3))
    tensors = {name: nb.tensor(value, requires_grad=name in needing)
               for name, value in (("x", x), ("w", w), ("b", b))}
    F.linear(tensors["x"], tensors["w"], tensors["b"]).backward(nb.tensor(grad))
    expected = {"x": grad @ w, "w": grad.T @ x, "b": grad.sum(axis=0)}
    for name, tensor in tensors.items():
        if name in needing:
            np.testing.assert_allclose(values(tensor.grad), expected[name], rtol=1e-12)
            assert tensor.grad.is_contiguous()
        else:
            assert tensor.grad is None


# ---- losses ----------------------------------------------------------------------------------


def np_nll(log_probs, targets, weight=None, ignore_index=-100, reduction="mean"):
    row_weight = np.array([0.0 if t == ignore_index else (1.0 if weight is None else weight[t])
                           for t in targets])
    picked = np.array([log_probs[i, t] if t != ignore_index else 0.0
                       for i, t in enumerate(targets)])
    losses = -picked * row_weight
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / row_weight.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_and_cross_entropy_match_numpy(reduction):
    x = RNG.normal(size=(5, 4))
    targets = np.array([0, 3, 1, 1, 2])
    expected = np_nll(np_log_softmax(x, 1), targets, reduction=reduction)
    log_probs = F.log_softmax(leaf(x), 1)
    assert np.allclose(values(F.nll_loss(log_probs, nb.tensor(targets), reduction=reduction)),
                       expected)
    assert np.allclose(values(F.cross_entropy(leaf(x), nb.tensor(targets),
                                              reduction=reduction)), expected)


def test_class_weights_and_ignore_index():
    x = RNG.normal(size=(5, 3))
    targets = np.array([0, 2, -100, 1, 2])
    weight = np.array([0.2, 1.0, 3.0])
    for reduction in ("mean", "sum", "none"):
        expected = np_nll(np_log_softmax(x, 1), targets, weight, reduction=reduction)
        out = F.cross_entropy(leaf(x), nb.tensor(targets), weight=nb.tensor(weight),
                              reduction=reduction)
        assert np.allclose(values(out), expected)
    custom = F.nll_loss(leaf(np_log_softmax(x, 1)), nb.tensor([0, 2, 1, 1, 1]), ignore_index=1)
    assert np.allclose(values(custom), np_nll(np_log_softmax(x, 1), [0, 2, 1, 1, 1],
                                              ignore_index=1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_nll_and_cross_entropy(reduction):
    x = RNG.normal(size=(4, 3))
    targets = nb.tensor([2, 0, -100, 1])
    weight = nb.tensor([0.5, 2.0, 1.5], dtype=nb.float64)
    assert gradcheck(lambda t: F.cross_entropy(t, targets, reduction=reduction), (leaf(x),))
    assert gradcheck(lambda t: F.cross_entropy(t, targets, weight=weight,
                                               reduction=reduction), (leaf(x),))
    assert gradcheck(lambda t: F.nll_loss(t, targets, weight=weight, reduction=reduction),
                     (leaf(np_log_softmax(x, 1)),))


def test_cross_entropy_with_probability_targets():
    x = RNG.normal(size=(3, 4))
    probabilities = RNG.dirichlet(np.ones(4), size=3)
    expected_rows = -(probabilities * np_log_softmax(x, 1)).sum(1)
    target = nb.tensor(probabilities)
    assert np.allclose(values(F.cross_entropy(leaf(x), target)), expected_rows.mean())
    assert np.allclose(values(F.cross_entropy(leaf(x), target, reduction="sum")),
                       expected_rows.sum())
    assert np.allclose(values(F.cross_entropy(leaf(x), target, reduction="none")),
                       expected_rows)
    assert gradcheck(lambda t: F.cross_entropy(t, target), (leaf(x),))


def test_one_hot_probability_targets_equal_class_indices():
    x = RNG.normal(size=(4, 3))
    labels = nb.tensor([2, 0, 1, 1])
    one_hot = F.one_hot(labels, 3).to(nb.float64)
    assert values(F.one_hot(labels)).tolist() == np.eye(3, dtype=np.int64)[[2, 0, 1, 1]].tolist()
    assert np.isclose(values(F.cross_entropy(leaf(x), one_hot)),
                      values(F.cross_entropy(leaf(x), labels)))


def test_cross_entropy_accepts_spatial_and_unbatched_inputs():
    x = RNG.normal(size=(2, 3, 2, 2))
    targets = RNG.integers(0, 3, size=(2, 2, 2))
    rows = np.moveaxis(x, 1, -1).reshape(-1, 3)
    expected = np_nll(np_log_softmax(rows, 1), targets.reshape(-1), reduction="none")
    out = F.cross_entropy(leaf(x), nb.tensor(targets), reduction="none")
    assert out.shape == (2, 2, 2)
    assert np.allclose(values(out), expected.reshape(2, 2, 2))
    single = F.cross_entropy(leaf(x[0, :, 0, 0]), nb.tensor(1))
    assert np.isclose(values(single), -np_log_softmax(x[0, :, 0, 0][None], 1)[0, 1])


def test_cross_entropy_errors_say_what_to_fix():
    x = nb.randn(4, 3)
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        F.cross_entropy(x, nb.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(4\) to match target "
                                         r"batch_size \(2\)"):
        F.cross_entropy(x, nb.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected scalar type Long"):
        F.nll_loss(x, nb.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(RuntimeError, match="one-hot or probability targets"):
        F.cross_entropy(x, nb.tensor([[0, 1, 0]] * 4))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, nb.tensor([0, 1, 2, 1]), reduction="average")


def test_mse_and_l1_loss():
    a, b = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    assert np.isclose(values(F.mse_loss(leaf(a), leaf(b))), ((a - b) ** 2).mean())
    assert np.isclose(values(F.mse_loss(leaf(a), leaf(b), reduction="sum")), ((a - b) ** 2).sum())
    assert np.allclose(values(F.mse_loss(leaf(a), leaf(b), reduction="none")), (a - b) ** 2)
    assert np.isclose(values(F.l1_loss(leaf(a), leaf(b))), np.abs(a - b).mean())
    assert gradcheck(F.mse_loss, (leaf(a), leaf(b)))
    assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction="sum"), (leaf(a), leaf(b)))


def test_mse_loss_warns_when_shapes_broadcast():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(nb.randn(4, 1), nb.randn(4))


def test_binary_cross_entropy_variants():
    logits, target = RNG.normal(size=(4,)), RNG.integers(0, 2, size=4).astype(float)
    p = 1 / (1 + np.exp(-logits))
    expected = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    assert np.isclose(values(F.binary_cross_entropy(leaf(p), nb.tensor(target))),
                      expected.mean())
    with_logits = F.binary_cross_entropy_with_logits(leaf(logits), nb.tensor(target),
                                                     reduction="none")
    assert np.allclose(values(with_logits), expected)
    assert gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, nb.tensor(target)),
                     (leaf(logits),))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(nb.tensor([1.5]), nb.tensor([1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_gradcheck_with_weight_and_target_gradient(reduction):
    p = RNG.uniform(0.05, 0.95, size=(3, 2))
    target, weight = RNG.uniform(size=(3, 2)), RNG.uniform(0.5, 2.0, size=(3, 2))
    assert gradcheck(lambda x, t: F.binary_cross_entropy(x, t, weight=nb.tensor(weight),
                                                         reduction=reduction),
                     (leaf(p), leaf(target)))


def test_binary_cross_entropy_at_zero_and_one():
    """Log clamped at -100; gradient (p - t) / max(p (1 - p), 1e-12), finite and signed."""
    p = leaf([0.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, nb.tensor([1.0, 0.0, 0.0, 1.0]), reduction="none")
    assert values(loss).tolist() == [100.0, 100.0, 0.0, 0.0]
    loss.sum().backward()
    assert np.allclose(values(p.grad), [-1e12, 1e12, 0.0, 0.0])


def test_binary_cross_entropy_with_logits_gradient_is_sigmoid_minus_target():
    """Everywhere, including the kinks of max(-x, 0) and |x| at x = 0."""
    logits = np.array([-30.0, -2.0, -1e-8, 0.0, 1e-8, 0.5, 40.0])
    target = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.3, 0.0])
    x = leaf(logits)
    F.binary_cross_entropy_with_logits(x, nb.tensor(target), reduction="sum").backward()
    assert np.allclose(values(x.grad), 1 / (1 + np.exp(-logits)) - target, rtol=1e-12)


def test_binary_cross_entropy_with_logits_is_stable_at_huge_scores():
    logits, target = np.array([-1e4, 1e4, 1e4, 0.0]), np.array([0.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(leaf(logits), nb.tensor(target), reduction="none")
    assert np.allclose(values(loss), [0.0, 0.0, 1e4, np.log(2)])


def test_binary_cross_entropy_with_logits_pos_weight_and_weight_gradcheck():
    logits, target = RNG.normal(size=(4, 3)), RNG.integers(0, 2, size=(4, 3)).astype(float)
    assert gradcheck(lambda x, w, pw: F.binary_cross_entropy_with_logits(
        x, nb.tensor(target), weight=w, pos_weight=pw),
        (leaf(logits), leaf(RNG.uniform(size=3)), leaf(RNG.uniform(0.5, 3, size=3))))


# ---- convolution and pooling --------------------------------------------------------------------


CONV_SETTINGS = [((1, 1), (0, 0)), ((2, 2), (1, 1)), ((1, 2), (2, 0))]


@pytest.mark.parametrize("stride, padding", CONV_SETTINGS)
def test_conv2d_matches_numpy(stride, padding):
    x, w, b = RNG.normal(size=(2, 2, 5, 6)), RNG.normal(size=(3, 2, 3, 2)), RNG.normal(size=3)
    out = F.conv2d(leaf(x), leaf(w), leaf(b), stride=stride, padding=padding)
    assert np.allclose(values(out), np_conv2d(x, w, b, stride, padding))
    no_bias = F.conv2d(leaf(x), leaf(w), stride=stride, padding=padding)
    assert np.allclose(values(no_bias), np_conv2d(x, w, None, stride, padding))


@pytest.mark.parametrize("stride, padding", CONV_SETTINGS)
def test_gradcheck_conv2d(stride, padding):
    x, w, b = RNG.normal(size=(2, 2, 4, 5)), RNG.normal(size=(2, 2, 3, 2)), RNG.normal(size=2)
    assert gradcheck(lambda a, k, c: F.conv2d(a, k, c, stride=stride, padding=padding),
                     (leaf(x), leaf(w), leaf(b)))


def test_conv2d_unbatched_input_and_same_padding():
    x, w = RNG.normal(size=(1, 4, 4)), RNG.normal(size=(2, 1, 3, 3))
    out = F.conv2d(leaf(x), leaf(w), padding="same")
    assert out.shape == (2, 4, 4)
    assert np.allclose(values(out), np_conv2d(x[None], w, None, (1, 1), (1, 1))[0])


def test_conv2d_errors_name_shapes_and_line():
    weight = nb.randn(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[2, 1, 8, 8\] to have 3 channels, "
                                           r"but got 1 channels instead") as error:
        F.conv2d(nb.randn(2, 1, 8, 8), weight)
    assert "test_functional.py" in str(error.value)
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D"):
        F.conv2d(nb.randn(2, 27), weight)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(nb.randn(1, 3, 2, 2), weight)
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(nb.randn(1, 3, 4, 4, dtype=nb.float64), weight)


@pytest.mark.parametrize("keywords, message", [
    ({"stride": 0}, r"non-positive stride is not supported: got stride=\(0, 0\)"),
    ({"stride": (2, -1)}, r"non-positive stride is not supported: got stride=\(2, -1\)"),
    ({"padding": (0, -1)}, r"negative padding is not supported: got padding=\(0, -1\)"),
])
def test_conv2d_refuses_bad_stride_and_padding_naming_shapes_and_line(keywords, message):
    with pytest.raises(RuntimeError, match=message) as error:
        F.conv2d(nb.randn(1, 3, 8, 8), nb.randn(4, 3, 3, 3), **keywords)
    assert "input (1, 3, 8, 8), weight (4, 3, 3, 3)" in str(error.value)
    assert "in your code at test_functional.py:" in str(error.value)


def test_conv_layer_names_itself_in_the_stride_error():
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 4.*non-positive stride"):
        nb.nn.Conv2d(3, 4, 3, stride=0)(nb.randn(1, 3, 8, 8))


@pytest.mark.parametrize("kernel, stride, padding", [((2, 2), (2, 2), (0, 0)),
                                                     ((3, 2), (1, 2), (1, 1))])
def test_max_pool2d_matches_numpy_and_gradchecks(kernel, stride, padding):
    x = RNG.normal(size=(2, 2, 5, 4))
    out = F.max_pool2d(leaf(x), kernel, stride, padding)
    assert np.allclose(values(out), np_max_pool2d(x, kernel, stride, padding))
    assert gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding), (leaf(x),))


def test_max_pool2d_gradient_goes_to_the_maximum_and_indices():
    x = leaf([[[[1.0, 5.0], [3.0, 2.0]]]])
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    out.sum().backward()
    assert values(out).ravel().tolist() == [5.0]
    assert indices.numpy().ravel().tolist() == [1]
    assert x.grad.numpy().ravel().tolist() == [0.0, 1.0, 0.0, 0.0]


def test_avg_pools():
    x = RNG.normal(size=(1, 2, 4, 6))
    pooled = values(F.avg_pool2d(leaf(x), 2))
    assert np.allclose(pooled, x.reshape(1, 2, 2, 2, 3, 2).mean((3, 5)))
    assert np.allclose(values(F.adaptive_avg_pool2d(leaf(x), 1)), x.mean((2, 3), keepdims=True))
    assert gradcheck(lambda t: F.avg_pool2d(t, (2, 3)), (leaf(x),))


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("keywords, message", [
    ({"kernel_size": 0}, "kernel size should be greater than zero, but got kH: 0 kW: 0"),
    ({"kernel_size": (3, 0), "stride": 1}, "but got kH: 3 kW: 0"),
    ({"kernel_size": 2, "stride": (0, 1)}, "stride should not be zero"),
    ({"kernel_size": 2, "stride": -1}, "stride should be greater than zero, but got dH: -1"),
    ({"kernel_size": 2, "padding": -1}, "pad must be non-negative, but got pad: -1"),
])
def test_pooling_refuses_bad_geometry_naming_shapes_and_line(op, keywords, message):
    with pytest.raises(RuntimeError, match=message) as error:
        getattr(F, op)(nb.randn(1, 2, 6, 6), **keywords)
    assert str(error.value).startswith(f"{op}: ") and "input (1, 2, 6, 6)" in str(error.value)
    assert "in your code at test_functional.py:" in str(error.value)


# ---- dropout ---------------------------------------------------------------------------------


def test_dropout_zeroes_and_rescales():
    x = nb.ones(200, 50)
    out = values(F.dropout(x, 0.3))
    kept = out != 0
    assert np.allclose(out[kept], 1 / 0.7)
    assert 0.6 < kept.mean() < 0.8
    assert F.dropout(x, 0.3, training=False) is x
    assert np.all(values(F.dropout(x, 1.0)) == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout2d_zeroes_whole_channels():
    out = values(F.dropout2d(nb.ones(8, 16, 3, 3), 0.5))
    per_channel = out.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel[..., 0] == 0).sum() < 8 * 16


def test_dropout_is_reproducible_with_manual_seed_and_gradchecks():
    x = leaf(RNG.normal(size=(3, 4)))
    nb.manual_seed(7)
    first = values(F.dropout(x, 0.5))
    nb.manual_seed(7)
    assert np.array_equal(first, values(F.dropout(x, 0.5)))

    def seeded_dropout(t):
        nb.manual_seed(3)  # the same mask on every call, so finite differences see one map
        return F.dropout(t, 0.5)

    assert gradcheck(seeded_dropout, (x,))
    assert gradcheck(lambda t: F.dropout(t, 0.5, training=False), (x,))


# ---- against PyTorch -------------------------------------------------------------------------


@pytest.mark.torch
def test_against_pytorch_conv_pool_losses():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 3, 7, 6))
    w, b = RNG.normal(size=(4, 3, 3, 3)), RNG.normal(size=4)
    targets = np.array([1, 0, 4, 2, 2, 3])
    weight = np.array([1.0, 0.5, 2.0, 1.5, 0.7])
    labels = np.array([0, 3])

    def numbanet_loss(x, w, b):
        y = F.max_pool2d(F.relu(F.conv2d(x, w, b, stride=(1, 2), padding=1)), 2)
        scores = F.linear(y.flatten(1), fc_weight)
        return (F.cross_entropy(scores, nb.tensor(labels))
                + F.nll_loss(F.log_softmax(scores.reshape(-1, 5)[:6], 1), nb.tensor(targets),
                             weight=nb.tensor(weight), reduction="sum")
                + F.cross_entropy(scores, nb.tensor(labels), label_smoothing=0.2))

    def torch_loss(x, w, b):
        tf = torch.nn.functional
        y = tf.max_pool2d(tf.relu(tf.conv2d(x, w, b, stride=(1, 2), padding=1)), 2)
        scores = tf.linear(y.flatten(1), torch_fc_weight)
        return (tf.cross_entropy(scores, torch.tensor(labels))
                + tf.nll_loss(tf.log_softmax(scores.reshape(-1, 5)[:6], 1),
                              torch.tensor(targets), weight=torch.tensor(weight),
                              reduction="sum")
                + tf.cross_entropy(scores, torch.tensor(labels), label_smoothing=0.2))

    fc = RNG.normal(size=(15, 12))
    fc_weight = leaf(fc)
    torch_fc_weight = torch.tensor(fc, requires_grad=True)
    ours = [leaf(a) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    our_loss, their_loss = numbanet_loss(*ours), torch_loss(*theirs)
    assert np.isclose(our_loss.item(), their_loss.item())
    our_loss.backward()
    their_loss.backward()
    for mine, reference in zip(ours + [fc_weight], theirs + [torch_fc_weight], strict=True):
        assert np.allclose(mine.grad.numpy(), reference.grad.numpy(), atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_against_pytorch_cross_entropy_options(reduction):
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(4, 3, 2))
    index_targets = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    probability_targets = RNG.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1)
    weight = np.array([0.3, 1.0, 2.0])
    for target in (index_targets, probability_targets):
        for smoothing in (0.0, 0.1):
            ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
            our_loss = F.cross_entropy(ours, nb.tensor(target), weight=nb.tensor(weight),
                                       reduction=reduction, label_smoothing=smoothing)
            their_loss = torch.nn.functional.cross_entropy(
                theirs, torch.tensor(target), weight=torch.tensor(weight),
                reduction=reduction, label_smoothing=smoothing)
            assert np.allclose(values(our_loss), their_loss.detach().numpy())
            our_loss.sum().backward()
            their_loss.sum().backward()
            assert np.allclose(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.torch
def test_against_pytorch_softmax_dropout_free_ops():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(3, 4, 2))
    for dim in (0, 1, 2):
        ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
        seed = RNG.normal(size=x.shape)
        (F.log_softmax(ours, dim) * nb.tensor(seed)).sum().backward()
        (torch.log_softmax(theirs, dim) * torch.tensor(seed)).sum().backward()
        assert np.allclose(ours.grad.numpy(), theirs.grad.numpy())
        assert np.allclose(values(F.softmax(ours, dim)),
                           torch.softmax(theirs, dim).detach().numpy())
