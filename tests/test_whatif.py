"""What if (issue 12, part 6): change one weight element, one input element or the learning
rate, record the iteration again and compare every node; a weight changed by ε changes the
loss by about ε × its gradient (the first-order test)."""

import math

import pytest

from numbanet.tui.recorder import TraceSource
from numbanet.tui.whatif import Change, compare, first_order, parse_change, summary


def test_changes_are_read_from_one_line():
    assert parse_change("weight 2.weight[3, 5] +0.01") == Change("weight", 0.01, "2.weight",
                                                                 (3, 5))
    assert parse_change("input [0,1] -0.5") == Change("input", -0.5, "", (0, 1))
    assert parse_change("lr 0.5") == Change("lr", 0.5)
    assert parse_change("weight 4.bias[1] 1e-3").index == (1,)
    for text, message in (("bias 3", "type 'weight"), ("lr fast", "lr needs a number"),
                          ("weight [0, 1] 0.1", "name the parameter"),
                          ("input 0 1", "write the element"), ("lr -1", "Invalid")):
        with pytest.raises(ValueError, match=message):
            parse_change(text)
    assert parse_change("weight 0.weight[1, 0] -0.25").describe() == "0.weight[1, 0] += -0.25"


@pytest.fixture(scope="module")
def source():
    source = TraceSource()
    source.recorded = source.first_traces(2)
    return source


def largest_gradient(trace, name):
    event = next(e for e in trace.events if e.attributes.get("parameter") == name)
    values = event.outputs[0].values
    flat = [(abs(v), (i, j)) for i, row in enumerate(values) for j, v in enumerate(row)] \
        if isinstance(values[0], list) else [(abs(v), (i,)) for i, v in enumerate(values)]
    return max(flat)[1]


@pytest.mark.parametrize("name", ["4.weight", "4.bias"])
def test_a_weight_change_moves_the_loss_by_epsilon_times_its_gradient(source, name):
    old = source.recorded[1]  # iteration 2 as the stepper recorded it
    index = largest_gradient(old, name)
    epsilon = 1e-2
    result = source.what_if(1, Change("weight", epsilon, name, index))
    measured, predicted = first_order(result)
    assert result.gradient != 0 and predicted == pytest.approx(epsilon * result.gradient)
    assert abs(measured - predicted) < 0.1 * abs(predicted)
    assert result.old.metadata["loss"] == pytest.approx(old.metadata["loss"], abs=1e-7)
    assert any("first order: ε × ∂L/∂w" in line for line in summary(result))


def test_a_what_if_leaves_the_lesson_where_it_was(source):
    before = [p.detach().clone() for p in source._lesson.model.parameters()]
    history = list(source._lesson.history)
    source.what_if(0, Change("weight", 0.5, "0.weight", (0, 0)))
    after = list(source._lesson.model.parameters())
    assert all(bool((a == b).all()) for a, b in zip(before, after, strict=True))
    assert source._lesson.history == history


def test_an_input_change_shows_at_the_first_node_and_an_lr_change_only_in_the_step(source):
    result = source.what_if(0, Change("input", 1.0, "", (0, 0)))
    changed = [d for d in result.differences if d.largest > 0]
    assert changed and changed[0].phase == "forward"
    assert result.loss_change != 0 and first_order(result) is None
    rate = source.what_if(0, Change("lr", 1.0))
    assert rate.loss_change == 0  # the loss is computed before the step
    moved = [d for d in rate.differences if d.largest > 0]
    assert [d.phase for d in moved] == ["optimizer"]


def test_errors_name_the_tensor_and_its_shape(source):
    with pytest.raises(ValueError, match=r"outside 0.weight of shape \[16, 2\]"):
        source.what_if(0, Change("weight", 0.1, "0.weight", (16, 0)))
    with pytest.raises(ValueError, match="no parameter 'fc9.weight'"):
        source.what_if(0, Change("weight", 0.1, "fc9.weight", (0, 0)))


def test_compare_of_identical_traces_is_all_zero(source):
    result = source.what_if(0, Change("lr", 0.1))  # the lesson's own learning rate
    assert all(d.largest == 0 or math.isnan(d.largest) for d in compare(result.old,
                                                                         result.new))


def test_the_stepper_asks_for_a_change_and_shows_every_node_new_minus_old():
    import asyncio
    import io

    from rich.console import Console
    from textual.widgets import Static

    from numbanet.tui.app import StepperApp
    from numbanet.tui.widgets.whatif_screen import WhatIfPrompt, WhatIfScreen

    def text_of(static):
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(static.content)
        return console.export_text()

    async def run():
        app = StepperApp(TraceSource(), show_timings=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("w")
            await pilot.pause()
            assert isinstance(app.screen, WhatIfPrompt)
            assert "4.bias" in text_of(app.screen.query_one("#whatif-examples", Static))
            await pilot.press(*"weight 4.bias[0] +0.01", "enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, WhatIfScreen)
            text = text_of(app.screen.query_one("#whatif-summary", Static))
            assert "first order: ε × ∂L/∂w = 0.01 ×" in text and "nodes changed" in text
            table = text_of(app.screen.query_one("#whatif-table", Static))
            assert "mean new − old" in table and "optimizer" in table
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, WhatIfScreen)

    asyncio.run(run())
