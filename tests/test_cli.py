"""The ``numbanet`` command: graph (built-in lesson, a lesson file, a saved trace), the
``step`` hand-over, and ``doctor``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from numbanet import cli, doctor, viz
from numbanet.trace import Trace

LESSON = """
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(5, 3)
targets = torch.randn(5, 1)
"""


@pytest.fixture(autouse=True)
def webassembly_renderer(monkeypatch):
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")


@pytest.fixture
def lesson_file(tmp_path):
    path = tmp_path / "tiny_lesson.py"
    path.write_text(LESSON)
    return path


def is_svg(path) -> bool:
    return ElementTree.parse(path).getroot().tag.endswith("svg")


def test_graph_of_the_built_in_lesson(tmp_path, capsys):
    output = tmp_path / "demo.svg"
    assert cli.main(["graph", "--demo", "-o", str(output)]) == 0
    assert is_svg(output)
    progress = capsys.readouterr().err
    assert "recording iteration 0" in progress and f"wrote {output}" in progress
    svg = output.read_text()
    # nn.Linear is one node, its backward PyTorch's AddmmBackward0 (parameters' gradients in it)
    assert "SGD.step" in svg and "AddmmBackward0" in svg and "Legend" in svg


def test_graph_of_a_lesson_file_then_of_its_saved_trace(lesson_file, tmp_path):
    dot_file, trace_file = tmp_path / "tiny.dot", tmp_path / "tiny.json"
    status = cli.main(["graph", str(lesson_file), "-o", str(dot_file), "--view", "forward",
                       "--depth", "1", "--save-trace", str(trace_file)])
    assert status == 0
    source = dot_file.read_text()
    assert "cluster_Sequential" in source
    assert len(re.findall(r"class=module", source)) == 1  # Tanh
    assert source.count("linear: x @ weight.T + bias") == 2  # each nn.Linear: one node
    assert "Sequential.0: Linear" in source and "Sequential.1: Tanh" in source
    assert "Backward" not in source  # the forward view only

    trace = Trace.load(trace_file)
    assert {e.phase for e in trace.events} == {"forward", "loss", "backward", "optimizer"}
    svg_file = tmp_path / "tiny.svg"
    assert cli.main(["graph", str(trace_file), "-o", str(svg_file), "--highlight", "0"]) == 0
    assert is_svg(svg_file)


def test_graph_explains_bad_input(lesson_file, tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text(LESSON.replace("optimizer =", "unused ="))
    assert cli.main(["graph", str(broken), "-o", str(tmp_path / "x.svg")]) == 2
    assert "does not define optimizer" in capsys.readouterr().err

    assert cli.main(["graph", "-o", str(tmp_path / "x.svg")]) == 2
    assert "--demo" in capsys.readouterr().err

    assert cli.main(["graph", str(lesson_file), "--max-nodes", "5",
                     "-o", str(tmp_path / "x.svg")]) == 2
    assert "more than max_nodes=5" in capsys.readouterr().err

    assert cli.main(["graph", str(lesson_file), "-o", str(tmp_path / "x.pdf")]) == 1
    assert ".svg, .png" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is not None, reason="system Graphviz makes PNGs")
def test_png_without_graphviz_fails_with_the_fix(lesson_file, tmp_path, capsys):
    assert cli.main(["graph", str(lesson_file), "-o", str(tmp_path / "x.png")]) == 1
    assert "apt install graphviz" in capsys.readouterr().err


def test_step_hands_its_arguments_to_the_stepper(monkeypatch):
    import numbanet.tui

    received = []
    monkeypatch.setattr(numbanet.tui, "main", lambda argv: received.append(argv) or 0)
    assert cli.main(["step", "--headless", "lesson.py"]) == 0
    assert received == [["--headless", "lesson.py"]]


def test_console_help_lists_the_commands():
    completed = subprocess.run([sys.executable, "-m", "numbanet.cli", "--help"],
                               capture_output=True, text=True, check=True)
    for command in ("graph", "step", "doctor"):
        assert command in completed.stdout


def test_doctor_reports_every_part(capsys):
    assert cli.main(["doctor"]) == 0
    report = capsys.readouterr().out
    for part in ("Python", "numpy", "Numba", "numba-cuda", "GPU", "CUDA simulator",
                 "kernel cache", "graph renderer", "Textual"):
        assert re.search(rf"^  (ok|info|warn)\s+{re.escape(part)}\s", report, re.M), part
    assert "WebAssembly" in report  # forced by the fixture, and really rendered


def test_doctor_fails_only_for_essential_parts(monkeypatch, capsys):
    def broken_numba():
        return doctor.Check(doctor.FAIL, "Numba", "does not import", "pip install numba")

    def missing_textual():
        return doctor.Check(doctor.WARN, "Textual", "not installed", "pip install textual")

    monkeypatch.setattr(doctor, "CHECKS", (missing_textual,))
    assert doctor.main() == 0
    monkeypatch.setattr(doctor, "CHECKS", (missing_textual, broken_numba, lambda: 1 / 0))
    assert doctor.main() == 1
    report = capsys.readouterr().out
    assert "fix: pip install numba" in report and "the check crashed: ZeroDivisionError" in report
