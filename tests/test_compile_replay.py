"""How a replay runs each captured call: bare kernels where the capture proved them enough.

The replay of ``numbanet.compile`` skips a backend function's Python and launches its
kernels directly when a check at capture shows the kernels alone give the same bits: an
output numpy zeroed before the kernel is zeroed again (the NLL loss's backward), a result
numpy converted from a workspace is converted again (a whole-array sum's float64 partial),
an in-place call (a gradient added into a ``.grad``) launches its kernel, Adam's and SGD's
``step()`` become their kernels with the per-step numbers recomputed. These tests show each
of those, that the parameters stay bit-identical to eager, and that the checks refuse what
they should.
"""

import copy

import numpy as np
import pytest
from test_compile import assert_same_parameters, batches, model_and_step

import numbanet as torch
from numbanet.kernels import cpu as cpu_backend
from numbanet.kernels.launch import launch

BATCHES = 4


def compiled_beside_eager(make_optimizer, data, steps, **step_options):
    """Train the model twice from one seed on ``data`` (cycled), eagerly and through
    ``numbanet.compile``: every step's loss and the final parameters must be equal bit for
    bit. Returns the compiled step, its model and its optimizer. (``step_options``: for
    ``model_and_step``.)"""
    eager_model, _, eager_step = model_and_step(make_optimizer, **step_options)
    model, optimizer, step = model_and_step(make_optimizer, **step_options)
    compiled = torch.compile(step)
    for i in range(steps):
        x, y = data[i % len(data)]
        assert compiled(x, y).item() == eager_step(x, y).item()
    assert_same_parameters(eager_model, model)
    return compiled, model, optimizer


def replay_of(compiled, function: str) -> list[str]:
    return [launch["replay"] for launch in compiled.launches if launch["function"] == function]


@pytest.mark.parametrize(("name", "make"), [
    ("Adam", lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3)),
    ("SGD", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
])
def test_adam_and_sgd_steps_replay_as_their_kernels_and_match_eager(name, make):
    compiled, model, optimizer = compiled_beside_eager(make, batches(BATCHES), 12)
    assert compiled.replays == 10
    assert replay_of(compiled, f"{name}.step") == [
        "kernels; its numbers (step count, bias corrections, lr) anew"]
    if name == "Adam":
        assert all(optimizer.state[p]["step"].item() == 12 for p in model.parameters())


def test_other_optimizers_keep_their_python_entry():
    data = batches(BATCHES)
    _, _, step = model_and_step(lambda p: torch.optim.AdamW(p, lr=1e-2))
    compiled = torch.compile(step)
    for i in range(3):
        compiled(*data[i])
    assert replay_of(compiled, "AdamW.step") == [
        "its Python runs each call (step count, bias corrections, lr)"]


def test_a_bare_adam_step_follows_the_scheduler_and_a_loaded_state_dict():
    data = batches(BATCHES)
    runs = []
    for compile_it in (False, True):
        model, optimizer, step = model_and_step(lambda p: torch.optim.Adam(p, lr=1e-2))
        run = torch.compile(step) if compile_it else step
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        saved = None
        for i in range(10):
            run(*data[i % BATCHES])
            scheduler.step()
            if i == 3:
                saved = copy.deepcopy(optimizer.state_dict())
            if i == 6:  # back to the state of step 4: new state tensors, step counts 4
                optimizer.load_state_dict(saved)
        runs.append((model, optimizer))
    (eager_model, eager_optimizer), (model, optimizer) = runs
    assert_same_parameters(eager_model, model)
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert eager_optimizer.state[p]["step"].item() == optimizer.state[q]["step"].item() == 7


def test_matmuls_bias_adds_and_sums_launch_their_kernels_directly():
    compiled, _, _ = compiled_beside_eager(lambda p: torch.optim.SGD(p, lr=0.1),
                                           batches(BATCHES), 6)
    assert replay_of(compiled, "matmul") == ["kernel"] * 2  # the forward's two layers
    # each layer's backward: the bias sum and one or two matmuls (the rows kernel zeroes
    # its own output; the weight's gradient is a transposed result, checked as such)
    assert replay_of(compiled, "addmm_backward") == ["kernels"] * 2
    # the loss's backward kernel writes only the targets' entries into a zeroed output
    assert replay_of(compiled, "nll_loss_backward") == ["zeroed, kernel"]
    assert replay_of(compiled, "add") == ["kernel"] * 2  # the biases, into new arrays
    assert "kernel, converted" in replay_of(compiled, "sum")  # float64 partial -> float32


def test_an_in_place_add_replays_as_its_kernel():
    # Without zero_grad in the step, backward adds each new gradient into the .grad
    # already there: add(grad, new, out=grad), whose kernel alone does what the call did.
    compiled, _, _ = compiled_beside_eager(lambda p: torch.optim.SGD(p, lr=0.1),
                                           batches(BATCHES), 6, zero_grad_inside=False)
    assert replay_of(compiled, "add") == ["kernel"] * 2 + ["kernel (in place)"] * 4


def test_numpy_work_before_an_in_place_kernel_keeps_the_call(monkeypatch):
    # An add that computes with numpy and only then launches a kernel that changes
    # nothing: its kernel alone would leave `out` stale, so the replay must call it.
    original_add = cpu_backend.add

    def touch(array):
        pass

    def numpy_first_add(a, b, out=None):
        if out is None:
            return original_add(a, b)
        np.copyto(out, np.add(a, b))
        launch(touch, out)
        return out

    monkeypatch.setattr(cpu_backend, "add", numpy_first_add)
    compiled, _, _ = compiled_beside_eager(lambda p: torch.optim.SGD(p, lr=0.1),
                                           batches(BATCHES), 6, zero_grad_inside=False)
    # the four accumulations into .grad (see test_an_in_place_add_replays_as_its_kernel)
    assert replay_of(compiled, "add").count("call (in place)") == 4


def test_zeros_copied_from_an_all_zero_argument_are_not_taken_for_a_zeroed_output(
        monkeypatch):
    # exp here copies its argument, then a kernel adds one: captured on zeros, the
    # result held zeros as the kernel started, like a zeroed output, but they came from
    # the argument; a replay on ones must give 2, not 1.
    def add_one(array):
        array += 1

    def copy_then_add_one(a, out=None):
        result = a.copy() if out is None else out
        if out is not None:
            np.copyto(out, a)
        launch(add_one, result)
        return result

    monkeypatch.setattr(cpu_backend, "exp", copy_then_add_one)
    compiled = torch.compile(lambda x: torch.exp(x))
    zeros = torch.zeros(5)
    for _ in range(3):
        assert compiled(zeros).tolist() == [1.0] * 5
    assert compiled.replays == 1
    assert compiled(torch.ones(5)).tolist() == [2.0] * 5
    assert "zeroed, kernel" not in replay_of(compiled, "exp")


def test_a_loss_over_a_changing_number_of_ignored_rows_replays_as_eager():
    # With a different number of ignored rows per batch, the mean divides by a different
    # sum of row weights, which the replay must compute again (captured once, it would go
    # stale): every step's loss and the final parameters equal eager training's.
    rng = np.random.default_rng(0)
    data = []
    for i in range(BATCHES):
        y = rng.integers(0, 3, 8)
        y[:i] = -100  # CrossEntropyLoss's default ignore_index
        data.append((torch.tensor(rng.standard_normal((8, 6)).astype(np.float32)),
                     torch.tensor(y)))
    compiled, _, _ = compiled_beside_eager(lambda p: torch.optim.SGD(p, lr=0.1), data, 10)
    assert compiled.replays == 8


def test_a_number_a_kernel_reads_from_a_0d_tensor_is_read_again_at_each_replay():
    # x / count with a 0-d count launches the scalar kernel with the count as a number read
    # from the 0-d array: a replay must read it again (captured once, it went stale).
    compiled = torch.compile(lambda x, count: x / count)
    x = torch.arange(1.0, 5.0)
    for n in range(1, 7):
        count = torch.tensor(float(n))
        assert compiled(x, count).tolist() == (x / count).tolist()
    assert compiled.replays == 4
    assert "kernel, number read anew" in replay_of(compiled, "div")


def test_a_constant_written_before_a_kernel_reads_it_is_read_again():
    # A 0-d constant is refilled at each replay, so a kernel reading it as a number may
    # keep the number; not once the step has added into it something that changes.
    def scaled(x):
        scale = torch.full((), 2.0)
        scale.add_(x.sum())
        return x * scale

    compiled = torch.compile(scaled)
    for i in range(5):
        x = torch.full((4,), float(i))
        assert compiled(x).tolist() == scaled(x).tolist()
    assert compiled.replays == 3
