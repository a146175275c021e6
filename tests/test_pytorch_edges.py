"""PyTorch's numbers at every edge (issue 9, item 7): one test per edge.

Each test asserts a *stated* expected value — PyTorch 2.13's result, written out here so the
test runs without PyTorch — and, when PyTorch is installed, also runs the same code through
``torch`` and compares values, dtypes and shapes directly.

The tests are grouped by the part of numbanet that decides the behaviour, so whoever works on
that part finds theirs: KERNELS (numbanet/kernels), TENSOR (promotion, views, assignment,
in-place), AUTOGRAD (gradients, saved tensors), LOSSES + FUNCTIONAL, CHECKPOINTS.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings

import numpy as np
import pytest

import numbanet as nb
import numbanet.nn.functional as F
from numbanet.serialization import PREAMBLE, SerializationError

try:
    import torch
except ImportError:  # CI has no PyTorch: the stated values are still checked
    torch = None

NAN, INF = math.nan, math.inf


def values_of(tensor) -> np.ndarray:
    """A tensor of either library as a numpy array (detached, on the host)."""
    return tensor.detach().cpu().numpy()


def dtype_name(tensor) -> str:
    return str(tensor.dtype).rsplit(".", 1)[-1]


def expect(actual, expected, dtype: str | None = None, signs: bool = False) -> None:
    """``actual`` (a numbanet tensor) holds ``expected``: NaN where NaN, the same shape, and
    with ``signs`` the same sign bits (so -0.0 and +0.0 differ)."""
    got = values_of(actual)
    want = np.asarray(expected, dtype=got.dtype if dtype is None else None)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)
    if dtype is not None:
        assert dtype_name(actual) == dtype
    if signs:
        assert_same_signs(got, want)


def assert_same_signs(got: np.ndarray, want: np.ndarray) -> None:
    """-0.0 and +0.0 differ; a NaN's sign bit is not part of its value."""
    numbers = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got)[numbers], np.signbit(want)[numbers])


def same_as_torch(actual, build, signs: bool = True) -> None:
    """When PyTorch is installed: ``build(torch)`` gives the same values, dtype and shape
    (and, with ``signs``, the same signed zeros)."""
    if torch is None:
        return
    reference = build(torch)
    assert dtype_name(actual) == dtype_name(reference)
    got, want = values_of(actual), values_of(reference)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)
    if signs:
        assert_same_signs(got, want)


def torch_raises(build, exception_type: type[Exception], message: str) -> None:
    """When PyTorch is installed: ``build(torch)`` raises ``exception_type`` with ``message``."""
    if torch is None:
        return
    with pytest.raises(exception_type, match=message):
        build(torch)


def leaf(values, dtype=nb.float32) -> nb.Tensor:
    return nb.tensor(values, dtype=dtype, requires_grad=True)


def torch_leaf(lib, values, dtype="float32"):
    return lib.tensor(values, dtype=getattr(lib, dtype), requires_grad=True)


# =============================================================================================
# KERNELS (helper C: numbanet/kernels — formulas, IEEE semantics, reductions)
# =============================================================================================


def test_division_by_zero_gives_inf_and_nan():
    out = nb.tensor([1.0, -1.0, 0.0]) / 0
    expect(out, [INF, -INF, NAN], "float32")
    same_as_torch(out, lambda t: t.tensor([1.0, -1.0, 0.0]) / 0)


def test_relu_of_minus_inf_is_zero_and_of_negatives_plus_zero():
    out = nb.relu(nb.tensor([-INF, -1.0, -1e-30, NAN, 2.0]))
    expect(out, [0.0, 0.0, 0.0, NAN, 2.0], "float32", signs=True)
    same_as_torch(out, lambda t: t.relu(t.tensor([-INF, -1.0, -1e-30, NAN, 2.0])))


def test_nan_propagates_through_maximum_clamp_max_and_sum():
    a, b = nb.tensor([NAN, 1.0]), nb.tensor([1.0, NAN])
    expect(nb.maximum(a, b), [NAN, NAN])
    expect(nb.minimum(a, b), [NAN, NAN])
    expect(nb.clamp(nb.tensor([NAN]), 0.0, 1.0), [NAN])
    expect(a.max(), NAN)
    expect(a.sum(), NAN)
    same_as_torch(nb.maximum(a, b), lambda t: t.maximum(t.tensor([NAN, 1.0]),
                                                        t.tensor([1.0, NAN])))
    same_as_torch(a.max(), lambda t: t.tensor([NAN, 1.0]).max())


def test_log_softmax_is_stable_for_huge_logits():
    out = F.log_softmax(nb.tensor([1e8, 1e8, 5e7]), dim=0)
    expect(out, [-math.log(2), -math.log(2), -5e7 - math.log(2)], "float32")
    same_as_torch(out, lambda t: t.log_softmax(t.tensor([1e8, 1e8, 5e7]), 0))


def test_cross_entropy_of_huge_logits_and_its_gradient():
    logits = leaf([[1e8, 1e8, 5e7]])
    loss = F.cross_entropy(logits, nb.tensor([0]))
    loss.backward()
    expect(loss, math.log(2), "float32")
    expect(logits.grad, [[-0.5, 0.5, 0.0]])
    if torch is not None:
        reference = torch_leaf(torch, [[1e8, 1e8, 5e7]])
        torch_loss = torch.nn.functional.cross_entropy(reference, torch.tensor([0]))
        torch_loss.backward()
        same_as_torch(loss, lambda t: torch_loss)
        same_as_torch(logits.grad, lambda t: reference.grad)


def test_floor_divide_and_remainder_of_integers_round_toward_minus_infinity():
    a, b = nb.tensor([-7, 7, -7, 7]), nb.tensor([2, 2, -2, -2])
    expect(a // b, [-4, 3, 3, -4], "int64")
    expect(a % b, [1, 1, -1, -1], "int64")
    same_as_torch(a // b, lambda t: t.tensor([-7, 7, -7, 7]) // t.tensor([2, 2, -2, -2]))
    same_as_torch(a % b, lambda t: t.tensor([-7, 7, -7, 7]) % t.tensor([2, 2, -2, -2]))


def test_floor_divide_and_remainder_of_floats_follow_python():
    a, b = nb.tensor([-7.0, 7.0, 5.5, -0.0]), nb.tensor([2.0, -2.0, 0.0, 3.0])
    expect(a // b, [-4.0, -4.0, INF, -0.0], "float32", signs=True)
    expect(a % b, [1.0, -1.0, NAN, -0.0], "float32")
    same_as_torch(a // b, lambda t: t.tensor([-7.0, 7.0, 5.5, -0.0]) //
                  t.tensor([2.0, -2.0, 0.0, 3.0]))


def test_bitwise_ops_on_integers():
    x, y = nb.tensor([12, 0, -1]), nb.tensor([10, 5, 3])
    expect(~x, [-13, -1, 0], "int64")
    expect(x & y, [8, 0, 3], "int64")
    expect(x | y, [14, 5, -1], "int64")
    expect(x ^ y, [6, 5, -4], "int64")
    same_as_torch(x ^ y, lambda t: t.tensor([12, 0, -1]) ^ t.tensor([10, 5, 3]))


def test_bitwise_ops_on_bool_are_logical():
    p, q = nb.tensor([True, True, False]), nb.tensor([True, False, False])
    expect(~p, [False, False, True], "bool")
    expect(p & q, [True, False, False], "bool")
    expect(p | q, [True, True, False], "bool")
    expect(p ^ q, [False, True, False], "bool")
    same_as_torch(~p, lambda t: ~t.tensor([True, True, False]))


def test_int64_sum_is_exact():
    out = nb.tensor([2**53, 1, 1]).sum()
    assert out.dtype == nb.int64
    assert out.item() == 2**53 + 2
    same_as_torch(out, lambda t: t.tensor([2**53, 1, 1]).sum())


# =============================================================================================
# TENSOR (helper B: type promotion, views, assignment, in-place, shape checks)
# =============================================================================================


def test_zero_dim_tensor_acts_as_a_scalar_in_promotion():
    out = nb.ones(3) * nb.tensor(2.0, dtype=nb.float64)
    expect(out, [2.0, 2.0, 2.0], "float32")
    ints = nb.tensor([1, 2]) + nb.tensor(1.5)  # a float 0-d tensor: its own dtype, float32
    expect(ints, [2.5, 3.5], "float32")
    wide = nb.tensor([1, 2]) + nb.tensor(1.5, dtype=nb.float64)  # ... here float64
    expect(wide, [2.5, 3.5], "float64")
    same_as_torch(out, lambda t: t.ones(3) * t.tensor(2.0, dtype=t.float64))
    same_as_torch(ints, lambda t: t.tensor([1, 2]) + t.tensor(1.5))
    same_as_torch(wide, lambda t: t.tensor([1, 2]) + t.tensor(1.5, dtype=t.float64))


def test_uint8_plus_int8_is_int16():
    out = nb.tensor([200], dtype=nb.uint8) + nb.tensor([-1], dtype=nb.int8)
    expect(out, [199], "int16")
    same_as_torch(out, lambda t: t.tensor([200], dtype=t.uint8) + t.tensor([-1], dtype=t.int8))


def test_int_divided_by_int_is_true_division():
    out = nb.tensor([1, 2]) / nb.tensor([2, 2])
    expect(out, [0.5, 1.0], "float32")
    same_as_torch(out, lambda t: t.tensor([1, 2]) / t.tensor([2, 2]))


def test_in_place_true_division_of_an_int_tensor_raises():
    message = "result type Float can't be cast to the desired output type Long"
    x = nb.tensor([1, 2])
    with pytest.raises(RuntimeError, match=message):
        x /= 2
    expect(x, [1, 2], "int64")

    def divide(t):
        y = t.tensor([1, 2])
        y /= 2

    torch_raises(divide, RuntimeError, message)


def test_integer_to_a_negative_integer_power_raises():
    message = "Integers to negative integer powers are not allowed"
    with pytest.raises(RuntimeError, match=message):
        nb.tensor([2]) ** -1
    torch_raises(lambda t: t.tensor([2]) ** -1, RuntimeError, message)


def test_clamp_of_integers_by_a_float_promotes():
    out = nb.clamp(nb.tensor([1, 2, 3]), min=1.5)
    expect(out, [1.5, 2.0, 3.0], "float32")
    same_as_torch(out, lambda t: t.clamp(t.tensor([1, 2, 3]), min=1.5))


def test_mask_assignment_through_a_non_contiguous_view_writes_into_the_base():
    x = nb.zeros(2, 4)
    view = x[:, ::2]
    view[view == 0] = 7
    expect(x, [[7, 0, 7, 0], [7, 0, 7, 0]])

    def reference(t):
        base = t.zeros(2, 4)
        v = base[:, ::2]
        v[v == 0] = 7
        return base

    same_as_torch(x, reference)


def test_index_assignment_through_a_non_contiguous_view_writes_into_the_base():
    x = nb.zeros(3, 4)
    view = x.t()
    view[nb.tensor([1, 3])] = 5.0
    expect(x, [[0, 5, 0, 5]] * 3)


def test_in_place_add_with_repeated_indices_adds_once():
    x = nb.zeros(3)
    x[nb.tensor([0, 0, 2])] += 1
    expect(x, [1.0, 0.0, 1.0])

    def reference(t):
        y = t.zeros(3)
        y[t.tensor([0, 0, 2])] += 1
        return y

    same_as_torch(x, reference)


def test_assignment_with_repeated_indices_keeps_the_last_value():
    x = nb.zeros(3)
    x[nb.tensor([0, 0])] = nb.tensor([1.0, 2.0])
    expect(x, [2.0, 0.0, 0.0])

    def reference(t):
        y = t.zeros(3)
        y[t.tensor([0, 0])] = t.tensor([1.0, 2.0])
        return y

    same_as_torch(x, reference)


def test_view_of_a_sliced_tensor_is_allowed_when_strides_allow():
    x = nb.arange(24.0).reshape(4, 6)
    out = x[:, :4].view(4, 2, 2)
    expect(out, np.arange(24.0, dtype=np.float32).reshape(4, 6)[:, :4].reshape(4, 2, 2))
    same_as_torch(out, lambda t: t.arange(24.0).reshape(4, 6)[:, :4].view(4, 2, 2))
    out[0, 0, 0] = -1.0  # a view: writes reach x
    assert x[0, 0].item() == -1.0


def test_indexing_with_an_empty_list_is_empty():
    out = nb.arange(6.0).reshape(3, 2)[[]]
    assert tuple(out.shape) == (0, 2)
    same_as_torch(out, lambda t: t.arange(6.0).reshape(3, 2)[[]])


def test_negative_slice_step_raises_value_error():
    with pytest.raises(ValueError, match="step must be greater than zero"):
        nb.arange(3)[::-1]
    torch_raises(lambda t: t.arange(3)[::-1], ValueError, "step must be greater than zero")


def test_in_place_op_on_an_expanded_tensor_raises():
    message = "more than one element of the written-to tensor refers to a single memory location"
    x = nb.zeros(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError, match=message):
        x.add_(1)
    torch_raises(lambda t: t.zeros(1, 3).expand(2, 3).add_(1), RuntimeError, message)


def test_sum_over_a_dim_out_of_range_raises_index_error():
    message = r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"
    with pytest.raises(IndexError, match=message):
        nb.zeros(2, 3).sum(2)
    torch_raises(lambda t: t.zeros(2, 3).sum(2), IndexError, message)


def test_matmul_batch_shape_mismatch_names_the_sizes():
    message = (r"The size of tensor a \(2\) must match the size of tensor b \(3\) at "
               r"non-singleton dimension 0")
    with pytest.raises(RuntimeError, match=message):
        nb.zeros(2, 3, 4) @ nb.zeros(3, 4, 5)
    torch_raises(lambda t: t.zeros(2, 3, 4) @ t.zeros(3, 4, 5), RuntimeError, message)


# =============================================================================================
# AUTOGRAD (helper A: gradients, saved tensors, in-place checks, ops' shapes)
# =============================================================================================


@pytest.mark.parametrize(("name", "expected"), [("log", INF), ("sqrt", INF),
                                                ("reciprocal", -INF)])
def test_backward_at_zero_is_infinite(name, expected):
    def apply(lib, x):
        return 1 / x if name == "reciprocal" else getattr(lib, name)(x)

    x = leaf(0.0)
    apply(nb, x).backward()
    expect(x.grad, expected, "float32")
    if torch is not None:
        reference = torch_leaf(torch, 0.0)
        apply(torch, reference).backward()
        same_as_torch(x.grad, lambda t: reference.grad)


SAVES_ITS_OUTPUT = {
    "exp": lambda lib, x: lib.exp(x),
    "sigmoid": lambda lib, x: lib.sigmoid(x),
    "tanh": lambda lib, x: lib.tanh(x),
    "sqrt": lambda lib, x: lib.sqrt(x),
    "softmax": lambda lib, x: lib.softmax(x, 0),
    "log_softmax": lambda lib, x: lib.log_softmax(x, 0),
}


@pytest.mark.parametrize("name", sorted(SAVES_ITS_OUTPUT))
def test_modifying_a_saved_output_in_place_raises_at_backward(name):
    message = "modified by an inplace operation"
    out = SAVES_ITS_OUTPUT[name](nb, leaf([1.0, 2.0]))
    out.mul_(2)
    with pytest.raises(RuntimeError, match=message):
        out.sum().backward()

    def reference(t):
        y = SAVES_ITS_OUTPUT[name](t, torch_leaf(t, [1.0, 2.0]))
        y.mul_(2)
        y.sum().backward()

    torch_raises(reference, RuntimeError, message)


def test_in_place_op_on_a_leaf_that_requires_grad_raises():
    message = "a leaf Variable that requires grad is being used in an in-place operation"
    p = leaf([1.0, 2.0])
    p.grad = nb.tensor([0.5, 0.5])
    with pytest.raises(RuntimeError, match=message):
        p -= 0.1 * p.grad
    with nb.no_grad():  # the optimizer's way is allowed
        p -= 0.1 * p.grad
    expect(p, [0.95, 1.95])

    def reference(t):
        q = torch_leaf(t, [1.0, 2.0])
        q -= 0.1

    torch_raises(reference, RuntimeError, message)


def test_in_place_add_on_a_non_leaf_is_in_place_and_differentiable():
    x = leaf([1.0, 2.0])
    y = x * 2
    before = y
    y += 1
    assert y is before
    expect(y, [3.0, 5.0])
    y.sum().backward()
    expect(x.grad, [2.0, 2.0])
    if torch is not None:
        reference = torch_leaf(torch, [1.0, 2.0])
        z = reference * 2
        z_before = z
        z += 1
        assert z is z_before
        z.sum().backward()
        same_as_torch(x.grad, lambda t: reference.grad)


@pytest.mark.parametrize(("exponent", "expected"), [(2.0, 0.0), (0.0, 0.0), (0.5, INF)])
def test_pow_gradient_with_respect_to_a_zero_base(exponent, expected):
    x = leaf(0.0)
    (x**exponent).backward()
    expect(x.grad, expected, "float32")
    if torch is not None:
        reference = torch_leaf(torch, 0.0)
        (reference**exponent).backward()
        same_as_torch(x.grad, lambda t: reference.grad)


@pytest.mark.parametrize(("exponent", "expected"), [(2.0, 0.0), (0.0, 0.0), (-1.0, -INF)])
def test_pow_gradient_with_respect_to_the_exponent_of_zero(exponent, expected):
    y = leaf(exponent)
    nb.pow(nb.tensor(0.0), y).backward()
    expect(y.grad, expected, "float32")
    if torch is not None:
        reference = torch_leaf(torch, exponent)
        torch.pow(torch.tensor(0.0), reference).backward()
        same_as_torch(y.grad, lambda t: reference.grad)


@pytest.mark.parametrize("reduction", ["max", "min"])
def test_full_max_and_min_split_the_gradient_evenly_between_ties(reduction):
    x = leaf([3.0, 1.0, 3.0] if reduction == "max" else [1.0, 3.0, 1.0])
    getattr(x, reduction)().backward()
    expect(x.grad, [0.5, 0.0, 0.5])
    if torch is not None:
        reference = torch_leaf(torch, values_of(x).tolist())
        getattr(reference, reduction)().backward()
        same_as_torch(x.grad, lambda t: reference.grad)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_and_minimum_split_the_gradient_evenly_between_ties(op):
    a, b = leaf([1.0, 2.0]), leaf([1.0, 1.0 if op == "maximum" else 3.0])
    getattr(nb, op)(a, b).sum().backward()
    expect(a.grad, [0.5, 1.0])
    expect(b.grad, [0.5, 0.0])
    if torch is not None:
        ta, tb = torch_leaf(torch, [1.0, 2.0]), torch_leaf(torch, values_of(b).tolist())
        getattr(torch, op)(ta, tb).sum().backward()
        same_as_torch(a.grad, lambda t: ta.grad)
        same_as_torch(b.grad, lambda t: tb.grad)


def test_clamp_of_a_zero_dim_tensor_stays_zero_dim():
    out = nb.clamp(nb.tensor(5.0), max=1.0)
    expect(out, 1.0, "float32")
    assert tuple(out.shape) == ()
    same_as_torch(out, lambda t: t.clamp(t.tensor(5.0), max=1.0))


def test_batched_matmul_with_a_zero_sized_dimension():
    rows = nb.zeros(2, 0, 3) @ nb.ones(2, 3, 4)
    assert tuple(rows.shape) == (2, 0, 4)
    inner = nb.ones(2, 3, 0) @ nb.ones(2, 0, 4)
    expect(inner, np.zeros((2, 3, 4)), "float32")
    same_as_torch(inner, lambda t: t.ones(2, 3, 0) @ t.ones(2, 0, 4))


def test_batched_matmul_with_a_zero_sized_inner_dimension_has_zero_gradients():
    a, b = leaf(np.ones((2, 3, 0))), leaf(np.ones((2, 0, 4)))
    (a @ b).sum().backward()
    assert tuple(a.grad.shape) == (2, 3, 0) and tuple(b.grad.shape) == (2, 0, 4)


def test_sums_and_means_over_empty_tensors():
    expect(nb.zeros(0).sum(), 0.0, "float32")
    expect(nb.zeros(0, 3).sum(0), [0.0, 0.0, 0.0], "float32")
    expect(nb.zeros(0).mean(), NAN, "float32")
    expect(nb.zeros(0, dtype=nb.int64).sum(), 0, "int64")
    same_as_torch(nb.zeros(0).mean(), lambda t: t.zeros(0).mean())
    same_as_torch(nb.zeros(0, 3).sum(0), lambda t: t.zeros(0, 3).sum(0))
    x = leaf(np.zeros((0, 3)))
    x.sum().backward()
    assert tuple(x.grad.shape) == (0, 3)


# =============================================================================================
# LOSSES + FUNCTIONAL (helper D: numbanet/nn/functional.py, std/var edge warnings)
# =============================================================================================


@pytest.mark.parametrize("op", ["std", "var"])
def test_std_and_var_of_one_element_are_nan_with_a_warning(op):
    with pytest.warns(UserWarning, match=rf"{op}\(\): degrees of freedom is <= 0"):
        out = getattr(nb.tensor([3.0]), op)()
    expect(out, NAN, "float32")
    if torch is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same_as_torch(out, lambda t: getattr(t.tensor([3.0]), op)())


@pytest.mark.parametrize("op", ["std", "var"])
def test_std_and_var_of_a_constant_input_are_zero(op):
    out = getattr(nb.tensor([2.0, 2.0, 2.0]), op)()
    expect(out, 0.0, "float32")
    same_as_torch(out, lambda t: getattr(t.tensor([2.0, 2.0, 2.0]), op)())


def test_standardizing_a_constant_input_gives_nan_without_an_exception():
    x = nb.tensor([2.0, 2.0, 2.0])
    out = (x - x.mean()) / x.std()
    expect(out, [NAN, NAN, NAN], "float32")

    def reference(t):
        y = t.tensor([2.0, 2.0, 2.0])
        return (y - y.mean()) / y.std()

    same_as_torch(out, reference)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    p, target = nb.tensor([0.0, 1.0, 0.0, 1.0]), nb.tensor([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(p, target, reduction="none")
    expect(out, [100.0, 100.0, 0.0, 0.0], "float32")
    expect(F.binary_cross_entropy(p, target), 50.0, "float32")
    same_as_torch(out, lambda t: t.nn.functional.binary_cross_entropy(
        t.tensor([0.0, 1.0, 0.0, 1.0]), t.tensor([1.0, 0.0, 0.0, 1.0]), reduction="none"))


def test_binary_cross_entropy_gradient_at_zero_and_one_is_finite():
    """PyTorch divides by max(p (1 - p), 1e-12): (p - y) / 1e-12 / N."""
    p = leaf([0.0, 1.0])
    F.binary_cross_entropy(p, nb.tensor([1.0, 0.0])).backward()
    expect(p.grad, [-5e11, 5e11], "float32")
    if torch is not None:
        reference = torch_leaf(torch, [0.0, 1.0])
        torch.nn.functional.binary_cross_entropy(reference, torch.tensor([1.0, 0.0])).backward()
        same_as_torch(p.grad, lambda t: reference.grad)


def test_binary_cross_entropy_with_logits_gradient_at_logit_zero():
    logits = leaf([0.0, 0.0])
    F.binary_cross_entropy_with_logits(logits, nb.tensor([1.0, 0.0])).backward()
    expect(logits.grad, [-0.25, 0.25], "float32")
    if torch is not None:
        reference = torch_leaf(torch, [0.0, 0.0])
        torch.nn.functional.binary_cross_entropy_with_logits(
            reference, torch.tensor([1.0, 0.0])).backward()
        same_as_torch(logits.grad, lambda t: reference.grad)


@pytest.mark.parametrize(("reduction", "expected"), [("mean", NAN), ("sum", 0.0)])
def test_cross_entropy_with_every_target_ignored(reduction, expected):
    logits = leaf([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    loss = F.cross_entropy(logits, nb.tensor([-100, -100]), reduction=reduction)
    expect(loss, expected, "float32")
    loss.backward()
    expect(logits.grad, np.zeros((2, 3)))
    if torch is not None:
        reference = torch_leaf(torch, [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        torch_loss = torch.nn.functional.cross_entropy(
            reference, torch.tensor([-100, -100]), reduction=reduction)
        torch_loss.backward()
        same_as_torch(loss, lambda t: torch_loss)
        # PyTorch skips ignored rows (+0.0); numbanet multiplies them by a weight 0 (-0.0)
        same_as_torch(logits.grad, lambda t: reference.grad, signs=False)


def assert_names_the_line(error) -> None:
    """The message ends with where in the user's code (here: this test file) it happened."""
    assert f"in your code at {os.path.basename(__file__)}:" in str(error.value)


@pytest.mark.parametrize(("keywords", "message"), [
    ({"stride": 0}, "non-positive stride is not supported"),
    ({"stride": (1, -1)}, "non-positive stride is not supported"),
    ({"padding": -1}, "negative padding is not supported"),
])
def test_conv2d_refuses_non_positive_stride_and_negative_padding(keywords, message):
    with pytest.raises(RuntimeError, match=message) as raised:
        F.conv2d(nb.zeros(1, 1, 4, 4), nb.zeros(1, 1, 2, 2), **keywords)
    assert "conv2d" in str(raised.value) and "(1, 1, 4, 4)" in str(raised.value)
    assert_names_the_line(raised)
    torch_raises(lambda t: t.nn.functional.conv2d(t.zeros(1, 1, 4, 4), t.zeros(1, 1, 2, 2),
                                                  **keywords), RuntimeError, message)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(("keywords", "message"), [
    ({"kernel_size": 0, "stride": 1}, r"kernel size should be greater than zero, but got "
                                      r"kH: 0 kW: 0"),
    ({"kernel_size": (2, 0), "stride": 1}, "kernel size should be greater than zero"),
    ({"kernel_size": 2, "stride": 0}, "stride should not be zero"),
    ({"kernel_size": 0}, "should"),  # the default stride is the kernel size: also 0
])
def test_pooling_refuses_a_zero_kernel_or_stride(op, keywords, message):
    with pytest.raises(RuntimeError, match=message) as raised:
        getattr(F, op)(nb.zeros(1, 1, 4, 4), **keywords)
    assert op in str(raised.value)
    assert_names_the_line(raised)
    torch_raises(lambda t: getattr(t.nn.functional, op)(t.zeros(1, 1, 4, 4), **keywords),
                 RuntimeError, message)


# =============================================================================================
# CHECKPOINTS (helper D: numbanet/serialization.py)
# =============================================================================================


def save_both(obj_numbanet, obj_torch, path_numbanet, path_torch) -> None:
    nb.save(obj_numbanet, path_numbanet)
    if torch is not None:
        torch.save(obj_torch, path_torch)


def test_saving_over_a_file_keeps_its_permissions(tmp_path):
    paths = [tmp_path / "numbanet.pth", tmp_path / "torch.pth"]
    for path in paths:
        path.write_bytes(b"old")
        path.chmod(0o640)
    save_both({"epoch": 1}, {"epoch": 1}, *paths)
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o640
    assert nb.load(paths[0]) == {"epoch": 1}
    if torch is not None:
        assert stat.S_IMODE(paths[1].stat().st_mode) == 0o640


def test_saving_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "links").mkdir()
    for library in ("numbanet", "torch"):
        target = tmp_path / "runs" / f"{library}.pth"
        target.write_bytes(b"old")
        (tmp_path / "links" / f"{library}.pth").symlink_to(target)
    save_both({"epoch": 2}, {"epoch": 2}, tmp_path / "links" / "numbanet.pth",
              tmp_path / "links" / "torch.pth")
    for library in ("numbanet",) + (("torch",) if torch is not None else ()):
        link = tmp_path / "links" / f"{library}.pth"
        assert link.is_symlink() and link.resolve() == tmp_path / "runs" / f"{library}.pth"
        assert (tmp_path / "runs" / f"{library}.pth").read_bytes() != b"old"
    assert nb.load(tmp_path / "runs" / "numbanet.pth") == {"epoch": 2}
    # atomic: the temporary file was made beside the target and renamed; nothing is left
    assert sorted(os.listdir(tmp_path / "links")) == ["numbanet.pth", "torch.pth"]
    assert sorted(os.listdir(tmp_path / "runs")) == ["numbanet.pth", "torch.pth"]


def test_a_failed_save_through_a_symlink_keeps_the_old_checkpoint(tmp_path):
    target, link = tmp_path / "model.pth", tmp_path / "latest.pth"
    nb.save({"epoch": 1}, target)
    link.symlink_to(target)
    with pytest.raises(TypeError):
        nb.save({"epoch": 2, "bad": object()}, link)
    assert link.is_symlink() and nb.load(link) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["latest.pth", "model.pth"]


def forge(path, edit) -> None:
    """Apply ``edit`` to a saved file's header and rewrite it with a valid checksum."""
    import hashlib

    content = path.read_bytes()
    magic, version, header_length, payload_length, _ = PREAMBLE.unpack_from(content)
    header = json.loads(content[PREAMBLE.size:PREAMBLE.size + header_length])
    payload = content[PREAMBLE.size + header_length:]
    header, payload = edit(header, payload)
    header_bytes = json.dumps(header).encode()
    digest = hashlib.sha256(header_bytes + payload).digest()
    path.write_bytes(PREAMBLE.pack(magic, version, len(header_bytes), len(payload), digest)
                     + header_bytes + payload)


def test_a_hostile_header_raises_serialization_error(tmp_path):
    path = tmp_path / "evil.pth"
    nb.save({"w": nb.tensor([1.0, 2.0])}, path, _use_new_zipfile_serialization=False)

    def negative_offset(header, payload):
        header["tensors"][0]["offset"] = -4
        return header, payload

    forge(path, negative_offset)
    with pytest.raises(SerializationError):
        nb.load(path)


def test_bool_payload_bytes_other_than_zero_and_one_are_refused(tmp_path):
    path = tmp_path / "mask.pth"
    nb.save({"mask": nb.tensor([True, False])}, path, _use_new_zipfile_serialization=False)
    forge(path, lambda header, payload: (header, b"\x02\x00"))
    with pytest.raises(SerializationError, match="bool"):
        nb.load(path)
