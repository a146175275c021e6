"""``Function``: one differentiable operation — its forward rule and its backward rule.

Every op in numbanet (add, matmul, relu, conv2d, ...) is a subclass::

    class Mul(Function):
        '''out = a * b

        Gradient: d out/d a = b, d out/d b = a
        '''
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return backend.mul(a._data, b._data)      # an array, or a Tensor

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad * b, grad * a                  # one gradient per input

``Mul.apply(a, b)`` runs ``forward`` and — when gradients are being recorded and an input
requires them — remembers a :class:`Node` in the output's ``grad_fn``: the ``ctx`` above,
holding what backward needs and the edges to the inputs' own nodes. That chain of nodes is
the computation graph that ``loss.backward()`` walks (see ``engine.py``).

The docstring is part of the lesson: its first paragraph is the forward formula and its
``Gradient:`` line the backward rule; the trace shows both next to each node.
"""

from __future__ import annotations

import itertools
import time
from types import MappingProxyType

from numbanet import trace as _trace
from numbanet.autograd import grad_mode

_node_ids = itertools.count()


class Node:
    """The ``ctx`` of one applied Function, and its place in the graph.

    Attributes a backward rule may use: ``saved_tensors``, ``needs_input_grad`` and any
    attribute the forward stored on ``ctx`` (``ctx.stride = 2``).
    """

    # Defaults live on the class, so creating a node (once per op call) sets two fields.
    next_edges: list = ()  # per input: (kind, target, output index) or None
    input_meta: list = ()  # per input: (shape, numpy dtype) or None
    needs_input_grad: tuple[bool, ...] = ()
    _saved: tuple = ()
    _saved_versions: tuple = ()
    output_hooks: dict = MappingProxyType({})  # output index -> hooks (made on first use)
    trace_attributes: dict = MappingProxyType({})
    view_of = None  # a view op's input: its output shares the input's version counter
    released = False

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
        for tensor, version in zip(self._saved, self._saved_versions, strict=True):
            if version is not None and tensor._version_box[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{tensor.dtype} {list(tensor.shape)}], which "
                    f"is output 0 of {self.function.__name__}, is at version "
                    f"{tensor._version_box[0]}; expected version {version} instead. "
                    "Use an out-of-place operation (x = x + y instead of x += y)."
                )
        return self._saved

    def wrap(self, array):
        """A plain Tensor around a backend array (to save an output, or return a grad)."""
        return _tensor_class()._from_data(array)

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
        """PyTorch's view of the graph edges: ``((node or AccumulateGrad, index), ...)``."""
        edges = []
        for edge in self.next_edges:
            if edge is None:
                edges.append((None, 0))
            elif edge[0] == "node":
                edges.append((edge[1], edge[2]))
            else:
                edges.append((AccumulateGrad(edge[1]), 0))
        return tuple(edges)

    def name(self) -> str:
        return self.backward_name()

    def backward_name(self) -> str:
        return f"{self.function.op_name()}Backward"

    def __repr__(self) -> str:
        return f"<{self.backward_name()} node {self.node_id}>"


class AccumulateGrad:
    """The end of a path in the graph: a leaf whose ``.grad`` receives the gradient."""

    def __init__(self, variable):
        self.variable = variable

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


class Function:
    """Base class of differentiable operations. Subclasses define forward and backward."""

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
        if recording is not None:
            recording.record_forward(cls, args, outputs, ctx, seconds)
        return result


_Tensor = None


def _tensor_class():
    """``numbanet.tensor.Tensor``, looked up once (the modules import each other)."""
    global _Tensor
    if _Tensor is None:
        from numbanet.tensor import Tensor

        _Tensor = Tensor
    return _Tensor


def _wrap_output(Tensor, item, ctx: Node):
    """A fresh output Tensor around what forward returned (an array or a Tensor).

    A view op sets ``ctx.view_of = input``: its output then shares the input's version
    counter, so an in-place change through either one is seen by both.
    """
    if isinstance(item, Tensor):
        return Tensor._from_data(item._data, base=item)
    return Tensor._from_data(item, base=ctx.view_of)


def _connect(ctx: Node, args, outputs, Tensor) -> None:
    """Record the graph edges from ``ctx`` to each input and mark outputs as produced."""
    edges, meta, needs = [], [], []
    for arg in args:
        if isinstance(arg, Tensor) and arg.requires_grad:
            if arg.grad_fn is not None:
                edges.append(("node", arg.grad_fn, arg._output_index))
            else:
                edges.append(("leaf", arg, 0))
            meta.append((arg.shape, arg._data.dtype))
            needs.append(True)
        else:
            edges.append(None)
            meta.append(None)
            needs.append(False)
    ctx.next_edges, ctx.input_meta, ctx.needs_input_grad = edges, meta, tuple(needs)
    for index, output in enumerate(outputs):
        if output._data.dtype.kind == "f":  # integer/bool outputs carry no gradient
            output.requires_grad = True
            output.grad_fn = ctx
            output._output_index = index
