"""Autograd semantics a learner meets: accumulation, retain_graph, no_grad, hooks, grad()."""

import numpy as np
import pytest

import numbanet as nb
from numbanet.autograd import Function, grad, gradcheck


def test_gradients_accumulate_until_zeroed():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.grad.zero_()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_fan_out_contributions_are_summed():
    x = nb.tensor([2.0], requires_grad=True)
    y = x * x + x * 3  # dy/dx = 2x + 3
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [7.0])


def test_backward_twice_raises_without_retain_graph():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_no_grad_builds_no_graph_and_enable_grad_restores():
    x = nb.tensor([1.0], requires_grad=True)
    with nb.no_grad():
        y = x * 2
        with nb.enable_grad():
            z = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None

    @nb.no_grad()
    def evaluate(t):
        return t * 2

    assert evaluate(x).grad_fn is None


def test_backward_of_non_scalar_needs_gradient():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(nb.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 30.0])


def test_broadcast_gradient_is_summed_to_operand_shape():
    w = nb.ones(3, requires_grad=True)
    x = nb.ones(4, 3)
    (x * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 4.0, 4.0])


def test_hooks_see_and_replace_gradients():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    y = x * 2
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 20.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_retain_grad_keeps_non_leaf_gradient():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 12.0])


def test_autograd_grad_returns_without_touching_dot_grad():
    x = nb.tensor([3.0], requires_grad=True)
    y = x * x
    (dx,) = grad(y, x)
    np.testing.assert_allclose(dx.numpy(), [6.0])
    assert x.grad is None


def test_autograd_grad_of_intermediate():
    x = nb.tensor([3.0], requires_grad=True)
    h = x * 2
    y = h * h
    (dh,) = grad(y, h)
    np.testing.assert_allclose(dh.numpy(), [12.0])


def test_inplace_change_of_saved_tensor_raises():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    with nb.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    x = nb.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with nb.no_grad():
        x.add_(1)
    assert x.item() == 2.0


def test_views_share_version_counter():
    x = nb.zeros(4)
    view = x[1:3]
    view.fill_(5)
    assert x._version == view._version == 1
    np.testing.assert_allclose(x.numpy(), [0, 5, 5, 0])


def test_custom_function():
    class Cube(Function):
        """out = x^3

        Gradient: 3 x^2
        """

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 3 * x * x

    x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_gradcheck_catches_a_wrong_rule():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * x  # missing the factor 2

    x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        gradcheck(WrongSquare.apply, (x,))
    assert not gradcheck(WrongSquare.apply, (x,), raise_exception=False)


def test_detach_and_requires_grad_flags():
    x = nb.ones(2, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    with pytest.raises(RuntimeError, match="floating point"):
        nb.tensor([1, 2]).requires_grad_()


def test_accumulate_grad_is_one_node_per_leaf_as_in_pytorch():
    from numbanet.autograd.function import AccumulateGrad, Edge

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = x + 1
    accumulator, input_nr = y.grad_fn.next_functions[0]
    assert isinstance(accumulator, AccumulateGrad) and input_nr == 0
    assert accumulator.variable is x
    assert y.grad_fn.next_functions[0][0] is accumulator  # the same object every call
    assert z.grad_fn.next_functions[0][0] is accumulator  # and for every op reading x
    assert y.grad_fn.next_edges[0] == Edge(accumulator, 0)
    assert y.grad_fn.next_functions[1] == (None, 0)  # the constant 2 needs no gradient
    assert accumulator.name() == "AccumulateGrad" and accumulator.next_functions == ()
    w = y * 3
    assert w.grad_fn.next_functions[0] == (y.grad_fn, 0)


def test_grad_accumulates_in_place_so_a_reference_stays_valid():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    g = x.grad
    (x * x).sum().backward()  # + 2x
    assert x.grad is g
    np.testing.assert_allclose(g.numpy(), [5.0, 7.0])
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    (t * 3).sum().backward()
    tg = t.grad
    (t * t).sum().backward()
    assert t.grad is tg
    np.testing.assert_allclose(g.numpy(), tg.numpy())


def test_shared_gradient_storage_is_not_aliased_between_leaves():
    # Add's backward hands the same gradient to both inputs: each .grad needs its own copy
    a = nb.tensor([1.0, 2.0], requires_grad=True)
    b = nb.tensor([3.0, 4.0], requires_grad=True)
    (a + b).backward(nb.tensor([1.0, 1.0]))
    (a * 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_backward_from_a_leaf_accumulates_its_seed():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    seed = nb.tensor([0.5, 0.25])
    x.backward(seed)
    x.backward(seed)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.5])
    np.testing.assert_allclose(seed.numpy(), [0.5, 0.25])  # the seed itself is untouched


def test_ops_without_a_graph_give_fresh_results_and_record_nothing():
    """apply_pair's path without a node (no input needs grad, or grad mode is off): the
    result is a new leaf with its own version counter, and no gradient reaches w."""
    a, w = nb.ones(3), nb.ones(3, requires_grad=True)
    total = a + a
    with nb.no_grad():
        scaled = a * w
    for result in (total, scaled):
        assert result.grad_fn is None and not result.requires_grad
        result.add_(1.0)
        assert result._version == 1 and a._version == 0 and w._version == 0
    np.testing.assert_array_equal(scaled.numpy(), [2.0, 2.0, 2.0])
    (a * w).sum().backward()  # the graph path right after: w's gradient is a alone
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 1.0])
