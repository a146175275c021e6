"""Tensor API: creation, dtypes, views, indexing, reductions, in place, errors."""

import numpy as np
import pytest

import numbanet as nb


def test_creation_and_default_dtypes():
    assert nb.tensor([1.0, 2.0]).dtype == nb.float32
    assert nb.tensor([1, 2]).dtype == nb.int64
    assert nb.tensor([True, False]).dtype == nb.bool
    assert nb.tensor(np.zeros(2)).dtype == nb.float64
    assert nb.zeros(2, 3).shape == (2, 3)
    assert nb.ones((2, 3), dtype=nb.float64).dtype == nb.float64
    assert nb.full((2,), 7).dtype == nb.int64
    assert nb.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert nb.arange(0, 1, 0.5).dtype == nb.float32
    np.testing.assert_array_equal(nb.eye(3).numpy(), np.eye(3))
    assert nb.zeros_like(nb.ones(2, 2, dtype=nb.float64)).dtype == nb.float64
    assert nb.randn(3, 4).shape == (3, 4)
    assert nb.rand(5).numpy().max() < 1
    r = nb.randint(0, 10, (100,))
    assert r.dtype == nb.int64 and 0 <= r.min().item() and r.max().item() < 10


def test_manual_seed_reproduces_random_tensors():
    nb.manual_seed(7)
    first = nb.randn(4).tolist()
    nb.manual_seed(7)
    assert nb.randn(4).tolist() == first


def test_from_numpy_shares_memory():
    array = np.zeros(3, dtype=np.float32)
    t = nb.from_numpy(array)
    array[0] = 5
    assert t[0].item() == 5
    t.numpy()[1] = 7
    assert array[1] == 7


def test_views_do_not_copy():
    x = nb.arange(12.0).reshape(3, 4)
    for view in (x.view(4, 3), x.t(), x.permute(1, 0), x.unsqueeze(0), x[1], x[:, 1:3],
                 x.flatten(), x[None, ..., 0]):
        assert np.shares_memory(view.numpy(), x.numpy())
    assert x.t().is_contiguous() is False
    assert x.t().contiguous().is_contiguous()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(12)
    assert x.t().reshape(12).tolist() == np.arange(12.0).reshape(3, 4).T.ravel().tolist()


def test_shape_helpers():
    x = nb.zeros(2, 1, 3)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(1).shape == (2, 3)
    assert x.unsqueeze(-1).shape == (2, 1, 3, 1)
    assert x.transpose(0, 2).shape == (3, 1, 2)
    assert x.expand(2, 4, 3).shape == (2, 4, 3)
    assert x.view(-1, 3).shape == (2, 3)
    assert nb.flatten(nb.zeros(2, 3, 4), 1).shape == (2, 12)
    assert x.size(2) == 3 and x.size() == (2, 1, 3) and x.dim() == 3 and x.numel() == 6


def test_indexing_forms_match_numpy():
    values = np.arange(24.0).reshape(2, 3, 4)
    x = nb.tensor(values)
    np.testing.assert_array_equal(x[1].numpy(), values[1])
    np.testing.assert_array_equal(x[:, 1:, ::2].numpy(), values[:, 1:, ::2])
    np.testing.assert_array_equal(x[..., -1].numpy(), values[..., -1])
    np.testing.assert_array_equal(x[None, 0].numpy(), values[None, 0])
    np.testing.assert_array_equal(x[nb.tensor([1, 0])].numpy(), values[[1, 0]])
    np.testing.assert_array_equal(x[x > 10].numpy(), values[values > 10])
    np.testing.assert_array_equal(x[0, nb.tensor([2, 2])].numpy(), values[0, [2, 2]])
    assert x[1, 2, 3].item() == 23.0


def test_setitem():
    x = nb.zeros(3, 3)
    x[0] = 1
    x[:, 2] = nb.tensor([5.0, 6.0, 7.0])
    x[x == 0] = -1
    np.testing.assert_array_equal(x.numpy(), [[1, 1, 5], [-1, -1, 6], [-1, -1, 7]])


def test_reductions_match_numpy():
    values = np.random.default_rng(0).standard_normal((3, 4, 5))
    x = nb.tensor(values)
    np.testing.assert_allclose(x.sum((0, 2)).numpy(), values.sum((0, 2)))
    np.testing.assert_allclose(x.mean(1, keepdim=True).numpy(), values.mean(1, keepdims=True))
    np.testing.assert_allclose(x.var().item(), values.var(ddof=1))
    np.testing.assert_allclose(x.std(2).numpy(), values.std(2, ddof=1))
    values_max, indices = nb.max(x, 1)
    np.testing.assert_allclose(values_max.numpy(), values.max(1))
    np.testing.assert_array_equal(indices.numpy(), values.argmax(1))
    assert x.argmax().item() == values.argmax()
    assert nb.argmax(x, dim=2).tolist() == values.argmax(2).tolist()
    assert x.min().item() == values.min()


def test_test_loop_idiom():
    outputs = nb.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = nb.tensor([1, 0, 0])
    _, predicted = nb.max(outputs.data, 1)
    assert (predicted == labels).sum().item() == 2
    assert labels.size(0) == 3


def test_comparisons_and_logic():
    x = nb.tensor([1, 2, 3])
    assert (x > 1).tolist() == [False, True, True]
    assert (x == nb.tensor([1, 0, 3])).tolist() == [True, False, True]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert (~(x > 1)).tolist() == [True, False, False]


def test_dtype_promotion():
    assert (nb.tensor([1, 2]) * 0.5).dtype == nb.float32
    assert (nb.tensor([1, 2]) / 2).dtype == nb.float32
    assert (nb.tensor([1.0], dtype=nb.float64) + nb.tensor([1.0])).dtype == nb.float64
    assert (nb.tensor([1, 2]) + 1).dtype == nb.int64


def test_inplace_ops():
    x = nb.ones(2, 2)
    x.add_(1).mul_(3)
    x.sub_(nb.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(x.numpy(), [[5, 4], [5, 4]])
    x.zero_()
    assert x.sum().item() == 0
    x.fill_(2)
    x.copy_(nb.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert x.tolist() == [[1, 2], [3, 4]]
    x += 1
    assert x.tolist() == [[2, 3], [4, 5]]


def test_item_numpy_tolist_clone_detach():
    x = nb.tensor([[1.5]], requires_grad=True)
    assert x.item() == 1.5
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()
    assert x.detach().numpy().tolist() == [[1.5]]
    clone = x.clone()
    assert clone.grad_fn is not None and not np.shares_memory(clone.detach().numpy(),
                                                               x.detach().numpy())


def test_cat_and_stack():
    a, b = nb.ones(2, 3), nb.zeros(1, 3)
    assert nb.cat([a, b]).shape == (3, 3)
    assert nb.stack([a, a], dim=1).shape == (2, 2, 3)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        nb.cat([a, nb.zeros(2, 2)], 0)


def test_repr_like_pytorch():
    assert repr(nb.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(nb.tensor([1.0], requires_grad=True))
    assert "grad_fn=<MulBackward0>" in repr(nb.tensor([1.0], requires_grad=True) * 2)
    assert repr(nb.zeros(2).shape) == "numbanet.Size([2])"


def test_errors_name_op_shapes_and_user_line():
    with pytest.raises(RuntimeError) as error:
        nb.ones(2, 3) + nb.ones(4)  # the line the message must point at
    message = str(error.value)
    assert "add" in message and "[2, 3]" in message and "[4]" in message
    assert "test_tensor.py" in message and "nb.ones(2, 3) + nb.ones(4)" in message
    with pytest.raises(RuntimeError) as error:
        nb.ones(64, 784) @ nb.ones(128, 10)
    assert "64x784 and 128x10" in str(error.value) and "test_tensor.py" in str(error.value)
    with pytest.raises(IndexError, match="out of bounds"):
        nb.ones(3)[5]
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        nb.ones(6).view(4, 2)


def test_cuda_unavailable_error_is_clear(monkeypatch):
    from numbanet import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        nb.ones(2).to("cuda")
