"""The gradient check at every backward node (numbanet.autograd.node_check), as recorded
into a trace: correct rules pass at float64 precision, a backward that drops a factor fails
at exactly its node, dropout is checked with its own mask, and the results survive JSON."""

from pathlib import Path

import numpy as np
import pytest

import numbanet as torch
import numbanet.nn as nn
from numbanet.autograd.node_check import TOLERANCE, relative_error
from numbanet.lesson import load_lesson, record_iteration
from numbanet.trace import Trace, record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Cube(torch.autograd.Function):
    """out = x³

    Gradient: d out/d x = 3 x²
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class CubeMissingThree(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x * x  # the factor 3 dropped


def checked(trace: Trace) -> dict[str, dict]:
    return {event.op: event.gradcheck for event in trace.events if event.gradcheck}


def record_cube(function) -> Trace:
    torch.manual_seed(0)
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(4, 2, requires_grad=True)
    with record(gradcheck=True) as trace:
        (function.apply(x @ w).sin() * 2.0).sum().backward()
    return trace


def test_every_node_of_a_correct_graph_passes_at_float64_precision():
    results = checked(record_cube(Cube))
    assert {op.split("Backward")[0] for op in results} >= {"Cube", "Sin", "Mul", "Mm",
                                                           "Sum"}
    for op, result in results.items():
        assert result["status"] == "pass", op
        assert result["max_error"] < 1e-6, (op, result["max_error"])


def test_a_backward_that_drops_a_factor_fails_at_exactly_its_node():
    results = checked(record_cube(CubeMissingThree))
    failed = [op for op, result in results.items() if result["status"] == "fail"]
    assert failed == [next(op for op in results if op.startswith("CubeMissingThree"))]
    result = results[failed[0]]
    # analytic = numeric / 3 everywhere: relative error 2/3
    assert result["max_error"] == pytest.approx(2 / 3, rel=1e-6)
    element = result["inputs"][0]["elements"][0]
    assert element["analytic"] == pytest.approx(element["numeric"] / 3, rel=1e-6)
    others = [r["max_error"] for op, r in results.items() if op != failed[0]]
    assert max(others) < 1e-6


def test_the_numeric_side_is_independent_of_the_backward_rule():
    # the same op with a hand-computed gradient: numeric = Σ g · dy/dx = 3 x² g
    torch.manual_seed(1)
    x = torch.randn(5, requires_grad=True)
    with record(gradcheck=True) as trace:
        Cube.apply(x).backward(torch.ones(5) * 0.5)
    (result,) = checked(trace).values()
    expected = 3 * x.detach().numpy().astype(np.float64) ** 2 * 0.5
    numeric = [element["numeric"] for element in result["inputs"][0]["elements"]]
    np.testing.assert_allclose(numeric, expected, rtol=1e-6)


def test_a_large_input_is_sampled_and_checked_along_a_random_direction():
    torch.manual_seed(2)
    x = torch.randn(40, 30, requires_grad=True)
    with record(gradcheck=True) as trace:
        (x * x).sum().backward()
    result = next(r for op, r in checked(trace).items() if op.startswith("Mul"))
    item = result["inputs"][0]
    assert item["numel"] == 1200 and 16 <= len(item["elements"]) <= 17
    assert item["direction"]["error"] < 1e-6
    assert item["direction"]["analytic"] == pytest.approx(item["direction"]["numeric"],
                                                          rel=1e-6)


def test_dropout_is_checked_with_the_mask_it_drew_and_training_is_unchanged():
    layer = nn.Dropout(0.5)
    torch.manual_seed(3)
    x = torch.randn(6, 6, requires_grad=True)
    with record(gradcheck=True) as trace:
        layer(x).sum().backward()
    after_checked = torch.rand(3).tolist()  # the generator moved as without checks
    torch.manual_seed(3)
    x2 = torch.randn(6, 6, requires_grad=True)
    layer(x2).sum().backward()
    assert torch.rand(3).tolist() == after_checked
    assert np.array_equal(x.grad.numpy(), x2.grad.numpy())  # the same mask
    for op, result in checked(trace).items():
        assert result["status"] == "pass", (op, result)


def test_checks_survive_the_json_round_trip(tmp_path):
    trace = record_cube(CubeMissingThree)
    trace.save(tmp_path / "t.json")
    loaded = Trace.load(tmp_path / "t.json")
    assert checked(loaded) == checked(trace)


def test_without_gradcheck_no_event_carries_a_check():
    x = torch.randn(3, requires_grad=True)
    with record() as trace:
        Cube.apply(x).sum().backward()
    assert not checked(trace)


def test_relative_error_has_a_floor_and_handles_non_finite_values():
    assert relative_error(1.0, 1.0, 1e-12) == 0.0
    assert relative_error(1.5, 1.0, 1e-12) == pytest.approx(1 / 3)
    assert relative_error(1e-20, 0.0, 1e-8) == pytest.approx(1e-12)
    assert relative_error(float("inf"), 1.0, 1e-12) == float("inf")
    assert relative_error(float("inf"), float("inf"), 1e-12) == 0.0


@pytest.mark.parametrize("lesson, failing", [("lesson_custom_function_bug.py", True),
                                             ("lesson_custom_function.py", False)])
def test_the_planted_bug_lesson_and_its_fix(lesson, failing):
    trace = record_iteration(load_lesson(EXAMPLES / lesson), gradcheck=True)
    results = checked(trace)
    bad = {op: r["max_error"] for op, r in results.items() if r["status"] == "fail"}
    if failing:
        assert list(bad) == ["LecunTanhBackward"] and bad["LecunTanhBackward"] > 1e-2
    else:
        assert not bad
    for op, result in results.items():
        if op != "LecunTanhBackward" or not failing:
            assert result["max_error"] < 1e-6, (op, result["max_error"])
    paths = trace.metadata["gradcheck_parameters"]
    assert set(paths) == {"hidden.weight", "hidden.bias", "output.weight", "output.bias"}
    # the path mode: every parameter below the buggy node is wrong, those above are not
    wrong = {name for name, r in paths.items() if r["max_error"] > TOLERANCE}
    assert wrong == ({"hidden.weight", "hidden.bias"} if failing else set())
