"""``numbanet step --headless``: one line (or one JSON object) per node, for scripts."""

import io
import json
from pathlib import Path

import pytest
from tui_traces import synthetic_iteration

from numbanet.trace import Trace
from numbanet.tui import main
from numbanet.tui.headless import event_line, print_trace, run_headless
from numbanet.tui.recorder import TraceSource

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_text_lines_have_index_phase_op_module_shape_and_values():
    stream = io.StringIO()
    print_trace(synthetic_iteration(), 0, as_json=False, stream=stream)
    header, *lines = stream.getvalue().splitlines()
    assert header.startswith("# iteration 0: synthetic") and "loss 0.5" in header
    assert len(lines) == 14
    assert lines[0].split()[:5] == ["0", "forward", "Matmul", "Net.fc1", "[1,"]
    assert lines[0].endswith("[1, 1]")  # a two-element output is printed in full
    assert lines[6].split()[:5] == ["6", "loss", "NllLoss", "Loss", "scalar"]
    assert lines[13].split()[:6] == ["13", "optimizer", "SGD.step", "-", "1", "params"]


def test_large_tensors_are_summarised_by_statistics():
    trace = synthetic_iteration()
    trace.events[0].outputs[0].values = None  # as the trace stores a large tensor
    line = event_line(0, trace.events[0])
    assert "mean 1 std 0 min 1 max 1" in line


def test_json_lines_parse_and_keep_nan_as_text():
    stream = io.StringIO()
    print_trace(synthetic_iteration(with_nan=True), 3, as_json=True, stream=stream)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records[0] == {"type": "iteration", "iteration": 3, "nodes": 14,
                          "lesson": "synthetic", "loss": 0.5, "gradient_norm": 0.45}
    relu = records[1 + 2]
    assert relu["type"] == "node" and relu["op"] == "Relu" and relu["index"] == 2
    assert relu["shape"] == [1, 2] and relu["stats"]["nan"] == 1
    assert relu["values"] == [[1.5, "nan"]]
    assert records[-1]["parameters_updated"] == ["fc1.weight"]


def test_a_saved_trace_is_replayed(tmp_path):
    path = tmp_path / "saved.json"
    synthetic_iteration().save(path)
    stream = io.StringIO()
    assert run_headless(TraceSource(path), iterations=5, stream=stream) == 0
    assert stream.getvalue().count("# iteration") == 1  # a saved trace holds one


def test_main_rejects_a_missing_file_and_bad_iterations(capsys):
    assert main(["--headless", "no_such_lesson.py"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["--headless", "--iterations", "0"]) == 2


def test_main_reports_a_broken_lesson(tmp_path, capsys):
    lesson = tmp_path / "broken.py"
    lesson.write_text("model = None\n")
    assert main(["--headless", str(lesson)]) == 1
    assert "does not define" in capsys.readouterr().err


def test_headless_records_a_real_lesson(capsys):
    assert main(["--headless", "--iterations", "2",
                 str(EXAMPLES / "lesson_linear_regression.py")]) == 0
    lines = capsys.readouterr().out.splitlines()
    headers = [line for line in lines if line.startswith("# iteration")]
    assert len(headers) == 2
    phases = {line.split()[1] for line in lines if not line.startswith("#")}
    assert phases == {"forward", "loss", "backward", "optimizer"}


def test_headless_json_of_a_real_lesson_matches_the_trace(capsys):
    assert main(["--headless", "--json", str(EXAMPLES / "lesson_linear_regression.py")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    nodes = [record for record in records if record["type"] == "node"]
    assert records[0]["nodes"] == len(nodes)
    assert [node["index"] for node in nodes] == list(range(len(nodes)))
    optimizer = [node for node in nodes if node["phase"] == "optimizer"]
    assert sorted(optimizer[0]["parameters_updated"]) == ["bias", "weight"]


@pytest.mark.parametrize("lesson", ["lesson_mlp.py", "lesson_cnn.py"])
def test_example_lessons_record_all_four_phases(lesson):
    trace = TraceSource(EXAMPLES / lesson).record_next()
    assert isinstance(trace, Trace)
    assert {event.phase for event in trace.events} == {"forward", "loss", "backward",
                                                        "optimizer"}


@pytest.mark.parametrize("lesson, status", [("lesson_custom_function_bug.py", 1),
                                            ("lesson_custom_function.py", 0)])
def test_gradcheck_flags_exactly_the_planted_bug(lesson, status, capsys):
    assert main(["--headless", "--gradcheck", str(EXAMPLES / lesson)]) == status
    lines = capsys.readouterr().out.splitlines()
    nodes = [line for line in lines if "max rel error" in line and "path" not in line]
    failed = [line for line in nodes if line.endswith("FAIL")]
    assert len(nodes) == 6  # one line per backward node: loss, 2 x (addmm, t), LecunTanh
    for line in nodes:
        error = float(line.split("max rel error")[1].split()[0])
        if line in failed:
            assert error > 1e-2
        else:
            assert error < 1e-6 and line.endswith("pass")
    if status:
        assert [line.split()[1] for line in failed] == ["LecunTanhBackward"]
        assert lines[-1].startswith("first failing node: iteration 0, #12 LecunTanhBackward")
        assert "LecunTanh.apply(self.hidden(x))" in lines[-1]
    else:
        assert not failed and "0 failed" in lines[-1]


def test_gradcheck_json_ends_with_a_verdict(capsys):
    assert main(["--headless", "--gradcheck", "--json",
                 str(EXAMPLES / "lesson_custom_function_bug.py")]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    verdict = records[-1]
    assert verdict["type"] == "gradcheck" and not verdict["passed"]
    assert verdict["first_failure"]["op"] == "LecunTanhBackward"
    nodes = [r for r in records if r["type"] == "node"]
    assert all(r["gradcheck"] is not None for r in nodes)


def test_gradcheck_of_a_saved_trace_uses_the_results_recorded_with_it(tmp_path, capsys):
    trace = TraceSource(EXAMPLES / "lesson_custom_function_bug.py", gradcheck=True).record_next()
    trace.save(tmp_path / "bug.json")
    assert main(["--headless", "--gradcheck", str(tmp_path / "bug.json")]) == 1
    assert "#12 LecunTanhBackward" in capsys.readouterr().out
    synthetic_iteration().save(tmp_path / "plain.json")  # recorded without checks
    assert main(["--headless", "--gradcheck", str(tmp_path / "plain.json")]) == 2
    assert "without gradient checks" in capsys.readouterr().err
