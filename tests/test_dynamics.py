"""Training dynamics: per-layer health measured while recording, the diagnoses and their
thresholds, the headless report and the SVG figure (issue 12, part 1).

The lessons are built here (tests/dynamics_lessons.py): a deep sigmoid MLP with N(0, 1)
weights must be flagged "vanishing gradients", a ReLU MLP with biases −5 "dead ReLUs", the
same ReLU net with Kaiming weights and zero biases neither, and lr = 50 "too high".
"""

import io
import math

import numpy as np
import pytest
from dynamics_lessons import write_lesson

from numbanet.trace import Trace
from numbanet.tui import health, main
from numbanet.tui.health_figure import health_svg
from numbanet.tui.probe import dead_fraction
from numbanet.tui.recorder import TraceSource


def kinds(traces):
    return {diagnosis.kind: diagnosis for diagnosis in health.diagnose(health.healths(traces))}


# ---- pure logic on hand-made statistics ----------------------------------------------------
def layer(module, kind="Linear", grad=1.0, ratio=1e-3, dead=None, std=1.0):
    entry = {"module": module, "kind": kind, "activation_mean": 0.0, "activation_std": std,
             "dead_fraction": dead}
    if kind == "Linear":
        entry.update(parameter=f"{module}.weight", grad_norm=grad, grad_ratio=grad,
                     weight_norm=1.0,
                     update_norm=ratio, update_ratio=ratio)
    return entry


def test_dead_fraction_counts_units_zero_for_the_whole_batch():
    output = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
    assert dead_fraction(output) == 0.5  # units 0 and 3 are 0 for every example
    images = np.zeros((2, 3, 2, 2))
    images[1, 0, 0, 0] = 1.0
    assert dead_fraction(images) == 11 / 12


def test_a_healthy_history_has_no_diagnosis():
    history = [{"loss": 1.0 - 0.1 * i, "layers": [layer("a", grad=0.5), layer(
        "r", "ReLU", dead=0.1), layer("b", grad=1.0)]} for i in range(3)]
    assert health.diagnose(history) == []


def test_each_threshold_is_crossed_on_its_own():
    def run(**changes):
        first = layer("a", grad=changes.get("grad", 0.5), ratio=changes.get("ratio", 1e-3))
        relu = layer("r", "ReLU", dead=changes.get("dead", 0.0))
        last = layer("b", grad=1.0, ratio=changes.get("ratio", 1e-3))
        loss = changes.get("loss", 1.0)
        return {d.kind: d for d in health.diagnose([{"loss": loss,
                                                     "layers": [first, relu, last]}])}

    assert set(run(grad=0.9e-3)) == {"vanishing gradients"}
    assert set(run(grad=1.1e-3)) == set()
    assert set(run(grad=1.1e3)) == {"exploding gradients"}
    assert set(run(grad=math.nan)) == {"exploding gradients"}
    assert set(run(dead=0.51)) == {"dead ReLUs"} and set(run(dead=0.5)) == set()
    assert set(run(ratio=0.11)) == {"learning rate too high"}
    assert set(run(ratio=0.9e-5)) == {"learning rate too low"}
    assert set(run(loss=math.nan)) == {"learning rate too high"}
    vanishing = run(grad=1e-5)["vanishing gradients"]
    assert vanishing.module == "a" and vanishing.parameter == "a.weight"
    assert "1e-05" in vanishing.message or "1e-5" in vanishing.message
    assert vanishing.threshold == health.THRESHOLDS["vanishing gradients"]


def test_large_steps_while_the_loss_falls_are_not_too_high():
    history = [{"loss": loss, "layers": [layer("a", ratio=0.5), layer("b", ratio=0.5)]}
               for loss in (5.0, 4.0, 3.1)]
    assert health.diagnose(history) == []
    rising = [{"loss": loss, "layers": [layer("a", ratio=0.5), layer("b", ratio=0.5)]}
              for loss in (3.0, 3.5, 4.0)]
    assert [d.kind for d in health.diagnose(rising)] == ["learning rate too high"]


def test_a_loss_that_grows_tenfold_means_the_learning_rate_is_too_high():
    history = [{"loss": loss, "layers": [layer("a"), layer("b")]} for loss in (1.0, 5.0, 11.0)]
    assert [d.kind for d in health.diagnose(history)] == ["learning rate too high"]


def test_the_figure_draws_every_panel_and_the_diagnoses():
    history = [{"loss": 1.0 / (i + 1), "layers": [layer("a", grad=1e-6), layer(
        "r", "ReLU", dead=0.8), layer("b")]} for i in range(4)]
    svg = health_svg(history, "test")
    for title in ("loss", "‖∂L/∂W‖/‖W‖ per layer", "‖Δw‖/‖w‖ per layer", "dead ReLU fraction",
                  "vanishing gradients", "dead ReLUs", "Thresholds:"):
        assert title in svg
    assert svg.count("<polyline") >= 5 and svg.startswith("<svg")
    with pytest.raises(ValueError, match="no layer statistics"):
        health_svg([])


def test_the_figure_as_png(tmp_path):
    from PIL import Image

    from numbanet.tui.health_figure import write_figure

    history = [{"loss": 1.0 / (i + 1), "layers": [layer("a", grad=1e-6), layer(
        "r", "ReLU", dead=0.8), layer("b")]} for i in range(3)]
    write_figure(history, tmp_path / "health.png")
    with Image.open(tmp_path / "health.png") as image:
        assert image.format == "PNG" and image.width > 1000
        colours = image.getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) > 5  # lines in several colours
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        write_figure(history, tmp_path / "health.pdf")
    assert main(["--headless", "--diagnose", "--figure", "x.pdf"]) == 2


# ---- the must-show lessons -----------------------------------------------------------------
ITERATIONS = 3


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    return {
        "sigmoid_normal": write_lesson(folder, "sigmoid_normal", activation="Sigmoid",
                                       init="normal"),
        "relu_bias": write_lesson(folder, "relu_bias", bias=-5.0),
        "relu_kaiming": write_lesson(folder, "relu_kaiming"),
        "lr_50": write_lesson(folder, "lr_50", optimizer="SGD(model.parameters(), lr=50.0)"),
        "lr_tiny": write_lesson(folder, "lr_tiny",
                                optimizer="SGD(model.parameters(), lr=1e-6)"),
    }


@pytest.fixture(scope="module")
def recorded(lessons):
    return {name: TraceSource(path).first_traces(ITERATIONS) for name, path in lessons.items()}


def test_every_iteration_carries_layer_statistics(recorded):
    traces = recorded["relu_kaiming"]
    history = health.healths(traces)
    assert len(history) == ITERATIONS
    layers = history[0]["layers"]
    assert [entry["kind"] for entry in layers[:2]] == ["Linear", "ReLU"]
    assert len(layers) == 21  # 10 × (Linear, ReLU) and the classifier
    linear, relu = layers[0], layers[1]
    assert linear["module"] == "Sequential.0" and linear["parameter"] == "0.weight"
    assert linear["grad_norm"] > 0 and 0 < linear["update_ratio"] < 1
    assert relu["dead_fraction"] is not None and linear["dead_fraction"] is None
    assert history[0]["loss"] == pytest.approx(traces[0].metadata["loss"])
    # plain data: survives a save and a load
    assert Trace.from_dict(traces[0].to_dict()).metadata["health"] == history[0]


def test_deep_sigmoid_with_normal_weights_has_vanishing_gradients(recorded):
    found = kinds(recorded["sigmoid_normal"])
    assert "vanishing gradients" in found
    assert found["vanishing gradients"].value < health.VANISHING_RATIO


def test_relu_with_biases_minus_five_has_dead_relus(recorded):
    found = kinds(recorded["relu_bias"])
    assert "dead ReLUs" in found and found["dead ReLUs"].value > 0.5


def test_kaiming_initialisation_clears_both_flags(recorded):
    found = kinds(recorded["relu_kaiming"])
    assert "vanishing gradients" not in found and "dead ReLUs" not in found
    assert found == {}


def test_a_learning_rate_of_50_is_too_high(recorded):
    found = kinds(recorded["lr_50"])
    assert "learning rate too high" in found
    assert "learning rate too high" not in kinds(recorded["relu_kaiming"])


def test_a_learning_rate_of_1e_minus_6_is_too_low(recorded):
    found = kinds(recorded["lr_tiny"])
    assert set(found) == {"learning rate too low"}
    assert found["learning rate too low"].value < health.UPDATE_RATIO_LOW


def test_a_diagnosis_names_the_node_to_jump_to(recorded):
    traces = recorded["sigmoid_normal"]
    diagnosis = kinds(traces)["vanishing gradients"]
    index = health.node_index(traces[-1], diagnosis)
    event = traces[-1].events[index]
    assert event.op == "AccumulateGrad" and event.attributes["parameter"] == diagnosis.parameter
    dead = kinds(recorded["relu_bias"])["dead ReLUs"]
    event = recorded["relu_bias"][-1].events[health.node_index(recorded["relu_bias"][-1], dead)]
    assert event.phase == "forward" and event.module_path == dead.module
    high = kinds(recorded["lr_50"])["learning rate too high"]
    assert recorded["lr_50"][-1].events[health.node_index(recorded["lr_50"][-1], high)
                                         ].phase == "optimizer"


def test_headless_diagnose_prints_the_table_the_diagnoses_and_writes_the_figure(
        lessons, tmp_path, capsys):
    figure = tmp_path / "health.svg"
    status = main(["--headless", "--diagnose", "--iterations", "2", "--figure", str(figure),
                   str(lessons["relu_bias"])])
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("# iteration") == 2
    assert "Sequential.1" in out and "ReLU" in out and "dead ReLUs:" in out
    assert "[threshold: > 50% of a ReLU layer's units" in out
    assert figure.read_text().startswith("<svg") and "dead ReLU fraction" in figure.read_text()


def test_report_lines_of_a_history():
    history = [{"loss": 0.7, "layers": [layer("a"), layer("b")]}]
    lines = health.report(history)
    assert lines[0].startswith("# layer health over 1 iteration(s)")
    assert lines[-1] == "# diagnoses: none"
    assert health.report([])[0].startswith("# no layer statistics")
    stream = io.StringIO()
    stream.write("\n".join(lines))
    assert "a.weight" not in stream.getvalue()  # the table names modules, not weights
