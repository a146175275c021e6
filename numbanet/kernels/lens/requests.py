"""From a node of a trace to the CUDA kernel call the lens re-runs.

A trace event names the kernels that ran (``numbanet.kernels.cpu.matmul.batched_matmul``,
``numbanet.kernels.cuda.strided.relu_contiguous_kernel``, ...) and keeps copies of the
node's tensors. A *request* says which contract function of the CUDA backend to call
(``matmul``, ``add``, ``sum``, ...), on which operands, and what to tell the learner about
them. It is plain data, handed to the helper process as JSON.

The operands are the node's own recorded values when the trace kept them (it keeps every
value of tensors up to 64 elements) and the launch is small enough to look at. Otherwise
the lens runs a *small example of the same kernel*: the same dtypes and number of
dimensions, shrunk shapes, made-up values — and the same block shape, since the block is
what a learner reads the thread layout from (``matmul`` always launches 16 x 16 threads;
elementwise kernels get full 256-thread blocks; reductions keep their columns up to 256).
"""

from __future__ import annotations

import itertools
import math

from numbanet.kernels.formulas import FORMULAS

EXAMPLE_ELEMENTS = 256  # elementwise example: at most this many output elements
MATMUL_EXAMPLE = (16, 8, 16)  # (n, k, m) cap of a matmul example: one block of 16 x 16
REDUCTION_EXAMPLE_ROWS = 2  # a reduction example keeps its columns, up to 256, in 2 rows
REDUCTION_COLUMNS = 256  # the reductions' widest block
RECORDED_VALUES_LIMIT = 256  # re-run recorded values only for outputs up to this size

SECTIONS = {formula.name: formula.section for formula in FORMULAS}
ARITY = {"binary": 2, "unary": 1, "backward": 2}


class NoLens(ValueError):
    """This node has no kernel the lens can re-run (the message says why)."""


def contract_name(kernel_name: str) -> str | None:
    """The contract function a recorded kernel belongs to, or None.

    >>> contract_name("numbanet.kernels.cpu.elementwise.relu_backward_contiguous")
    'relu_backward'
    >>> contract_name("numbanet.kernels.cuda.matmul.matmul_float32_kernel")
    'matmul'
    """
    module, _, function = kernel_name.rpartition(".")
    family = module.rsplit(".", 1)[-1]
    if family == "matmul":
        return "matmul"
    if family == "reductions":
        if function.startswith("sum"):
            return "sum"
        return "max" if function.startswith("extreme") else None
    if family == "softmax":
        for name in ("log_softmax_backward", "softmax_backward", "log_softmax", "softmax"):
            if function.startswith(name):
                return name
        return None
    if family in ("elementwise", "strided"):
        for suffix in ("_kernel", "_contiguous", "_strided", "_scalar_bounds",
                       "_scalar_right", "_scalar_left"):
            function = function.removesuffix(suffix)
        if SECTIONS.get(function) in ARITY:
            return function
    return None


def lens_kernels(event) -> list[tuple[int, str]]:
    """(position in ``event.kernels``, contract name) of the event's kernels that have a
    CUDA twin the lens can run, each contract name once."""
    found, seen = [], set()
    for position, record in enumerate(event.kernels):
        name = contract_name(record.name)
        if name is not None and name not in seen:
            found.append((position, name))
            seen.add(name)
    return found


def _tensors(event) -> list:
    return [r for r in [*event.inputs, *event.saved] if r is not None]


def _operand(record) -> dict:
    return {"shape": list(record.shape), "dtype": record.dtype, "values": record.values}


def _example(shape, dtype: str) -> dict:
    return {"shape": list(shape), "dtype": dtype, "values": None}


def _broadcasts_to(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    return all(a in (1, b) for a, b in zip(shape[::-1], target[::-1], strict=False))


def _shrunk(shape: list[int], limit: int) -> list[int]:
    """Halve the longest dimension until the shape has at most ``limit`` elements; then,
    when the original had at least ``limit``, widen the last dimension back so the example
    has exactly ``limit`` elements where it can (a full block of an elementwise kernel)."""
    original, shape = list(shape), list(shape)
    while math.prod(shape) > limit:
        longest = shape.index(max(shape))
        shape[longest] = (shape[longest] + 1) // 2
    rest = math.prod(shape[:-1])
    if shape and math.prod(original) >= limit and limit % rest == 0 \
            and limit // rest <= original[-1]:
        shape[-1] = limit // rest
    return shape


def _elementwise(name: str, event) -> tuple[list[dict], dict]:
    arity = ARITY[SECTIONS[name]]
    outputs = [r for r in event.outputs if r is not None]
    if not outputs:
        raise NoLens(f"{event.op} recorded no output for {name} to write")
    target = outputs[0].shape
    fitting = [r for r in _tensors(event) if _broadcasts_to(r.shape, target)]
    if SECTIONS[name] == "backward" and event.inputs and event.inputs[0] is not None:
        grad = event.inputs[0]  # f(grad, saved): the incoming gradient, then a saved tensor
        fitting = [grad] + [r for r in event.saved if _broadcasts_to(r.shape, target)]
    if len(fitting) >= arity and math.prod(target) <= RECORDED_VALUES_LIMIT and all(
            r.values is not None for r in fitting[:arity]):
        return [_operand(r) for r in fitting[:arity]], {}
    example = _shrunk(target, EXAMPLE_ELEMENTS)
    if len(fitting) >= arity:  # keep each operand's broadcasting, shrink its real extents
        operands = [_example([1 if extent == 1 else small for extent, small in
                              zip(r.shape, example[len(example) - len(r.shape):],
                                  strict=True)], r.dtype) for r in fitting[:arity]]
    else:  # a fused node: the kernel's operands were intermediates the trace did not keep
        operands = [_example(example, outputs[0].dtype) for _ in range(arity)]
    return operands, {"example_from": list(target)}


def _matmul(event) -> tuple[list[dict], dict]:
    tensors = _tensors(event)
    output_shapes = [r.shape[-2:] for r in event.outputs if r is not None and len(r.shape) >= 2]
    pair = next(((a, b) for a in tensors for b in tensors
                 if a is not b and len(a.shape) == len(b.shape) and len(a.shape) in (2, 3)
                 and a.shape[-1] == b.shape[-2]
                 and [a.shape[-2], b.shape[-1]] in output_shapes), None)
    if pair is not None:
        a, b = pair
        if a.values is not None and b.values is not None and \
                a.shape[-2] * b.shape[-1] <= RECORDED_VALUES_LIMIT:
            return [_operand(a), _operand(b)], {}
        n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
        dtype = a.dtype
    elif output_shapes:  # a backward node: grad @ w and x^T @ grad are not kept as such
        (n, m), k = output_shapes[0], MATMUL_EXAMPLE[1]
        dtype = next(r.dtype for r in event.outputs if r is not None)
    else:
        raise NoLens(f"{event.op}: no two recorded tensors whose product has an output's shape")
    cap_n, cap_k, cap_m = MATMUL_EXAMPLE
    small = (min(n, cap_n), min(k, cap_k), min(m, cap_m))
    return ([_example([small[0], small[1]], dtype), _example([small[1], small[2]], dtype)],
            {"example_from": [n, k, m]})


def _reduction(name: str, event) -> tuple[list[dict], dict, dict]:
    outputs = [r for r in event.outputs if r is not None]
    tensors = _tensors(event)
    if not tensors or not outputs:
        raise NoLens(f"{event.op}: no recorded tensor to reduce")
    source = max(tensors, key=lambda r: math.prod(r.shape))
    # a backward node sends several gradients: the reduction made the one that is
    # ``source`` with some axes summed away (AddBackward: the bias's)
    axes = next((axes for r in outputs if (axes := _reduced_axes(source.shape, r.shape))),
                list(range(len(source.shape))))
    arguments = {"axes": axes, "keepdim": False} if name == "sum" else {
        "axis": axes[0] if len(axes) == 1 else None, "keepdim": False}
    columns = math.prod(source.shape[a] for a in axes) if axes else 1
    rows = math.prod(source.shape) // max(columns, 1)
    if source.values is not None and rows * max(columns, 32) <= 4 * RECORDED_VALUES_LIMIT:
        return [_operand(source)], arguments, {}
    kept_columns = min(columns, REDUCTION_COLUMNS)
    example = [min(rows, REDUCTION_EXAMPLE_ROWS), kept_columns]
    arguments = {"axes": [1], "keepdim": False} if name == "sum" else {"axis": 1,
                                                                        "keepdim": False}
    return [_example(example, source.dtype)], arguments, {"example_from": list(source.shape)}


def _reduced_axes(source_shape, output_shape) -> list[int]:
    """The axes whose removal turns ``source_shape`` into ``output_shape``, or [] when
    removing axes does not (a 0-d output: every axis)."""
    if not output_shape:
        return list(range(len(source_shape)))
    for count in range(1, len(source_shape)):
        for axes in itertools.combinations(range(len(source_shape)), count):
            kept = [e for i, e in enumerate(source_shape) if i not in axes]
            if kept == list(output_shape):
                return list(axes)
    return []


def _rows(name: str, event) -> tuple[list[dict], dict]:
    arity = 2 if name.endswith("backward") else 1
    tensors = [r for r in _tensors(event) if len(r.shape) == 2]
    if len(tensors) < arity:
        raise NoLens(f"{event.op}: {name} needs {arity} recorded 2-D tensors")
    chosen = tensors[:arity]
    if all(r.values is not None for r in chosen):
        return [_operand(r) for r in chosen], {}
    rows, columns = chosen[0].shape
    example = [min(rows, 4), min(columns, REDUCTION_COLUMNS)]
    return [_example(example, r.dtype) for r in chosen], {"example_from": [rows, columns]}


def build_request(event, kernel_position: int | None = None, device: str = "cuda") -> dict:
    """The request that re-runs one of ``event``'s kernels (the first the lens supports,
    or the one at ``kernel_position`` in ``event.kernels``) on its CUDA twin — or, with
    ``device="cpu"``, the CPU kernel's ``prange`` loop. Raises :class:`NoLens`."""
    supported = lens_kernels(event)
    if not supported:
        names = ", ".join(sorted({k.name.rsplit(".", 1)[-1] for k in event.kernels}))
        raise NoLens(f"{event.op}: no kernel the lens can re-run on the GPU simulator"
                     + (f" (ran: {names})" if names else " (no kernel ran: a view or "
                        "bookkeeping op)"))
    if kernel_position is None:
        # the heaviest kernel is the interesting one: a matmul before an add
        kernel_position, name = next(((p, n) for p, n in supported if n == "matmul"),
                                     supported[0])
    else:
        name = dict(supported).get(kernel_position)
        if name is None:
            raise NoLens(f"{event.op}: kernel {kernel_position} has no CUDA twin the lens runs")
    arguments: dict = {}
    if name == "matmul":
        operands, extra = _matmul(event)
    elif name in ("sum", "max"):
        if name == "max" and event.op.lower().startswith("min"):
            name = "min"
        operands, arguments, extra = _reduction(name, event)
    elif name in SECTIONS:
        operands, extra = _elementwise(name, event)
    else:
        operands, extra = _rows(name, event)
    recorded = event.kernels[kernel_position]
    if device == "cpu" and recorded.device != "cpu":
        raise NoLens(f"{event.op} ran on {recorded.device}: the prange lens needs a node "
                     "recorded on the CPU")
    request = {
        "device": device,
        "kernel": name,
        "operands": operands,
        "arguments": arguments,
        "recorded_kernel": recorded.name,
        "recorded_grid": recorded.grid,
        "recorded_block": recorded.block,
        "node": event.node_id,
        "op": event.op,
        "output_shape": _output_shape(name, operands, arguments),
        "example": "example_from" in extra,
        "note": _note(name, operands, extra),
    }
    if name == "matmul" and device == "cuda":  # the tiles' saving, against a naive kernel
        a, b = operands
        n, k = a["shape"][-2:]
        m = b["shape"][-1]
        batch = a["shape"][0] if len(a["shape"]) == 3 else 1
        request["naive_global_reads"] = 2 * batch * n * m * k
    return request


def _output_shape(name, operands, arguments) -> list[int]:
    if name == "matmul":
        a, b = (o["shape"] for o in operands)
        return [*a[:-1], b[-1]]
    if name in ("sum", "max", "min"):
        shape = operands[0]["shape"]
        axes = arguments.get("axes", [arguments.get("axis")])
        axes = list(range(len(shape))) if axes in ([], [None]) else axes
        return [e for i, e in enumerate(shape) if i not in axes]
    shapes = [o["shape"] for o in operands]
    width = max(len(s) for s in shapes)
    padded = [[1] * (width - len(s)) + s for s in shapes]
    return [max(extents) for extents in zip(*padded, strict=True)]


def _note(name: str, operands: list[dict], extra: dict) -> str:
    shapes = " and ".join(str(tuple(o["shape"])) for o in operands)
    if "example_from" not in extra:
        return f"{name} re-run on this node's recorded values: {shapes}"
    return (f"{name} shown on a small example, {shapes} with made-up values: the node's "
            f"{tuple(extra['example_from'])} is too large to watch thread by thread, or the "
            "trace kept no values for it (it keeps tensors of up to 64 elements). Same kernel, "
            "same block shape.")
