"""``examples/mnist_quantize.py`` on a small stand-in for MNIST (28x28 digits drawn from ten
noisy prototypes, so a few steps train both models), and ``examples/lesson_quantized.py``
through the headless stepper: int8 accuracy within 0.5 points of fp32, the saved state
dicts about 4x smaller, the int8 nodes in the trace."""

import sys
from pathlib import Path

import numpy as np
import pytest

import numbanet
from numbanet.utils.data import TensorDataset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def mnist_quantize():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import mnist_quantize
    finally:
        sys.path.remove(str(EXAMPLES))
    return mnist_quantize


def prototype_digits(count: int, seed: int) -> TensorDataset:
    """``count`` 1x28x28 images: one of ten fixed random patterns plus noise, labelled by
    the pattern."""
    patterns = np.random.default_rng(123).normal(0, 1, (10, 1, 28, 28)).astype(np.float32)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = patterns[labels] + rng.normal(0, 0.3, (count, 1, 28, 28)).astype(np.float32)
    return TensorDataset(numbanet.tensor(images), numbanet.tensor(labels))


@pytest.mark.slow
def test_mnist_quantize_keeps_accuracy_and_shrinks_the_state_dict(mnist_quantize, capsys):
    numbanet.manual_seed(0)
    results = mnist_quantize.run(prototype_digits(384, seed=1), prototype_digits(200, seed=2),
                                 mlp_epochs=2, cnn_epochs=1, calibration_batches=2,
                                 timing_images=200, timing_repeats=1)
    printed = capsys.readouterr().out
    assert "per-channel weights" in printed and "smaller" in printed
    for name in ("mlp_dynamic", "cnn_per_tensor", "cnn_per_channel"):
        row = results[name]
        assert row["fp32_accuracy"] > 60, name  # it learned (chance: 10%)
        assert abs(row["int8_accuracy"] - row["fp32_accuracy"]) <= 0.5, name
        assert 3.5 < row["fp32_bytes"] / row["int8_bytes"] < 4.1, name
        assert row["int8_seconds"] > 0


def test_quantized_lesson_shows_the_int8_nodes_with_their_qparams():
    from numbanet.lesson import load_lesson, record_iteration

    lesson = load_lesson(EXAMPLES / "lesson_quantized.py")
    trace = record_iteration(lesson)
    events = {event.op: event for event in trace.events}
    assert {"Quantize", "Int8LinearAccumulate", "Requantize", "Dequantize"} <= set(events)
    accumulate = events["Int8LinearAccumulate"]
    assert accumulate.module_path.endswith("int8_model.output")
    assert {"x_scale", "weight_scale", "x_zero_point"} <= set(accumulate.attributes)
    assert accumulate.outputs[0].dtype == "int32"
    assert trace.by_phase("optimizer")  # the float model still trains
