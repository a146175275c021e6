"""Predict, then reveal: exercises a teacher writes as TOML, scored against a recording.

An exercise names a lesson, a seed, and questions about nodes of one recorded iteration —
the shape, value or gradient of a tensor, which the stepper hides until the student has
typed a prediction. ``numbanet step --exercise EX.toml`` asks them in the terminal;
``numbanet exercise check EX.toml --answers ANSWERS.json`` scores a file of answers (for
grading). The file::

    title = "Two spirals: predict before you look"
    lesson = "builtin"        # the built-in spirals lesson, or a lesson file (relative
    seed = 0                  # to this file); numbanet.manual_seed(seed) before loading
    iteration = 0             # which iteration is recorded (default 0)
    tolerance = 0.05          # default: |prediction - answer| <= tolerance counts as right

    [[question]]
    id = "loss"               # the key of this answer in ANSWERS.json
    prompt = "The loss of an untrained 2-class network?"
    loss = true               # which tensor: loss = true | module = "Sequential.0" |
    ask = "value"             #   parameter = "4.bias" | node = 12 (timeline index)
                              # ask: "shape" | "value" | "gradient"
    # element = [0, 3]        # one element of a tensor, or
    # statistic = "mean"      # mean | sum | min | max | std of it (any size), or neither:
    #                         # the whole tensor (it must be small: at most 64 elements)

ANSWERS.json maps each question id to a prediction: ``{"loss": 0.69, "hidden": [16, 16]}``.
A shape must match exactly; a value or gradient is right when every element is within the
tolerance. Each result reveals the answer with its chain-rule line (the op's formula, or
for a gradient its ``Gradient:`` rule).

``module`` names the module's output (its last forward op); its gradient is ∂L/∂output.
``parameter`` names a weight: its value when backward reached it (before the optimizer
step) and its ``.grad``. ``loss`` is the criterion's output (its gradient is 1).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from numbanet.lesson import BUILTIN_LESSON
from numbanet.trace import Event, TensorRecord, Trace

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (a dependency there)
    import tomli as tomllib

ASKS = ("shape", "value", "gradient")
STATISTICS = ("mean", "sum", "min", "max", "std")
BUILTIN = ("builtin", "spirals")
BUILTIN_EXERCISE = BUILTIN_LESSON.with_name("spirals_exercise.toml")


class ExerciseError(ValueError):
    """An exercise file that cannot be used: which question, what is wrong, how to fix it."""


@dataclass
class Question:
    id: str
    ask: str  # shape | value | gradient
    prompt: str = ""
    module: str | None = None
    parameter: str | None = None
    loss: bool = False
    node: int | None = None
    element: list[int] | None = None
    statistic: str | None = None
    tolerance: float = 0.0

    def target(self) -> str:
        """What is asked, in words: ``the gradient of parameter 4.bias (its mean)``."""
        if self.loss:
            what = "the loss"
        elif self.parameter:
            what = f"parameter {self.parameter}"
        elif self.module:
            what = f"the output of {self.module}"
        else:
            what = f"node #{self.node}"
        detail = f" element {self.element}" if self.element is not None else (
            f" ({self.statistic})" if self.statistic else "")
        return f"the {self.ask} of {what}{detail}"


@dataclass
class Exercise:
    title: str
    lesson: Path | None  # None: the built-in lesson
    seed: int
    iteration: int = 0
    questions: list[Question] = field(default_factory=list)
    path: Path | None = None


@dataclass
class Answer:
    """What the recording says: the answer, and the node and rule to reveal with it."""

    value: object  # a shape (list of ints), a number, or a nested list
    index: int  # the node's position in the timeline
    event: Event
    rule: str  # the chain-rule line shown with the answer


@dataclass
class Result:
    question: Question
    answer: Answer
    prediction: object
    correct: bool
    note: str = ""

    def line(self) -> str:
        mark = "right" if self.correct else "wrong"
        tolerance = "" if self.question.ask == "shape" else \
            f" (tolerance {self.question.tolerance:g})"
        told = "no answer" if self.prediction is None else f"predicted {_short(self.prediction)}"
        return (f"{mark:<5}  {self.question.id}: {told}; answer {_short(self.answer.value)}"
                f"{tolerance}{f' — {self.note}' if self.note else ''}\n"
                f"       #{self.answer.index} {self.answer.event.op}: {self.answer.rule}")


# ---- reading the file --------------------------------------------------------------------
def load_exercise(path: str | Path) -> Exercise:
    """Read and check an exercise file (raises :class:`ExerciseError` with the reason)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ExerciseError(f"cannot read the exercise {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ExerciseError(f"{path.name} is not valid TOML: {error}") from error
    return exercise_from_dict(data, path)


def exercise_from_dict(data: dict, path: Path | None = None) -> Exercise:
    name = path.name if path else "the exercise"
    lesson = data.get("lesson", "builtin")
    lesson_path = None if lesson in BUILTIN else (
        (path.parent / lesson) if path is not None else Path(lesson))
    if lesson_path is not None and not lesson_path.is_file():
        raise ExerciseError(f"{name}: lesson file not found: {lesson_path}")
    default_tolerance = float(data.get("tolerance", 1e-4))
    questions = []
    for number, item in enumerate(data.get("question", []), start=1):
        question = Question(
            id=str(item.get("id", number)), ask=item.get("ask", "value"),
            prompt=item.get("prompt", ""), module=item.get("module"),
            parameter=item.get("parameter"), loss=bool(item.get("loss", False)),
            node=item.get("node"), element=item.get("element"),
            statistic=item.get("statistic"),
            tolerance=float(item.get("tolerance", default_tolerance)))
        where = f"{name}, question {question.id}"
        if question.ask not in ASKS:
            raise ExerciseError(f"{where}: ask must be one of {', '.join(ASKS)}, not "
                                f"{question.ask!r}")
        chosen = [key for key in ("module", "parameter", "loss", "node")
                  if item.get(key) not in (None, False)]
        if len(chosen) != 1:
            raise ExerciseError(f"{where}: name exactly one tensor with module, parameter, "
                                f"loss = true or node (got {', '.join(chosen) or 'none'})")
        if question.statistic is not None and question.statistic not in STATISTICS:
            raise ExerciseError(f"{where}: statistic must be one of {', '.join(STATISTICS)}")
        if question.statistic is not None and question.element is not None:
            raise ExerciseError(f"{where}: ask for an element or a statistic, not both")
        questions.append(question)
    if not questions:
        raise ExerciseError(f"{name} has no [[question]]")
    if len({q.id for q in questions}) != len(questions):
        raise ExerciseError(f"{name}: two questions share an id")
    return Exercise(title=data.get("title", path.stem if path else "exercise"),
                    lesson=lesson_path, seed=int(data.get("seed", 0)),
                    iteration=int(data.get("iteration", 0)), questions=questions, path=path)


# ---- the answers, from a recorded trace -----------------------------------------------------
def answer(question: Question, trace: Trace) -> Answer:
    """The answer to ``question`` in ``trace`` (raises ExerciseError if the trace has none)."""
    index, record, event, rule = _locate(question, trace)
    if record is None:
        raise ExerciseError(f"question {question.id}: no {question.ask} was recorded for "
                            f"#{index} {event.op}")
    if question.ask == "shape":
        return Answer(list(record.shape), index, event, rule)
    if question.loss and question.ask == "gradient":
        return Answer(1.0, index, event, "∂L/∂L = 1: backward() starts from a gradient of 1")
    return Answer(_value(question, record), index, event, rule)


def hidden_nodes(exercise: Exercise, trace: Trace) -> dict[int, list[Question]]:
    """Timeline index -> the questions that hide that node until answered: the node asked
    about, and for a gradient also the backward node that computes it."""
    hidden: dict[int, list[Question]] = {}
    for question in exercise.questions:
        index, _, event, _ = _locate(question, trace)
        indices = {index}
        if question.ask == "gradient" and event.phase in ("forward", "loss"):
            indices |= {i for i, e in enumerate(trace.events)
                        if e.forward_node_id == event.node_id}
        for i in indices:
            hidden.setdefault(i, []).append(question)
    return hidden


def _locate(question: Question, trace: Trace) -> tuple[int, TensorRecord | None, Event, str]:
    """(timeline index, the tensor asked about, the node that shows it, its rule)."""
    events = trace.events
    if question.parameter:
        found = [i for i, e in enumerate(events) if e.op == "AccumulateGrad"
                 and e.attributes.get("parameter") == question.parameter]
        if not found:
            raise ExerciseError(f"question {question.id}: no parameter "
                                f"{question.parameter!r} received a gradient; names: "
                                + ", ".join(sorted(e.attributes["parameter"] for e in events
                                                   if "parameter" in e.attributes)))
        event = events[found[0]]
        record = event.outputs[0] if question.ask == "gradient" else event.saved[0]
        return found[0], record, event, _leaf_rule(event, trace)
    if question.loss:
        found = [i for i, e in enumerate(events) if e.phase == "loss"]
    elif question.module:
        found = [i for i, e in enumerate(events) if e.phase in ("forward", "loss")
                 and (e.module_path == question.module
                      or e.module_path.startswith(question.module + "."))]
    else:
        found = [question.node] if 0 <= question.node < len(events) else []
    if not found:
        raise ExerciseError(f"question {question.id}: {question.target()} is not in this "
                            "iteration (module paths look like Sequential.0)")
    index = found[-1]
    event = events[index]
    if question.ask != "gradient" or event.phase == "backward":
        record = event.outputs[0] if event.outputs else None
        return index, record, event, _rule(event.formula, question.ask)
    twins = [i for i, e in enumerate(events) if e.forward_node_id == event.node_id]
    if not twins:
        return index, None, event, ""
    twin = events[twins[0]]
    return twins[0], twin.inputs[0] if twin.inputs else None, twin, \
        _rule(twin.formula, "gradient")


def _leaf_rule(event: Event, trace: Trace) -> str:
    """A parameter's gradient: the sum rule, and the rule of each backward node that sent a
    contribution (``AddBackward: d out/d b = 1 ...``)."""
    rules = ["leaf.grad = the sum of the gradients reaching it"]
    for contribution in event.contributions:
        if contribution.from_node_id is None:
            continue
        try:
            sender = trace.event(contribution.from_node_id)
        except KeyError:
            continue
        rules.append(f"sent by #{trace.events.index(sender)} {sender.op}: "
                     f"{_rule(sender.formula, 'gradient')}")
    return "; ".join(rules)


def _rule(formula: str, ask: str) -> str:
    paragraphs = [" ".join(line.strip() for line in block.splitlines())
                  for block in formula.strip().split("\n\n") if block.strip()]
    if ask == "gradient":
        rule = next((p for p in paragraphs if p.startswith("Gradient:")), "")
        if rule:
            return rule
    return paragraphs[0] if paragraphs else "(no formula recorded)"


def _value(question: Question, record: TensorRecord):
    if question.statistic is not None:
        if question.statistic == "sum":
            return record.stats["mean"] * record.stats["numel"]
        return record.stats[question.statistic]
    if record.values is None:
        raise ExerciseError(
            f"question {question.id}: {question.target()} has {record.numel} elements, and a "
            "trace keeps only tensors of at most 64 whole: ask for a statistic (mean, sum, "
            "min, max, std) instead")
    if question.element is not None:
        value = record.values
        try:
            for i in question.element:
                value = value[i]
        except (IndexError, TypeError) as error:
            raise ExerciseError(f"question {question.id}: element {question.element} is "
                                f"outside the shape {record.shape}") from error
        return value
    return record.values


# ---- scoring ------------------------------------------------------------------------------
def score(question: Question, expected: Answer, prediction) -> Result:
    """Right or wrong: a shape exactly, numbers within the tolerance (every element)."""
    if prediction is None:
        return Result(question, expected, None, False, "no answer given")
    if question.ask == "shape":
        try:
            correct = [int(size) for size in prediction] == expected.value
        except (TypeError, ValueError):
            return Result(question, expected, prediction, False, "a shape is a list of sizes")
        return Result(question, expected, prediction, correct)
    try:
        pairs = _pairs(prediction, expected.value)
    except ValueError as error:
        return Result(question, expected, prediction, False, str(error))
    worst = max((abs(float(p) - float(a)) if math.isfinite(float(a)) else
                 (0.0 if float(p) == float(a) or (math.isnan(float(p)) and math.isnan(float(a)))
                  else math.inf) for p, a in pairs), default=0.0)
    correct = worst <= question.tolerance
    note = "" if correct or len(pairs) == 1 else f"largest difference {worst:.3g}"
    return Result(question, expected, prediction, correct, note)


def _pairs(prediction, expected) -> list[tuple[float, float]]:
    if isinstance(expected, list):
        if not isinstance(prediction, list) or len(prediction) != len(expected):
            raise ValueError(f"expected a list of {len(expected)}")
        return [pair for p, a in zip(prediction, expected, strict=True)
                for pair in _pairs(p, a)]
    if isinstance(prediction, list):
        raise ValueError("expected one number")
    try:
        return [(float(prediction), float(expected))]
    except (TypeError, ValueError) as error:
        raise ValueError("expected a number") from error


def parse_prediction(text: str):
    """A prediction typed in the stepper: JSON (``0.69``, ``[16, 16]``) or bare numbers
    separated by commas or spaces (``16, 16``)."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    parts = [part for part in text.replace(",", " ").replace("x", " ").split() if part]
    try:
        numbers = [int(part) if part.lstrip("+-").isdigit() else float(part)
                   for part in parts]
    except ValueError as error:
        raise ValueError(f"not a number or a list of numbers: {text!r}") from error
    if not numbers:
        raise ValueError("type a number, or a list such as 16, 16")
    return numbers[0] if len(numbers) == 1 else numbers


def check(exercise: Exercise, trace: Trace, answers: dict) -> list[Result]:
    """Score a dict of answers (question id -> prediction) against the recording."""
    return [score(question, answer(question, trace), answers.get(question.id))
            for question in exercise.questions]


def record_exercise(exercise: Exercise) -> Trace:
    """Record the iteration the exercise asks about: seed, load the lesson, run iterations
    0 … ``iteration`` and return the last one's trace."""
    from .recorder import TraceSource

    source = TraceSource(exercise.lesson, seed=exercise.seed)
    trace = None
    for _ in range(exercise.iteration + 1):
        trace = source.record_next()
    return trace


class Session:
    """A student working through an exercise in the stepper: which nodes are still hidden,
    the predictions typed so far and their results.

    ``trace`` is the recorded iteration the questions are about.
    """

    def __init__(self, exercise: Exercise, trace: Trace):
        self.exercise = exercise
        self.trace = trace
        self.answers = {question.id: answer(question, trace)
                        for question in exercise.questions}
        self.hidden = hidden_nodes(exercise, trace)
        self.results: dict[str, Result] = {}

    def unanswered_at(self, index: int) -> list[Question]:
        """The questions that still hide node ``index`` (empty: show it)."""
        return [question for question in self.hidden.get(index, [])
                if question.id not in self.results]

    def submit(self, question_id: str, text: str) -> Result:
        """Score a typed prediction (raises ValueError for text that is not a number or a
        list of numbers); the question's nodes are revealed from now on."""
        question = next(q for q in self.exercise.questions if q.id == question_id)
        result = score(question, self.answers[question_id], parse_prediction(text))
        self.results[question_id] = result
        return result

    @property
    def score_text(self) -> str:
        right = sum(result.correct for result in self.results.values())
        return (f"score {right}/{len(self.results)} answered, "
                f"{len(self.exercise.questions)} questions")


def report(results: list[Result]) -> list[str]:
    right = sum(result.correct for result in results)
    return [result.line() for result in results] + [f"score {right}/{len(results)}"]


def _short(value) -> str:
    text = json.dumps(value) if isinstance(value, list) else (
        f"{value:.6g}" if isinstance(value, float) else str(value))
    return text if len(text) <= 80 else text[:77] + "..."
