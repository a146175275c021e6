"""AdamW, Adagrad, Adadelta and the schedulers ExponentialLR, CosineAnnealingLR,
ReduceLROnPlateau, OneCycleLR against PyTorch's formulas (numpy, float64) and, where
installed, against ``torch.optim`` itself."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import numbanet
from numbanet import optim
from numbanet.optim import lr_scheduler

STEPS = 5
SHAPES = [(3, 4), (4,)]


def reference_adamw(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                    weight_decay=1e-2, amsgrad=False, maximize=False):
    beta1, beta2 = betas
    grad = -grad if maximize else grad
    state["t"] = t = state.get("t", 0) + 1
    param = param * (1 - lr * weight_decay)
    state["m"] = m = beta1 * state.get("m", 0) + (1 - beta1) * grad
    state["v"] = v = beta2 * state.get("v", 0) + (1 - beta2) * grad * grad
    if amsgrad:
        state["vmax"] = v = np.maximum(state.get("vmax", 0), v)
    denominator = np.sqrt(v) / math.sqrt(1 - beta2**t) + eps
    return param - lr / (1 - beta1**t) * m / denominator


def reference_adagrad(param, grad, state, lr=1e-2, lr_decay=0, weight_decay=0,
                      initial_accumulator_value=0, eps=1e-10, maximize=False):
    grad = -grad if maximize else grad
    state["t"] = t = state.get("t", 0) + 1
    grad = grad + weight_decay * param
    state["s"] = s = state.get("s", initial_accumulator_value) + grad * grad
    return param - lr / (1 + (t - 1) * lr_decay) * grad / (np.sqrt(s) + eps)


def reference_adadelta(param, grad, state, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0,
                       maximize=False):
    grad = -grad if maximize else grad
    grad = grad + weight_decay * param
    state["v"] = v = rho * state.get("v", 0) + (1 - rho) * grad * grad
    delta = np.sqrt(state.get("u", 0) + eps) / np.sqrt(v + eps) * grad
    state["u"] = rho * state.get("u", 0) + (1 - rho) * delta * delta
    return param - lr * delta


CASES = [
    ("AdamW", reference_adamw, {}),
    ("AdamW", reference_adamw, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", reference_adamw, {"lr": 0.01, "amsgrad": True}),
    ("AdamW", reference_adamw, {"lr": 0.01, "maximize": True}),
    ("Adagrad", reference_adagrad, {}),
    ("Adagrad", reference_adagrad, {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05,
                                    "initial_accumulator_value": 0.5}),
    ("Adagrad", reference_adagrad, {"maximize": True}),
    ("Adadelta", reference_adadelta, {}),
    ("Adadelta", reference_adadelta, {"lr": 0.5, "rho": 0.8, "eps": 1e-4,
                                      "weight_decay": 0.1}),
    ("Adadelta", reference_adadelta, {"maximize": True}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for name, _, kw in CASES]


def random_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    gradients = [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
                 for _ in range(STEPS)]
    return initial, gradients


def run_numbanet(name, kwargs, initial, gradients):
    params = [numbanet.tensor(value, requires_grad=True) for value in initial]
    optimizer = getattr(optim, name)(params, **kwargs)
    history = []
    for step_gradients in gradients:
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = numbanet.tensor(gradient)
        optimizer.step()
        history.append([param.detach().numpy().copy() for param in params])
    return history, optimizer


@pytest.mark.parametrize(("name", "reference", "kwargs"), CASES, ids=CASE_IDS)
def test_update_matches_the_formula(name, reference, kwargs):
    initial, gradients = random_problem()
    history, _ = run_numbanet(name, kwargs, initial, gradients)
    expected = [value.astype(np.float64) for value in initial]
    states = [{} for _ in initial]
    for step, step_gradients in enumerate(gradients):
        expected = [reference(p, g.astype(np.float64), s, **kwargs)
                    for p, g, s in zip(expected, step_gradients, states, strict=True)]
        for got, want in zip(history[step], expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} step {step + 1}")


def test_adamw_first_step_stated_values():
    # p = 1, g = 0.5, defaults: p * (1 - 1e-3 * 1e-2) - 1e-3 * 0.5 / (0.5 + 1e-8)
    param = numbanet.tensor([1.0], requires_grad=True)
    optimizer = optim.AdamW([param])
    param.grad = numbanet.tensor([0.5])
    optimizer.step()
    assert param.item() == pytest.approx(0.99999 - 1e-3, rel=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize(("name", "reference", "kwargs"), CASES, ids=CASE_IDS)
def test_update_and_state_dict_match_torch_optim(name, reference, kwargs):
    torch = pytest.importorskip("torch")
    initial, gradients = random_problem(seed=1)
    history, ours = run_numbanet(name, kwargs, initial, gradients)
    params = [torch.tensor(value, requires_grad=True) for value in initial]
    theirs = getattr(torch.optim, name)(params, **kwargs)
    for step, step_gradients in enumerate(gradients):
        for param, gradient in zip(params, step_gradients, strict=True):
            param.grad = torch.tensor(gradient)
        theirs.step()
        for got, param in zip(history[step], params, strict=True):
            np.testing.assert_allclose(got, param.detach().numpy(), rtol=1e-5, atol=1e-6)
    our_state, their_state = ours.state_dict(), theirs.state_dict()
    for index, entries in their_state["state"].items():
        assert list(our_state["state"][index]) == list(entries)
        for key, value in entries.items():
            np.testing.assert_allclose(our_state["state"][index][key].numpy(), value.numpy(),
                                       rtol=1e-5, atol=1e-7, err_msg=key)
    our_group, their_group = our_state["param_groups"][0], their_state["param_groups"][0]
    shared = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "lr_decay",
              "initial_accumulator_value", "rho", "params"}
    for key in shared & set(their_group):
        assert our_group[key] == their_group[key], key
    assert set(our_group) <= set(their_group)
    # PyTorch's state dict, tensors converted, resumes in numbanet exactly as in PyTorch
    converted = {"state": {index: {key: numbanet.tensor(value.numpy())
                                   for key, value in entries.items()}
                           for index, entries in their_state["state"].items()},
                 "param_groups": their_state["param_groups"]}
    resumed_params = [numbanet.tensor(p.detach().numpy().copy(), requires_grad=True)
                      for p in params]
    resumed = getattr(optim, name)(resumed_params)
    resumed.load_state_dict(converted)
    last = random_problem(seed=3)[1][0]
    for ours_param, param, gradient in zip(resumed_params, params, last, strict=True):
        ours_param.grad, param.grad = numbanet.tensor(gradient), torch.tensor(gradient)
    resumed.step()
    theirs.step()
    for got, param in zip(resumed_params, params, strict=True):
        np.testing.assert_allclose(got.detach().numpy(), param.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("name", ["AdamW", "Adagrad", "Adadelta"])
def test_state_dict_round_trip_resumes_identically(name):
    initial, gradients = random_problem(seed=2)
    params = [numbanet.tensor(value, requires_grad=True) for value in initial]
    first = getattr(optim, name)(params, lr=0.05)
    for param, gradient in zip(params, gradients[0], strict=True):
        param.grad = numbanet.tensor(gradient)
    first.step()
    copies = [numbanet.tensor(param.detach().numpy(), requires_grad=True) for param in params]
    second = getattr(optim, name)(copies, lr=0.9)
    second.load_state_dict(first.state_dict())
    assert second.param_groups[0]["lr"] == 0.05
    for step_gradients in gradients[1:]:
        for group in (params, copies):
            for param, gradient in zip(group, step_gradients, strict=True):
                param.grad = numbanet.tensor(gradient)
        first.step()
        second.step()
    for a, b in zip(params, copies, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_adagrad_state_exists_before_the_first_step():
    param = numbanet.zeros(3, requires_grad=True)
    optimizer = optim.Adagrad([param], initial_accumulator_value=0.25)
    state = optimizer.state_dict()["state"][0]
    assert list(state) == ["step", "sum"]
    assert state["step"].item() == 0
    np.testing.assert_array_equal(state["sum"].numpy(), [0.25, 0.25, 0.25])


@pytest.mark.parametrize(("factory", "message"), [
    (lambda p: optim.AdamW(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.AdamW(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda p: optim.Adadelta(p, eps=-1), "Invalid epsilon value: -1"),
])
def test_invalid_hyper_parameters_raise_pytorchs_errors(factory, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        factory([numbanet.zeros(2, requires_grad=True)])


def test_defaults_are_pytorchs():
    param = [numbanet.zeros(2, requires_grad=True)]
    assert optim.AdamW(param).defaults["weight_decay"] == 1e-2
    assert optim.AdamW(param).defaults["maximize"] is False
    assert optim.Adagrad(param).defaults["lr"] == 1e-2
    assert optim.Adagrad(param).defaults["eps"] == 1e-10
    assert optim.Adadelta(param).defaults["lr"] == 1.0
    assert optim.Adadelta(param).defaults["rho"] == 0.9


# ---- schedulers ----------------------------------------------------------------------------


def make_optimizer(name="SGD", lr=0.1, **kwargs):
    params = [numbanet.zeros(2, requires_grad=True)]
    return getattr(optim, name)(params, lr=lr, **kwargs)


def run_schedule(scheduler, optimizer, epochs, metrics=None):
    """The lr (and momentum / beta1) after each scheduler step."""
    seen = []
    for epoch in range(epochs):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        group = optimizer.param_groups[0]
        seen.append((scheduler.get_last_lr()[0], group.get("momentum"),
                     group.get("betas", (None,))[0]))
    return seen


def test_exponential_lr_stated_values():
    optimizer = make_optimizer(lr=1.0)
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    assert scheduler.get_last_lr() == [1.0]
    lrs = [lr for lr, _, _ in run_schedule(scheduler, optimizer, 3)]
    assert lrs == [0.5, 0.25, 0.125]


def test_cosine_annealing_stated_values():
    optimizer = make_optimizer(lr=1.0)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=4, eta_min=0.0)
    lrs = [lr for lr, _, _ in run_schedule(scheduler, optimizer, 4)]
    expected = [(1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(1, 5)]
    np.testing.assert_allclose(lrs, expected, atol=1e-12)


def test_reduce_lr_on_plateau_stated_values():
    optimizer = make_optimizer(lr=1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    lrs = [lr for lr, _, _ in run_schedule(scheduler, optimizer, 6,
                                           metrics=[3.0, 2.0, 2.0, 2.0, 2.0, 2.0])]
    # two non-improving epochs (> patience 1) halve the lr; the counter then restarts
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(optimizer, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        lr_scheduler.ReduceLROnPlateau(optimizer, mode="avg")


def test_one_cycle_stated_values():
    optimizer = make_optimizer(lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=10,
                                        anneal_strategy="linear")
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(1.0 / 25)
    assert group["momentum"] == pytest.approx(0.95)
    seen = run_schedule(scheduler, optimizer, 9)
    # warm-up ends at step 0.3 * 10 - 1 = 2: lr 0.04 -> 0.52 -> 1.0
    assert seen[0][0] == pytest.approx(0.52)
    assert seen[1][0] == pytest.approx(1.0)
    assert seen[1][1] == pytest.approx(0.85)
    assert seen[-1][0] == pytest.approx(1.0 / 25 / 1e4)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        scheduler.step()
        scheduler.step()
    with pytest.raises(ValueError, match="You must define either total_steps"):
        lr_scheduler.OneCycleLR(make_optimizer(momentum=0.9), max_lr=1.0)
    with pytest.raises(ValueError, match="optimizer must support momentum"):
        lr_scheduler.OneCycleLR(make_optimizer("Adagrad"), max_lr=1.0, total_steps=5)


def test_scheduler_state_dict_round_trip():
    optimizer = make_optimizer(lr=1.0)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    run_schedule(scheduler, optimizer, 3)
    state = scheduler.state_dict()
    assert "optimizer" not in state
    assert state["last_epoch"] == 3
    other = lr_scheduler.CosineAnnealingLR(make_optimizer(lr=1.0), T_max=10)
    other.load_state_dict(state)
    assert other.last_epoch == 3 and other.get_last_lr() == scheduler.get_last_lr()
    plateau = lr_scheduler.ReduceLROnPlateau(make_optimizer(), mode="max", patience=0)
    plateau.step(1.0)
    restored = lr_scheduler.ReduceLROnPlateau(make_optimizer())
    restored.load_state_dict(plateau.state_dict())
    assert restored.mode == "max" and restored.best == 1.0 and restored.mode_worse == -math.inf


SCHEDULES = [
    ("ExponentialLR", "SGD", {"gamma": 0.9}, 6, None),
    ("CosineAnnealingLR", "SGD", {"T_max": 4, "eta_min": 0.01}, 12, None),
    ("ReduceLROnPlateau", "SGD", {"factor": 0.5, "patience": 1, "cooldown": 1}, 10,
     [5, 4, 4, 4, 4, 3.9999, 4, 4, 2, 2]),
    ("ReduceLROnPlateau", "SGD", {"mode": "max", "threshold_mode": "abs", "threshold": 0.1,
                                  "patience": 0, "min_lr": 0.02}, 6, [1, 1.05, 1.2, 1.2, 1, 1]),
    ("OneCycleLR", "SGD", {"max_lr": 0.5, "total_steps": 12}, 12, None),
    ("OneCycleLR", "Adam", {"max_lr": [0.5], "epochs": 2, "steps_per_epoch": 5,
                            "three_phase": True, "anneal_strategy": "linear"}, 10, None),
]


@pytest.mark.torch
@pytest.mark.parametrize(("name", "optimizer_name", "kwargs", "epochs", "metrics"), SCHEDULES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedule_matches_torch(name, optimizer_name, kwargs, epochs, metrics):
    torch = pytest.importorskip("torch")
    extra = {"momentum": 0.9} if optimizer_name == "SGD" else {}
    ours = make_optimizer(optimizer_name, lr=0.1, **extra)
    theirs = getattr(torch.optim, optimizer_name)([torch.zeros(2, requires_grad=True)],
                                                  lr=0.1, **extra)
    our_schedule = getattr(lr_scheduler, name)(ours, **kwargs)
    their_schedule = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    assert our_schedule.get_last_lr() == pytest.approx(their_schedule.get_last_lr())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = []
        for epoch in range(epochs):
            theirs.step()
            if metrics is None:
                their_schedule.step()
            else:
                their_schedule.step(metrics[epoch])
            group = theirs.param_groups[0]
            expected.append((their_schedule.get_last_lr()[0], group.get("momentum"),
                             group.get("betas", (None,))[0]))
    seen = run_schedule(our_schedule, ours, epochs, metrics)
    np.testing.assert_allclose(np.array(seen, dtype=float), np.array(expected, dtype=float),
                               rtol=1e-12, atol=1e-15)
    for key in ("last_epoch", "best", "num_bad_epochs", "cooldown_counter", "total_steps"):
        their_state = their_schedule.state_dict()
        if key in their_state:
            assert our_schedule.state_dict()[key] == their_state[key], key


@pytest.mark.parametrize("name", ["AdamW", "Adagrad", "Adadelta"])
def test_a_recorded_step_is_one_optimizer_event(name):
    from numbanet import trace

    param = numbanet.tensor([1.0, -2.0], requires_grad=True)
    optimizer = getattr(optim, name)([param])
    param.grad = numbanet.tensor([0.5, 0.5])
    with trace.record() as recording:
        optimizer.step()
    assert [event.op for event in recording.events] == [f"{name}.step"]
    (update,) = recording.events[0].updates
    np.testing.assert_allclose(update.after.values, param.detach().numpy())
    assert recording.events[0].kernels  # the update's kernels are credited to the step
