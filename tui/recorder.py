"""Where the traces come from: a lesson file recorded iteration by iteration, or saved JSON.

``numbanet step`` takes a lesson (a Python file, see :mod:`numbanet.lesson`), an ordinary
training script (recorded from its own loop, see :mod:`numbanet.script_trace`) or a trace
saved by the export key (``*.json``). A lesson can record as many further iterations
as you ask for; a saved trace is replayed as it was recorded. The app and the headless
printer share this class, so both read a lesson the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path

from numbanet.trace import Trace

from .probe import RecordingProbe
from .whatif import WhatIf, compare


class TraceSource:
    """Records the iterations of a lesson, or replays a saved trace.

    ``path`` is a lesson file, a ``.json`` trace, or None for the built-in lesson; ``seed``,
    when given, seeds numbanet's random numbers before the lesson file runs. Loading
    the lesson runs its file — model construction, data generation — so it happens on the
    first :meth:`record_next`, inside whatever worker thread calls it, never at startup.
    ``gradcheck=True`` records every iteration with gradient checks (the lens ``v``).
    """

    def __init__(self, path: str | Path | None = None, iteration: int = 0,
                 script_arguments: list[str] | tuple = (), gradcheck: bool = False,
                 seed: int | None = None):
        self.path = Path(path) if path is not None else None
        self.iteration = iteration  # a script: the first iteration of its loop to record
        self.script_arguments = list(script_arguments)
        self.gradcheck = gradcheck  # check every backward node while recording
        self.seed = seed  # numbanet.manual_seed(seed) before the lesson file runs
        self._lesson = None
        self._script = None  # a numbanet.script_trace.ScriptSession, for a script
        self._saved: list[Trace] | None = None
        self._starts: dict[int, dict] = {}  # iteration -> the state it started from

    @property
    def is_script(self) -> bool:
        """True for a training script that is not a lesson (it has its own loop)."""
        from numbanet.lesson import is_lesson_file

        return (self.path is not None and self.path.suffix == ".py"
                and self.path.is_file() and not is_lesson_file(self.path))

    @property
    def replays_saved_trace(self) -> bool:
        """True for a ``.json`` trace: there is no model to run another iteration on."""
        return self.path is not None and self.path.suffix == ".json"

    @property
    def title(self) -> str:
        """The lesson's title once loaded, else the file name."""
        if self._lesson is not None:
            return self._lesson.title
        if self._script is not None:
            return f"{self.path.name} (iterations from {self.iteration})"
        if self._saved:
            return self._saved[0].metadata.get("lesson", self.path.name)
        return self.path.name if self.path else "built-in lesson"

    @property
    def lesson(self):
        """The loaded :class:`numbanet.lesson.Lesson` (None before the first recording, and
        for a training script or a saved trace)."""
        return self._lesson

    @property
    def description(self) -> str:
        return self._lesson.description if self._lesson is not None else ""

    def record_next(self) -> Trace:
        """Run the next training iteration under a trace (loading the lesson first)."""
        from numbanet.lesson import LessonError, lesson_failure, load_lesson, record_iteration

        if self.replays_saved_trace:
            raise RuntimeError(f"{self.path.name} is a saved trace: it cannot run again")
        if self._script is not None or self.is_script:
            from numbanet.script_trace import ScriptError, ScriptSession

            if self._script is None:
                self._script = ScriptSession(self.path, self.script_arguments, self.iteration)
            try:
                return self._script.record_next()
            except ScriptError as error:
                raise LessonError(str(error)) from error
        if self._lesson is None:
            if self.seed is not None:
                import numbanet

                numbanet.manual_seed(self.seed)
            self._lesson = load_lesson(self.path)
        iteration = len(self._lesson.history)
        self._starts[iteration] = self._state()
        self._starts.pop(iteration - self.KEEP_STARTS, None)
        probe = RecordingProbe(self._lesson.model, self._lesson.optimizer)
        try:
            with probe:  # per-layer health and the optimizer's numbers, into trace.metadata
                trace = record_iteration(self._lesson, gradcheck=self.gradcheck)
        except LessonError:
            raise
        except Exception as error:  # the lesson's model, loss or optimizer raised
            raise lesson_failure(error, self.path, f"recording iteration {iteration}") \
                from error
        probe.write(trace)
        return trace

    KEEP_STARTS = 10  # the iterations a what-if can go back to (the newest ones)

    def _state(self) -> dict:
        """Copies of the parameters, buffers and optimizer state, to start again from."""
        model, optimizer = self._lesson.model, self._lesson.optimizer
        tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        saved = optimizer.state_dict()
        return {"tensors": {name: tensor.detach().clone() for name, tensor in tensors.items()},
                "optimizer": {"param_groups": copy.deepcopy(saved["param_groups"]),
                              "state": {index: {key: value.clone() if hasattr(value, "clone")
                                                else copy.deepcopy(value)
                                                for key, value in entry.items()}
                                        for index, entry in saved["state"].items()}}}

    def _restore(self, state: dict) -> None:
        import numbanet

        model = self._lesson.model
        tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        with numbanet.no_grad():
            for name, value in state["tensors"].items():
                tensors[name].copy_(value)
        self._lesson.optimizer.load_state_dict(state["optimizer"])

    def what_if(self, iteration: int, change) -> WhatIf:
        """Record ``iteration`` again from the state it started in, as it was and with
        ``change`` (a :class:`~numbanet.tui.whatif.Change`), and compare them; the lesson
        then carries on from where it was. Runs on the CPU copies of the tensors."""
        if self.replays_saved_trace or self._lesson is None:
            raise RuntimeError("what-if needs a lesson to run again, not a saved trace")
        if iteration not in self._starts:
            raise RuntimeError(f"iteration {iteration + 1} is too old to run again (the "
                               f"newest {self.KEEP_STARTS} can)")
        lesson = self._lesson
        now, history = self._state(), list(lesson.history)
        try:
            self._restore(self._starts[iteration])
            old = self._record_again(iteration)
            gradient = None
            if change.kind == "weight":
                parameter = dict(lesson.model.named_parameters()).get(change.name)
                if parameter is None:
                    raise ValueError(f"no parameter {change.name!r}; the lesson's are "
                                     + ", ".join(name for name, _ in
                                                 lesson.model.named_parameters()))
                gradient = float(_element(parameter.grad, change.index, change.name))
            self._restore(self._starts[iteration])
            new = self._record_again(iteration, change)
        finally:
            self._restore(now)
            lesson.history[:] = history
        return WhatIf(change, old, new, gradient, compare(old, new))

    def _record_again(self, iteration: int, change=None) -> Trace:
        import numbanet
        from numbanet.lesson import record_iteration

        lesson = self._lesson
        original_batch = batch = lesson.batch
        groups = lesson.optimizer.param_groups
        rates = [group["lr"] for group in groups]
        if change is not None and change.kind == "weight":
            parameter = dict(lesson.model.named_parameters())[change.name]
            with numbanet.no_grad():
                value = _element(parameter, change.index, change.name)
                parameter[change.index] = value + change.amount
        elif change is not None and change.kind == "input":
            def batch(i):
                inputs, targets = original_batch(i)
                inputs = inputs.clone()
                value = _element(inputs, change.index, "the inputs")
                inputs[change.index] = value + change.amount
                return inputs, targets
        elif change is not None and change.kind == "lr":
            for group in groups:
                group["lr"] = change.amount
        lesson.batch = batch
        try:
            probe = RecordingProbe(lesson.model, lesson.optimizer)
            with probe:
                trace = record_iteration(lesson, iteration)
            probe.write(trace)
        finally:
            lesson.batch = original_batch
            for group, rate in zip(groups, rates, strict=True):
                group["lr"] = rate
        return trace

    def first_traces(self, iterations: int = 1) -> list[Trace]:
        """What to show at startup: ``iterations`` recorded iterations, or the saved trace
        (a file that is not one raises ValueError with one line saying why)."""
        if self.replays_saved_trace:
            if self._saved is None:
                self._saved = [Trace.load(self.path)]
            return list(self._saved)
        return [self.record_next() for _ in range(iterations)]

    def restart(self) -> None:
        """Forget the loaded lesson: the next recording reads the file again, fresh model.

        Edit the lesson, restart, and the stepper shows what your change did.
        """
        self._lesson = None
        if self._script is not None:
            self._script.close()
            self._script = None


def _element(tensor, index: tuple[int, ...], name: str) -> float:
    """One element as a number, with an error naming the tensor and its shape."""
    shape = tuple(tensor.shape)
    if len(index) != len(shape) or any(not 0 <= i < size for i, size in zip(index, shape,
                                                                            strict=True)):
        raise ValueError(f"index {list(index)} is outside {name} of shape {list(shape)}")
    return float(tensor[index].item())
