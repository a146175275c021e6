"""Recording iteration k of an unmodified training script: ``numbanet step train.py``.

A lesson (:mod:`numbanet.lesson`) says what one iteration is; an ordinary PyTorch script
does not: it has its own loop. :class:`ScriptSession` runs the script as ``numbanet run``
would (``import torch`` gives numbanet, :mod:`numbanet.torch_alias`) in a thread of its own
and finds the iterations in the script's own calls:

- an iteration ends when ``optimizer.step()`` returns — or, in a script without an
  optimizer (the "Learning PyTorch with Examples" scripts that update their weights by
  hand), when ``loss.backward()`` returns;
- iteration k is recorded from its first op that builds the autograd graph (an op on a
  tensor that requires grad, with grad enabled: the model's first layer) to its end. The
  data loading before it (reading, ``ToTensor``, ``.to(device)``) is not part of the
  picture, as in a lesson, whose ``batch()`` runs outside the recording.
- forward ops after the model's last op (or, without modules, after the last op that reads
  a parameter) are the ``loss`` phase; ops between ``backward()`` and ``step()``
  (``clip_grad_norm_``, logging) are left out.

After each recorded iteration the script waits inside that ``step()`` (or ``backward()``)
until asked for the next one, so the stepper's "next iteration" continues the same run;
:meth:`ScriptSession.close` ends the script there.
"""

from __future__ import annotations

import queue
import runpy
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from numbanet import trace as trace_module
from numbanet.autograd import is_grad_enabled
from numbanet.kernels import launch as _launch
from numbanet.optim.optimizer import Optimizer
from numbanet.tensor import Tensor
from numbanet.torch_alias import aliased, as_missing_api


class ScriptError(Exception):
    """The script failed, or ended before the iteration asked for."""


class _StopScript(BaseException):  # noqa: N818 - not an error: the session ends the script
    """Raised inside the script's ``step()``/``backward()`` to end it: a BaseException, so
    the script's own ``except Exception`` does not catch it."""


class ScriptRecorder(trace_module.Recorder):
    """A :class:`~numbanet.trace.Recorder` for one iteration of a script: it skips the ops
    before the first one that builds the autograd graph and the ops between ``backward()``
    and the end of the iteration, and remembers where the model's ops end (for the
    ``loss`` phase)."""

    def __init__(self, trace: trace_module.Trace):
        super().__init__(trace)
        self.started = False  # seen the first op that builds the graph
        self.backward_started = False
        self.last_model_event: int | None = None  # index of the model's last forward op
        self.last_parameter_event: int | None = None  # ... of the last op reading a leaf

    def record_forward(self, function, inputs, outputs, ctx, seconds: float) -> None:
        if self.suspended:
            return
        builds_graph = is_grad_enabled() and any(
            isinstance(t, Tensor) and t.requires_grad for t in inputs)
        if not self.started and not builds_graph or self.backward_started:
            self._take_kernels()  # data loading or bookkeeping: not a node of the iteration
            return
        self.started = True
        super().record_forward(function, inputs, outputs, ctx, seconds)
        index = len(self.trace.events) - 1
        if self.module_stack and not self.module_stack[0].endswith("Loss"):
            self.last_model_event = index
        if any(isinstance(t, Tensor) and t.requires_grad and t.grad_fn is None
               for t in inputs):
            self.last_parameter_event = index

    def mark_loss_phase(self) -> None:
        """Forward ops after the model's last op (or the last op reading a parameter, in a
        script without modules) belong to the ``loss`` phase."""
        boundary = self.last_model_event
        if boundary is None:
            boundary = self.last_parameter_event
        if boundary is None:
            return
        for event in self.trace.events[boundary + 1:]:
            if event.phase == "forward":
                event.phase = "loss"


@contextmanager
def _recording(recorder: ScriptRecorder):
    """``numbanet.trace.record()`` with a recorder of our own."""
    with trace_module._lock:
        if trace_module._active is not None:
            raise RuntimeError("a trace is already recording; traces do not nest")
        trace_module._active = recorder
        _launch.set_listener(recorder._on_kernel)
    try:
        yield recorder.trace
    finally:
        with trace_module._lock:
            trace_module._active = None
            _launch.set_listener(None)


def _leaves(loss: Tensor) -> list[Tensor]:
    """The leaf tensors ``loss.backward()`` will give gradients to (walking ``grad_fn``)."""
    found, seen, stack = [], set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None:
            found.append(variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return found


class ScriptSession:
    """One run of ``path`` (with ``arguments`` as its ``sys.argv[1:]``) that records
    iteration ``first_iteration`` and, on request, each one after it."""

    def __init__(self, path: str | Path, arguments: list[str] | tuple = (),
                 first_iteration: int = 0, output: TextIO | None = None):
        if first_iteration < 0:
            raise ValueError(f"--iteration must be at least 0, got {first_iteration}")
        self.path = Path(path)
        self.arguments = list(arguments)
        self.output = output  # where the script's prints go (default: stderr, so that
        # the stepper's own output, such as --headless --json lines, stays clean)
        self.wanted = first_iteration  # the next iteration to record
        self.completed = 0  # iterations the script has finished
        self.optimizers_created = 0
        self._thread: threading.Thread | None = None
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._recorder: ScriptRecorder | None = None
        self._recording_context = None
        self._loss: Tensor | None = None
        self._gradient_norm = 0.0
        self._started_at = 0.0
        self._caller_stdout: TextIO = sys.stdout

    # ---- asked by the stepper ------------------------------------------------------------
    def record_next(self) -> trace_module.Trace:
        """Let the script run to the end of the next wanted iteration; its trace."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"script {self.path.name}",
                                            daemon=True)
            self._thread.start()
        else:
            self._requests.put("record")
        kind, value = self._results.get()
        if kind == "trace":
            return value
        self._thread = None
        if kind == "ended":
            raise ScriptError(
                f"{self.path.name} ended after {self.completed} training iteration(s); there "
                f"is no iteration {self.wanted} to record (iterations count from 0)")
        raise ScriptError(value)

    def close(self) -> None:
        """End the script where it waits (it raises inside its ``step()``) and the thread."""
        if self._thread is not None:
            self._requests.put("stop")
            self._thread.join(timeout=10)
            self._thread = None

    # ---- the script's thread -------------------------------------------------------------
    def _run(self) -> None:
        saved_argv = sys.argv[:]
        folder = str(self.path.resolve().parent)
        sys.argv = [str(self.path), *self.arguments]
        sys.path.insert(0, folder)
        self._print_to_script_output()
        try:
            with aliased(), self._hooks():
                if self.wanted == 0:
                    self._start_recording()
                runpy.run_path(str(self.path), run_name="__main__")
            self._finish_recording()
            self._results.put(("ended", None))
        except _StopScript:
            pass
        except SystemExit as stop:
            self._finish_recording()
            if stop.code in (None, 0):
                self._results.put(("ended", None))
            else:
                self._results.put(("error", f"{self.path.name} exited with status "
                                            f"{stop.code}"))
        except Exception as error:  # noqa: BLE001 - handed to the stepper as its message
            self._finish_recording()
            missing = as_missing_api(error)
            self._results.put(("error", str(missing) if missing is not None else
                               f"running {self.path.name} failed: "
                               f"{type(error).__name__}: {error}"))
        finally:
            self._print_to_caller()
            sys.argv = saved_argv
            if folder in sys.path:
                sys.path.remove(folder)

    def _print_to_script_output(self) -> None:
        """While the script runs, ``print`` goes to :attr:`output` (stderr by default)."""
        self._caller_stdout = sys.stdout
        sys.stdout = self.output or sys.stderr

    def _print_to_caller(self) -> None:
        """While the script waits (and after it), ``print`` is the caller's again."""
        sys.stdout = self._caller_stdout

    @contextmanager
    def _hooks(self):
        """Wrap ``Optimizer.__init__``, ``Optimizer.step`` and ``Tensor.backward`` while the
        script runs (in this thread only): they mark the iterations' ends."""
        session, thread = self, threading.current_thread()
        original_init, original_step = Optimizer.__init__, Optimizer.step
        original_backward = Tensor.backward

        def init(optimizer, *args, **kwargs):
            original_init(optimizer, *args, **kwargs)
            if threading.current_thread() is thread:
                session.optimizers_created += 1

        def step(optimizer, *args, **kwargs):
            result = original_step(optimizer, *args, **kwargs)
            if threading.current_thread() is thread:
                session._iteration_done()
            return result

        def backward(tensor, *args, **kwargs):
            if threading.current_thread() is not thread:
                return original_backward(tensor, *args, **kwargs)
            recorder = session._recorder
            leaves = _leaves(tensor) if recorder is not None else []
            if recorder is not None:
                recorder.backward_started = False  # backward nodes are recorded
            result = original_backward(tensor, *args, **kwargs)
            if recorder is not None:
                recorder.backward_started = True  # ... forward ops after them are not
                session._loss = tensor
                session._gradient_norm = sum(
                    float((leaf.grad * leaf.grad).sum().item()) for leaf in leaves
                    if leaf.grad is not None) ** 0.5
            if session.optimizers_created == 0:
                session._iteration_done()
            return result

        Optimizer.__init__, Optimizer.step, Tensor.backward = init, step, backward
        try:
            yield
        finally:
            Optimizer.__init__, Optimizer.step = original_init, original_step
            Tensor.backward = original_backward

    def _start_recording(self) -> None:
        self._recorder = ScriptRecorder(trace_module.Trace())
        self._recording_context = _recording(self._recorder)
        self._recording_context.__enter__()
        self._loss = None
        self._started_at = time.perf_counter()

    def _finish_recording(self) -> trace_module.Trace | None:
        """Stop recording; the trace, with its phases and summary, if it saw a backward."""
        if self._recorder is None:
            return None
        recorder, self._recorder = self._recorder, None
        self._recording_context.__exit__(None, None, None)
        if self._loss is None:
            return None
        recorder.mark_loss_phase()
        trace = recorder.trace
        trace.metadata.update(iteration=self.completed, loss=float(self._loss.item()),
                              gradient_norm=self._gradient_norm,
                              seconds=time.perf_counter() - self._started_at,
                              lesson=self.path.name)
        return trace

    def _iteration_done(self) -> None:
        """The end of an iteration: hand over its trace if it was recorded, wait for the
        next request, and start recording when the next iteration is the one wanted."""
        recorded = self._finish_recording() if self._recorder is not None else None
        self.completed += 1
        if recorded is not None:
            self._print_to_caller()
            self._results.put(("trace", recorded))
            request = self._requests.get()
            self._print_to_script_output()
            if request == "stop":
                raise _StopScript
            self.wanted = self.completed
        if self.completed == self.wanted:
            self._start_recording()
