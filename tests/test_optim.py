"""Optimizers and the learning-rate scheduler against their formulas.

Each update rule is re-implemented below in a few lines of numpy, following PyTorch's
formulas (float64), and the fused kernels must agree with it over several steps. Where
PyTorch is installed, ``torch.optim`` is run on the same gradients as well.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import numbanet
from numbanet import optim
from numbanet.optim.lr_scheduler import StepLR

STEPS = 5
SHAPES = [(3, 4), (4,)]


# ---- numpy references of PyTorch's update rules ----------------------------------------


def reference_sgd(param, grad, state, lr, momentum=0, dampening=0, weight_decay=0,
                  nesterov=False):
    d = grad + weight_decay * param if weight_decay else grad
    if momentum:
        if "buffer" not in state:
            state["buffer"] = d.copy()
        else:
            state["buffer"] = momentum * state["buffer"] + (1 - dampening) * d
        d = d + momentum * state["buffer"] if nesterov else state["buffer"]
    return param - lr * d


def reference_adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0):
    beta1, beta2 = betas
    state["t"] = t = state.get("t", 0) + 1
    g = grad + weight_decay * param
    state["m"] = m = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = v = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps)


def reference_rmsprop(param, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
                      momentum=0, centered=False):
    g = grad + weight_decay * param
    state["v"] = v = alpha * state.get("v", 0) + (1 - alpha) * g * g
    if centered:
        state["a"] = a = alpha * state.get("a", 0) + (1 - alpha) * g
        v = v - a * a
    if momentum > 0:
        state["b"] = b = momentum * state.get("b", 0) + g / (np.sqrt(v) + eps)
        return param - lr * b
    return param - lr * g / (np.sqrt(v) + eps)


CASES = [
    ("SGD", reference_sgd, {"lr": 0.1}),
    ("SGD", reference_sgd, {"lr": 0.1, "momentum": 0.9}),
    ("SGD", reference_sgd, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", reference_sgd, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", reference_sgd, {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.1}),
    ("SGD", reference_sgd, {"lr": 0.05, "weight_decay": 0.2}),
    ("Adam", reference_adam, {}),
    ("Adam", reference_adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", reference_adam, {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", reference_rmsprop, {}),
    ("RMSprop", reference_rmsprop, {"centered": True}),
    ("RMSprop", reference_rmsprop, {"momentum": 0.9}),
    ("RMSprop", reference_rmsprop, {"lr": 0.001, "alpha": 0.9, "centered": True,
                                    "momentum": 0.5, "weight_decay": 0.1}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for name, _, kw in CASES]


def random_problem(seed: int = 0):
    """Initial values and STEPS gradients per parameter (float32, as a model's are)."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    gradients = [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
                 for _ in range(STEPS)]
    return initial, gradients


def run_numbanet(name: str, kwargs: dict, initial, gradients) -> list[list[np.ndarray]]:
    params = [numbanet.tensor(value, requires_grad=True) for value in initial]
    optimizer = getattr(optim, name)(params, **kwargs)
    history = []
    for step_gradients in gradients:
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = numbanet.tensor(gradient)
        optimizer.step()
        history.append([param.detach().numpy().copy() for param in params])
    return history


@pytest.mark.parametrize(("name", "reference", "kwargs"), CASES, ids=CASE_IDS)
def test_update_matches_the_formula(name, reference, kwargs):
    initial, gradients = random_problem()
    history = run_numbanet(name, kwargs, initial, gradients)
    expected = [value.astype(np.float64) for value in initial]
    states = [{} for _ in initial]
    for step, step_gradients in enumerate(gradients):
        expected = [reference(p, g.astype(np.float64), s, **kwargs)
                    for p, g, s in zip(expected, step_gradients, states, strict=True)]
        for got, want in zip(history[step], expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} step {step + 1}")


@pytest.mark.torch
@pytest.mark.parametrize(("name", "reference", "kwargs"), CASES, ids=CASE_IDS)
def test_update_matches_torch_optim(name, reference, kwargs):
    torch = pytest.importorskip("torch")
    initial, gradients = random_problem(seed=1)
    history = run_numbanet(name, kwargs, initial, gradients)
    params = [torch.tensor(value, requires_grad=True) for value in initial]
    optimizer = getattr(torch.optim, name)(params, **kwargs)
    for step, step_gradients in enumerate(gradients):
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = torch.tensor(gradient)
        optimizer.step()
        for got, param in zip(history[step], params, strict=True):
            np.testing.assert_allclose(got, param.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_state_holds_pytorchs_entries():
    initial, gradients = random_problem()
    expectations = {
        ("SGD", (("lr", 0.1),)): set(),
        ("SGD", (("lr", 0.1), ("momentum", 0.9))): {"momentum_buffer"},
        ("Adam", ()): {"step", "exp_avg", "exp_avg_sq"},
        ("RMSprop", ()): {"step", "square_avg"},
        ("RMSprop", (("momentum", 0.9), ("centered", True))):
            {"step", "square_avg", "momentum_buffer", "grad_avg"},
    }
    for (name, kwargs), keys in expectations.items():
        param = numbanet.tensor(initial[1], requires_grad=True)
        optimizer = getattr(optim, name)([param], **dict(kwargs))
        for _ in range(2):
            param.grad = numbanet.tensor(gradients[0][1])
            optimizer.step()
        assert set(optimizer.state[param]) == keys, name
        if "step" in keys:
            assert optimizer.state[param]["step"].item() == 2.0


# ---- the Optimizer machinery ---------------------------------------------------------


def make_params():
    weight = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    bias = numbanet.tensor([0.5, -0.5], requires_grad=True)
    return weight, bias


def test_step_is_in_place_and_skips_parameters_without_gradient():
    weight, bias = make_params()
    storage = weight._data
    optimizer = optim.SGD([weight, bias], lr=0.5, momentum=0.9)
    weight.grad = numbanet.ones(2, 2)
    version = weight._version
    optimizer.step()
    assert weight._data is storage  # the model's Parameter object and memory are kept
    assert weight._version == version + 1  # an in-place change, seen by saved tensors
    np.testing.assert_allclose(weight.detach().numpy(), [[0.5, 1.5], [2.5, 3.5]])
    np.testing.assert_allclose(bias.detach().numpy(), [0.5, -0.5])  # no grad: untouched
    assert bias not in optimizer.state
    assert weight.requires_grad and weight.grad_fn is None


def test_step_after_backward_trains_a_tiny_least_squares_problem():
    numbanet.manual_seed(0)
    x = numbanet.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = numbanet.tensor([[2.0], [4.0], [6.0], [8.0]])
    w = numbanet.zeros(1, 1, requires_grad=True)
    optimizer = optim.Adam([w], lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert abs(w.item() - 2.0) < 1e-2


def test_modifying_a_parameter_in_step_invalidates_graphs_that_saved_it():
    weight = numbanet.tensor([2.0], requires_grad=True)
    optimizer = optim.SGD([weight], lr=0.1)
    loss = (weight * weight).sum()
    weight.grad = numbanet.tensor([1.0])
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_zero_grad_sets_to_none_by_default():
    weight, bias = make_params()
    optimizer = optim.SGD([weight, bias], lr=0.1)
    (weight.sum() + bias.sum()).backward()
    optimizer.zero_grad()
    assert weight.grad is None and bias.grad is None


def test_zero_grad_without_set_to_none_zeroes_the_same_tensor():
    weight, _ = make_params()
    optimizer = optim.SGD([weight], lr=0.1)
    (weight * 3).sum().backward()
    gradient = weight.grad
    optimizer.zero_grad(set_to_none=False)
    assert weight.grad is gradient
    np.testing.assert_array_equal(weight.grad.numpy(), np.zeros((2, 2), np.float32))
    (weight * 2).sum().backward()  # accumulates into zeros
    np.testing.assert_array_equal(weight.grad.numpy(), np.full((2, 2), 2, np.float32))


def test_gradients_accumulate_without_zero_grad():
    weight = numbanet.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([weight], lr=1.0)
    for _ in range(2):
        (weight * 3).sum().backward()
    assert weight.grad.item() == 6.0  # 3 + 3: the classic forgotten zero_grad()
    optimizer.step()
    assert weight.item() == -5.0


def test_param_groups_have_their_own_hyper_parameters():
    weight, bias = make_params()
    optimizer = optim.SGD([{"params": [weight]}, {"params": bias, "lr": 1.0}], lr=0.1,
                          momentum=0.5)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 1.0]
    assert optimizer.param_groups[1]["momentum"] == 0.5  # from the defaults
    assert set(optimizer.param_groups[0]) == {"params", "lr", "momentum", "dampening",
                                              "weight_decay", "nesterov"}
    weight.grad, bias.grad = numbanet.ones(2, 2), numbanet.ones(2)
    optimizer.step()
    np.testing.assert_allclose(weight.detach().numpy(), [[0.9, 1.9], [2.9, 3.9]], rtol=1e-6)
    np.testing.assert_allclose(bias.detach().numpy(), [-0.5, -1.5], rtol=1e-6)


def test_add_param_group():
    weight, bias = make_params()
    optimizer = optim.Adam([weight], lr=0.01)
    optimizer.add_param_group({"params": [bias], "betas": (0.5, 0.9)})
    assert optimizer.param_groups[1]["lr"] == 0.01
    assert optimizer.param_groups[1]["betas"] == (0.5, 0.9)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        optimizer.add_param_group({"params": [weight]})


def test_closure_is_evaluated_and_its_loss_returned():
    weight = numbanet.tensor([3.0], requires_grad=True)
    optimizer = optim.SGD([weight], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (weight * weight).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == 9.0
    assert weight.item() == pytest.approx(3.0 - 0.25 * 6.0)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, lr=-0.001), "Invalid learning rate: -0.001"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.Adam(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda p: optim.RMSprop(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: optim.RMSprop(p, eps=-1), "Invalid epsilon value: -1"),
    (lambda p: optim.RMSprop(p, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: optim.RMSprop(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
])
def test_invalid_arguments_raise_pytorchs_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make(list(make_params()))


def test_type_errors():
    weight, bias = make_params()
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(weight, lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([weight, 3.0], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({weight, bias}, lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([weight * 2], lr=0.1)


def test_duplicate_parameters_in_a_group_warn():
    weight, _ = make_params()
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([weight, weight], lr=0.1)


# ---- saving and resuming -------------------------------------------------------------


def train_steps(optimizer, params, gradients):
    for step_gradients in gradients:
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = numbanet.tensor(gradient)
        optimizer.step()


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_state_dict_round_trip_resumes_exactly(name, tmp_path):
    kwargs = {"SGD": {"lr": 0.1, "momentum": 0.9}, "Adam": {"lr": 0.01},
              "RMSprop": {"momentum": 0.5, "centered": True}}[name]
    initial, gradients = random_problem()
    params = [numbanet.tensor(value, requires_grad=True) for value in initial]
    optimizer = getattr(optim, name)(params, **kwargs)
    train_steps(optimizer, params, gradients[:3])

    path = tmp_path / "optimizer.pth"
    numbanet.save(optimizer.state_dict(), path)
    resumed_params = [numbanet.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # overwritten by the load
    resumed.load_state_dict(numbanet.load(path))
    assert resumed.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert resumed.param_groups[0]["params"][0] is resumed_params[0]

    train_steps(optimizer, params, gradients[3:])
    train_steps(resumed, resumed_params, gradients[3:])
    for original, copy in zip(params, resumed_params, strict=True):
        np.testing.assert_array_equal(original.detach().numpy(), copy.detach().numpy())


def test_state_dict_has_pytorchs_layout():
    weight, bias = make_params()
    optimizer = optim.SGD([{"params": [weight]}, {"params": [bias], "lr": 0.5}], lr=0.1,
                          momentum=0.9)
    weight.grad, bias.grad = numbanet.ones(2, 2), numbanet.ones(2)
    optimizer.step()
    state = optimizer.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert sorted(state["state"]) == [0, 1]
    assert set(state["state"][0]) == {"momentum_buffer"}
    assert [group["params"] for group in state["param_groups"]] == [[0], [1]]
    assert state["param_groups"][1] == {"lr": 0.5, "momentum": 0.9, "dampening": 0,
                                        "weight_decay": 0, "nesterov": False, "params": [1]}


def test_load_state_dict_copies_and_checks_the_layout():
    weight, bias = make_params()
    optimizer = optim.SGD([weight, bias], lr=0.1, momentum=0.9)
    weight.grad, bias.grad = numbanet.ones(2, 2), numbanet.ones(2)
    optimizer.step()
    saved = optimizer.state_dict()
    other = optim.SGD(list(make_params()), lr=0.1, momentum=0.9)
    other.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"].fill_(7.0)
    saved["param_groups"][0]["lr"] = 99.0
    buffer = other.state[other.param_groups[0]["params"][0]]["momentum_buffer"]
    np.testing.assert_array_equal(buffer.numpy(), np.ones((2, 2), np.float32))
    assert other.param_groups[0]["lr"] == 0.1

    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [weight]}, {"params": [bias]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([weight], lr=0.1).load_state_dict(saved)


@pytest.mark.torch
def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    for name, kwargs in [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {}),
                         ("RMSprop", {"momentum": 0.1, "centered": True})]:
        ours_param = numbanet.ones(3, requires_grad=True)
        ours = getattr(optim, name)([ours_param], **kwargs)
        ours_param.grad = numbanet.ones(3)
        ours.step()
        theirs_param = torch.ones(3, requires_grad=True)
        theirs = getattr(torch.optim, name)([theirs_param], **kwargs)
        theirs_param.grad = torch.ones(3)
        theirs.step()
        ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
        assert set(ours_state["state"][0]) == set(theirs_state["state"][0]), name
        assert set(ours_state["param_groups"][0]) <= set(theirs_state["param_groups"][0])
        for key, value in ours_state["param_groups"][0].items():
            assert value == theirs_state["param_groups"][0][key], (name, key)


# ---- learning-rate schedule ----------------------------------------------------------


def test_step_lr_multiplies_by_gamma_every_step_size_epochs():
    weight, _ = make_params()
    optimizer = optim.SGD([weight], lr=1.0)
    scheduler = StepLR(optimizer, step_size=3, gamma=0.5)
    assert scheduler.get_last_lr() == [1.0]
    seen = []
    for _ in range(7):
        weight.grad = numbanet.zeros(2, 2)
        optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert optimizer.param_groups[0]["lr"] == 0.25
    assert optimizer.param_groups[0]["initial_lr"] == 1.0


def test_step_lr_state_dict_round_trip():
    weight, _ = make_params()
    optimizer = optim.SGD([weight], lr=1.0)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.1)
    weight.grad = numbanet.zeros(2, 2)
    optimizer.step()
    for _ in range(3):
        scheduler.step()
    state = scheduler.state_dict()
    assert "optimizer" not in state
    assert state["last_epoch"] == 3 and state["step_size"] == 2 and state["gamma"] == 0.1

    other_weight, _ = make_params()
    other_optimizer = optim.SGD([other_weight], lr=1.0)
    other = StepLR(other_optimizer, step_size=5)
    other.load_state_dict(state)
    other_optimizer.load_state_dict(optimizer.state_dict())
    other.step()
    scheduler.step()
    assert other.get_last_lr() == scheduler.get_last_lr() == pytest.approx([0.01])


def test_step_lr_warns_when_stepped_before_the_optimizer():
    weight, _ = make_params()
    optimizer = optim.SGD([weight], lr=1.0)
    scheduler = StepLR(optimizer, step_size=1)
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step"):
        scheduler.step()

    optimizer = optim.SGD([weight], lr=1.0)
    scheduler = StepLR(optimizer, step_size=1)
    weight.grad = numbanet.zeros(2, 2)
    optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_step_lr_with_an_epoch_uses_the_closed_form():
    weight, _ = make_params()
    optimizer = optim.SGD([weight], lr=1.0)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step(5)
    assert scheduler.get_last_lr() == pytest.approx([0.01])


@pytest.mark.torch
def test_step_lr_matches_torch():
    torch = pytest.importorskip("torch")
    ours_weight, _ = make_params()
    ours_optimizer = optim.SGD([ours_weight], lr=0.3)
    ours = StepLR(ours_optimizer, step_size=2, gamma=0.7)
    theirs_weight = torch.zeros(2, requires_grad=True)
    theirs_optimizer = torch.optim.SGD([theirs_weight], lr=0.3)
    theirs = torch.optim.lr_scheduler.StepLR(theirs_optimizer, step_size=2, gamma=0.7)
    for _ in range(6):
        ours_optimizer.step()
        theirs_optimizer.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())


# ---- trace ---------------------------------------------------------------------------


def test_a_recorded_step_adds_one_optimizer_event():
    weight, bias = make_params()
    optimizer = optim.SGD([weight, bias], lr=0.5, momentum=0.9)
    weight.grad, bias.grad = numbanet.ones(2, 2), numbanet.tensor([2.0, -2.0])
    with numbanet.trace.record() as trace:
        trace.parameter_names[weight._uid] = "fc.weight"
        optimizer.step()
    (event,) = trace.by_phase("optimizer")
    assert event.op == "SGD.step"
    assert event.attributes["lr"] == 0.5 and event.attributes["momentum"] == 0.9
    assert [update.name for update in event.updates] == ["fc.weight", "parameter 1"]
    for update in event.updates:
        before = np.array(update.before.values)
        after = np.array(update.after.values)
        np.testing.assert_allclose(after, before + np.array(update.update.values), atol=1e-6)
        assert update.before.tensor_id == update.after.tensor_id
    np.testing.assert_allclose(event.updates[1].update.values, [-1.0, 1.0])
    np.testing.assert_allclose(event.updates[1].gradient.values, [2.0, -2.0])
    assert any("sgd" in kernel.name for kernel in event.kernels)
    restored = numbanet.trace.Trace.from_dict(trace.to_dict())
    assert restored.by_phase("optimizer")[0].updates[0].name == "fc.weight"


# ---- on the GPU ----------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
])
def test_cuda_updates_match_the_cpu(name, kwargs):
    if not numbanet.cuda.is_available():
        pytest.skip("no CUDA device (and NUMBA_ENABLE_CUDASIM is not set)")
    initial, gradients = random_problem()
    expected = run_numbanet(name, kwargs, initial, gradients[:3])[-1]
    params = [numbanet.tensor(value, device="cuda", requires_grad=True) for value in initial]
    optimizer = getattr(optim, name)(params, **kwargs)
    for step_gradients in gradients[:3]:
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = numbanet.tensor(gradient, device="cuda")
        optimizer.step()
    assert all(value.is_cuda for state in optimizer.state.values() for key, value in
               state.items() if key != "step")
    for param, want in zip(params, expected, strict=True):
        np.testing.assert_allclose(param.detach().cpu().numpy(), want, rtol=1e-5, atol=1e-6)
