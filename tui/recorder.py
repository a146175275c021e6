"""Where the traces come from: a lesson file recorded iteration by iteration, or saved JSON.

``numbanet step`` takes either a lesson (a Python file, see :mod:`numbanet.lesson`) or a
trace saved by the export key (``*.json``). A lesson can record as many further iterations
as you ask for; a saved trace is replayed as it was recorded. The app and the headless
printer share this class, so both read a lesson the same way.
"""

from __future__ import annotations

from pathlib import Path

from numbanet.trace import Trace

from .probe import RecordingProbe


class TraceSource:
    """Records the iterations of a lesson, or replays a saved trace.

    ``path`` is a lesson file, a ``.json`` trace, or None for the built-in lesson; ``seed``,
    when given, seeds numbanet's random numbers before the lesson file runs. Loading
    the lesson runs its file — model construction, data generation — so it happens on the
    first :meth:`record_next`, inside whatever worker thread calls it, never at startup.
    """

    def __init__(self, path: str | Path | None = None, seed: int | None = None):
        self.path = Path(path) if path is not None else None
        self.seed = seed  # numbanet.manual_seed(seed) before the lesson file runs
        self._lesson = None
        self._saved: list[Trace] | None = None

    @property
    def replays_saved_trace(self) -> bool:
        """True for a ``.json`` trace: there is no model to run another iteration on."""
        return self.path is not None and self.path.suffix == ".json"

    @property
    def title(self) -> str:
        """The lesson's title once loaded, else the file name."""
        if self._lesson is not None:
            return self._lesson.title
        if self._saved:
            return self._saved[0].metadata.get("lesson", self.path.name)
        return self.path.name if self.path else "built-in lesson"

    @property
    def description(self) -> str:
        return self._lesson.description if self._lesson is not None else ""

    def record_next(self) -> Trace:
        """Run the next training iteration under a trace (loading the lesson first)."""
        from numbanet.lesson import load_lesson, record_iteration

        if self.replays_saved_trace:
            raise RuntimeError(f"{self.path.name} is a saved trace: it cannot run again")
        if self._lesson is None:
            if self.seed is not None:
                import numbanet

                numbanet.manual_seed(self.seed)
            self._lesson = load_lesson(self.path)
        probe = RecordingProbe(self._lesson.model, self._lesson.optimizer)
        with probe:  # per-layer health and the optimizer's numbers, into trace.metadata
            trace = record_iteration(self._lesson)
        probe.write(trace)
        return trace

    def first_traces(self, iterations: int = 1) -> list[Trace]:
        """What to show at startup: ``iterations`` recorded iterations, or the saved trace."""
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
