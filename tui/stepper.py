"""The debugger's cursor: where you are in the recorded iterations, and how to move.

A :class:`Stepper` holds a list of :class:`~numbanet.trace.Trace` objects — one per
recorded training iteration — and a :class:`Position` in them (which iteration, which
event). Every move is a replay: stepping back shows an event that was recorded earlier, it
never re-runs the model. That is why this file needs neither Textual nor autograd: the
terminal app (``app.py``) and the headless printer (``headless.py``) both drive it, and the
tests drive it with hand-made traces.

The moves mirror a source-level debugger's, with a trace event in place of a line of code:

========================  =================================================================
``next`` / ``previous``   one event forward / back, across iteration boundaries
``jump_to_phase``         the first event of forward, loss, backward or optimizer
``step_into``             into the next call of a submodule (``Net`` -> ``Net.fc1``)
``step_out``              to the first event after the current module's call finishes
``run_to_breakpoint``     forward until an op name, a module or a NaN/Inf matches
``go_back``               to where you were before the last jump (like a browser's back)
========================  =================================================================
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from numbanet.trace import Event, Trace

PHASES = ("forward", "loss", "backward", "optimizer")
"""The phases of one training iteration, in the order they run."""


@dataclass(frozen=True, order=True)
class Position:
    """An event's place in the history: ``iteration`` (which trace) and ``index`` in it."""

    iteration: int
    index: int


def module_contains(outer: str, inner: str) -> bool:
    """Whether module path ``inner`` is ``outer`` itself or one of its submodules.

    ``module_contains("Net.fc1", "Net.fc1")`` and ``module_contains("Net", "Net.fc1")`` are
    true; ``module_contains("Net.fc1", "Net.fc10")`` is not — paths compare by component.
    The empty path (no module) contains every path.
    """
    return not outer or inner == outer or inner.startswith(outer + ".")


@dataclass(frozen=True)
class Breakpoint:
    """A condition that stops :meth:`Stepper.run_to_breakpoint`.

    ``kind`` is one of:

    ``"op"``
        the event's op name matches ``pattern``, case-insensitively; shell wildcards work,
        so ``relu*`` stops at ``Relu`` in the forward pass and at ``ReluBackward0``.
    ``"module"``
        the event ran inside the module ``pattern``: ``fc1`` matches ``Net.fc1`` and
        anything inside it (a path compares component by component, anywhere in the path).
    ``"nonfinite"``
        one of the event's outputs holds a NaN or an infinity — the first place a
        training run blows up.
    """

    kind: str
    pattern: str = ""

    KINDS = ("op", "module", "nonfinite")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"breakpoint kind must be one of {self.KINDS}, not {self.kind!r}")
        if self.kind != "nonfinite" and not self.pattern:
            raise ValueError(f"a breakpoint on {self.kind} needs a name to match")

    @classmethod
    def parse(cls, text: str) -> Breakpoint:
        """Read a breakpoint typed by the user.

        ``"op relu"``, ``"module fc1"``, ``"nan"`` (also ``"inf"`` or ``"nonfinite"``);
        a single word that is not a NaN keyword is taken as an op name.
        """
        words = text.split()
        if not words:
            raise ValueError("type an op name, 'module NAME' or 'nan'")
        keyword = words[0].lower()
        if keyword in ("nan", "inf", "nonfinite") and len(words) == 1:
            return cls("nonfinite")
        if keyword in ("op", "module"):
            if len(words) != 2:
                raise ValueError(f"'{keyword}' needs one name after it, e.g. '{keyword} fc1'")
            return cls(keyword, words[1])
        if len(words) == 1:
            return cls("op", words[0])
        raise ValueError(f"cannot read {text!r}: type an op name, 'module NAME' or 'nan'")

    def matches(self, event: Event) -> bool:
        """Whether ``event`` satisfies this breakpoint."""
        if self.kind == "op":
            return fnmatch.fnmatchcase(event.op.lower(), self.pattern.lower())
        if self.kind == "module":
            path, wanted = f".{event.module_path}.", f".{self.pattern}."
            return wanted in path
        return any(
            record is not None and (record.stats.get("nan", 0) or record.stats.get("inf", 0))
            for record in event.outputs
        )

    def describe(self) -> str:
        """How the breakpoint reads in the interface: ``op relu*``, ``module fc1``, ``NaN/Inf``."""
        return "NaN/Inf" if self.kind == "nonfinite" else f"{self.kind} {self.pattern}"


class Stepper:
    """A position in a list of recorded iterations, and the moves between events.

    Each move returns whether the position changed, so a caller can tell the user when
    nothing happened (already at the start, no such phase, no breakpoint ahead).
    """

    def __init__(self, traces: list[Trace] | None = None):
        self.traces: list[Trace] = list(traces or [])
        self.position = Position(0, 0)
        self.breakpoints: list[Breakpoint] = []
        self._jumps: list[Position] = []  # positions before each jump, for go_back()

    # ---- what is under the cursor ----------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return not any(trace.events for trace in self.traces)

    @property
    def trace(self) -> Trace:
        """The iteration being replayed."""
        return self.traces[self.position.iteration]

    @property
    def events(self) -> list[Event]:
        return self.trace.events

    @property
    def event(self) -> Event:
        """The event under the cursor."""
        return self.events[self.position.index]

    @property
    def phase(self) -> str:
        return self.event.phase

    def forward_event_of(self, event: Event) -> Event | None:
        """For a backward event, the forward event it differentiates."""
        if event.forward_node_id is None:
            return None
        return self._event_with_id(event.forward_node_id)

    def backward_event_of(self, event: Event) -> Event | None:
        """For a forward event, the backward event that computed its inputs' gradients."""
        for candidate in self.events:
            if candidate.phase == "backward" and candidate.forward_node_id == event.node_id:
                return candidate
        return None

    def _event_with_id(self, node_id: int) -> Event | None:
        try:
            return self.trace.event(node_id)
        except KeyError:
            return None

    # ---- the history of iterations -------------------------------------------------------
    def add_trace(self, trace: Trace) -> None:
        """Append a newly recorded iteration (the position stays where it is)."""
        self.traces.append(trace)

    def reset(self, traces: list[Trace]) -> None:
        """Replace the whole history (after a restart) and go to its first event."""
        self.traces = list(traces)
        self.position = Position(0, 0)
        self._jumps.clear()

    def next_iteration(self) -> bool:
        """To the first event of the next recorded iteration."""
        return self._jump(Position(self.position.iteration + 1, 0))

    def previous_iteration(self) -> bool:
        """To the first event of the previous iteration."""
        return self._jump(Position(self.position.iteration - 1, 0))

    # ---- single steps ---------------------------------------------------------------
    def next(self) -> bool:
        """One event forward; past an iteration's last event, the next iteration's first."""
        after = self._following(self.position)
        return after is not None and self._move(after)

    def previous(self) -> bool:
        """One event back (a replay: nothing runs again)."""
        before = self._preceding(self.position)
        return before is not None and self._move(before)

    def first(self) -> bool:
        """To the first event of the current iteration."""
        return self._jump(Position(self.position.iteration, 0))

    def last(self) -> bool:
        """To the last event of the current iteration."""
        return self._jump(Position(self.position.iteration, len(self.events) - 1))

    def go_to(self, position: Position) -> bool:
        """To any event, remembering where you were (see :meth:`go_back`)."""
        return self._jump(position)

    def go_to_node(self, node_id: int) -> bool:
        """To the event with ``node_id`` in the current iteration."""
        for index, event in enumerate(self.events):
            if event.node_id == node_id:
                return self._jump(Position(self.position.iteration, index))
        return False

    def go_back(self) -> bool:
        """Undo the last jump: return to where you were before it."""
        while self._jumps:
            earlier = self._jumps.pop()
            if self._valid(earlier) and earlier != self.position:
                self.position = earlier
                return True
        return False

    # ---- jumps by structure -----------------------------------------------------------
    def jump_to_phase(self, phase: str) -> bool:
        """To the first event of ``phase`` (forward, loss, backward, optimizer)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
        for index, event in enumerate(self.events):
            if event.phase == phase:
                return self._jump(Position(self.position.iteration, index))
        return False

    def step_into(self) -> bool:
        """To the first event of the next module call, like a debugger's step into.

        From an event of ``Net`` this lands on the first event of the next call such as
        ``Net.fc1``; from the last op of ``Net.fc1``, on the first op of whatever module
        runs next (``Net.act``). Unlike :meth:`next`, it skips the rest of the current call:
        a call begins where the module path changes to a module's. At the last call of the
        iteration nothing moves.
        """
        events = self.events
        for index in range(self.position.index + 1, len(events)):
            path = events[index].module_path
            if path and path != events[index - 1].module_path:
                return self._jump(Position(self.position.iteration, index))
        return False

    def step_out(self) -> bool:
        """To the first event after the current module's call has returned.

        That event belongs to whatever ran next: the calling module, or the caller's next
        submodule. An event outside any module has no call to leave: nothing moves.
        """
        here = self.event.module_path
        if not here:
            return False
        for index in range(self.position.index + 1, len(self.events)):
            if not module_contains(here, self.events[index].module_path):
                return self._jump(Position(self.position.iteration, index))
        return False

    def run_to_breakpoint(self, breakpoints: list[Breakpoint] | None = None) -> Breakpoint | None:
        """Move forward to the next event any breakpoint matches; return that breakpoint.

        Searches every recorded iteration after the cursor. When nothing matches, the
        cursor stays where it is and the result is None.
        """
        breakpoints = self.breakpoints if breakpoints is None else breakpoints
        position = self._following(self.position)
        while position is not None:
            event = self.traces[position.iteration].events[position.index]
            for breakpoint in breakpoints:
                if breakpoint.matches(event):
                    self._jump(position)
                    return breakpoint
            position = self._following(position)
        return None

    # ---- internals -------------------------------------------------------------------
    def _valid(self, position: Position) -> bool:
        return (0 <= position.iteration < len(self.traces)
                and 0 <= position.index < len(self.traces[position.iteration].events))

    def _following(self, position: Position) -> Position | None:
        """The position after ``position``, skipping iterations without events."""
        iteration, index = position.iteration, position.index + 1
        while iteration < len(self.traces):
            if index < len(self.traces[iteration].events):
                return Position(iteration, index)
            iteration, index = iteration + 1, 0
        return None

    def _preceding(self, position: Position) -> Position | None:
        iteration, index = position.iteration, position.index - 1
        while iteration >= 0:
            if index >= 0:
                return Position(iteration, index)
            iteration -= 1
            if iteration >= 0:
                index = len(self.traces[iteration].events) - 1
        return None

    def _move(self, position: Position) -> bool:
        """A single step: not remembered as a jump."""
        if not self._valid(position) or position == self.position:
            return False
        self.position = position
        return True

    def _jump(self, position: Position) -> bool:
        """A jump: remembered, so that go_back() can return from it."""
        before = self.position
        if not self._move(position):
            return False
        self._jumps.append(before)
        return True
