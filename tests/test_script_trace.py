"""``numbanet step SCRIPT.py --iteration K``: iteration K of an unmodified PyTorch script's
own training loop, recorded and stepped like a lesson's."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from numbanet import tui
from numbanet.lesson import LessonError, is_lesson_file
from numbanet.script_trace import ScriptError, ScriptSession
from numbanet.torch_alias import TorchAliasFinder
from numbanet.tui.app import StepperApp
from numbanet.tui.recorder import TraceSource

TRAINING_SCRIPT = """
import argparse
import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5)
steps = parser.parse_args().steps

torch.manual_seed(0)
inputs = torch.randn(32, 4)
labels = (inputs.sum(1) > 0).long()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


model = Net()
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
for step in range(steps):
    batch = inputs.to("cpu") * 1.0          # data preparation: not part of the picture
    loss = loss_fn(model(batch), labels)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 10.0)  # between backward and step
    optimizer.step()
    print(f"step {step} loss {loss.item():.6f}")
"""

MANUAL_UPDATES = """
import math
import torch

x = torch.linspace(-math.pi, math.pi, 100)
y = torch.sin(x)
a = torch.zeros((), requires_grad=True)
b = torch.zeros((), requires_grad=True)
for t in range(6):
    y_pred = a + b * x
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        a -= 1e-3 * a.grad
        b -= 1e-3 * b.grad
        a.grad = None
        b.grad = None
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(TRAINING_SCRIPT)
    return path


def phases(trace) -> list[str]:
    return [event.phase for event in trace.events]


def test_a_script_is_told_apart_from_a_lesson(tmp_path, script):
    assert not is_lesson_file(script)
    lesson = tmp_path / "lesson.py"
    lesson.write_text("import numbanet as torch\nmodel = optimizer = criterion = None\n"
                      "def batch(i):\n    return None\n")
    assert is_lesson_file(lesson)
    own_loop = tmp_path / "loop.py"  # numbanet's import, its own loop: a script too
    own_loop.write_text("import numbanet as torch\nfor step in range(3):\n"
                        "    loss.backward()\n")
    assert not is_lesson_file(own_loop)
    unfinished = tmp_path / "unfinished.py"  # neither: read as a lesson, to say what it lacks
    unfinished.write_text("model = None\n")
    assert is_lesson_file(unfinished)


def test_iteration_k_is_recorded_from_the_first_graph_op_to_the_optimizer_step(script):
    session = ScriptSession(script, [], first_iteration=2)
    try:
        trace = session.record_next()
    finally:
        session.close()
    assert trace.metadata["iteration"] == 2 and trace.metadata["lesson"] == "train.py"
    kinds = phases(trace)
    # forward, then loss, then backward, then one optimizer event: in that order
    assert kinds == sorted(kinds, key=["forward", "loss", "backward", "optimizer"].index)
    assert kinds[-1] == "optimizer" and kinds.count("optimizer") == 1
    first = trace.events[0]
    assert first.module_path.startswith("Net.hidden")  # not the data preparation's mul
    loss_events = [e for e in trace.events if e.phase == "loss"]
    assert loss_events and all(e.module_path.startswith("CrossEntropyLoss")
                               for e in loss_events)
    # clip_grad_norm_'s ops (between backward and step) are not forward events
    assert not any(e.phase in ("forward", "loss") for e in trace.events[kinds.index("backward"):])
    assert trace.metadata["loss"] > 0 and trace.metadata["gradient_norm"] > 0


def test_next_iterations_continue_the_same_run(script, capsys):
    session = ScriptSession(script, ["--steps", "4"], first_iteration=1)
    first, second, third = session.record_next(), session.record_next(), session.record_next()
    assert [t.metadata["iteration"] for t in (first, second, third)] == [1, 2, 3]
    printed = capsys.readouterr().err  # the script's prints go to stderr
    # (the script waits inside step() after each recorded iteration: step 3 is not printed)
    assert "step 2 " in printed and "step 3 " not in printed
    losses = {int(line.split()[1]): float(line.split()[3])
              for line in printed.splitlines() if line.startswith("step ")}
    assert first.metadata["loss"] == pytest.approx(losses[1], rel=1e-5)
    assert second.metadata["loss"] == pytest.approx(losses[2], rel=1e-5)
    with pytest.raises(ScriptError, match="ended after 4 training iteration"):
        session.record_next()


def test_a_script_without_an_optimizer_ends_iterations_at_backward(tmp_path):
    path = tmp_path / "polynomial.py"
    path.write_text(MANUAL_UPDATES)
    session = ScriptSession(path, [], first_iteration=3)
    try:
        trace = session.record_next()
    finally:
        session.close()
    assert trace.metadata["iteration"] == 3
    ops = [(event.phase, event.op) for event in trace.events]
    assert ops[0][0] == "forward" and ops[-1][1].startswith("AccumulateGrad")
    assert [op for phase, op in ops if phase == "loss"][-1].startswith("Sum")
    assert "optimizer" not in phases(trace)


def test_errors_of_the_script_reach_the_stepper(tmp_path):
    path = tmp_path / "lacks.py"
    path.write_text("import torch\nx = torch.ones(2, requires_grad=True)\n"
                    "torch.fft.rfft(x).sum().backward()\n")
    source = TraceSource(path)
    with pytest.raises(LessonError, match=r"lacks.py:3: torch.fft.rfft is not available"):
        source.record_next()


def test_headless_prints_the_scripts_iteration(script, capsys):
    assert tui.main([str(script), "--headless", "--json", "--iteration", "3",
                     "--", "--steps", "5"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    header, nodes = lines[0], lines[1:]
    assert header["type"] == "iteration" and header["iteration"] == 3
    assert {node["phase"] for node in nodes} == {"forward", "loss", "backward", "optimizer"}
    # the script, waiting in its loop for more, was ended: no `import torch` alias remains
    assert not any(isinstance(finder, TorchAliasFinder) for finder in sys.meta_path)
    assert sys.stdout is not sys.stderr


def test_headless_says_when_the_loop_is_shorter(script, capsys):
    assert tui.main([str(script), "--headless", "--iteration", "9", "--", "--steps", "2"]) == 1
    assert "ended after 2 training iteration(s); there is no iteration 9" in \
        capsys.readouterr().err


def test_the_stepper_app_steps_through_a_scripts_iteration(script):
    async def scenario():
        source = TraceSource(script, iteration=1)
        app = StepperApp(source, show_timings=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.title == "train.py (iterations from 1)"
            assert app.stepper.traces[0].metadata["iteration"] == 1
            await pilot.press("N")  # the next iteration continues the same run
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert [t.metadata["iteration"] for t in app.stepper.traces] == [1, 2]
            await pilot.press("4")
            assert app.stepper.phase == "optimizer"
        source.restart()

    asyncio.run(scenario())


def test_numbanet_graph_draws_a_scripts_iteration(script, tmp_path, capsys):
    from numbanet import cli

    output = tmp_path / "graph.dot"
    assert cli.main(["graph", str(script), "--iteration", "1", "-o", str(output)]) == 0
    dot = output.read_text()
    assert dot.startswith("digraph") and "hidden" in dot and "SGD" in dot
    assert "running train.py to iteration 1 of its training loop" in capsys.readouterr().err
