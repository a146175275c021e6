"""The stepper's navigation over hand-made traces (no Textual, no recording)."""

import pytest
from tui_traces import synthetic_iteration

from numbanet.tui.stepper import PHASES, Breakpoint, Position, Stepper, module_contains


@pytest.fixture
def stepper():
    return Stepper([synthetic_iteration(0.5), synthetic_iteration(0.4, with_nan=True)])


def test_starts_at_the_first_event(stepper):
    assert stepper.position == Position(0, 0)
    assert stepper.event.op == "Matmul" and stepper.phase == "forward"


def test_next_and_previous_walk_every_event_and_cross_iterations(stepper):
    visited = [stepper.position]
    while stepper.next():
        visited.append(stepper.position)
    assert len(visited) == 28
    assert visited[13:15] == [Position(0, 13), Position(1, 0)]
    assert not stepper.next()  # the end: nothing moves
    while stepper.previous():
        pass
    assert stepper.position == Position(0, 0)
    assert not stepper.previous()


def test_step_back_is_replay_of_the_same_event_objects(stepper):
    first = stepper.event
    stepper.next()
    stepper.previous()
    assert stepper.event is first


@pytest.mark.parametrize("phase, index", [("forward", 0), ("loss", 5), ("backward", 7),
                                          ("optimizer", 13)])
def test_jump_to_phase_lands_on_its_first_event(stepper, phase, index):
    stepper.next()
    assert stepper.jump_to_phase(phase)
    assert stepper.position == Position(0, index)
    assert stepper.phase == phase


def test_jump_to_unknown_phase_is_an_error(stepper):
    with pytest.raises(ValueError, match="phase must be one of"):
        stepper.jump_to_phase("training")
    assert PHASES == ("forward", "loss", "backward", "optimizer")


def test_module_paths_compare_component_by_component():
    assert module_contains("Net", "Net.fc1")
    assert module_contains("Net.fc1", "Net.fc1")
    assert not module_contains("Net.fc1", "Net.fc10")
    assert module_contains("", "anything")


def test_step_out_leaves_the_current_module_call(stepper):
    assert stepper.step_out()  # out of Net.fc1 (events 0, 1)
    assert stepper.position.index == 2 and stepper.event.module_path == "Net.act"
    assert stepper.step_out()
    assert stepper.event.module_path == "Net.fc2"


def test_step_out_of_no_module_does_not_move(stepper):
    stepper.jump_to_phase("optimizer")
    assert not stepper.step_out()


def test_step_into_enters_the_next_submodule_call():
    trace = synthetic_iteration()
    trace.events[1].module_path = "Net"  # a functional op called by Net itself
    stepper = Stepper([trace])
    stepper.next()
    assert stepper.event.module_path == "Net"
    assert stepper.step_into()
    assert stepper.position.index == 2 and stepper.event.module_path == "Net.act"


def test_step_into_skips_the_rest_of_the_call_unlike_next(stepper):
    assert stepper.step_into()  # from Net.fc1's first op to the next call, Net.act
    assert stepper.position.index == 2 and stepper.event.module_path == "Net.act"
    stepper.jump_to_phase("optimizer")  # no module call after it
    assert not stepper.step_into()


def test_breakpoint_on_op_name_with_wildcard(stepper):
    stepper.breakpoints = [Breakpoint.parse("relu*")]
    assert stepper.run_to_breakpoint() == Breakpoint("op", "relu*")
    assert stepper.event.op == "Relu" and stepper.position.index == 2
    assert stepper.run_to_breakpoint()
    assert stepper.event.op == "ReluBackward0"


def test_breakpoint_on_module_matches_inside_the_path(stepper):
    stepper.breakpoints = [Breakpoint.parse("module fc2")]
    stepper.run_to_breakpoint()
    assert stepper.position.index == 3
    stepper.breakpoints = [Breakpoint.parse("module fc")]  # no module is called "fc"
    assert stepper.run_to_breakpoint() is None
    assert stepper.position.index == 3


def test_breakpoint_on_first_nan_searches_later_iterations(stepper):
    stepper.breakpoints = [Breakpoint.parse("nan")]
    assert stepper.run_to_breakpoint() == Breakpoint("nonfinite")
    assert stepper.position == Position(1, 2)  # the second iteration's Relu made a NaN
    assert stepper.run_to_breakpoint() is None  # the NaN flows on, but no later output has one


def test_go_back_returns_from_a_jump(stepper):
    stepper.next()
    stepper.jump_to_phase("backward")
    stepper.jump_to_phase("optimizer")
    assert stepper.go_back() and stepper.position.index == 7
    assert stepper.go_back() and stepper.position.index == 1
    assert not stepper.go_back()


def test_iterations_history(stepper):
    assert stepper.next_iteration() and stepper.position == Position(1, 0)
    assert not stepper.next_iteration()
    assert stepper.previous_iteration() and stepper.position == Position(0, 0)
    stepper.add_trace(synthetic_iteration(0.3))
    assert len(stepper.traces) == 3
    stepper.reset([synthetic_iteration()])
    assert stepper.position == Position(0, 0) and len(stepper.traces) == 1


def test_forward_and_backward_events_are_linked(stepper):
    relu = stepper.events[2]
    relu_backward = stepper.backward_event_of(relu)
    assert relu_backward.op == "ReluBackward0"
    assert stepper.forward_event_of(relu_backward) is relu
    assert stepper.forward_event_of(relu) is None


def test_go_to_node_and_first_last(stepper):
    assert stepper.go_to_node(12) and stepper.event.op == "AccumulateGrad"
    assert not stepper.go_to_node(99)
    assert stepper.first() and stepper.position.index == 0
    assert stepper.last() and stepper.event.op == "SGD.step"


@pytest.mark.parametrize("text, expected", [
    ("nan", Breakpoint("nonfinite")), ("Inf", Breakpoint("nonfinite")),
    ("op Matmul", Breakpoint("op", "Matmul")), ("module fc1", Breakpoint("module", "fc1")),
    ("Matmul", Breakpoint("op", "Matmul")),
])
def test_breakpoint_parse(text, expected):
    assert Breakpoint.parse(text) == expected


@pytest.mark.parametrize("text", ["", "op", "module a b", "one two"])
def test_breakpoint_parse_rejects_unreadable_text(text):
    with pytest.raises(ValueError):
        Breakpoint.parse(text)


def test_an_empty_stepper_says_so():
    assert Stepper().is_empty
    assert not Stepper([synthetic_iteration()]).is_empty
