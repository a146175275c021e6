"""The exercise screen (``x``, and at startup with ``numbanet step --exercise``): each
question of the exercise, a field to type a prediction in, and — once it is submitted —
right or wrong, the answer and its chain-rule line.

The scoring is :class:`numbanet.tui.exercise.Session`'s; this screen only asks and shows.
Until a question is answered the stepper hides its nodes (see ``StepperApp``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..exercise import Result, Session


def result_text(result: Result) -> Text:
    """``right — answer [16, 16]`` and the rule, green or red."""
    mark, style = ("right", "bold green") if result.correct else ("wrong", "bold red")
    lines = result.line().split("\n", 1)
    text = Text.assemble((mark, style), lines[0][5:])
    if len(lines) > 1:
        text.append("\n" + lines[1].strip(), style="italic")
    return text


class ExerciseScreen(ModalScreen[None]):
    """Every question of ``session``'s exercise with an input for the prediction."""

    DEFAULT_CSS = """
    ExerciseScreen { align: center middle; }
    #exercise-dialog { width: 110; max-width: 95%; height: 90%; border: thick $primary;
                       background: $surface; padding: 1 2; }
    .question { height: auto; margin: 0 0 1 0; }
    .question Input { width: 40; }
    .result { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Back to the stepper")]

    def __init__(self, session: Session):
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        exercise = self.session.exercise
        with VerticalScroll(id="exercise-dialog"):
            yield Static(Text.assemble(
                (exercise.title, "bold"), "\n",
                ("Type a prediction and press Enter: a number, or a list such as 16, 16. "
                 "Its nodes stay hidden in the stepper until you do. Escape: back to the "
                 "stepper.", "dim")))
            yield Static(self.session.score_text, id="exercise-score")
            for number, question in enumerate(exercise.questions):
                with Vertical(classes="question"):
                    yield Static(Text.assemble(
                        (f"{number + 1}. {question.prompt or question.target()}", "bold"),
                        (f"\n   {question.target()}", "dim")))
                    result = self.session.results.get(question.id)
                    yield Input(placeholder="your prediction", id=f"prediction-{number}",
                                disabled=result is not None)
                    yield Static(result_text(result) if result else "",
                                 id=f"result-{number}", classes="result")

    def on_mount(self) -> None:
        self._focus_next_question()

    def _focus_next_question(self) -> None:
        """Put the cursor in the first question not answered yet."""
        following = [field for field in self.query(Input) if not field.disabled]
        if following:
            following[0].focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        number = int(message.input.id.removeprefix("prediction-"))
        question = self.session.exercise.questions[number]
        try:
            result = self.session.submit(question.id, message.value)
        except ValueError as error:
            self.notify(str(error), title="Not a prediction", severity="error")
            return
        message.input.disabled = True
        self.query_one(f"#result-{number}", Static).update(result_text(result))
        self.query_one("#exercise-score", Static).update(self.session.score_text)
        self._focus_next_question()
