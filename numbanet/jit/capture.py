"""Capturing one call of a training step as a flat list of kernel calls, and replaying it.

What a JIT like tinygrad's ``TinyJit`` or a CUDA graph does, in plain Python. A training
step in eager mode spends most of its time *deciding* what to run: each ``a + b`` checks
dtypes and shapes, builds an autograd node, saves tensors for backward; ``backward()``
walks the graph. For a step whose shapes never change, those decisions come out the same
every time. So, once, we let the step run normally and write down every call it makes to
the device's kernels (``numbanet.kernels.cpu`` or ``.cuda``: ``matmul``, ``add``,
``sum``, ...) together with the exact arrays it passed and got back. Later calls run that
list again — the same kernels on the same arrays — and nothing else: no Tensor objects,
no autograd graph, no op dispatch.

The list is recorded at the level of the backend's contract functions (the names of
:data:`numbanet.kernels.contract.KERNEL_CONTRACT`), not of raw Numba kernels: some
contract functions move data with numpy around their kernels (a contiguous copy before a
matmul, the final add of a parallel sum), and a list of bare kernel launches would miss
it. The Numba kernels each call launched are recorded too (through the listener of
:mod:`numbanet.kernels.launch`), for the listing.

How each recorded call is replayed:

- it returns nothing (``copy_into``, ``fill``, an op with ``out=``, ``scatter_add``): it
  works in place, so call it again with the same arguments;
- it returns a view of one of its arguments (``reshape``, ``permute``, ``basic_index``):
  nothing to run, the view already looks at the right memory;
- it returns a new array (``add``, ``matmul``, ``sum``): call it again and put the result
  into the array the capture got back (elementwise ops write there directly, ``out=``),
  because later calls in the list read that very array;
- ``dropout_mask``: its seed is drawn again from the same generator, so each replay gets
  a new mask and the sequence of masks is the one eager mode would draw.

What cannot be captured is refused, and the step runs eagerly instead: reading a value on
the host (``.item()``, ``.tolist()``, ``.numpy()``, ``bool(tensor)``, so also ``if loss >
1:``), because the replay would not run that Python; random numbers drawn on the host
(``torch.randn`` inside the step), because the replay would reuse the captured ones.

Reading values on the host inside numbanet's own input checks (the class indices of
``cross_entropy`` must lie in ``[0, classes)``) is allowed: the replay runs the check
again with the same arrays, so a bad batch still raises PyTorch's error.

``optimizer.step()`` is one entry of the list that runs the optimizer's own Python again
at each replay: its step counter, bias corrections and learning rate (a scheduler may
change it between calls) are Python numbers computed per step, and its kernels update the
parameters in place — the same kernels eager mode runs, so the parameters stay
bit-identical.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import types as numba_types

from numbanet import autograd as _autograd
from numbanet import kernels as _kernels
from numbanet import random as _random
from numbanet.kernels import launch as _launch
from numbanet.kernels.contract import (
    ELEMENTWISE_BINARY,
    ELEMENTWISE_UNARY,
    KERNEL_CONTRACT,
    OPTIMIZER_UPDATES,
    VIEWS,
)

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_VIEWS = frozenset(VIEWS + ("contiguous", "astype"))  # may return (a view of) an argument
_WRITES_INTO_OUT = frozenset(ELEMENTWISE_BINARY + ELEMENTWISE_UNARY)  # f(..., out=None)
_LOSS_FUNCTION_ENDINGS = ("_loss", "cross_entropy", "cross_entropy_with_logits")
_NOT_CAPTURABLE = {
    "to_host": "reads a tensor's values on the host (.item(), .tolist(), .numpy(), "
               "print(tensor), or Python control flow such as `if loss > 1:`)",
}


class CaptureError(RuntimeError):
    """Raised by ``numbanet.compile(..., fullgraph=True)`` where a step cannot be captured."""


@dataclass
class Launch:
    """One entry of a captured step, as plain data (what ``.launches`` lists)."""

    index: int
    function: str  # the backend contract function: "matmul", "add", "adam_update"
    kernels: list[str]  # the Numba kernels it launched: ["add_contiguous"]
    output: str  # "(64, 128) float32", or "" when it returned nothing
    replay: str  # how the replay runs it: "call", "call, out=", "view", ...
    phase: str = "forward"  # forward | loss | backward | optimizer (or "after backward")
    inputs: list[str] = field(default_factory=list)  # the arrays it read: "(16, 2) float32"
    seconds: float | None = None  # its kernels' time while the capture ran (None: none)

    def as_dict(self) -> dict:
        return {"index": self.index, "function": self.function, "kernels": list(self.kernels),
                "output": self.output, "replay": self.replay, "phase": self.phase,
                "inputs": list(self.inputs), "seconds": self.seconds}


@dataclass
class Refusal:
    """Why a step cannot be captured, and the user's line that did it."""

    reason: str
    where: str  # "train.py:12: total += loss.item()"

    def message(self, name: str) -> str:
        return (f"numbanet.compile: {name} cannot be captured: it {self.reason} at "
                f"{self.where}. It runs eagerly from now on; move that line out of the "
                "compiled function to get the replay.")


@dataclass
class Captured:
    """The result of capturing one call: what to replay, and how to show it."""

    steps: list  # (function, arguments): a replay runs function(*arguments) for each, in order
    launches: list[Launch] = field(default_factory=list)
    buffers: list = field(default_factory=list)  # every array the steps touch, kept alive


def user_line() -> str:
    """``file:line: code`` of the innermost frame outside the numbanet package."""
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_PACKAGE_DIR) and "/contextlib.py" not in \
                frame.filename:
            return f"{Path(frame.filename).name}:{frame.lineno}: {(frame.line or '').strip()}"
    return "an unknown line"


def describe(array) -> str:
    """``(64, 128) float32`` for an array, ``""`` for anything else."""
    if array is None or not hasattr(array, "shape"):
        return ""
    return f"{tuple(array.shape)} {np.dtype(array.dtype).name}"


def _span(array) -> tuple[int, int] | None:
    """The first and one-past-last byte address an array can touch (None: not an array)."""
    interface = getattr(array, "__cuda_array_interface__", None)
    if interface is None:
        interface = getattr(array, "__array_interface__", None)
    if interface is None:
        return None
    start = interface["data"][0]
    itemsize = np.dtype(interface["typestr"]).itemsize
    shape = interface["shape"]
    if any(n == 0 for n in shape):
        return start, start
    strides = interface.get("strides")
    if strides is None:
        size = itemsize
        for n in shape:
            size *= n
        return start, start + size
    low = start + sum(s * (n - 1) for s, n in zip(strides, shape, strict=True) if s < 0)
    high = start + itemsize + sum(s * (n - 1) for s, n in zip(strides, shape, strict=True)
                                  if s > 0)
    return low, high


def overlaps(array, others) -> bool:
    """Whether ``array`` may share memory with one of ``others`` (a view of it)."""
    span = _span(array)
    if span is None or span[0] == span[1]:
        return False
    for other in others:
        other_span = _span(other)
        if other_span is not None and other_span[0] < span[1] and span[0] < other_span[1]:
            return True
    return False


def _optimizer_step_frame(frame):
    """The frame of the ``optimizer.step()`` call the current kernel call comes from (the
    outermost, when a subclass's ``step`` calls ``super().step()``), else None."""
    from numbanet.optim.optimizer import Optimizer

    found = None
    while frame is not None:
        if frame.f_code.co_name == "step" and isinstance(frame.f_locals.get("self"), Optimizer):
            found = frame
        frame = frame.f_back
    return found


def _overload(kernel, args):
    """Numba's compiled version of ``kernel`` for these arguments' types, None when it
    cannot be found (not a Numba dispatcher, or not compiled for them)."""
    try:
        types = tuple(kernel.typeof_pyval(value) for value in args)
        return kernel.overloads[types]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _compiled(kernel, args):
    """The machine code Numba compiled for ``kernel`` on these argument types, callable
    without the dispatcher's type lookup (which costs a microsecond per call); the
    dispatcher itself when it cannot be found."""
    overload = _overload(kernel, args)
    return kernel if overload is None else overload.entry_point


def _returns_a_value(kernel, args) -> bool:
    """Whether the machine code of ``kernel`` for these arguments returns something: a
    verdict its Python acts on (the position of the first target that is no class index,
    for the loss to raise). A bare replay would drop it, so such a call replays whole."""
    overload = _overload(kernel, args)
    return overload is not None and overload.signature.return_type != numba_types.none


def _bytes(array: np.ndarray) -> np.ndarray:
    """The bytes of a C-contiguous array, as a flat uint8 view."""
    return array.reshape(-1).view(np.uint8)


def _passes_a_value(launched: list, arrays: list) -> bool:
    """Whether a launch got, as a plain number, what may be the value of one of the call's
    one-element arrays (``x * y`` with ``y`` 0-d launches the scalar kernel with
    ``y[()]``): replaying the bare launch would pass the captured number again, stale once
    ``y`` changes (a loss averaged over the rows not ignored). Equal values count,
    whatever their types: a constant that happens to equal such an array only costs the
    bare-kernel replay."""
    values = [a.reshape(-1)[0] for a in arrays if isinstance(a, np.ndarray) and a.size == 1]
    if not values:
        return False
    for _, kernel_args, *_ in launched:
        for number in kernel_args:
            if isinstance(number, (bool, int, float, complex, np.generic)):
                for value in values:
                    if number == value or (number != number and value != value):  # NaN
                        return True
    return False


def _reading(kernel, kernel_args, position: int, flat):
    """``kernel(*kernel_args)`` with argument ``position`` read from ``flat[0]`` at each
    call (``y[()]`` for a 0-d ``y``, as the backend function read it)."""
    kernel_args = list(kernel_args)

    def launch_reading():
        kernel_args[position] = flat[0]
        kernel(*kernel_args)

    return launch_reading


def _is_array(value) -> bool:
    """A numpy array, or a device array (numba's, or its simulator's stand-in)."""
    return (isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__")
            or getattr(value, "__cuda_ndarray__", False))


class Recorder:
    """Records the kernel calls of one call of a step (``with Recorder(...) as r:``).

    While active it replaces the contract functions of the loaded backends, the
    generator's ``next_seed``, ``numbanet.random.numpy_generator`` and autograd's
    ``run_backward`` by recording versions, and listens to
    :func:`numbanet.kernels.launch.launch`; leaving the block puts the originals back.
    Nothing of it costs anything while no capture runs.
    """

    def __init__(self, fullgraph: bool = False):
        self.fullgraph = fullgraph
        self._entries: list = []  # (Launch, replay step or None, the calling frame)
        self._caller = None  # the frame that made the current call
        self.buffers: list = []
        self.refusal: Refusal | None = None
        self.optimizers: list = []  # optimizers whose step() the call ran
        self.modules: list = []  # modules whose forward made kernel calls
        self.backward_ran = False  # whether the call ran loss.backward() (or autograd.grad)
        self._depth = 0  # > 0 inside a recorded call (its inner calls are its own business)
        self._kernels: list[str] = []  # Numba kernels launched by the current call
        self._seconds: list[float] = []  # and how long each launch took
        self._inputs: list[str] = []  # the arrays the current call read, described
        self._in_backward = False  # inside loss.backward() (autograd's run_backward)
        self._launched: list = []  # (kernel, args, grid, zeros) of each of its launches
        self._before: list = []  # copies of the current call's arguments, as it began
        self._constants: list = []  # filled with a constant at each replay, not written since
        self._seeds: dict[int, object] = {}  # seed -> generator that drew it
        self._restore: list = []
        self._checks: list = []  # (frame, Launch) of numbanet's checks set to run again
        self._optimizer_steps: list = []  # (frame, Launch, its calls) of each step() call

    # ---- installing and removing the hooks ----------------------------------------------
    def __enter__(self) -> Recorder:
        for backend in list(_kernels._loaded.values()):
            originals = {name: getattr(backend, name) for name in KERNEL_CONTRACT}
            for name, original in originals.items():
                self._patch(backend, name, self._recording(originals, name, original))
        self._patch(_random.Generator, "next_seed", self._next_seed(_random.Generator.next_seed))
        self._patch(_random, "numpy_generator", self._host_random(_random.numpy_generator))
        self._patch(_autograd, "run_backward", self._backward(_autograd.run_backward))
        self._previous_listener = _launch._listener
        _launch.set_listener(self._on_launch)
        _launch.set_arguments_listener(self._on_arguments)
        return self

    def __exit__(self, *exc_info) -> None:
        _launch.set_arguments_listener(None)
        _launch.set_listener(self._previous_listener)
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()

    def _patch(self, owner, name: str, replacement) -> None:
        self._restore.append((owner, name, owner.__dict__[name] if isinstance(owner, type)
                              else getattr(owner, name)))
        setattr(owner, name, replacement)

    def _on_arguments(self, kernel, args, grid, block) -> None:
        # which arguments hold only zeros as the kernel starts (an output numpy zeroed)
        with np.errstate(invalid="ignore"):  # an np.empty output may hold signalling NaNs
            zeros = tuple(isinstance(value, np.ndarray) and value.size > 0
                          and value.dtype.kind in "biuf" and not value.any() for value in args)
        self._launched.append((kernel, args, grid, zeros))

    def _on_launch(self, kernel, grid, block, compilation, seconds) -> None:
        function = getattr(kernel, "py_func", kernel)
        self._kernels.append(getattr(function, "__name__", type(kernel).__name__))
        self._seconds.append(seconds)

    # ---- refusing ------------------------------------------------------------------------
    def refuse(self, reason: str) -> None:
        """Note the first thing that cannot be captured (or raise, with ``fullgraph``)."""
        if self.refusal is None:
            self.refusal = Refusal(reason, user_line())
            if self.fullgraph:
                raise CaptureError(self.refusal.message("the function").replace(
                    "It runs eagerly from now on; move", "With fullgraph=True nothing runs "
                    "eagerly instead: move"))

    # ---- the recording replacements -------------------------------------------------------
    def _recording(self, originals: dict, name: str, original):
        recorder = self
        copy_into = originals["copy_into"]

        def recorded(*args, **kwargs):
            if recorder._depth or recorder.refusal is not None:
                return original(*args, **kwargs)
            step_frame = _optimizer_step_frame(sys._getframe(1))
            if step_frame is not None:  # the optimizer's own work: one entry for the step
                recorder._kernels, recorder._seconds, recorder._launched = [], [], []
                result = original(*args, **kwargs)
                recorder._fold_into_optimizer_step(step_frame, name)
                return result
            if name in OPTIMIZER_UPDATES:  # outside optimizer.step(): scalars would go stale
                recorder.refuse(f"calls the optimizer kernel {name} outside an optimizer's "
                                "step(), with step counts a replay would not update")
                return original(*args, **kwargs)
            if name in _NOT_CAPTURABLE:
                if not recorder._rerun_check(sys._getframe(1)):
                    recorder.refuse(_NOT_CAPTURABLE[name])
                return original(*args, **kwargs)
            recorder._depth += 1
            recorder._kernels, recorder._seconds, recorder._launched = [], [], []
            # what the arguments held before: an in-place call is checked against it
            recorder._before = [value.copy() if isinstance(value, np.ndarray) else None
                                for value in (*args, *kwargs.values()) if _is_array(value)]
            try:
                result = original(*args, **kwargs)
            finally:
                recorder._depth -= 1
            recorder._caller = sys._getframe(1)
            recorder._note_modules(recorder._caller)
            recorder._record(name, original, copy_into, args, kwargs, result)
            return result

        recorded.__name__ = recorded.__qualname__ = name
        recorded.__doc__ = original.__doc__
        recorded.__wrapped__ = original
        return recorded

    def _record(self, name, original, copy_into, args, kwargs, result) -> None:
        arrays = [value for value in (*args, *kwargs.values()) if _is_array(value)]
        self.buffers.extend(arrays)
        self._inputs = [describe(array) for array in arrays]
        # a tuple's None is a result not asked for (addmm_backward's unneeded gradients)
        results = tuple(r for r in result if r is not None) if isinstance(result, tuple) \
            else (result,)
        fresh = [r for r in results if _is_array(r) and not overlaps(r, arrays)]
        self.buffers.extend(r for r in results if _is_array(r))
        output = ", ".join(describe(r) for r in results if _is_array(r))
        if result is not None and not all(_is_array(r) for r in results):
            self.refuse(f"gets a {type(result).__name__} back from the kernel function "
                        f"{name}, which a replay could not update")
            return
        if result is None or (not fresh and (self._kernels or "out" in kwargs
                                             or name not in _VIEWS)):
            # in place: returns nothing, or the array it wrote into (add(a, b, out=a))
            self._constants = [c for c in self._constants if not overlaps(c, arrays)]
            launched = self._own_launches_in_place(arrays)
            if launched is None:
                self._add(lambda: original(*args, **kwargs), name, output, "call (in place)")
            elif len(launched) == 1:
                self._add(launched, name, output, "kernel (in place)")
            else:
                self._add(launched, name, output, "kernels (in place)")
        elif name == "empty":
            self._add(None, name, output, "allocated once")
        elif not fresh:
            self._add(None, name, output, "view (no kernel)")
        elif name == "dropout_mask" and args[3] in self._seeds:
            generator = self._seeds[args[3]]
            shape, keep, dtype = args[:3]

            def redraw():
                copy_into(result, original(shape, keep, dtype, generator.next_seed()))

            self._add(redraw, name, output, "call, new seed")
        elif name == "full" and isinstance(result, np.ndarray):
            value = args[1]
            self._add([(result.fill, (value,))], name, output, "fill")
            self._constants.append(result)
        elif name == "astype" and isinstance(result, np.ndarray):
            source = args[0]
            self._add([(np.copyto, (result, source, "unsafe"))], name, output, "copy")
        elif (own := self._own_launches(arrays, results, fresh, original, args,
                                        kwargs)) is not None:
            launched = [(_compiled(kernel, kernel_args), kernel_args)
                        for kernel, kernel_args in own[0]]
            _, zeroed, cast, reads = own
            for index, position, flat in reads:  # a number read from an array at each call
                launched[index] = (_reading(*launched[index], position, flat), ())
            if cast:
                (result_array, workspace), = cast
                converted = (result_array, workspace.reshape(result_array.shape), "unsafe")
                self._add([*launched, (np.copyto, converted)], name, output,
                          "kernel, converted")
            elif zeroed:
                self._add([*((r.fill, (0,)) for r in zeroed), *launched], name, output,
                          "zeroed, kernel")
            elif len(launched) == 1:
                self._add(launched, name, output, "kernel, number read anew" if reads
                          else "kernel")
            else:
                self._add(launched, name, output, "kernels")
        elif (name in _WRITES_INTO_OUT and kwargs.get("out") is None
              and not isinstance(result, tuple)):
            self._add(lambda: original(*args, **kwargs, out=result), name, output, "call, out=")
        elif isinstance(result, tuple):
            def copied_back():
                for into, new in zip(fresh_slots, original(*args, **kwargs), strict=True):
                    if into is not None:
                        copy_into(into, new)

            fresh_slots = [r if r is not None and any(r is f for f in fresh) else None
                           for r in result]
            self._add(copied_back, name, output, "call, copy back")
        else:
            self._add(lambda: copy_into(result, original(*args, **kwargs)), name, output,
                      "call, copy back")

    def _own_launches(self, arrays: list, results: tuple, fresh: list, original, args,
                      kwargs) -> tuple | None:
        """The call's Numba kernel launches, when running just them again gives its result.

        Every array a launch touches must be a view of the call's arguments or results,
        or a *workspace*: a private array the kernel writes before it reads it (matmul's
        packed columns). A private array numpy filled from an operand (a contiguous copy)
        would go stale in a replay, so it disqualifies the call. Checked by filling the
        results and the private arrays with garbage (NaN for floats, then a byte pattern),
        launching again and comparing bit for bit with what the call returned; a private
        array holding the values of an argument counts as a copy. Then a replay skips the
        function's Python (checks, dtype rules, allocation) and launches the kernels on
        the captured arrays. CPU only. Returns (the launches, the results to zero first:
        see :meth:`_zeroed_outputs`, the (result, workspace) to convert after, the numbers
        to read again: see :meth:`_value_reads`), or None.
        """
        launched = self._launched
        # a result that is the transpose of a fresh C-contiguous array (addmm_backward's
        # weight gradient) is checked through that array: the same memory
        fresh = [r.T if isinstance(r, np.ndarray) and r.ndim == 2 and r.T.flags.c_contiguous
                 else r for r in fresh]
        if (not launched or not fresh or len(fresh) != sum(_is_array(r) for r in results)
                or any(grid is not None for _, _, grid, _ in launched)
                or any(_returns_a_value(kernel, kernel_args)
                       for kernel, kernel_args, *_ in launched)
                or not all(isinstance(r, np.ndarray) and r.flags.c_contiguous for r in fresh)):
            return None
        reads = self._value_reads(launched, arrays, original, args, kwargs)
        if reads is None:
            return None
        known = arrays + list(fresh)
        private: list[np.ndarray] = []
        for _, kernel_args, *_ in launched:
            for value in kernel_args:
                if not _is_array(value) or overlaps(value, known):
                    continue
                if not isinstance(value, np.ndarray) or not value.flags.c_contiguous:
                    return None
                if any(value.size == a.size and value.size > 0 and isinstance(a, np.ndarray)
                       and np.array_equal(value.reshape(-1), a.reshape(-1)) for a in arrays):
                    return None  # a copy of an argument: numpy's work, not the kernel's
                if all(value is not p for p in private):
                    private.append(value)
        expected = [r.copy() for r in fresh]
        scratch = fresh + private
        kept = [r.copy() for r in private]  # put back afterwards, whatever they hold
        try:
            # a result may be a workspace's values, converted (a whole-array sum adds in
            # float64 partial sums, then numpy rounds the one partial to float32)
            attempts = [([], [])]
            if zeroed := self._zeroed_outputs(arrays, fresh):
                attempts.append((zeroed, []))
            casts = [(fresh[0], p) for p in private if p.size == fresh[0].size]
            if len(fresh) == 1 == len(casts):
                attempts.append(([], casts))
            for zeroed, cast in attempts:
                if self._launches_give(launched, scratch, zeroed, cast, fresh, expected):
                    self.buffers.extend(private)
                    return [(kernel, kernel_args) for kernel, kernel_args, *_ in launched], \
                        zeroed, cast, reads
            return None
        finally:
            for r, e in zip(scratch, expected + kept, strict=True):
                np.copyto(r, e)

    def _own_launches_in_place(self, arrays: list) -> list | None:
        """For a call that works in place (``add(a, b, out=a)``, ``fill``): its Numba
        kernel launches, each with its machine code, when running just them again does
        what the call did.

        Every array a launch touches must be a view of the call's arguments (no private
        copy numpy made). Checked by putting back what the arguments held before the call,
        launching again and comparing every argument bit for bit with what the call left:
        numpy work of the call's own (a zeroed or copied output) would be missing and
        show. CPU only.
        """
        launched = self._launched
        before = self._before
        if (not launched or any(grid is not None for _, _, grid, _ in launched)
                or any(_returns_a_value(kernel, kernel_args)
                       for kernel, kernel_args, *_ in launched)
                or any(b is None or not b.flags.c_contiguous for b in before)
                or any(not isinstance(value, np.ndarray) or not overlaps(value, arrays)
                       for _, kernel_args, *_ in launched
                       for value in kernel_args if _is_array(value))
                or _passes_a_value(launched, [a for a in arrays
                                              if not overlaps(a, self._constants)])):
            return None
        after = [a.copy() for a in arrays]
        try:
            for array, held in zip(arrays, before, strict=True):
                np.copyto(array, held)
            for kernel, kernel_args, *_ in launched:
                kernel(*kernel_args)
            if not all(np.array_equal(_bytes(a.copy()), _bytes(e))
                       for a, e in zip(arrays, after, strict=True)):
                return None
        finally:
            for array, done in zip(arrays, after, strict=True):
                np.copyto(array, done)
        return [(_compiled(kernel, kernel_args), kernel_args)
                for kernel, kernel_args, *_ in launched]

    def _value_reads(self, launched: list, arrays: list, original, args, kwargs):
        """Where a launch got the value of a one-element float array of the call as a
        number (``x * y`` with ``y`` 0-d launches the scalar kernel with ``y[()]``), as
        (launch, argument position, the array flat): a replay reads the number again.

        Proved by changing the array's value, calling the function again and seeing that
        number, and only it, follow. [] when no number may come from such an array; None
        when one may and the proof fails (a replay then calls the function).
        """
        arrays = [a for a in arrays if not overlaps(a, self._constants)]
        if not _passes_a_value(launched, arrays):
            return []  # (a number equal to a constant's value stays the constant)
        candidates = [a for a in arrays if isinstance(a, np.ndarray) and a.size == 1
                      and a.dtype.kind == "f" and a.flags.writeable]
        if len(candidates) != 1:
            return None
        array = candidates[0]
        flat = array.reshape(-1)
        old = flat[0]
        new = flat.dtype.type(old + 1 if np.isfinite(old) and old + 1 != old else 0.5)
        kept = self._launched, self._kernels, self._seconds
        self._launched, self._kernels, self._seconds = [], [], []
        try:
            flat[0] = new
            original(*args, **kwargs)
            again = self._launched
        finally:
            flat[0] = old
            self._launched, self._kernels, self._seconds = kept
        if len(again) != len(launched):
            return None
        reads = []
        for index, ((_, before, *_), (_, after, *_)) in enumerate(
                zip(launched, again, strict=True)):
            if len(before) != len(after):
                return None
            for position, (was, now) in enumerate(zip(before, after, strict=True)):
                if _is_array(was):
                    continue
                if isinstance(now, np.generic) and now.dtype == flat.dtype and now == new \
                        and was == old:
                    reads.append((index, position, flat))
                elif type(was) is not type(now) or not (was == now or was != was):
                    return None  # another number changed too: not simply read
        return reads  # numbers equal to the array's value that did not follow it: constants

    def _zeroed_outputs(self, arrays: list, fresh: list) -> list:
        """The results that held only zeros when the first kernel writing them started,
        each the whole array that kernel got (``matmul`` accumulates into a result numpy
        zeroed): a replay zeroes them before its launches. Not when an argument of that
        size is all zeros too (then the zeros may be a copy of it, stale at a replay)."""
        zeroed = []
        for r in fresh:
            for _, kernel_args, _, zeros in self._launched:
                touching = [(value, zero) for value, zero in zip(kernel_args, zeros, strict=True)
                            if _is_array(value) and overlaps(value, [r])]
                if not touching:
                    continue
                value, zero = touching[0]
                if (zero and len(touching) == 1 and value.size == r.size
                        and not any(a.size == r.size and isinstance(a, np.ndarray)
                                    and not a.any() for a in arrays)):
                    zeroed.append(r)
                break
        return zeroed

    @staticmethod
    def _launches_give(launched, scratch, zeroed, cast, fresh, expected) -> bool:
        """Whether the launches alone, on garbage-filled results and workspaces (those in
        ``zeroed`` zeroed first, then each ``(result, workspace)`` of ``cast`` copied and
        converted after), give the results bit for bit."""
        for garbage in ("nan", 0xA5):
            for r in scratch:
                if garbage == "nan":
                    r.fill(np.nan) if r.dtype.kind in "fc" else _bytes(r).fill(0x5A)
                else:
                    _bytes(r).fill(garbage)
            for r in zeroed:
                r.fill(0)
            for kernel, kernel_args, *_ in launched:
                kernel(*kernel_args)
            for result, workspace in cast:
                np.copyto(result, workspace.reshape(result.shape), casting="unsafe")
            if not all(np.array_equal(_bytes(r), _bytes(e))
                       for r, e in zip(fresh, expected, strict=True)):
                return False
        return True

    def _add(self, step, name: str, output: str, replay: str, phase: str | None = None,
             inputs: list[str] | None = None) -> None:
        """Add an entry: ``step`` is what a replay runs for it, a zero-argument callable or
        a list of (function, arguments) to call in order (a kernel's machine code and the
        captured arrays), or None for nothing."""
        launch = Launch(len(self._entries), name, self._kernels, output, replay,
                        phase or self._phase(self._caller),
                        self._inputs if inputs is None else inputs,
                        sum(self._seconds) if self._seconds else None)
        self._entries.append((launch, step, self._caller))
        self._kernels, self._seconds, self._inputs, self._caller = [], [], [], None

    def _phase(self, frame) -> str:
        """Which part of a training step the current kernel call belongs to, the names of
        ``numbanet.trace``: ``backward`` inside ``loss.backward()`` (its seed gradient
        too), ``optimizer`` inside an
        optimizer's method (``zero_grad``), ``loss`` inside a loss module
        (``nn.CrossEntropyLoss``) or function (``F.cross_entropy``), else ``forward`` — or
        ``after backward`` for work between ``backward()`` and ``step()`` (clipping)."""
        from numbanet.nn.loss import _Loss
        from numbanet.optim.optimizer import Optimizer
        from numbanet.tensor import Tensor

        if self._in_backward:
            return "backward"
        while frame is not None:
            owner = frame.f_locals.get("self")
            if isinstance(owner, Optimizer):
                return "optimizer"
            if isinstance(owner, Tensor) and frame.f_code.co_name == "backward":
                return "backward"  # the seed gradient, torch.ones_like(loss)
            if isinstance(owner, _Loss) or (
                    frame.f_globals.get("__name__", "").startswith("numbanet.nn.functional")
                    and frame.f_code.co_name.endswith(_LOSS_FUNCTION_ENDINGS)):
                return "loss"
            frame = frame.f_back
        return "after backward" if self.backward_ran else "forward"

    def _rerun_check(self, frame) -> bool:
        """Whether this host read belongs to one of numbanet's own input checks (a function
        ``_check_...`` or ``_refuse_...`` such as the class-index check of the losses); if
        so, the replay runs that check again with the same arguments, so a bad batch still
        raises PyTorch's error."""
        while frame is not None and frame.f_globals.get("__name__", "").startswith("numbanet."):
            code = frame.f_code
            if code.co_name.startswith(("_check", "_refuse")):
                self._constants = []  # its Python runs at a replay
                # the check's own kernel calls run inside it at each replay: fold them in
                inside = [launch for launch, _, caller in self._entries if caller is frame]
                self._entries = [entry for entry in self._entries if entry[2] is not frame]
                kernels = [kernel for launch in inside for kernel in launch.kernels]
                seconds = [launch.seconds for launch in inside if launch.seconds is not None]
                inputs = list(dict.fromkeys(shape for launch in inside
                                            for shape in launch.inputs))
                for seen, launch in self._checks:
                    if seen is frame:  # its entry was made at its first host read
                        launch.kernels.extend(kernels)
                        if seconds:
                            launch.seconds = (launch.seconds or 0.0) + sum(seconds)
                        return True
                function = frame.f_globals.get(code.co_name)
                if getattr(function, "__code__", None) is not code:
                    return False
                arguments = [frame.f_locals[n] for n in code.co_varnames[:code.co_argcount]]
                self._kernels, self._seconds = kernels, seconds
                self._add(lambda f=function, a=arguments: f(*a), code.co_name, "",
                          "runs the check again", phase=self._phase(frame), inputs=inputs)
                self._checks.append((frame, self._entries[-1][0]))
                return True
            frame = frame.f_back
        return False

    def _note_modules(self, frame) -> None:
        """Remember the modules whose forward made this call: a replay is only valid while
        each is still in the mode it had (``model.eval()`` turns dropout off)."""
        from numbanet.nn.module import Module

        codes = (Module.__call__.__code__, Module._call_with_hooks.__code__)
        while frame is not None:  # the whole stack: the user's modules call through here too
            if frame.f_code in codes:
                module = frame.f_locals.get("self")
                if all(module is not seen for seen in self.modules):
                    self.modules.append(module)
            frame = frame.f_back

    def _fold_into_optimizer_step(self, frame, name: str) -> None:
        """Make the kernel calls of ``optimizer.step()`` (running in ``frame``) one entry,
        which runs the optimizer's Python again at each replay (or, for Adam and SGD, only
        their kernels: :mod:`numbanet.jit.optimizer_replay`, decided in :meth:`captured`)."""
        calls = [(name, [(kernel, args) for kernel, args, *_ in self._launched])]
        self._launched = []
        self._constants = []  # its Python runs at a replay: it may write anything
        for seen, launch, made, *_ in self._optimizer_steps:
            if seen is frame:
                made.extend(calls)
                launch.kernels.extend(self._kernels)
                if self._seconds:
                    launch.seconds = (launch.seconds or 0.0) + sum(self._seconds)
                self._kernels, self._seconds = [], []
                return
        optimizer = frame.f_locals["self"]
        if frame.f_locals.get("closure") is not None:
            self.refuse("calls optimizer.step(closure), which re-evaluates the model in "
                        "Python")
        grads = [(param, param.grad) for group in optimizer.param_groups
                 for param in group["params"]]

        def rerun():
            for param, grad in grads:  # as they were when the capture ran step()
                param.grad = grad
            optimizer.step()

        self.optimizers.append(optimizer)
        self._add(rerun, f"{type(optimizer).__name__}.step", "",
                  "its Python runs each call (step count, bias corrections, lr)",
                  phase="optimizer", inputs=[describe(param._data) for param, _ in grads])
        self._optimizer_steps.append((frame, self._entries[-1][0], calls, optimizer, grads,
                                      rerun))

    def _backward(self, original):
        recorder = self

        def run_backward(*args, **kwargs):
            recorder.backward_ran = True
            outer, recorder._in_backward = recorder._in_backward, True
            try:
                return original(*args, **kwargs)
            finally:
                recorder._in_backward = outer

        return run_backward

    def _next_seed(self, original):
        recorder = self

        def next_seed(generator):
            seed = original(generator)
            recorder._seeds[seed] = generator
            return seed

        return next_seed

    def _host_random(self, original):
        recorder = self

        def numpy_generator(generator=None):
            if not recorder._depth:
                recorder.refuse("draws random numbers on the host (torch.rand, torch.randn, "
                                "randint, randperm), which a replay would repeat")
            return original(generator)

        return numpy_generator

    def _bare_optimizer_steps(self) -> None:
        """Replace the Python entry of an Adam or SGD ``step()`` by its bare kernels, where
        :func:`numbanet.jit.optimizer_replay.fast_step` can (it falls back on the Python
        entry at a replay that finds the optimizer changed)."""
        from numbanet.jit.optimizer_replay import fast_step

        for _, launch, calls, optimizer, grads, rerun in self._optimizer_steps:
            bare = fast_step(optimizer, grads, calls, _compiled)
            if bare is None:
                continue

            def step(bare=bare, rerun=rerun):
                if not bare():
                    rerun()

            self._entries = [(seen, step if seen is launch else made, caller)
                             for seen, made, caller in self._entries]
            launch.replay = "kernels; its numbers (step count, bias corrections, lr) anew"

    def captured(self) -> Captured:
        self._bare_optimizer_steps()
        launches = []
        for index, (launch, _, _) in enumerate(self._entries):
            launch.index = index
            launches.append(launch)
        steps = []  # bare calls, no closure around each: a replay runs ~30 of them per step
        for _, step, _ in self._entries:
            if isinstance(step, list):  # (kernel's machine code, its arguments), ...
                steps.extend(step)
            elif step is not None:
                steps.append((step, ()))
        return Captured(steps, launches, self.buffers)


def listing(launches: list[Launch]) -> str:
    """The captured step as a table: one line per kernel call, in the order they run."""
    if not launches:
        return "(nothing captured yet: the second call of a compiled function captures it)"
    width = max(len(launch.function) for launch in launches)
    lines = [f"{'#':>3}  {'call':<{width}}  {'output':<22}  {'replay':<18}  kernels launched"]
    for launch in launches:
        lines.append(f"{launch.index:>3}  {launch.function:<{width}}  {launch.output:<22}  "
                     f"{launch.replay:<18}  {', '.join(launch.kernels) or '-'}")
    runs = sum(1 for launch in launches
               if launch.replay not in ("view (no kernel)", "allocated once"))
    lines.append(f"{len(launches)} calls captured, {runs} run at each replay "
                 "(views and allocations cost nothing)")
    return "\n".join(lines)
