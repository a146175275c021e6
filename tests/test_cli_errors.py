"""``numbanet graph`` / ``export`` / ``step`` errors: one clear line about *your* file,
a non-zero exit, and no traceback of numbanet's insides."""

import json
import subprocess
import sys

from numbanet import cli, viz

FAILING_LESSON = """\
import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

model = nn.Linear(3, 1)
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
inputs, targets = torch.ones(4, 2), torch.ones(4, 1)
"""


def test_graph_into_a_missing_folder_says_so_before_recording(tmp_path, capsys):
    output = tmp_path / "missing" / "dir" / "graph.svg"
    assert cli.main(["graph", "--demo", "-o", str(output)]) == 2
    error = capsys.readouterr().err
    assert error.strip() == (f"numbanet graph: error: cannot write {output}: the folder "
                             f"{output.parent} does not exist (create it with: mkdir -p "
                             f"{output.parent})")
    assert "recording" not in error
    assert cli.main(["export", "--demo", "-o", str(tmp_path / "no" / "step.html")]) == 2
    assert "numbanet export: error: cannot write" in capsys.readouterr().err


def test_a_damaged_trace_is_one_line_for_graph(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "numbanet-trace", "events": [')
    assert cli.main(["graph", str(damaged), "-o", str(tmp_path / "g.svg")]) == 2
    error = capsys.readouterr().err
    assert error == ("numbanet graph: error: damaged.json is not a numbanet trace: invalid "
                     "JSON at line 1, column 41 (Expecting value)\n")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"some": "json"}))
    assert cli.main(["graph", str(other), "-o", str(tmp_path / "g.svg")]) == 2
    assert "not a numbanet trace" in capsys.readouterr().err


def test_a_failing_lesson_points_at_the_lesson_not_the_console_script(tmp_path):
    lesson = tmp_path / "wrong_shapes.py"
    lesson.write_text(FAILING_LESSON)
    for command in (["graph", str(lesson), "-o", str(tmp_path / "g.svg")],
                    ["step", "--headless", str(lesson)]):
        done = subprocess.run([sys.executable, "-m", "numbanet.cli", *command],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr and "sys.exit" not in done.stderr
        assert "wrong_shapes.py: recording iteration 0, at outputs = lesson.model(inputs)" \
            in done.stderr
        assert "mat1 and mat2 shapes cannot be multiplied (4x2 and 3x1)" in done.stderr


def test_an_error_while_loading_names_the_lesson_line(tmp_path, capsys):
    lesson = tmp_path / "divides.py"
    lesson.write_text("import numbanet as torch\n\nscale = 1 / 0\n")
    assert cli.main(["graph", str(lesson), "-o", str(tmp_path / "g.svg")]) == 2
    error = capsys.readouterr().err
    assert "divides.py, line 3: scale = 1 / 0\n  ZeroDivisionError: division by zero" in error
