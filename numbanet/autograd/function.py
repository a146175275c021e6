"""``Function``: one differentiable operation — its forward rule and its backward rule.

There are two kinds, with one ``apply`` each:

- :class:`Function` is PyTorch's ``torch.autograd.Function``, the class *you* subclass for
  an op with a hand-written gradient. ``forward(ctx, *inputs)`` receives Tensors and
  returns a Tensor built from Tensor operations (``examples/custom_layer.py``).
- :class:`KernelFunction` is the base of numbanet's built-in ops (``numbanet/ops``), in the
  shape of needle's ops: ``forward(ctx, *arrays)`` receives the *device arrays* of its Tensor
  arguments (numpy arrays on the CPU, GPU arrays on CUDA; other arguments unchanged) and
  calls the device's kernels through ``ctx.kernels``; it returns arrays. ``backward(ctx,
  grad)`` works on Tensors only — Tensor operations, or one fused kernel through
  ``ctx.fused_kernel``. So the layer below (kernels on arrays) and the layer above (Tensors
  and autograd) meet here, and an op never touches a Tensor's private storage.

Why two and not one: a user's forward must see Tensors (``input.clamp(min=0)``, PyTorch's
contract), while a built-in forward is where a Tensor becomes kernel calls; making every
built-in op unwrap its arguments itself is what this base class saves. A built-in op,
written as a new op should be (copy this)::

    class Mul(KernelFunction):
        '''out = a * b

        Gradient: d out/d a = b, d out/d b = a
        '''

        @staticmethod
        def forward(ctx, a, b):                    # a, b: device arrays
            ctx.save_for_backward(a, b)            # saved as the input Tensors
            return ctx.kernels.mul(a, b)           # an array

        @staticmethod
        def backward(ctx, grad):                   # Tensors in, Tensors out
            a, b = ctx.saved_tensors
            return grad * b, grad * a              # one gradient (or None) per input

    class Relu(KernelFunction):
        ...
        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return ctx.fused_kernel("relu_backward", grad, a)   # Tensors -> a Tensor

``save_for_backward`` takes arrays that are inputs or outputs of this forward (saved as
those Tensors, so modifying one in place afterwards makes backward raise, as in PyTorch) or
scratch arrays the forward made (saved as new Tensors).

``Op.apply(...)`` runs ``forward`` and — when gradients are being recorded and an input
requires them — remembers a :class:`Node` in the output's ``grad_fn``: the ``ctx`` above,
holding what backward needs and one :class:`Edge` per input. That chain of nodes is the
computation graph that ``loss.backward()`` walks (see ``engine.py``).

The docstring is part of the lesson: its first paragraph is the forward formula and its
``Gradient:`` line the backward rule; the trace shows both next to each node.
"""

from __future__ import annotations

import itertools
import time
import weakref
from types import MappingProxyType
from typing import NamedTuple

from numbanet import trace as _trace
from numbanet.autograd import anomaly as _anomaly
from numbanet.autograd import grad_mode

_node_ids = itertools.count()


class Node:
    """The ``ctx`` of one applied Function, and its place in the graph.

    Attributes a backward rule may use: ``saved_tensors``, ``needs_input_grad`` and any
    attribute the forward stored on ``ctx`` (``ctx.stride = 2``).
    """

    # Defaults live on the class, so creating a node (once per op call) sets two fields.
    next_edges: list = ()  # per input: an Edge, or None for inputs that need no gradient
    input_meta: list = ()  # per input: (shape, numpy dtype) or None
    needs_input_grad: tuple[bool, ...] = ()
    _saved: tuple = ()
    _saved_versions: tuple = ()
    _saved_outputs: MappingProxyType = MappingProxyType({})  # saved position -> output index
    output_hooks: dict = MappingProxyType({})  # output index -> hooks (made on first use)
    trace_attributes: dict = MappingProxyType({})
    # A view op's input (in a KernelFunction: its array): the output shares that input's
    # version counter, so an in-place change through either one is seen by both.
    view_of = None
    released = False
    non_tensor_inputs: frozenset | set = frozenset()  # positions of arguments not Tensors
    # PyTorch's name for this node when it depends on the call (``MmBackward0`` for 2-D
    # operands, ``BmmBackward0`` for batches); None: the Function's own name.
    torch_name: str | None = None

    def __init__(self, function: type[Function]):
        self.function = function
        self.node_id = next(_node_ids)  # our own counter: never id(), which gets reused

    # ---- the ctx API used by forward/backward rules -----------------------------------
    def save_for_backward(self, *tensors) -> None:
        """Keep tensors for backward; modifying one in place later makes backward raise."""
        self._saved = tensors
        self._saved_versions = tuple(
            t._version_box[0] if t is not None and hasattr(t, "_version_box") else None
            for t in tensors
        )

    @property
    def saved_tensors(self) -> tuple:
        if self.released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access "
                "saved tensors after they have already been freed). Saved intermediate "
                "values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward through "
                "the graph a second time or if you need to access saved tensors after "
                "calling backward."
            )
        versions = self._saved_versions
        for position, tensor in enumerate(self._saved):
            version = versions[position]
            if version is not None and tensor._version_box[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{tensor.dtype} {list(tensor.shape)}]"
                    f"{self._origin(position, tensor)} is at version "
                    f"{tensor._version_box[0]}; expected version {version} instead. "
                    "Use an out-of-place operation (x = x + y instead of x += y)."
                )
        return self._saved

    def _origin(self, position: int, tensor) -> str:
        """", which is output 0 of ExpBackward" for a saved tensor an op produced."""
        if position in self._saved_outputs:
            return f", which is output {self._saved_outputs[position]} of {self.name()},"
        if tensor.grad_fn is not None:
            return f", which is output {tensor._output_index} of {tensor.grad_fn.name()},"
        return ""

    def mark_for_trace(self, **attributes) -> None:
        """Op arguments worth showing in the trace (stride, dim, ...)."""
        self.__dict__.setdefault("trace_attributes", {}).update(attributes)

    def hooks_for_output(self, index: int) -> list:
        """The (mutable) list of gradient hooks of output ``index``."""
        return self.__dict__.setdefault("output_hooks", {}).setdefault(index, [])

    def release(self) -> None:
        """Free what backward needed (after a backward without ``retain_graph``)."""
        self._saved = ()
        self.released = True

    @property
    def next_functions(self) -> tuple:
        """PyTorch's view of the graph edges: ``((node, input_nr), ...)`` for each Tensor
        input, ``(None, 0)`` for one that needs no gradient (arguments that are not
        Tensors, such as a ``reduction`` string, have no entry)."""
        return tuple((None, 0) if edge is None else tuple(edge)
                     for position, edge in enumerate(self.next_edges)
                     if position not in self.non_tensor_inputs)

    def run_backward(self, grad_outputs: list, claimed: set) -> tuple:
        """The chain rule at this node: one gradient (or None) per input, from one gradient
        (or None) per output, each brought to its input's shape and dtype. (``claimed``:
        storage a ``.grad`` must not keep, see :class:`AccumulateGrad`.)"""
        grad_inputs = self.function.backward(self, *grad_outputs)
        if not isinstance(grad_inputs, tuple):
            grad_inputs = (grad_inputs,)
        if len(grad_inputs) < len(self.next_edges):
            raise RuntimeError(
                f"function {self.backward_name()} returned an incorrect number of gradients "
                f"(expected {len(self.next_edges)}, got {len(grad_inputs)})"
            )
        fitted = []
        for position, meta in enumerate(self.input_meta):
            grad = grad_inputs[position]
            if grad is None or meta is None:
                fitted.append(None)
                continue
            shape, dtype = meta
            if grad._data.shape != shape:
                grad = sum_to_shape(grad, shape)
            if grad._data.dtype != dtype:
                grad = grad.to(dtype=grad._dtype_from_numpy(dtype))
            fitted.append(grad)
        return tuple(fitted)

    def name(self) -> str:
        return self.backward_name()

    def backward_name(self) -> str:
        """The node's name as PyTorch prints it: ``<MulBackward0 object ...>``."""
        return self.torch_name or self.function.backward_node_name()

    def __repr__(self) -> str:
        return f"<{self.backward_name()} object at {id(self):#x}>"  # as PyTorch prints it


class Edge(NamedTuple):
    """A graph edge: the gradient of this input is input ``input_nr`` of ``node``'s backward
    (the output index of the op that produced it; 0 for a leaf's AccumulateGrad)."""

    node: Node
    input_nr: int


_new_edge = tuple.__new__  # Edge(node, nr) without the named tuple's Python-level __new__
_new_object = object.__new__


class AccumulateGrad(Node):
    """The node at the end of every path: adds the gradient arriving at a leaf (a
    parameter, an input with ``requires_grad=True``) to its ``.grad``. One per leaf, made on
    first use and shared by every op that reads it, as in PyTorch:
    ``y.grad_fn.next_functions[0][0].variable is x``."""

    def __init__(self, variable):
        self.node_id = next(_node_ids)
        self.variable = variable
        self.edge = _new_edge(Edge, (self, 0))  # what every op reading this leaf points at

    def run_backward(self, grad_outputs: list, claimed: set) -> tuple:
        """``variable.grad += gradient`` (the engine summed all contributions, then the
        leaf's hooks ran), in place once a ``.grad`` exists: a reference ``g = x.grad``
        sees every later accumulation, as in PyTorch.

        The first gradient becomes ``.grad`` without a copy when nothing else holds its
        storage; ``claimed`` names storage that is held: the caller's seed gradients and
        what another ``.grad`` took in this pass (``Add``'s backward hands the *same*
        gradient to both inputs)."""
        gradient = grad_outputs[0]
        variable = self.variable
        if gradient is None:
            return ()
        if variable.grad is None:
            variable.grad = gradient.detach() if _owns_storage(gradient, claimed) \
                else gradient.clone()
        elif _same_layout(variable.grad, gradient):  # the common case: one add kernel
            grad = variable.grad
            grad._backend.add(grad._data, gradient._data, out=grad._data)
            grad._version_box[0] += 1
        else:  # a broadcast or other dtype: the general in-place path
            variable.grad += gradient
        return ()

    @property
    def output_hooks(self) -> dict:
        """The leaf's own hooks (``x.register_hook``) see the summed gradient first."""
        hooks = self.variable._hooks
        return {0: hooks} if hooks else Node.output_hooks

    def release(self) -> None:
        """Nothing saved to free: the next backward through this leaf accumulates again."""

    def name(self) -> str:
        return "AccumulateGrad"

    backward_name = name

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


def _same_layout(grad, gradient) -> bool:
    """Whether ``gradient`` can be added into ``grad``'s storage by one kernel call: same
    shape, dtype and device, and ``grad`` a contiguous array of its own."""
    data = grad._data
    return (data.shape == gradient._data.shape and data.dtype == gradient._data.dtype
            and grad._backend is gradient._backend and grad.is_contiguous()
            and getattr(getattr(data, "flags", None), "writeable", True))


def _owns_storage(gradient, claimed: set) -> bool:
    """Whether ``gradient`` can become a ``.grad`` as it is: a writable, contiguous array
    that is not in ``claimed`` (then claimed by it). A sum's backward hands out a stride-0
    broadcast view, which is neither."""
    data = gradient._data
    flags = getattr(data, "flags", None)
    writable = flags.writeable if flags is not None else True
    if id(data) in claimed or not writable or not gradient.is_contiguous():
        return False
    claimed.add(id(data))
    return True


def grad_accumulator(leaf) -> AccumulateGrad:
    """The leaf's AccumulateGrad node: the same object for as long as any graph uses it (the
    graph holds it; the leaf keeps only a weak reference, as PyTorch's weak
    ``grad_accumulator``, so leaf -> node -> leaf is no reference cycle)."""
    ref = leaf._grad_accumulator
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(leaf)
        leaf._grad_accumulator = weakref.ref(node)
    return node


class KernelNode(Node):
    """The ``ctx`` of a built-in op (:class:`KernelFunction`): a :class:`Node` that also
    knows the device's kernel module, saves arrays and runs fused backward kernels."""

    def __init__(self, function: type[KernelFunction], kernels):
        self.function = function
        self.node_id = next(_node_ids)
        self.kernels = kernels  # the device's kernel module: numbanet.kernels.cpu or .cuda

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for backward (``apply`` turns them into Tensors after forward)."""
        self._saved = arrays

    def fused_kernel(self, name: str, *args):
        """Run the kernel ``name`` (``relu_backward``, ``addmm_backward``, ...) on Tensors:
        Tensor arguments go in as their device arrays, the array it returns comes back as a
        Tensor (a tuple of arrays as a tuple of Tensors, None staying None). The one way a
        backward rule calls a kernel directly."""
        Tensor = _tensor_class()
        arrays = [arg._data if isinstance(arg, Tensor) else arg for arg in args]
        result = getattr(self.kernels, name)(*arrays)
        if type(result) is tuple:
            return tuple(None if item is None else Tensor._from_data(item) for item in result)
        return Tensor._from_data(result)

    def _resolve_saved(self, Tensor, args, arrays, raw_outputs, outputs) -> None:
        """Replace the saved arrays by Tensors and note their versions: an input's array by
        that input (``arrays``: the inputs' arrays, as forward got them), an output's by a
        Tensor sharing the output's version counter (not the output itself: output ->
        grad_fn -> saved -> output would be a reference cycle), anything else by a new
        Tensor."""
        saved, versions = [], []
        for array in self._saved:
            if array is None:
                saved.append(None)
                versions.append(None)
                continue
            for index, data in enumerate(arrays):
                if data is array and data is not args[index]:  # a Tensor argument's array
                    tensor = args[index]
                    break
            else:
                tensor = None
                for index, raw in enumerate(raw_outputs):
                    if raw is array:
                        if self._saved_outputs is Node._saved_outputs:
                            self._saved_outputs = {}
                        self._saved_outputs[len(saved)] = index
                        tensor = Tensor._from_data(array, outputs[index])
                        break
                if tensor is None:
                    tensor = Tensor._from_data(array)
            saved.append(tensor)
            versions.append(tensor._version_box[0])
        self._saved = tuple(saved)
        self._saved_versions = versions


class Function:
    """Base class of differentiable operations you write yourself (PyTorch's
    ``torch.autograd.Function``): ``forward(ctx, *inputs)`` gets Tensors and returns a
    Tensor (or a tuple of them), ``backward(ctx, *grad_outputs)`` returns one gradient (or
    None) per input. Call it as ``MyOp.apply(x)``."""

    # Whether each output element depends only on the input elements at its own position
    # (add, relu, dropout, ...): the stepper then shows the chain rule for one element.
    elementwise: bool = False

    @staticmethod
    def forward(ctx: Node, *args):
        raise NotImplementedError("a Function subclass must define "
                                  "@staticmethod forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Node, *grad_outputs):
        raise NotImplementedError("a Function subclass must define @staticmethod "
                                  "backward(ctx, *grad_outputs), returning one gradient "
                                  "(or None) per forward input")

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__

    @classmethod
    def backward_node_name(cls) -> str:
        """``MyReLUBackward`` for a Function ``MyReLU`` you wrote, as PyTorch names it."""
        return f"{cls.op_name()}Backward"

    @classmethod
    def formula(cls) -> str:
        """The forward formula and gradient rule from the docstring."""
        return (cls.__doc__ or "").strip()


    @classmethod
    def apply(cls, *args):
        Tensor = _Tensor or _tensor_class()
        ctx = Node(cls)
        requires_grad = False
        if grad_mode._mode.enabled:
            for arg in args:
                if isinstance(arg, Tensor) and arg.requires_grad:
                    requires_grad = True
                    break
        recording = _trace._active
        if recording is None:
            raw = cls.forward(ctx, *args)
        else:
            start = time.perf_counter()
            raw = cls.forward(ctx, *args)
            seconds = time.perf_counter() - start
        single = type(raw) is not tuple
        if single:  # the common case, without building a tuple of outputs
            result = _wrap_output(Tensor, raw, ctx)
            outputs = (result,)
        else:
            outputs = result = tuple(_wrap_output(Tensor, item, ctx) for item in raw)
        if requires_grad:
            _connect(ctx, args, outputs, Tensor)
        if _anomaly.enabled:  # detect_anomaly(): stop at the op that made a NaN/Inf
            _anomaly.check_forward(cls, args, outputs, ctx)
        if recording is not None:
            recording.record_forward(cls, args, outputs, ctx, seconds)
        return result


class KernelFunction(Function):
    """Base class of numbanet's built-in ops: ``forward(ctx, *arrays)`` gets device arrays
    and ``ctx.kernels``, returns arrays; ``backward(ctx, grad)`` gets and returns Tensors
    (see the module docstring for an example)."""

    # PyTorch's name for this op's backward node where it is not ``<op_name>Backward0``
    # (``TBackward0`` for ``x.t()``, ``NllLossBackward0`` for cross_entropy's fused node).
    torch_name: str | None = None

    @classmethod
    def backward_node_name(cls) -> str:
        """PyTorch's name for a built-in op's backward node: ``MulBackward0``, ..."""
        return cls.torch_name or f"{cls.op_name()}Backward0"

    @staticmethod
    def forward(ctx: KernelNode, *arrays):
        raise NotImplementedError("a KernelFunction subclass must define @staticmethod "
                                  "forward(ctx, *arrays), returning an array (or a tuple)")

    @classmethod
    def apply(cls, *args):
        Tensor = _Tensor or _tensor_class()
        kernels = None
        requires_grad = False
        arrays = []
        for arg in args:
            if isinstance(arg, Tensor):
                if kernels is None:
                    kernels = arg._backend
                if arg.requires_grad:
                    requires_grad = True
                arrays.append(arg._data)
            else:
                arrays.append(arg)
        ctx = _new_object(KernelNode)  # KernelNode(cls, kernels), without a Python __init__
        ctx.function, ctx.node_id, ctx.kernels = cls, next(_node_ids), kernels
        requires_grad = requires_grad and grad_mode._mode.enabled
        recording = _trace._active
        if recording is None:
            raw = cls.forward(ctx, *arrays)
        else:
            start = time.perf_counter()
            raw = cls.forward(ctx, *arrays)
            seconds = time.perf_counter() - start
        view_of = ctx.view_of
        base = None if view_of is None else _input_of(view_of, args, Tensor)
        if type(raw) is not tuple:  # the common case, without building a tuple of outputs
            result = Tensor._from_data(raw, base)
            outputs = (result,)
            raw = (raw,)
        else:
            outputs = result = tuple(Tensor._from_data(item, base) for item in raw)
        if (requires_grad or recording is not None) and ctx._saved:
            ctx._resolve_saved(Tensor, args, arrays, raw, outputs)
        if requires_grad:
            _connect(ctx, args, outputs, Tensor)
        if _anomaly.enabled:  # detect_anomaly(): stop at the op that made a NaN/Inf
            _anomaly.check_forward(cls, args, outputs, ctx)
        if recording is not None:
            recording.record_forward(cls, args, outputs, ctx, seconds)
        return result

    @classmethod
    def apply_pair(cls, a, b):
        """:meth:`apply` for two Tensors on one device and an op whose output is a new
        array (``x + y``, ``x * w``, ``x * 2.0`` with the number as a 0-d Tensor: the
        operators' fast paths), without the loops over arguments that ``apply`` needs for
        any number of them. A trace or an anomaly check in progress takes ``apply``'s way.

        When no graph is recorded (neither input requires grad, or grad mode is off) no
        node is made: forward gets the device's :class:`_NoGraphContext`, which keeps
        nothing."""
        if _trace._active is not None or _anomaly.enabled:
            return cls.apply(a, b)
        Tensor = _Tensor or _tensor_class()  # and _wrap_result
        backend = a._backend
        x, y = a._data, b._data
        a_needs, b_needs = a.requires_grad, b.requires_grad
        if not ((a_needs or b_needs) and grad_mode._mode.enabled):
            context = _no_graph_contexts.get(backend) or _no_graph_context(backend)
            return _wrap_result(cls.forward(context, x, y), backend)
        ctx = _new_object(KernelNode)
        ctx.function, ctx.node_id, ctx.kernels = cls, next(_node_ids), backend
        raw = cls.forward(ctx, x, y)
        result = _wrap_result(raw, backend)
        saved = ctx._saved  # _connect, for two inputs
        if len(saved) == 2 and saved[0] is x and saved[1] is y:  # x * w saves both
            ctx._saved = (a, b)
            ctx._saved_versions = (a._version_box[0], b._version_box[0])
        elif saved:
            ctx._resolve_saved(Tensor, (a, b), (x, y), (raw,), (result,))
        ctx.next_edges = [_edge_to(a) if a_needs else None, _edge_to(b) if b_needs else None]
        ctx.input_meta = [(x.shape, x.dtype) if a_needs else None,
                          (y.shape, y.dtype) if b_needs else None]
        ctx.needs_input_grad = (a_needs, b_needs)
        result.requires_grad = True
        result.grad_fn = ctx
        return result


class _NoGraphContext:
    """The ``ctx`` that :meth:`KernelFunction.apply_pair` hands to forward when no graph is
    recorded: the device's kernels, and a ``save_for_backward`` that keeps nothing (there
    will be no backward). One per device, shared by every such call, so an op computed
    without gradients makes no :class:`KernelNode` (the node, its id and its attribute
    dictionary: ~1.5k of the 22.5k instructions ``a + b`` took with one). Its ``__slots__`` let
    nothing else be stored on it: a forward that sets attributes on ``ctx`` needs a node of
    its own, and fails loudly here instead of leaving them for the next op to see."""

    __slots__ = ("kernels",)

    def __init__(self, kernels):
        self.kernels = kernels

    def save_for_backward(self, *arrays) -> None:
        """Nothing to keep: no graph is recorded."""


_no_graph_contexts: dict = {}  # device's kernel module -> its _NoGraphContext


def _no_graph_context(kernels) -> _NoGraphContext:
    """The device's :class:`_NoGraphContext`, made on first use."""
    context = _no_graph_contexts[kernels] = _NoGraphContext(kernels)
    return context


_Tensor = None
_wrap_result = None  # numbanet.tensor.wrap_result


def _tensor_class():
    """``numbanet.tensor.Tensor`` (and ``wrap_result``), looked up once (the modules import
    each other)."""
    global _Tensor, _wrap_result
    if _Tensor is None:
        from numbanet.tensor import Tensor, wrap_result

        _Tensor, _wrap_result = Tensor, wrap_result
    return _Tensor


def sum_to_shape(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``.

    Gradient of broadcasting: if ``b`` of shape ``(128,)`` was added to every row of a
    ``(64, 128)`` matrix, each element of ``b`` influenced 64 outputs, so its gradient is
    the sum of those 64 upstream gradients.
    """
    if grad.shape == shape:
        return grad
    extra = grad.dim() - len(shape)
    axes = list(range(extra))
    axes += [extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1]
    if axes:
        grad = grad.sum(dim=tuple(axes), keepdim=True)
    return grad.reshape(shape)


def _input_of(array, args, Tensor):
    """The Tensor argument whose device array is ``array`` (None if none is)."""
    for arg in args:
        if isinstance(arg, Tensor) and arg._data is array:
            return arg
    return None


def _wrap_output(Tensor, item, ctx: Node):
    """A fresh output Tensor around what a user's forward returned (a Tensor, which then
    shares its version counter with the result: saving it keeps the in-place check)."""
    if isinstance(item, Tensor):
        return Tensor._from_data(item._data, base=item)
    return Tensor._from_data(item, base=ctx.view_of)


def _edge_to(tensor) -> Edge:
    """The graph edge to a Tensor that requires grad: to the node that made it, or (a leaf)
    to its AccumulateGrad."""
    grad_fn = tensor.grad_fn
    if grad_fn is None:
        return grad_accumulator(tensor).edge
    return _new_edge(Edge, (grad_fn, tensor._output_index))


def _connect(ctx: Node, args, outputs, Tensor) -> None:
    """Record the graph edges from ``ctx`` to each input and mark outputs as produced."""
    edges, meta, needs = [], [], []
    non_tensors = None
    for position, arg in enumerate(args):
        if not isinstance(arg, Tensor):  # a number, a dim, a shape: no graph input
            if non_tensors is None:
                non_tensors = []
            non_tensors.append(position)
        elif arg.requires_grad:
            edges.append(_edge_to(arg))
            data = arg._data
            meta.append((data.shape, data.dtype))
            needs.append(True)
            continue
        edges.append(None)
        meta.append(None)
        needs.append(False)
    ctx.next_edges, ctx.input_meta, ctx.needs_input_grad = edges, meta, tuple(needs)
    if non_tensors is not None:
        ctx.non_tensor_inputs = frozenset(non_tensors)
    for index, output in enumerate(outputs):
        if output._data.dtype.kind == "f":  # integer/bool outputs carry no gradient
            output.requires_grad = True
            output.grad_fn = ctx
            output._output_index = index
