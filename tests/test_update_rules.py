"""The optimizer pane's worked rule (issue 12, part 2): PyTorch's documented update of one
element whose gradient is not zero, with its numbers, equals a hand computation — and the
number the optimizer's kernel wrote.

Each case records two iterations of a small lesson (the second step has a momentum buffer,
Adam's m and v and a step count of 2 to read), then recomputes the element by hand.
"""

import io
import math

import pytest
from rich.console import Console, Group

from numbanet.tui.probe import OPTIMIZER_EXAMPLE
from numbanet.tui.recorder import TraceSource
from numbanet.tui.update_rules import worked_update, worked_updates
from numbanet.tui.widgets.detail_pane import optimizer_sections

LESSON = '''\
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
criterion = nn.MSELoss()
optimizer = optim.{optimizer}
inputs = torch.randn(5, 3)
targets = torch.randn(5, 2)
'''


def record(tmp_path, optimizer: str, iterations: int = 2):
    path = tmp_path / "lesson.py"
    path.write_text(LESSON.format(optimizer=optimizer))
    return TraceSource(path).first_traces(iterations)


def by_hand(name: str, example: dict) -> tuple[float, dict]:
    """θ_t and the new state of one element, straight from torch.optim's documentation."""
    h, s = example["hyper"], example["state_before"]
    p, g = example["before"], example["gradient"]
    if name == "SGD":
        g = g + h["weight_decay"] * p
        state = {}
        if h["momentum"]:
            b = g if "momentum_buffer" not in s else \
                h["momentum"] * s["momentum_buffer"] + (1 - h["dampening"]) * g
            state["momentum_buffer"] = b
            g = g + h["momentum"] * b if h["nesterov"] else b
        return p - h["lr"] * g, state
    if name in ("Adam", "AdamW"):
        t = int(s.get("step", 0)) + 1
        b1, b2 = h["betas"]
        if name == "AdamW":
            p = p * (1 - h["lr"] * h["weight_decay"])
        else:
            g = g + h["weight_decay"] * p
        m = b1 * s.get("exp_avg", 0.0) + (1 - b1) * g
        v = b2 * s.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
        step = h["lr"] * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + h["eps"])
        return p - step, {"exp_avg": m, "exp_avg_sq": v, "step": float(t)}
    if name == "RMSprop":
        g = g + h["weight_decay"] * p
        v = h["alpha"] * s.get("square_avg", 0.0) + (1 - h["alpha"]) * g * g
        state, v_used = {"square_avg": v}, v
        if h["centered"]:
            a = h["alpha"] * s.get("grad_avg", 0.0) + (1 - h["alpha"]) * g
            state["grad_avg"], v_used = a, v - a * a
        if h["momentum"] > 0:
            b = h["momentum"] * s.get("momentum_buffer", 0.0) + g / (math.sqrt(v_used)
                                                                     + h["eps"])
            state["momentum_buffer"] = b
            return p - h["lr"] * b, state
        return p - h["lr"] * g / (math.sqrt(v_used) + h["eps"]), state
    raise AssertionError(name)


CASES = [
    "SGD(model.parameters(), lr=0.1)",
    "SGD(model.parameters(), lr=0.1, momentum=0.9)",
    "SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)",
    "SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
    "Adam(model.parameters(), lr=0.01)",
    "Adam(model.parameters(), lr=0.01, weight_decay=0.1)",
    "AdamW(model.parameters(), lr=0.01, weight_decay=0.1)",
    "RMSprop(model.parameters(), lr=0.01)",
    "RMSprop(model.parameters(), lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)",
]


@pytest.mark.parametrize("optimizer", CASES)
def test_the_worked_rule_equals_a_hand_computation_and_the_kernel(tmp_path, optimizer):
    traces = record(tmp_path, optimizer)
    example = traces[1].metadata[OPTIMIZER_EXAMPLE]
    name = optimizer.split("(")[0]
    assert example["optimizer"] == name
    entries = [entry for entry in example["parameters"] if not entry.get("zero_gradient")]
    assert entries, "every parameter had a zero gradient"
    for entry in entries:
        assert entry["gradient"] != 0  # the pane never works an element that does not move
        work = worked_update(name, entry)
        expected, state = by_hand(name, entry)
        assert work.computed == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert work.before == entry["before"] and work.recorded == entry["after"]
        assert work.computed == pytest.approx(entry["after"], rel=1e-5, abs=1e-6)  # float32
        assert work.agrees
        for key, value in state.items():
            assert work.state_computed[key] == pytest.approx(value, rel=1e-12)
            assert work.state_recorded[key] == pytest.approx(value, rel=1e-4, abs=1e-6)
        assert work.lines[0].value == entry["gradient"]
        assert work.lines[-1].value == work.computed


def test_the_first_step_starts_the_buffers(tmp_path):
    traces = record(tmp_path, "SGD(model.parameters(), lr=0.1, momentum=0.9)", iterations=1)
    entry = traces[0].metadata[OPTIMIZER_EXAMPLE]["parameters"][0]
    assert entry["state_before"] == {}
    work = worked_update("SGD", entry)
    assert any(line.rule == "b_t ← g_t   (t = 1)" for line in work.lines)
    assert work.state_computed["momentum_buffer"] == entry["gradient"]
    adam = record(tmp_path, "Adam(model.parameters(), lr=0.01)", iterations=1)
    entry = adam[0].metadata[OPTIMIZER_EXAMPLE]["parameters"][0]
    assert entry["state_after"]["step"] == 1.0
    assert "1 − 0.9^1" in "".join(line.numbers for line in worked_update("Adam", entry).lines)


def test_the_optimizer_pane_shows_the_rule_with_its_numbers(tmp_path):
    traces = record(tmp_path, "SGD(model.parameters(), lr=0.1, momentum=0.9)")
    trace = traces[1]
    event = trace.by_phase("optimizer")[0]
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(Group(*optimizer_sections(event, trace)))
    text = console.export_text()
    work = worked_updates(trace.metadata)[0]
    assert "torch.optim.SGD as documented, on element" in text
    assert "b_t ← μ b_(t-1) + (1 − τ) g_t" in text and "θ_t ← θ_(t-1) − γ g_t" in text
    assert f"{work.before:.6g} → {work.computed:.6g}" in text
    assert "= this rule" in text
    assert text.count("as documented") == len(worked_updates(trace.metadata))
