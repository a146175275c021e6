"""Where the traces come from: a lesson file recorded iteration by iteration, or saved JSON.

``numbanet step`` takes a lesson (a Python file, see :mod:`numbanet.lesson`), an ordinary
training script (recorded from its own loop, see :mod:`numbanet.script_trace`) or a trace
saved by the export key (``*.json``). A lesson can record as many further iterations
as you ask for; a saved trace is replayed as it was recorded. The app and the headless
printer share this class, so both read a lesson the same way.
"""

from __future__ import annotations

from pathlib import Path

from numbanet.trace import Trace


class TraceSource:
    """Records the iterations of a lesson, or replays a saved trace.

    ``path`` is a lesson file, a ``.json`` trace, or None for the built-in lesson. Loading
    the lesson runs its file — model construction, data generation — so it happens on the
    first :meth:`record_next`, inside whatever worker thread calls it, never at startup.
    ``gradcheck=True`` records every iteration with gradient checks (the lens ``v``).
    """

    def __init__(self, path: str | Path | None = None, iteration: int = 0,
                 script_arguments: list[str] | tuple = (), gradcheck: bool = False):
        self.path = Path(path) if path is not None else None
        self.iteration = iteration  # a script: the first iteration of its loop to record
        self.script_arguments = list(script_arguments)
        self.gradcheck = gradcheck  # check every backward node while recording
        self._lesson = None
        self._script = None  # a numbanet.script_trace.ScriptSession, for a script
        self._saved: list[Trace] | None = None

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
            self._lesson = load_lesson(self.path)
        try:
            return record_iteration(self._lesson, gradcheck=self.gradcheck)
        except LessonError:
            raise
        except Exception as error:  # the lesson's model, loss or optimizer raised
            raise lesson_failure(error, self.path, "recording iteration "
                                 f"{len(self._lesson.history)}") from error

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
