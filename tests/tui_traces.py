"""Hand-made traces for the stepper's tests: every phase, nested modules, one NaN.

The synthetic iteration below is a two-layer network ``Net`` (``fc1``, ``act``, ``fc2``)
with a loss module, its backward pass, an ``AccumulateGrad`` fan-in and an optimizer step.
Values are small and chosen by hand, so a test can assert exact numbers.
"""

from __future__ import annotations

from numbanet.trace import (
    Event,
    GradientContribution,
    KernelRecord,
    ParameterUpdate,
    TensorRecord,
    Trace,
)


def tensor(values, role="activation", name=None, producer=None, tensor_id=0) -> TensorRecord:
    """A TensorRecord of a small tensor with its statistics filled in."""
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return TensorRecord(
        tensor_id=tensor_id, shape=list(array.shape), dtype="float32", device="cpu",
        role=role, name=name, producer_node_id=producer, values=array.tolist(),
        stats={"numel": int(array.size),
               "min": float(finite.min()) if finite.size else float("nan"),
               "max": float(finite.max()) if finite.size else float("nan"),
               "mean": float(finite.mean()) if finite.size else float("nan"),
               "std": float(finite.std()) if finite.size else float("nan"),
               "nan": int(np.isnan(array).sum()), "inf": int(np.isinf(array).sum())},
    )


def kernel(name: str) -> KernelRecord:
    """A kernel record pointing at a real function, so its source can be shown."""
    import numbanet.tui.stepper as some_module

    return KernelRecord(name=name, device="cpu", compilation="loaded from cache",
                        seconds=0.001, source_file=some_module.__file__, source_line=1)


def synthetic_iteration(loss_value: float = 0.5, with_nan: bool = False) -> Trace:
    """One iteration of 14 events: 5 forward, 2 loss, 5 backward, 1 AccumulateGrad... .

    Node ids equal list indices. The layout (index: phase op module)::

        0 forward Matmul Net.fc1      7 backward NllLossBackward0  Loss
        1 forward Add    Net.fc1      8 backward AddBackward0      Net.fc2
        2 forward Relu   Net.act      9 backward MmBackward0       Net.fc2
        3 forward Matmul Net.fc2     10 backward ReluBackward0     Net.act
        4 forward Add    Net.fc2     11 backward MmBackward0       Net.fc1
        5 loss    LogSoftmax Loss    12 backward AccumulateGrad    Net.fc1
        6 loss    NllLoss    Loss    13 optimizer SGD.step
    """
    x = tensor([[1.0, 2.0]], role="input")
    w1 = tensor([[0.5, -1.0], [0.25, 1.0]], role="parameter", name="fc1.weight")
    h = tensor([[1.0, 1.0]], producer=0)
    h_bias = tensor([[1.5, -0.5]], producer=1)
    relu_out = tensor([[1.5, float("nan") if with_nan else 0.0]], producer=2)
    logits = tensor([[0.3, 0.7]], producer=4)
    log_probs = tensor([[-0.9, -0.5]], producer=5)
    loss = tensor(loss_value, producer=6)
    upstream = tensor([[0.2, -0.4]], role="gradient")
    passed_down = tensor([[0.2, 0.0]], role="gradient")
    grad_w1 = tensor([[0.2, 0.0], [0.4, 0.0]], role="gradient", name="fc1.weight")
    first = tensor([[0.1, 0.0], [0.2, 0.0]], role="gradient")
    second = tensor([[0.1, 0.0], [0.2, 0.0]], role="gradient")
    events = [
        Event(0, "forward", "Matmul", "Net.fc1", inputs=[x, w1], outputs=[h],
              kernels=[kernel("numbanet.kernels.cpu.matmul.matmul")],
              formula="out = a @ b\n\nGradient: d a = grad @ b^T, d b = a^T @ grad"),
        Event(1, "forward", "Add", "Net.fc1", inputs=[h, tensor([0.5, -1.5])],
              outputs=[h_bias], formula="out = a + b\n\nGradient: d out/d a = 1",
              elementwise=True),
        Event(2, "forward", "Relu", "Net.act", inputs=[h_bias], outputs=[relu_out],
              formula="out = max(x, 0)\n\nGradient: d out/d x = 1 if x > 0 else 0",
              elementwise=True),
        Event(3, "forward", "Matmul", "Net.fc2", inputs=[relu_out, w1], outputs=[logits]),
        Event(4, "forward", "Add", "Net.fc2", inputs=[logits, logits], outputs=[logits],
              elementwise=True),
        Event(5, "loss", "LogSoftmax", "Loss", inputs=[logits], outputs=[log_probs]),
        Event(6, "loss", "NllLoss", "Loss", inputs=[log_probs], outputs=[loss]),
        Event(7, "backward", "NllLossBackward0", "Loss", inputs=[tensor(1.0)],
              outputs=[upstream], forward_node_id=6),
        Event(8, "backward", "AddBackward0", "Net.fc2", inputs=[upstream],
              outputs=[upstream, upstream], forward_node_id=4, elementwise=True),
        Event(9, "backward", "MmBackward0", "Net.fc2", inputs=[upstream],
              outputs=[upstream, grad_w1], forward_node_id=3),
        Event(10, "backward", "ReluBackward0", "Net.act", inputs=[upstream],
              outputs=[passed_down], forward_node_id=2,
              formula="out = max(x, 0)\n\nGradient: d out/d x = 1 if x > 0 else 0",
              elementwise=True),
        Event(11, "backward", "MmBackward0", "Net.fc1", inputs=[passed_down],
              outputs=[None, first], forward_node_id=0,
              formula="out = a @ b\n\nGradient: d a = grad @ b^T, d b = a^T @ grad"),
        Event(12, "backward", "AccumulateGrad", "Net.fc1", inputs=[first, second],
              outputs=[grad_w1], input_node_ids=[11, 9],
              contributions=[GradientContribution(11, first), GradientContribution(9, second)],
              formula="leaf.grad += sum of the incoming gradients"),
        Event(13, "optimizer", "SGD.step", inputs=[w1], outputs=[w1],
              updates=[ParameterUpdate("fc1.weight", w1, grad_w1,
                                       tensor([[-0.02, 0.0], [-0.04, 0.0]]),
                                       tensor([[0.48, -1.0], [0.21, 1.0]]))],
              attributes={"lr": 0.1}),
    ]
    return Trace(events=events, metadata={"lesson": "synthetic", "loss": loss_value,
                                          "gradient_norm": 0.45, "iteration": 0})
