"""Backward node names as PyTorch prints them: tutorials walk ``loss.grad_fn.next_functions``.

Each graph is built the same way in numbanet and, when installed, in PyTorch; the names of
every node reached from the loss (breadth first) must match, and always the names we state.
"""

import numpy as np
import pytest

import numbanet
import numbanet.nn as nn


def node_names(grad_fn) -> list[str]:
    """Node names breadth first from ``grad_fn``, as a tutorial reading next_functions sees."""
    names, frontier = [], [grad_fn]
    while frontier:
        node = frontier.pop(0)
        names.append(node.name().removeprefix("torch::autograd::"))
        frontier += [child for child, _ in node.next_functions if child is not None]
    return names


def blitz_graph(torch):
    """The 60-minute blitz's walk: Linear -> ReLU -> Linear -> MSELoss."""
    torch.manual_seed(0)
    x = torch.ones(2, 4)
    hidden = torch.nn.functional.relu(torch.nn.functional.linear(
        x, torch.ones(3, 4, requires_grad=True), torch.zeros(3, requires_grad=True)))
    out = torch.nn.functional.linear(hidden, torch.ones(1, 3, requires_grad=True),
                                     torch.zeros(1, requires_grad=True))
    return torch.nn.MSELoss()(out, torch.zeros(2, 1))


def elementwise_graph(torch):
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x * 2 + 1).exp().sigmoid().tanh().log()
    return (y.t().reshape(4)[1:].sum(0) + x.mean() + x.sum(1).mean(0)) / x.max()


EXPECTED_BLITZ = ["MseLossBackward0", "AddmmBackward0", "AccumulateGrad", "ReluBackward0",
                  "TBackward0", "AddmmBackward0", "AccumulateGrad", "AccumulateGrad",
                  "TBackward0", "AccumulateGrad"]


def test_the_blitz_walk_names_pytorchs_nodes():
    assert node_names(blitz_graph(numbanet).grad_fn) == EXPECTED_BLITZ


def test_grad_fn_prints_as_in_pytorch():
    loss = blitz_graph(numbanet)
    assert repr(loss.grad_fn).startswith("<MseLossBackward0 object at 0x")
    leaf = loss.grad_fn.next_functions[0][0].next_functions[0][0]
    assert repr(leaf).startswith("<AccumulateGrad object at 0x")


def test_linear_layer_is_one_addmm_and_matches_pytorchs_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(5, 4), (3, 4), (3,)])
    ours = [numbanet.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = nn.functional.linear(*ours)
    expected = torch.nn.functional.linear(*theirs)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert ours[1].grad.is_contiguous()  # the transposes cancel: no strided accumulation


def test_linear_on_a_batch_of_sequences_views_back():
    layer = nn.Linear(4, 3)
    out = layer(numbanet.ones(2, 5, 4))
    assert out.shape == (2, 5, 3) and out.grad_fn.name() == "ViewBackward0"
    assert out.grad_fn.next_functions[0][0].name() == "AddmmBackward0"


@pytest.mark.parametrize("build", [blitz_graph, elementwise_graph])
def test_names_equal_pytorchs(build):
    torch = pytest.importorskip("torch")
    assert node_names(build(numbanet).grad_fn) == node_names(build(torch).grad_fn)


def test_user_function_keeps_its_own_name():
    class Square(numbanet.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    y = Square.apply(numbanet.ones(2, requires_grad=True))
    assert y.grad_fn.name() == "SquareBackward"  # PyTorch names a Python Function so


def test_next_functions_list_tensor_inputs_only():
    """``reduction='sum'``, a dim or a shape are arguments, not graph inputs: no entry."""
    x = numbanet.ones(3, requires_grad=True)
    loss = nn.functional.mse_loss(x, numbanet.zeros(3), reduction="sum")
    (first, _), second = loss.grad_fn.next_functions
    assert first.name() == "AccumulateGrad" and second == (None, 0)
    assert len(x.sum(0).grad_fn.next_functions) == 1
    assert len(x.reshape(3, 1).grad_fn.next_functions) == 1


@pytest.mark.parametrize("build", [blitz_graph, elementwise_graph])
def test_next_functions_have_pytorchs_arity(build):
    torch = pytest.importorskip("torch")

    def arities(grad_fn):
        counts, frontier = [], [grad_fn]
        while frontier:
            node = frontier.pop(0)
            counts.append(len(node.next_functions))
            frontier += [child for child, _ in node.next_functions if child is not None]
        return counts

    assert arities(build(numbanet).grad_fn) == arities(build(torch).grad_fn)
