"""Predict, then reveal (issue 12, part 4): exercise files, scoring (right, wrong, within
tolerance), the headless checker and the exercise screen driven by Textual's Pilot."""

import asyncio
import functools
import io
import json

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from numbanet.cli import main as cli_main
from numbanet.trace import Event
from numbanet.tui.app import StepperApp
from numbanet.tui.exercise import (
    BUILTIN_EXERCISE,
    Answer,
    ExerciseError,
    Question,
    Session,
    check,
    exercise_from_dict,
    load_exercise,
    parse_prediction,
    record_exercise,
    score,
)
from numbanet.tui.recorder import TraceSource
from numbanet.tui.widgets.exercise_screen import ExerciseScreen


def expected(value) -> Answer:
    return Answer(value, 3, Event(node_id=3, phase="forward", op="Relu"), "out = max(0, a)")


# ---- scoring ---------------------------------------------------------------------------------
def test_a_number_is_right_within_the_tolerance_and_wrong_outside_it():
    question = Question(id="q", ask="value", loss=True, tolerance=0.05)
    assert score(question, expected(0.6873), 0.69).correct  # within tolerance
    assert score(question, expected(0.6873), 0.6873).correct  # exact
    assert not score(question, expected(0.6873), 0.75).correct  # wrong
    assert not score(question, expected(0.6873), None).correct
    assert score(question, expected(0.6873), None).note == "no answer given"
    exact = Question(id="q", ask="value", loss=True, tolerance=0.0)
    assert score(exact, expected(0.0), 0).correct and not score(exact, expected(0.0), 1e-9).correct


def test_a_tensor_is_right_when_every_element_is_within_the_tolerance():
    question = Question(id="q", ask="gradient", node=3, tolerance=0.01)
    answer = expected([[1.0, -2.0], [0.5, 0.0]])
    assert score(question, answer, [[1.005, -2.0], [0.5, 0.009]]).correct
    wrong = score(question, answer, [[1.0, -2.0], [0.6, 0.0]])
    assert not wrong.correct and wrong.note == "largest difference 0.1"
    assert score(question, answer, [1.0, -2.0]).note == "expected a list of 2"


def test_a_shape_must_match_exactly():
    question = Question(id="q", ask="shape", module="Sequential.0")
    assert score(question, expected([16, 16]), [16, 16]).correct
    assert score(question, expected([16, 16]), [16.0, 16.0]).correct
    assert not score(question, expected([16, 16]), [16, 2]).correct
    assert not score(question, expected([16, 16]), "sixteen").correct


def test_typed_predictions():
    assert parse_prediction("0.69") == 0.69
    assert parse_prediction("[16, 16]") == [16, 16]
    assert parse_prediction("16, 16") == [16.0, 16.0]
    assert parse_prediction("16 x 2") == [16.0, 2.0]
    with pytest.raises(ValueError, match="not a number"):
        parse_prediction("about half")


# ---- exercise files ----------------------------------------------------------------------
@pytest.mark.parametrize("question, message", [
    ({"id": "a", "ask": "colour", "loss": True}, "ask must be one of"),
    ({"id": "a", "ask": "value"}, "name exactly one tensor"),
    ({"id": "a", "ask": "value", "loss": True, "module": "Sequential.0"},
     "name exactly one tensor"),
    ({"id": "a", "ask": "value", "loss": True, "statistic": "median"}, "statistic must be"),
    ({"id": "a", "ask": "value", "node": 1, "statistic": "mean", "element": [0]},
     "not both"),
])
def test_a_broken_question_is_refused_with_its_reason(question, message):
    with pytest.raises(ExerciseError, match=message):
        exercise_from_dict({"lesson": "builtin", "question": [question]})


def test_a_missing_lesson_and_bad_toml_are_refused(tmp_path):
    path = tmp_path / "ex.toml"
    path.write_text('lesson = "nowhere.py"\n[[question]]\nloss = true\n')
    with pytest.raises(ExerciseError, match="lesson file not found"):
        load_exercise(path)
    path.write_text("lesson = \n")
    with pytest.raises(ExerciseError, match="not valid TOML"):
        load_exercise(path)


def test_the_built_in_exercise_loads():
    exercise = load_exercise(BUILTIN_EXERCISE)
    assert exercise.lesson is None and exercise.seed == 0
    assert [q.ask for q in exercise.questions] == ["shape", "value", "value", "gradient",
                                                   "shape"]


# ---- against a recording -----------------------------------------------------------------
@pytest.fixture(scope="module")
def builtin():
    exercise = load_exercise(BUILTIN_EXERCISE)
    return exercise, record_exercise(exercise)


def test_the_answers_come_from_the_recording(builtin):
    exercise, trace = builtin
    results = check(exercise, trace, {"hidden-shape": [16, 16], "initial-loss": 0.69,
                                      "relu-min": 0, "bias-gradient-sum": 0.0,
                                      "weight-shape": [2, 16]})
    by_id = {result.question.id: result for result in results}
    assert by_id["initial-loss"].answer.value == pytest.approx(trace.metadata["loss"])
    assert [by_id[i].correct for i in ("hidden-shape", "initial-loss", "relu-min",
                                       "bias-gradient-sum")] == [True] * 4
    assert not by_id["weight-shape"].correct and by_id["weight-shape"].answer.value == [16, 2]
    assert by_id["bias-gradient-sum"].answer.value == pytest.approx(0.0, abs=1e-6)
    assert by_id["relu-min"].answer.rule == "out = max(0, a)"
    assert "sent by #" in by_id["bias-gradient-sum"].answer.rule


def test_a_large_tensor_needs_a_statistic(builtin):
    _, trace = builtin
    exercise = exercise_from_dict({"lesson": "builtin", "question": [
        {"id": "all", "ask": "value", "module": "Sequential.0"}]})
    with pytest.raises(ExerciseError, match="ask for a statistic"):
        check(exercise, trace, {})
    small = exercise_from_dict({"lesson": "builtin", "question": [
        {"id": "b", "ask": "value", "parameter": "4.bias", "element": [1]}]})
    result = check(small, trace, {"b": 0.0})[0]
    bias = next(e for e in trace.events if e.attributes.get("parameter") == "4.bias")
    assert result.answer.value == bias.saved[0].values[1]


def test_exercise_check_prints_the_score(tmp_path, capsys):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"hidden-shape": [16, 16], "initial-loss": 0.9}))
    status = cli_main(["exercise", "check", str(BUILTIN_EXERCISE), "--answers", str(answers)])
    out = capsys.readouterr().out
    assert status == 1  # not all right
    assert "right  hidden-shape" in out and "wrong  initial-loss: predicted 0.9" in out
    assert "wrong  relu-min: no answer" in out and out.strip().endswith("score 1/5")
    answers.write_text("[1, 2]")
    assert cli_main(["exercise", "check", "--answers", str(answers)]) == 2
    assert "must hold a JSON object" in capsys.readouterr().err


# ---- the stepper in exercise mode -----------------------------------------------------------
def run_app_test(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def text_of(static: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


@run_app_test
async def test_the_stepper_hides_asked_nodes_until_a_prediction_is_typed():
    exercise = load_exercise(BUILTIN_EXERCISE)
    traces = TraceSource(seed=exercise.seed).first_traces(1)
    app = StepperApp(traces=traces, show_timings=False, exercise=exercise)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ExerciseScreen)  # the questions come first
        await pilot.press("escape")
        await pilot.pause()
        session = app.session
        loss_index = session.answers["initial-loss"].index
        app._go_to_index(loss_index)
        await pilot.pause()
        assert "hidden until you predict" in text_of(app.query_one("#detail-body", Static))
        assert "?" in str(app.query_one("#timeline").get_cell_at((0, 3)))

        await pilot.press("x")
        await pilot.pause()
        screen = app.screen
        field = screen.query_one("#prediction-1", Input)
        field.focus()
        await pilot.press(*"0.69", "enter")
        await pilot.pause()
        assert field.disabled
        assert text_of(screen.query_one("#result-1", Static)).startswith("right")
        assert "score 1/1 answered" in text_of(screen.query_one("#exercise-score", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert app.stepper.position.index == loss_index
        assert "hidden until" not in text_of(app.query_one("#detail-body", Static))


def test_a_session_reveals_a_node_once_its_question_is_answered(builtin):
    exercise, trace = builtin
    session = Session(exercise, trace)
    index = session.answers["weight-shape"].index
    assert [q.id for q in session.unanswered_at(index)] == ["weight-shape"]
    result = session.submit("weight-shape", "16, 2")
    assert result.correct and session.unanswered_at(index) == []
    with pytest.raises(ValueError):
        session.submit("initial-loss", "no idea")
