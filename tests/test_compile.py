"""numbanet.compile: capture a training step once, replay its kernels, match eager bit for bit."""

import numpy as np
import pytest

import numbanet as torch
from numbanet import nn
from numbanet.jit import CaptureError
from numbanet.kernels import cpu as cpu_backend
from numbanet.kernels import launch as launch_module
from numbanet.optim.optimizer import Optimizer

BATCHES = 5  # distinct batches, cycled: a replay must read each new input


def batches(count=BATCHES, rows=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return [(torch.tensor(rng.standard_normal((rows, 6)).astype(np.float32)),
             torch.tensor(rng.integers(0, classes, rows))) for _ in range(count)]


def model_and_step(make_optimizer, dropout=False, zero_grad_inside=True):
    torch.manual_seed(0)
    layers = [nn.Linear(6, 10), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    model = nn.Sequential(*layers, nn.Linear(10, 3))
    optimizer = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        if zero_grad_inside:
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return model, optimizer, step


def assert_same_parameters(model_a, model_b):
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
    "SGD-momentum-nesterov-decay": lambda p: torch.optim.SGD(
        p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "Adam-decay": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-2),
    "AdamW-amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "RMSprop-centered-momentum": lambda p: torch.optim.RMSprop(
        p, lr=1e-2, momentum=0.5, centered=True),
    "Adagrad-lr-decay": lambda p: torch.optim.Adagrad(p, lr=1e-2, lr_decay=1e-2),
    "Adadelta": lambda p: torch.optim.Adadelta(p),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_replayed_steps_match_eager_bit_for_bit_after_100_steps(name):
    data = batches()
    eager_model, eager_optimizer, eager_step = model_and_step(OPTIMIZERS[name])
    model, optimizer, step = model_and_step(OPTIMIZERS[name])
    compiled = torch.compile(step)
    for i in range(100):
        x, y = data[i % BATCHES]
        expected, got = eager_step(x, y), compiled(x, y)
        assert got.item() == expected.item()
    assert compiled.captures == 1 and compiled.replays == 98
    assert_same_parameters(eager_model, model)
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        for key, value in eager_optimizer.state[p].items():
            other = optimizer.state[q][key]
            assert np.array_equal(value.numpy(), other.numpy()), key  # step counts too


def test_dropout_masks_are_drawn_anew_at_each_replay_as_in_eager():
    data = batches()
    eager_model, _, eager_step = model_and_step(OPTIMIZERS["SGD"], dropout=True)
    model, _, step = model_and_step(OPTIMIZERS["SGD"], dropout=True)
    compiled = torch.compile(step)
    losses = []
    torch.manual_seed(1)
    for i in range(10):
        losses.append(eager_step(*data[i % BATCHES]).item())
    torch.manual_seed(1)
    for i in range(10):
        assert compiled(*data[i % BATCHES]).item() == losses[i]
    assert compiled.replays == 8
    assert any(launch["function"] == "dropout_mask" and "seed" in launch["replay"]
               for launch in compiled.launches)
    assert_same_parameters(eager_model, model)


def test_switching_a_module_to_eval_captures_again():
    data = batches()
    eager_model, _, eager_step = model_and_step(OPTIMIZERS["SGD"], dropout=True)
    model, _, step = model_and_step(OPTIMIZERS["SGD"], dropout=True)
    compiled = torch.compile(step)
    losses = {}
    for run, module in ((eager_step, eager_model), (compiled, model)):
        torch.manual_seed(1)  # the same dropout masks for both runs
        module.train()
        for i in range(8):
            if i == 4:
                module.eval()
            losses.setdefault(i, []).append(run(*data[i % BATCHES]).item())
    assert all(eager == replayed for eager, replayed in losses.values())
    assert compiled.captures == 2 and compiled.replays == 5  # calls 2-3, then 5-7 in eval
    assert all(launch["function"] != "dropout_mask" for launch in compiled.launches)
    assert_same_parameters(eager_model, model)


def test_zero_grad_outside_the_compiled_step_and_a_scheduler_between_calls():
    data = batches()
    eager_model, eager_optimizer, eager_step = model_and_step(
        OPTIMIZERS["Adam"], zero_grad_inside=False)
    model, optimizer, step = model_and_step(OPTIMIZERS["Adam"], zero_grad_inside=False)
    compiled = torch.compile(step)
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
                  for o in (eager_optimizer, optimizer)]
    for i in range(12):
        eager_optimizer.zero_grad()
        optimizer.zero_grad()
        eager_step(*data[i % BATCHES])
        compiled(*data[i % BATCHES])
        for scheduler in schedulers:
            scheduler.step()
    assert compiled.replays == 10
    assert_same_parameters(eager_model, model)
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert np.array_equal(p.grad.numpy(), q.grad.numpy())


def test_gradients_accumulated_across_calls_without_zero_grad():
    data = batches()
    eager_model, _, eager_step = model_and_step(OPTIMIZERS["SGD"], zero_grad_inside=False)
    model, _, step = model_and_step(OPTIMIZERS["SGD"], zero_grad_inside=False)
    compiled = torch.compile(step)
    for i in range(6):
        eager_step(*data[i % BATCHES])
        compiled(*data[i % BATCHES])
    assert compiled.replays == 4
    assert_same_parameters(eager_model, model)


def test_a_new_input_shape_is_captured_again():
    small, large = batches(rows=4), batches(rows=8)
    eager_model, _, eager_step = model_and_step(OPTIMIZERS["SGD"])
    model, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(step)
    for i in range(8):
        x, y = (small if i % 2 else large)[i % BATCHES]
        assert compiled(x, y).item() == eager_step(x, y).item()
    assert compiled.captures == 2 and compiled.replays == 4
    assert_same_parameters(eager_model, model)


def test_the_callers_tensors_are_never_written_by_a_replay():
    dataset = torch.tensor(np.arange(48, dtype=np.float32).reshape(8, 6) / 10)
    before = dataset.numpy().copy()
    targets = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    _, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(step)
    for i in range(4):
        compiled(dataset[2 * (i % 2):2 * (i % 2) + 4], targets[:4])  # views of the data set
    assert compiled.replays == 2
    assert np.array_equal(dataset.numpy(), before)


def test_item_inside_is_reported_once_with_the_line_and_runs_eagerly():
    data = batches()
    eager_model, _, eager_step = model_and_step(OPTIMIZERS["SGD"])
    model, _, step = model_and_step(OPTIMIZERS["SGD"])
    seen = []

    def logging_step(x, y):
        loss = step(x, y)
        seen.append(loss.item())
        return loss

    compiled = torch.compile(logging_step)
    with pytest.warns(UserWarning, match=r"cannot be captured.*seen.append\(loss.item\(\)\)"):
        for i in range(4):
            compiled(*data[i])
    assert compiled.replays == 0 and compiled.launches == [] and len(seen) == 4
    for i in range(4):
        eager_step(*data[i])
    assert_same_parameters(eager_model, model)


def test_python_control_flow_on_a_tensor_value_is_refused():
    x, y = batches()[0]
    _, _, step = model_and_step(OPTIMIZERS["SGD"])

    def branching_step(x, y):
        loss = step(x, y)
        if loss > 100:  # bool(tensor): the replay would not run this branch
            raise AssertionError
        return loss

    compiled = torch.compile(branching_step)
    with pytest.warns(UserWarning, match="if loss > 100"):
        for _ in range(3):
            compiled(x, y)
    assert compiled.refused is not None


def test_host_random_numbers_inside_are_refused():
    x, y = batches()[0]
    _, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(lambda x, y: step(x + torch.randn(*x.shape) * 0.01, y))
    with pytest.warns(UserWarning, match="random numbers on the host"):
        for _ in range(3):
            compiled(x, y)
    assert compiled.replays == 0


def test_fullgraph_raises_instead_of_running_eagerly():
    x, y = batches()[0]
    _, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(lambda x, y: step(x, y).item(), fullgraph=True)
    with pytest.raises(CaptureError, match="fullgraph=True"):
        compiled(x, y)


def test_a_bad_class_index_still_raises_during_a_replay():
    data = batches()
    _, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(step)
    for i in range(3):
        compiled(*data[i])
    x, _ = data[0]
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        compiled(x, torch.tensor([0, 1, 2, 7, 0, 1, 2, 0]))


def test_launches_are_plain_data_and_the_listing_names_the_kernels():
    data = batches()
    _, _, step = model_and_step(OPTIMIZERS["Adam"])
    compiled = torch.compile(step)
    for i in range(2):
        compiled(*data[i])
    launches = compiled.launches
    assert [launch["index"] for launch in launches] == list(range(len(launches)))
    assert set(launches[0]) == {"index", "function", "kernels", "output", "replay", "phase",
                                "inputs", "seconds"}
    functions = [launch["function"] for launch in launches]
    assert "matmul" in functions and functions[-1] == "Adam.step"
    assert any("adam" in kernel for kernel in launches[-1]["kernels"])
    text = compiled.listing()
    assert "matmul" in text and "Adam.step" in text and "calls captured" in text


def test_capture_hooks_are_gone_after_a_capture():
    original_add, original_step = cpu_backend.add, Optimizer.step
    data = batches()
    _, _, step = model_and_step(OPTIMIZERS["SGD"])
    compiled = torch.compile(step)
    for i in range(3):
        compiled(*data[i])
    assert compiled.captures == 1
    assert cpu_backend.add is original_add and Optimizer.step is original_step
    assert launch_module._listener is None and launch_module._arguments is None


def test_compiled_model_replays_inference_and_stays_eager_for_training():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3))
    compiled = torch.compile(model)
    assert isinstance(compiled, nn.Module) and compiled._orig_mod is model
    assert getattr(compiled, "0") is model[0]  # attributes come from the model
    data = batches()
    with torch.no_grad():
        for i in range(4):
            x = data[i][0]
            assert np.array_equal(compiled(x).numpy(), model(x).numpy())
    assert compiled.launches and compiled._compiled_forward.replays == 2
    out = compiled(data[0][0])  # grad mode on: eager, with a graph to backward through
    out.sum().backward()
    assert model[0].weight.grad is not None


def test_decorator_forms_and_disable():
    @torch.compile
    def double(x):
        return x * 2

    @torch.compile(fullgraph=True, mode="reduce-overhead")
    def triple(x):
        return x * 3

    def plain(x):
        return x

    x = torch.ones(3)
    for _ in range(3):
        assert double(x).tolist() == [2.0, 2.0, 2.0]
        assert triple(x).tolist() == [3.0, 3.0, 3.0]
    assert double.replays == 1 and triple.replays == 1
    assert torch.compile(plain, disable=True) is plain


def test_the_compiled_step_example_prints_its_listing_and_learns_the_same(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "compiled_step.py"
    spec = importlib.util.spec_from_file_location("compiled_step_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(epochs=20)
    out = capsys.readouterr().out
    assert "SGD.step" in out and "matmul" in out and "(18 of them replayed)" in out
    assert "the same bits as eager training: True" in out


def test_an_optimizer_subclass_with_its_own_step_is_rerun_as_one_entry():
    class CountingAdam(torch.optim.Adam):
        def step(self, closure=None):
            self.calls = getattr(self, "calls", 0) + 1
            return super().step(closure)

    data = batches()
    eager_model, _, eager_step = model_and_step(lambda p: CountingAdam(p, lr=1e-2))
    model, optimizer, step = model_and_step(lambda p: CountingAdam(p, lr=1e-2))
    compiled = torch.compile(step)
    for i in range(6):
        eager_step(*data[i % BATCHES])
        compiled(*data[i % BATCHES])
    assert compiled.replays == 4 and optimizer.calls == 6
    assert [launch["function"] for launch in compiled.launches].count("CountingAdam.step") == 1
    assert_same_parameters(eager_model, model)
