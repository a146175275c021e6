"""Views, assignment and in-place ops as in PyTorch: memory shared with the base, repeated
indices, the view stride rule, autograd through in-place changes, and PyTorch's errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbanet as nb
from numbanet import shapes

# ---- assignment writes into the memory a view shares -----------------------------------------


def test_mask_assignment_through_a_non_contiguous_view_writes_into_the_base():
    x = nb.tensor([[0.0, 1.0, 0.0, 3.0], [4.0, 0.0, 0.0, 7.0]])
    v = x[:, ::2]
    v[v == 0] = 7
    assert x.tolist() == [[7.0, 1.0, 7.0, 3.0], [4.0, 0.0, 7.0, 7.0]]
    assert v.tolist() == [[7.0, 7.0], [4.0, 7.0]]


def test_integer_index_assignment_through_a_transposed_view_writes_into_the_base():
    x = nb.zeros(2, 3)
    x.t()[nb.tensor([0, 2])] = nb.tensor([[1.0, 2.0], [5.0, 6.0]])
    assert x.tolist() == [[1.0, 0.0, 5.0], [2.0, 0.0, 6.0]]


def test_basic_assignment_through_a_view_and_broadcast_value():
    x = nb.zeros(3, 4)
    row = x[1]
    row[1:3] = 5
    x[:, 0] = nb.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [[1, 0, 0, 0], [2, 5, 5, 0], [3, 0, 0, 0]]


def test_repeated_indices_keep_the_last_value():
    x = nb.zeros(4)
    x[nb.tensor([1, 1, 3, 1])] = nb.tensor([5.0, 6.0, 7.0, 8.0])
    assert x.tolist() == [0.0, 8.0, 0.0, 7.0]


def test_in_place_add_with_repeated_indices_adds_once():
    x = nb.zeros(3, dtype=nb.int64)
    x[nb.tensor([0, 0, 2])] += 1
    assert x.tolist() == [1, 0, 1]
    torch = pytest.importorskip("torch")
    reference = torch.zeros(3, dtype=torch.int64)
    reference[torch.tensor([0, 0, 2])] += 1
    assert x.tolist() == reference.tolist()


def test_assignment_keeps_special_values_and_signed_zeros():
    x = nb.ones(4)
    x[nb.tensor([0, 1, 2, 3])] = nb.tensor([float("inf"), float("nan"), -0.0, 0.0])
    values = x.numpy()
    assert np.isinf(values[0]) and np.isnan(values[1])
    assert np.signbit(values[2]) and not np.signbit(values[3])


def test_assignment_converts_the_value_to_the_tensor_dtype():
    x = nb.zeros(3, dtype=nb.int64)
    x[0] = 2.7
    x[nb.tensor([True, False, True])] = nb.tensor([9.9, 8.8])
    assert x.dtype == nb.int64 and x.tolist() == [9, 0, 8]
    flags = nb.zeros(3, dtype=nb.bool)
    flags[nb.tensor([2])] = True
    assert flags.tolist() == [False, False, True]


def test_value_that_does_not_broadcast_raises_pytorchs_errors():
    x = nb.zeros(4)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(2\) must match "
                                           r"the existing size \(3\)"):
        x[0:2] = nb.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[3\] "
                                           r"cannot be broadcast to indexing result of shape "
                                           r"\[2\]"):
        x[nb.tensor([0, 1])] = nb.tensor([1.0, 2.0, 3.0])
    x[0] = nb.ones(1, 1)  # leading size-1 dims of the value are dropped
    assert x.tolist() == [1.0, 0.0, 0.0, 0.0]


# ---- indexing edges -------------------------------------------------------------------------


def test_indexing_with_an_empty_list_is_empty():
    x = nb.arange(6.0).reshape(2, 3)
    assert x[[]].shape == (0, 3)
    assert x[nb.tensor([], dtype=nb.int64)].shape == (0, 3)
    x[[]] = 5.0
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_negative_slice_steps_raise_value_error():
    with pytest.raises(ValueError, match="step must be greater than zero"):
        nb.arange(5)[::-1]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        nb.arange(5)[::-1] = 0


def test_bad_indices_raise_pytorchs_errors():
    x = nb.zeros(2, 3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        x[5]
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        x[nb.tensor([5])]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or "
                                         "bool tensors"):
        x[nb.tensor([0.5])]
    with pytest.raises(IndexError, match=r"The shape of the mask \[3\] at index 0 does not "
                                         r"match the shape of the indexed tensor \[2, 3\]"):
        x[nb.tensor([True, False, True])]


# ---- view: PyTorch's stride rule ------------------------------------------------------------


def test_view_of_a_sliced_tensor_is_allowed_when_strides_allow():
    x = nb.arange(32.0).reshape(4, 8)
    v = x[:, :4].view(4, 2, 2)
    assert np.shares_memory(v.numpy(), x.numpy())
    assert v.tolist() == np.arange(32.0).reshape(4, 8)[:, :4].reshape(4, 2, 2).tolist()
    assert v.stride() == (8, 2, 1)
    with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's "
                                           "size and stride"):
        x[:, :4].view(16)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_view_strides_agree_with_pytorch(data):
    """Random strided layouts (a slice of a permuted block) and random target shapes: the
    strides of the view, or its refusal, are PyTorch's."""
    torch = pytest.importorskip("torch")
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    steps = data.draw(st.lists(st.integers(1, 2), min_size=len(sizes), max_size=len(sizes)))
    order = data.draw(st.permutations(range(len(sizes))))
    block = torch.arange(int(np.prod([s * t for s, t in zip(sizes, steps, strict=True)])))
    block = block.reshape([s * t for s, t in zip(sizes, steps, strict=True)])
    layout = block[tuple(slice(None, None, t) for t in steps)].permute(*order)
    numel = layout.numel()
    divisors = [d for d in range(1, numel + 1) if numel % d == 0]
    first = data.draw(st.sampled_from(divisors))
    target = (first, numel // first) if data.draw(st.booleans()) else (numel,)
    try:
        expected = layout.view(target).stride()
    except RuntimeError:
        expected = None
    assert shapes.view_strides(tuple(layout.shape), layout.stride(), target) == expected


# ---- in place and autograd ------------------------------------------------------------------


def test_in_place_op_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    p = nb.ones(3, requires_grad=True)
    p.sum().backward()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used "
                                           "in an in-place operation."):
        p -= 0.1 * p.grad
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        p[0] = 2.0
    with nb.no_grad():
        p -= 0.5 * p.grad
    assert p.tolist() == [0.5, 0.5, 0.5] and p.is_leaf


def test_in_place_through_a_view_of_a_tracked_tensor_raises():
    x = nb.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is "
                                           "being used in an in-place operation."):
        x[0:2].add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        x.view(3, 1)[0][0] = 2.0
    y = x * 2
    with pytest.raises(RuntimeError, match="in-place change through a view"):
        y[0:2] += 1
    y[0:2] = 5.0  # into y itself: fine, and differentiable
    y.sum().backward()
    assert y.tolist() == [5.0, 5.0, 2.0] and x.grad.tolist() == [0.0, 0.0, 2.0]
    copied = nb.ones(2, 2, requires_grad=True).t().reshape(4)  # a copy, not a view
    copied += 1
    assert copied.tolist() == [2.0] * 4


def test_in_place_add_on_a_non_leaf_is_really_in_place():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    view = y[0:1]
    storage, version = y.detach().numpy(), y._version
    y += 1
    assert np.shares_memory(y.detach().numpy(), storage)
    assert view.tolist() == [4.0] and y.tolist() == [4.0, 7.0]
    assert y._version == version + 1
    assert y.grad_fn.name() == "CopySlices"
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 4 * 3, 2 * 7 * 3])


def test_in_place_multiply_differentiates_through_the_old_value():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y *= x  # y = 2 x^2: d/dx = 4 x
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    torch = pytest.importorskip("torch")
    reference = torch.tensor([1.0, 2.0], requires_grad=True)
    z = reference * 2
    z *= reference
    z.sum().backward()
    assert x.grad.tolist() == reference.grad.tolist()


def test_assignment_gradients_go_to_the_value_and_to_the_untouched_elements():
    x = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = nb.tensor(5.0, requires_grad=True)
    y = x * 1
    y[nb.tensor([0, 2])] = w
    (y * nb.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 10.0, 0.0]
    assert w.grad.item() == 101.0


def test_assigning_into_a_saved_output_makes_backward_raise():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y[0] = 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_in_place_on_an_expanded_tensor_raises():
    wide = nb.ones(3).expand(2, 3)
    message = ("unsupported operation: more than one element of the written-to tensor refers "
               "to a single memory location. Please clone")
    with pytest.raises(RuntimeError, match=message):
        wide.add_(1)
    with pytest.raises(RuntimeError, match=message):
        wide[0] = 2.0
    assert wide.clone().add_(1).tolist() == [[2.0] * 3] * 2


def test_in_place_shape_and_device_checks():
    y = nb.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"output with shape \[2, 3\] doesn't match the "
                                           r"broadcast shape \[2, 2, 3\]"):
        y.add_(nb.ones(2, 2, 3))
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        y.copy_(nb.ones(4, 3))
    with pytest.raises(RuntimeError, match=r"output with shape \[2, 3\] doesn't match the "
                                           r"broadcast shape \[2, 2, 3\]"):
        y.copy_(nb.ones(2, 2, 3))
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor but "
                                           "got tensor with 1 dimensions."):
        y.fill_(nb.ones(2))
    y.copy_(nb.tensor([1, 2, 3]))  # broadcast and converted
    assert y.tolist() == [[1.0, 2.0, 3.0]] * 2
    assert y.fill_(nb.tensor(4.0)).tolist() == [[4.0] * 3] * 2
    assert y.zero_().tolist() == [[0.0] * 3] * 2
    assert nb.tensor([-2.0, 0.5, 3.0]).clamp_(0, 1).tolist() == [0.0, 0.5, 1.0]


# ---- shape errors -----------------------------------------------------------------------------


def test_reductions_over_a_bad_dim_raise_index_error():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range "
                                         r"of \[-2, 1\], but got 5\)"):
        nb.zeros(2, 3).sum(5)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        nb.zeros(2, 3).sum((0, 0))


def test_matmul_shape_errors_name_the_sizes():
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(2\) must match the size of "
                                           r"tensor b \(5\) at non-singleton dimension 0"):
        nb.ones(2, 3, 4) @ nb.ones(5, 4, 6)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(1x3 and 4x5\)"):
        nb.ones(3) @ nb.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"size mismatch, got input \(2\), mat \(2x3\), "
                                           r"vec \(4\)"):
        nb.ones(2, 3) @ nb.ones(4)
    assert (nb.ones(2, 1, 3, 4) @ nb.ones(5, 4, 6)).shape == (2, 5, 3, 6)


# ---- the same on the GPU (the CUDA simulator in CI) -------------------------------------------


@pytest.mark.cuda
def test_assignment_and_in_place_ops_on_cuda_match_the_cpu():
    if not nb.cuda.is_available():
        pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")

    def run(device):
        x = nb.tensor([[0.0, 1.0, 0.0, 3.0], [4.0, 0.0, 0.0, 7.0]], device=device)
        v = x[:, ::2]
        v[v == 0] = 7
        x[nb.tensor([0, 0, 1], device=device), nb.tensor([1, 1, 3], device=device)] += 1
        x[1] = nb.tensor([9.0, 8.0, 7.0, 6.0], device=device)
        x.t()[0] = -1.0
        x *= 2
        x.clamp_(-1.0, 10.0)
        w = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
        y = w * 3
        y[nb.tensor([1], device=device)] = w[0]
        y += w
        y.sum().backward()
        return x.cpu().numpy(), y.detach().cpu().numpy(), w.grad.cpu().numpy()

    for on_cpu, on_cuda in zip(run("cpu"), run("cuda"), strict=True):
        np.testing.assert_array_equal(on_cuda, on_cpu)
