"""Recording what one training iteration does, event by event.

Usage::

    with numbanet.trace.record() as trace:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    trace.events        # forward, backward and optimizer events, in execution order
    trace.save("step.json"); Trace.load("step.json")

Two halves, kept apart:

- :class:`Trace` and its events (:class:`Event`) are plain data (dataclasses, saved as
  JSON). Each event carries what a reader needs — values, the op's formula text, whether it is
  elementwise — so the graph renderer (``numbanet.viz``) and the stepper (``numbanet.tui``)
  read traces and never reach into autograd. :func:`graph_trace` turns a live autograd
  graph (``loss.grad_fn`` and everything behind it) into such a Trace too.
- A :class:`Recorder` is the live side: the hooks in ``Function.apply``, the backward
  engine, ``Module.__call__`` and the optimizers call it, and it keeps the state that
  links events (which event produced which tensor, the module being run, the phase).
  Recording is opt-in: while none records, each hook costs one ``is None`` check.

Events link to each other by ``node_id`` (this trace's own counter, never ``id()``):

- a forward event's inputs name the event that produced them (``producer_node_id``),
- a backward event names the forward event it differentiates (``forward_node_id``) and the
  events whose gradients flowed into it (``input_node_ids``),
- an ``AccumulateGrad`` event lists each gradient contribution reaching a leaf and the sum.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from numbanet.kernels import launch as _launch

FULL_VALUES_LIMIT = 64  # tensors with at most this many elements are copied whole
SAMPLE_SIZE = 32  # large tensors keep this many evenly spaced values ...
HISTOGRAM_BINS = 16  # ... and a histogram of all their finite values

_active: Recorder | None = None  # the recorder at work, if any (read by the hooks)
_lock = threading.Lock()


@dataclass
class TensorRecord:
    """A copy of one tensor at the moment it was recorded."""

    tensor_id: int
    shape: list[int]
    dtype: str
    device: str
    role: str  # input | parameter | activation | gradient | saved | state
    name: str | None = None  # parameter name such as "fc1.weight"
    producer_node_id: int | None = None  # the event that produced it, if recorded
    values: list | float | None = None  # all values, for small tensors
    stats: dict = field(default_factory=dict)  # numel, min, max, mean, std, nan, inf
    sample: list[float] = field(default_factory=list)  # evenly spaced values (large)
    histogram: dict | None = None  # {"edges": [...], "counts": [...]} (large)
    requires_grad: bool = False

    @property
    def numel(self) -> int:
        return int(math.prod(self.shape))


@dataclass
class KernelRecord:
    """One kernel launch: which Numba function ran, where, and how long it took."""

    name: str  # qualified name, e.g. numbanet.kernels.cpu.matmul.matmul_kernel
    device: str
    compilation: str  # compiled now | loaded from cache | already in memory
    seconds: float
    grid: list[int] | None = None
    block: list[int] | None = None
    source_file: str | None = None
    source_line: int | None = None


@dataclass
class GradientContribution:
    """One gradient flowing into a tensor, and the backward event that sent it."""

    from_node_id: int | None  # None: the seed gradient passed to backward()
    gradient: TensorRecord


@dataclass
class ParameterUpdate:
    """What an optimizer did to one parameter: after = before + update."""

    name: str
    before: TensorRecord
    gradient: TensorRecord | None
    update: TensorRecord
    after: TensorRecord


@dataclass
class Event:
    """One node of the iteration: a forward op, a backward op or an optimizer update."""

    node_id: int
    phase: str  # forward | loss | backward | optimizer
    op: str  # "matmul", "ReluBackward", "AccumulateGrad", "Adam.step", ...
    module_path: str = ""  # e.g. "Net.fc1"
    inputs: list[TensorRecord | None] = field(default_factory=list)
    outputs: list[TensorRecord | None] = field(default_factory=list)
    saved: list[TensorRecord] = field(default_factory=list)
    kernels: list[KernelRecord] = field(default_factory=list)
    source: str = ""  # "lesson.py:12: x = self.fc1(x)"
    seconds: float = 0.0
    forward_node_id: int | None = None  # backward: the forward event it differentiates
    input_node_ids: list[int | None] = field(default_factory=list)  # edges into this node
    contributions: list[GradientContribution] = field(default_factory=list)
    updates: list[ParameterUpdate] = field(default_factory=list)
    formula: str = ""  # forward formula and gradient, from the op's docstring
    attributes: dict = field(default_factory=dict)  # op arguments: dim, stride, lr, ...
    elementwise: bool = False  # output element i depends on input elements i only
    # backward, when recorded with gradcheck=True: this node's backward rule against finite
    # differences of its forward (numbanet.autograd.node_check: status, errors per element)
    gradcheck: dict | None = None


@dataclass
class Trace:
    """The events of a recording, in execution order, plus the names of parameters."""

    events: list[Event] = field(default_factory=list)
    parameter_names: dict[int, str] = field(default_factory=dict)  # tensor id -> name
    metadata: dict = field(default_factory=dict)

    # ---- lookups used by the renderer and the stepper -------------------------------
    def by_phase(self, phase: str) -> list[Event]:
        return [event for event in self.events if event.phase == phase]

    def event(self, node_id: int) -> Event:
        for candidate in self.events:
            if candidate.node_id == node_id:
                return candidate
        raise KeyError(f"no event with node id {node_id} in this trace")

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "numbanet-trace",
            "version": 1,
            "events": [asdict(event) for event in self.events],
            "parameter_names": {str(k): v for k, v in self.parameter_names.items()},
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the trace as JSON (NaN and Inf are kept, as JSON's NaN/Infinity)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: dict) -> Trace:
        if data.get("format") != "numbanet-trace":
            raise ValueError("not a numbanet trace: the 'format' field is missing or wrong")
        return cls(
            events=[_event_from_dict(item) for item in data["events"]],
            parameter_names={int(k): v for k, v in data["parameter_names"].items()},
            metadata=data.get("metadata", {}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a trace written by :meth:`save`. A file that is not one — cut short,
        edited by hand, another JSON — raises ValueError with one line saying why."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path.name} is not a numbanet trace: invalid JSON at line "
                             f"{error.lineno}, column {error.colno} ({error.msg})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path.name} is not a numbanet trace: not a text file") from None
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path.name} is not a numbanet trace, or a damaged one: "
                             f"{type(error).__name__}: {error}") from None

    # ---- notebook display -------------------------------------------------------------
    def _repr_html_(self) -> str:
        """In Jupyter, a trace shows itself as the step-by-step replay of
        :mod:`numbanet.viz.replay` (imported here, when displayed: viz imports trace)."""
        from numbanet.viz.replay import replay_iframe

        return replay_iframe(self)



class Recorder:
    """The live side of a recording: called by the hooks, it appends events to ``trace``.

    It keeps what only matters while recording: the next event id, which event produced
    each tensor (by the tensor's own id), which forward event each autograd node belongs
    to, the kernels launched since the last event, the module being run and the phase.
    """

    def __init__(self, trace: Trace):
        self.trace = trace
        self._next_node_id = 0
        self._producer: dict[int, int] = {}  # tensor id -> node id of its producer
        self._forward_of_autograd_node: dict[int, int] = {}  # autograd node -> event
        self._backward_of_autograd_node: dict[int, int] = {}
        self._pending_kernels: list[KernelRecord] = []
        self.module_stack: list[str] = []
        self.stage = "forward"  # forward ops recorded now belong to this phase (or "loss")
        self.suspended = False  # True while a backward rule runs: its ops are not nodes
        self.gradcheck = False  # check each backward node against finite differences
        self._forward_calls: dict[int, tuple] = {}  # autograd node -> (Function, args, rng)
        self._rng_state = None  # the random generator's state before the next op

    @property
    def parameter_names(self) -> dict[int, str]:
        return self.trace.parameter_names

    def event(self, node_id: int) -> Event:
        return self.trace.event(node_id)

    def _new_node_id(self) -> int:
        node_id = self._next_node_id
        self._next_node_id += 1
        return node_id

    def _take_kernels(self) -> list[KernelRecord]:
        kernels, self._pending_kernels = self._pending_kernels, []
        return kernels

    def _on_kernel(self, kernel, grid, block, compilation, seconds) -> None:
        self._pending_kernels.append(_kernel_record(kernel, grid, block, compilation, seconds))

    def tensor_record(self, tensor, role: str) -> TensorRecord:
        name = self.parameter_names.get(tensor._uid)
        if name is not None and role == "input":
            role = "parameter"
        return _tensor_record(tensor, role, name, self._producer.get(tensor._uid))

    def record_forward(self, function, inputs, outputs, ctx, seconds: float) -> None:
        """Called by ``Function.apply`` after the forward of one op."""
        if self.suspended:  # an op inside a backward rule: its kernels join that node
            return
        node_id = self._new_node_id()
        event = Event(
            node_id=node_id,
            phase=self.stage,
            op=function.op_name(),
            module_path=".".join(self.module_stack),
            inputs=[self.tensor_record(t, "input") if _is_tensor(t) else None for t in inputs],
            outputs=[self.tensor_record(t, "activation") for t in outputs],
            saved=[self.tensor_record(t, "saved") for t in getattr(ctx, "_saved", ()) or ()
                   if _is_tensor(t)],
            kernels=self._take_kernels(),
            source=user_source_line(),
            seconds=seconds,
            formula=function.formula(),
            attributes=dict(getattr(ctx, "trace_attributes", {}) or {}),
            elementwise=function.elementwise,
        )
        event.input_node_ids = [r.producer_node_id if r else None for r in event.inputs]
        for tensor in outputs:
            self._producer[tensor._uid] = node_id
        if ctx is not None and getattr(ctx, "node_id", None) is not None:
            self._forward_of_autograd_node[ctx.node_id] = node_id
            if self.gradcheck and ctx.next_edges:  # a backward node will follow: keep the call
                from numbanet.autograd import node_check

                self._forward_calls[ctx.node_id] = (
                    function, node_check.snapshot_arguments(inputs), self._rng_state)
        if self.gradcheck:
            from numbanet.autograd.node_check import random_state

            self._rng_state = random_state()
        self.trace.events.append(event)

    @contextmanager
    def paused(self):
        """Ops run inside the block (a backward rule's own ops) become no events of their
        own; their kernels are credited to the node recorded next."""
        self.suspended = True
        try:
            yield
        finally:
            self.suspended = False

    def _check_node(self, call, grad_outputs, grad_inputs, forward_event) -> dict:
        """The gradient check of one backward node, run with this recorder detached (its
        float64 re-runs are no events, their kernels no one's)."""
        from numbanet.autograd.node_check import check_node

        global _active
        function, snapshot, rng_state = call
        names = [record.name if record is not None else None
                 for record in (forward_event.inputs if forward_event else [])]
        with _lock:
            _active = None
            _launch.set_listener(None)
        try:
            return check_node(function, snapshot, rng_state, list(grad_outputs),
                              list(grad_inputs), names)
        finally:
            with _lock:
                _active = self
                _launch.set_listener(self._on_kernel)

    def backward_node_id(self, autograd_node_id: int) -> int | None:
        return self._backward_of_autograd_node.get(autograd_node_id)

    def record_backward(self, node, grad_outputs, grad_inputs, senders, seconds,
                        contributions=()) -> int:
        """Called by the engine after one backward node ran; returns its event id.

        ``contributions``: each (sender event id, gradient) summed into its upstream
        gradient; kept in the event when there are several (a fan-in)."""
        node_id = self._new_node_id()
        forward_id = self._forward_of_autograd_node.get(node.node_id)
        forward_event = self.event(forward_id) if forward_id is not None else None
        event = Event(
            node_id=node_id,
            phase="backward",
            op=node.backward_name(),
            module_path=forward_event.module_path if forward_event else "",
            inputs=[self.tensor_record(g, "gradient") if _is_tensor(g) else None
                    for g in grad_outputs],
            outputs=[self.tensor_record(g, "gradient") if _is_tensor(g) else None
                     for g in grad_inputs],
            saved=[self.tensor_record(t, "saved") for t in node._saved or () if _is_tensor(t)],
            kernels=self._take_kernels(),
            source=forward_event.source if forward_event else "",
            seconds=seconds,
            forward_node_id=forward_id,
            input_node_ids=list(senders),
            formula=node.function.formula(),
            elementwise=node.function.elementwise,
        )
        if len(contributions) > 1:
            event.contributions = [GradientContribution(sender, self.tensor_record(g, "gradient"))
                                   for sender, g in contributions]
        call = self._forward_calls.pop(node.node_id, None)
        if call is not None:
            event.gradcheck = self._check_node(call, grad_outputs, grad_inputs, forward_event)
        self._backward_of_autograd_node[node.node_id] = node_id
        self.trace.events.append(event)
        return node_id

    def record_accumulate(self, leaf, contributions, total) -> int:
        """A leaf's gradient: each (sender node id, gradient) contribution and their sum."""
        node_id = self._new_node_id()
        name = self.parameter_names.get(leaf._uid)
        event = Event(
            node_id=node_id,
            phase="backward",
            op="AccumulateGrad",
            module_path=self._module_of_parameter(name),
            inputs=[self.tensor_record(g, "gradient") for _, g in contributions],
            outputs=[_tensor_record(leaf.grad, "gradient", name, None)],
            saved=[self.tensor_record(leaf, "parameter" if name else "input")],
            kernels=self._take_kernels(),
            input_node_ids=[sender for sender, _ in contributions],
            contributions=[GradientContribution(sender, self.tensor_record(g, "gradient"))
                           for sender, g in contributions],
            formula="leaf.grad += sum of the incoming gradients",
            attributes={"parameter": name} if name else {},
        )
        self.trace.events.append(event)
        return node_id

    def _module_of_parameter(self, name: str | None) -> str:
        """Module path of a parameter named ``fc1.weight``: ``Net.fc1`` (as forward nodes)."""
        if not name:
            return ""
        root = next(iter(self.trace.metadata.get(MODULE_TYPES, {})), "")
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        return ".".join(part for part in (root, owner) if part)

    def record_collective(self, op: str, inputs: dict, outputs: dict, seconds: float,
                          module_path: str = "", formula: str = "",
                          attributes: dict | None = None) -> int:
        """A communication between processes (``DistributedDataParallel``'s all-reduce of
        one gradient bucket), as one backward-phase event. ``inputs``: this process's
        tensors by name (each parameter's local gradient); ``outputs``: what came back
        (the averages); ``attributes``: world size, rank, bucket number, ..."""
        event = Event(
            node_id=self._new_node_id(),
            phase="backward",
            op=op,
            module_path=module_path,
            inputs=[self._named_record(tensor, name) for name, tensor in inputs.items()],
            outputs=[self._named_record(tensor, name) for name, tensor in outputs.items()],
            source=user_source_line(),
            seconds=seconds,
            formula=formula,
            attributes=dict(attributes or {}),
        )
        self.trace.events.append(event)
        return event.node_id

    def _named_record(self, tensor, name: str) -> TensorRecord:
        record = self.tensor_record(tensor, "gradient")
        record.name = name
        return record

    def record_optimizer(self, optimizer_name: str, updates: list[ParameterUpdate],
                         attributes: dict, seconds: float) -> None:
        """Called by ``Optimizer.step`` with one :class:`ParameterUpdate` per parameter."""
        self.trace.events.append(Event(
            node_id=self._new_node_id(),
            phase="optimizer",
            op=f"{optimizer_name}.step",
            inputs=[u.before for u in updates],
            outputs=[u.after for u in updates],
            kernels=self._take_kernels(),
            source=user_source_line(),
            seconds=seconds,
            updates=updates,
            attributes=attributes,
        ))


def active() -> Trace | None:
    """The trace that is recording now, or None."""
    return _active.trace if _active is not None else None


@contextmanager
def record(model=None, gradcheck: bool = False):
    """Record every forward op, backward node and optimizer update inside the block.

    Pass ``model`` (an ``nn.Module``) to have its parameters named in the trace
    (``fc1.weight``); parameters of modules called inside the block are named anyway.
    ``gradcheck=True`` checks every backward node against finite differences of its
    forward as it runs (``Event.gradcheck``; see :mod:`numbanet.autograd.node_check`):
    slower, and the results stay in the saved trace.
    """
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError("a trace is already recording; traces do not nest")
        trace = Trace()
        if model is not None:
            name_parameters(trace, model)
        _active = Recorder(trace)
        if gradcheck:
            from numbanet.autograd.node_check import random_state

            _active.gradcheck, _active._rng_state = True, random_state()
        _launch.set_listener(_active._on_kernel)
    try:
        yield trace
    finally:
        with _lock:
            _active = None
            _launch.set_listener(None)


@contextmanager
def phase(name: str):
    """Forward ops recorded inside the block belong to phase ``name`` — ``"loss"`` for the
    criterion's ops: ``with numbanet.trace.phase("loss"): loss = criterion(out, y)``."""
    if name not in ("forward", "loss"):
        raise ValueError(f"forward ops belong to phase 'forward' or 'loss', not {name!r}")
    recorder = _active
    if recorder is None:
        yield
        return
    previous, recorder.stage = recorder.stage, name
    try:
        yield
    finally:
        recorder.stage = previous


def graph_trace(output, params: dict | None = None) -> Trace:
    """The autograd graph that ends in ``output`` as a :class:`Trace`: what
    ``output.backward()`` would walk, without running anything.

    Events: one ``"output"`` event (id -1) holding ``output``; then, for every node reachable
    from ``output.grad_fn`` through its edges, a backward event with the node's own id
    (``MulBackward``, ..., ``AccumulateGrad`` for each leaf): its ``input_node_ids`` are the
    events that will send it gradients, its ``outputs`` the shape and dtype of the gradient
    it sends to each input (None where an input needs none), its ``saved`` the tensors kept
    for backward (none once backward freed them: ``attributes["released"]``) — these two by
    shape and dtype only, without values. An
    AccumulateGrad event saves its leaf (named from ``params``, e.g.
    ``dict(model.named_parameters())``) and outputs the leaf's current ``.grad``.
    The walk uses an explicit stack: a 10,000-op chain is fine.
    """
    trace = Trace(parameter_names={t._uid: name for name, t in (params or {}).items()})
    trace.events.append(Event(node_id=-1, phase="forward", op="output",
                              outputs=[_tensor_record(output, "activation", None, None)]))
    root = output.grad_fn
    if root is None:
        return trace
    events: dict[int, Event] = {}
    stack = [root]
    events[root.node_id] = _graph_event(root, trace.parameter_names)
    events[root.node_id].input_node_ids.append(-1)
    while stack:
        node = stack.pop()
        for target, _ in node.next_functions:
            if target is None:
                continue
            if target.node_id not in events:
                events[target.node_id] = _graph_event(target, trace.parameter_names)
                stack.append(target)
            events[target.node_id].input_node_ids.append(node.node_id)
    trace.events.extend(events.values())
    return trace


def _graph_event(node, names: dict[int, str]) -> Event:
    """One autograd node as a backward event (see :func:`graph_trace`)."""
    leaf = getattr(node, "variable", None)  # an AccumulateGrad node's leaf
    if leaf is not None:
        name = names.get(leaf._uid)
        role = "parameter" if name or type(leaf).__name__ == "Parameter" else "input"
        grad = [] if leaf.grad is None else [_tensor_record(leaf.grad, "gradient", name, None)]
        return Event(node_id=node.node_id, phase="backward", op=node.name(),
                     saved=[_tensor_record(leaf, role, name, None)], outputs=grad,
                     formula="leaf.grad += sum of the incoming gradients")
    # shapes only (no values) for what a node sends and saves: a graph may have 10,000 nodes
    sent = [None if meta is None else TensorRecord(
                tensor_id=-1, shape=list(meta[0]), dtype=np.dtype(meta[1]).name, device="",
                role="gradient") for meta in node.input_meta]
    saved = [] if node.released else [
        TensorRecord(tensor_id=t._uid, shape=list(t.shape), dtype=np.dtype(t._data.dtype).name,
                     device=str(t.device), role="saved", name=names.get(t._uid))
        for t in node._saved if _is_tensor(t)]
    return Event(node_id=node.node_id, phase="backward", op=node.name(), outputs=sent,
                 saved=saved, formula=node.function.formula(),
                 elementwise=node.function.elementwise,
                 attributes={"released": bool(node.released)})


MODULE_TYPES = "module_types"  # Trace.metadata key: module path -> class name


def module_types(model) -> dict[str, str]:
    """``{"Net": "Net", "Net.fc1": "Linear", ...}``: each module path (as the trace builds
    it: the outermost module's class name, then attribute names) and its class."""
    root = type(model).__name__
    types = {root: root}
    for name, module in model.named_modules():
        if name:
            types[f"{root}.{name}"] = type(module).__name__
    return types


def name_parameters(trace: Trace, model) -> None:
    """Remember the qualified name of every parameter of ``model`` and the class of every
    module path (for labels: "Net.fc1: Linear", "fc1.weight")."""
    for name, parameter in model.named_parameters():
        trace.parameter_names.setdefault(parameter._uid, name)
    for path, kind in module_types(model).items():
        trace.metadata.setdefault(MODULE_TYPES, {}).setdefault(path, kind)


# ---- helpers ---------------------------------------------------------------------------


def _is_tensor(value) -> bool:
    return hasattr(value, "_uid") and hasattr(value, "_data")


def _tensor_record(tensor, role: str, name: str | None, producer: int | None) -> TensorRecord:
    host = np.asarray(tensor._host())
    record = TensorRecord(
        tensor_id=tensor._uid,
        shape=list(host.shape),
        dtype=str(tensor.dtype).replace("numbanet.", ""),
        device=str(tensor.device),
        role=role,
        name=name,
        producer_node_id=producer,
        requires_grad=bool(tensor.requires_grad),
    )
    as_float = host.astype(np.float64, copy=False).ravel()
    finite = as_float[np.isfinite(as_float)]
    record.stats = {
        "numel": int(as_float.size),
        "min": float(finite.min()) if finite.size else float("nan"),
        "max": float(finite.max()) if finite.size else float("nan"),
        "mean": float(finite.mean()) if finite.size else float("nan"),
        "std": float(finite.std()) if finite.size else float("nan"),
        "nan": int(np.isnan(as_float).sum()),
        "inf": int(np.isinf(as_float).sum()),
    }
    if host.size <= FULL_VALUES_LIMIT:
        record.values = host.tolist()
    else:
        positions = np.linspace(0, as_float.size - 1, SAMPLE_SIZE).astype(np.int64)
        record.sample = [float(v) for v in as_float[positions]]
        if finite.size:
            counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
            record.histogram = {"edges": edges.tolist(), "counts": counts.tolist()}
    return record


@functools.cache
def _kernel_identity(kernel) -> tuple[str, str | None, int | None]:
    """(qualified name, source file, first line) of a kernel — looked up once per kernel,
    since reading source files costs milliseconds."""
    python_function = getattr(kernel, "py_func", None) or getattr(kernel, "__wrapped__", None)
    python_function = python_function or kernel
    module = getattr(python_function, "__module__", "") or ""
    name = getattr(python_function, "__qualname__", None) or getattr(kernel, "__name__", "?")
    try:
        source_file = inspect.getsourcefile(python_function)
        source_line = inspect.getsourcelines(python_function)[1]
    except (TypeError, OSError):
        source_file, source_line = None, None
    return (f"{module}.{name}" if module else name), source_file, source_line


def _kernel_record(kernel, grid, block, compilation, seconds) -> KernelRecord:
    name, source_file, source_line = _kernel_identity(kernel)
    return KernelRecord(
        name=name,
        device="cpu" if grid is None else "cuda",
        compilation=compilation,
        seconds=seconds,
        grid=list(grid) if isinstance(grid, tuple) else ([grid] if grid is not None else None),
        block=list(block) if isinstance(block, tuple) else (
            [block] if block is not None else None),
        source_file=source_file,
        source_line=source_line,
    )


def _sub_records(cls, data):
    return cls(**data) if data is not None else None


def _event_from_dict(data: dict) -> Event:
    data = dict(data)
    data["inputs"] = [_sub_records(TensorRecord, r) for r in data["inputs"]]
    data["outputs"] = [_sub_records(TensorRecord, r) for r in data["outputs"]]
    data["saved"] = [TensorRecord(**r) for r in data["saved"]]
    data["kernels"] = [KernelRecord(**k) for k in data["kernels"]]
    data["contributions"] = [
        GradientContribution(c["from_node_id"], TensorRecord(**c["gradient"]))
        for c in data["contributions"]
    ]
    data["updates"] = [
        ParameterUpdate(
            name=u["name"],
            before=TensorRecord(**u["before"]),
            gradient=_sub_records(TensorRecord, u["gradient"]),
            update=TensorRecord(**u["update"]),
            after=TensorRecord(**u["after"]),
        )
        for u in data["updates"]
    ]
    return Event(**data)


def _library_dirs() -> tuple[str, ...]:
    """Folders whose frames are never "the user's line": numbanet, viz, tui, the standard
    library and installed packages (a Textual worker thread, runpy, ...)."""
    import sysconfig

    own = [Path(__file__).resolve().parent.parent / name for name in ("numbanet", "viz", "tui")]
    paths = sysconfig.get_paths()
    # "scripts": the console script (.venv/bin/numbanet) that started numbanet is no lesson
    system = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
              if key in paths]
    return tuple(os.path.realpath(p) + os.sep for p in [*own, *system])


_LIBRARY_DIRS = _library_dirs()


def user_source_line(skip_prefixes: tuple[str, ...] = _LIBRARY_DIRS) -> str:
    """``"file.py:LINE: code"`` of the innermost stack frame outside numbanet and the
    libraries it runs under; ``""`` when there is none (e.g. code run by a worker thread)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        resolved = os.path.realpath(filename)
        if not resolved.startswith(skip_prefixes) and not filename.startswith("<"):
            import linecache

            code = linecache.getline(filename, frame.f_lineno).strip()
            return f"{os.path.basename(filename)}:{frame.f_lineno}: {code}"
        frame = frame.f_back
    return ""

