"""The trace hook: one event per forward op and backward node, linked by our own ids."""

import numpy as np

import numbanet as nb
from numbanet import trace
from numbanet.trace import Trace


def record_small_graph():
    w = nb.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    x = nb.tensor([[1.0, 1.0]])
    with trace.record() as recorded:
        hidden = x @ w
        loss = (hidden.relu() * w.sum()).sum()  # w reaches the loss twice
        loss.backward()
    return recorded, w


def test_forward_and_backward_events_are_linked():
    recorded, _ = record_small_graph()
    forward = recorded.by_phase("forward")
    backward = recorded.by_phase("backward")
    assert [e.op for e in forward] == ["Matmul", "Relu", "Sum", "Mul", "Sum"]
    assert {e.op for e in backward} >= {"MmBackward0", "ReluBackward0", "MulBackward0",
                                        "AccumulateGrad"}
    ids = [e.node_id for e in recorded.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    relu = forward[1]
    assert relu.input_node_ids == [forward[0].node_id]
    relu_backward = next(e for e in backward if e.op == "ReluBackward0")
    assert relu_backward.forward_node_id == relu.node_id
    assert relu_backward.inputs[0].shape == [1, 2]
    assert "max(0, a)" in relu_backward.formula
    assert relu.kernels and "relu" not in relu.kernels[0].name or relu.kernels[0].seconds >= 0
    assert relu.source.startswith("test_trace.py:")


def test_leaf_reached_twice_lists_each_contribution_and_the_sum():
    recorded, w = record_small_graph()
    accumulate = [e for e in recorded.events if e.op == "AccumulateGrad"]
    assert len(accumulate) == 1
    contributions = accumulate[0].contributions
    assert len(contributions) == 2
    total = sum(np.array(c.gradient.values) for c in contributions)
    np.testing.assert_allclose(total, w.grad.numpy())
    np.testing.assert_allclose(accumulate[0].outputs[0].values, w.grad.numpy())


def test_kernel_records_name_the_numba_function():
    recorded, _ = record_small_graph()
    matmul = recorded.by_phase("forward")[0]
    kernel = matmul.kernels[0]
    assert kernel.name.startswith("numbanet.kernels.cpu.")
    assert kernel.device == "cpu" and kernel.source_file.endswith(".py")
    assert kernel.compilation in ("compiled now", "loaded from cache", "already in memory")


def test_large_tensors_keep_statistics_sample_and_histogram():
    with trace.record() as recorded:
        nb.ones(1000) * 3
    output = recorded.events[0].outputs[0]
    assert output.values is None and output.stats["mean"] == 3.0
    assert len(output.sample) == trace.SAMPLE_SIZE and output.histogram is not None


def test_nan_is_counted_so_it_can_be_traced_to_its_node():
    with trace.record() as recorded:
        x = nb.tensor([-1.0, 4.0])
        y = x.sqrt()
        (y * 2).sum()
    first_nan = next(e for e in recorded.events if e.outputs[0].stats["nan"])
    assert first_nan.op == "Sqrt"


def test_nothing_recorded_outside_the_block_and_json_round_trip(tmp_path):
    recorded, _ = record_small_graph()
    count = len(recorded.events)
    nb.ones(2) + 1
    assert len(recorded.events) == count and trace.active() is None
    path = tmp_path / "trace.json"
    recorded.save(path)
    assert Trace.load(path).to_dict() == recorded.to_dict()


def test_events_say_whether_an_op_is_elementwise():
    recorded, _ = record_small_graph()
    kinds = {event.op: event.elementwise for event in recorded.events}
    assert kinds["Relu"] and kinds["ReluBackward0"] and kinds["Mul"]
    assert not kinds["Matmul"] and not kinds["MmBackward0"] and not kinds["Sum"]


def test_a_trace_is_plain_data_and_the_recorder_is_gone_after_the_block():
    recorded, _ = record_small_graph()
    assert trace.active() is None and trace._active is None
    # nothing live: no hooks, no recording state on the Trace itself
    assert set(vars(recorded)) == {"events", "parameter_names", "metadata"}


def test_a_saved_trace_from_before_the_elementwise_field_still_loads(tmp_path):
    recorded, _ = record_small_graph()
    data = recorded.to_dict()
    for event in data["events"]:
        del event["elementwise"]
    loaded = Trace.from_dict(data)
    assert [e.op for e in loaded.events] == [e.op for e in recorded.events]
    assert not any(e.elementwise for e in loaded.events)


def test_phase_marks_the_loss_ops():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with trace.record() as recorded:
        y = x * 2
        with trace.phase("loss"):
            loss = y.sum()
        z = y + 1
    assert [(e.op, e.phase) for e in recorded.events] == [
        ("Mul", "forward"), ("Sum", "loss"), ("Add", "forward")]
    del loss, z


def test_graph_trace_walks_the_autograd_graph_without_running_it():
    w = nb.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    x = nb.tensor([[1.0, 1.0]])
    loss = ((x @ w).relu() * w.sum()).sum()
    walked = trace.graph_trace(loss, params={"w": w})
    output, *nodes = walked.events
    assert output.op == "output" and output.outputs[0].values == (4.0 + 2.0) * 6.0
    ops = sorted(event.op for event in nodes)
    assert ops == ["AccumulateGrad", "MmBackward0", "MulBackward0", "ReluBackward0",
                   "SumBackward0", "SumBackward0"]
    accumulate = next(event for event in nodes if event.op == "AccumulateGrad")
    assert accumulate.saved[0].name == "w" and accumulate.saved[0].role == "parameter"
    assert len(accumulate.input_node_ids) == 2  # w reaches the loss twice
    mul = loss.grad_fn.next_functions[0][0]
    assert accumulate.node_id == mul.next_functions[1][0].next_functions[0][0].node_id
    matmul = next(event for event in nodes if event.op == "MmBackward0")
    assert [record.shape if record else None for record in matmul.outputs] == [None, [2, 2]]
    assert matmul.saved and not matmul.attributes["released"]
    loss.backward()
    after = trace.graph_trace(loss)
    assert all(not event.saved for event in after.events[1:] if event.op != "AccumulateGrad")
    # x_i * sum(w) through the relu (both on) + sum(relu(x @ w)) through w.sum()
    assert next(e for e in after.events if e.op == "AccumulateGrad").outputs[0].values == [
        [12.0, 12.0], [12.0, 12.0]]


def test_the_elementwise_fast_path_still_launches_through_the_trace_door():
    """``x + y`` and ``x * 2.0`` call their loops directly when nothing listens; while a
    trace records, each kernel still passes ``launch`` and is named in the event."""
    x, y = nb.ones(4), nb.ones(2, 2)
    with trace.record() as recorded:
        x + x
        y.relu()
        x * 2.0
    kernels = [event.kernels[0].name.rsplit(".", 1)[-1]
               for event in recorded.by_phase("forward")]
    assert kernels == ["add_contiguous", "relu_contiguous", "mul_scalar_right"]
