"""The op database of ``tests/test_opinfo.py``: one :class:`OpInfo` per public op.

Like PyTorch's OpInfo (``torch/testing/_internal/common_methods_invocations.py``), each entry
says how to call the op in every public spelling (``variants``: the method, the operator, the
``numbanet.*`` function, the in-place form ...), which dtypes it takes, which dtype it returns,
a numpy reference, and a generator of samples: 0-d, size-0, broadcasting, non-contiguous
(transposed or sliced) inputs and, for floating point, the IEEE edge values. An op is called as
``variant(lib, *inputs, **kwargs)`` where ``lib`` is ``numbanet`` or ``torch``: numbanet
speaks PyTorch's API, so one lambda serves both libraries.
"""

from __future__ import annotations

import math
import operator as operator_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

FLOATS = ("float32", "float64")
INTS = ("int64", "int32", "uint8")
# Every dtype and layout an op meets compiles its kernels once per process, so most ops run
# on float32, float64 and int64 (and bool where it applies); the other integer types go
# through the ops whose kernels differ by type: add, mul, eq, sum, casts, bitwise ops.
NUMBERS = FLOATS + ("int64",)
ALL = NUMBERS + ("bool",)
EVERY_NUMBER = FLOATS + INTS

# +-0, +-inf, NaN, a float32 subnormal, huge and tiny magnitudes, ordinary values
EDGE_VALUES = np.array([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-40, 1e30, -1e30,
                        1.0, -1.0, 0.5, -2.5])


class NotApplicable(Exception):
    """Raised by a variant that cannot take a sample (``a.add_(b)`` when ``a`` is a number)."""


@dataclass
class Sample:
    """The inputs of one call: arrays become tensors (laid out as ``layout`` says), other
    values are passed as they are."""

    inputs: tuple
    kwargs: dict = field(default_factory=dict)
    layout: str = "contiguous"  # or "transposed" (last two dims) or "sliced" (every other)
    smooth: bool = True  # away from kinks and non-finite values: used for gradient checks

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else repr(a)
            for a in self.inputs
        )
        extra = f", {self.kwargs}" if self.kwargs else ""
        return f"Sample({shapes}{extra}, {self.layout}{'' if self.smooth else ', edges'})"


@dataclass
class OpInfo:
    """One op: its spellings, dtypes, result dtype, numpy reference and samples."""

    name: str
    variants: dict[str, Callable]  # public name ("Tensor.add", "F.relu") -> variant(lib, ...)
    reference: Callable  # numpy: the expected result(s) from the sample's arrays
    samples: Callable[[str], Iterator[Sample]]  # dtype name -> samples
    dtypes: tuple = FLOATS
    result_dtype: Callable[[str], str] = lambda dtype: dtype
    differentiable: bool = True
    rtol: float = 1e-5  # for float32 results; float64 ones use 1e-10

    @property
    def op(self) -> Callable:
        """The first variant: the one whose gradients are checked."""
        return next(iter(self.variants.values()))


# ---- values and samples ----------------------------------------------------------------------


def make_values(shape: tuple, dtype: str, rng, low: float = -2.0, high: float = 2.0):
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype in INTS:
        low = 0 if dtype == "uint8" else math.floor(low * 3)
        return rng.integers(low, max(math.ceil(high * 3), low + 2), shape).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


def edge_values(dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return EDGE_VALUES.astype(dtype)


def unary_samples(low: float = -2.0, high: float = 2.0, **kwargs):
    """0-d, size-0, a matrix, its transposed and sliced forms, and the edge values."""

    def samples(dtype: str) -> Iterator[Sample]:
        rng = np.random.default_rng(0)

        def values(*shape):
            return make_values(shape, dtype, rng, low, high)

        yield Sample((values(2, 3),), kwargs)
        yield Sample((values(),), kwargs)
        yield Sample((values(0, 3),), kwargs)
        yield Sample((values(3, 2),), kwargs, layout="transposed")
        yield Sample((values(2, 3),), kwargs, layout="sliced")
        if dtype in FLOATS:
            yield Sample((edge_values(dtype),), kwargs, smooth=False)

    return samples


def binary_samples(low: float = -2.0, high: float = 2.0, other_low: float | None = None,
                   other_high: float | None = None, scalar=2, nonzero_other: bool = False):
    """Same shapes, broadcasting (against a row, a column, a 0-d tensor, a Python number),
    size-0, non-contiguous, and every pair of edge values."""
    other_low = low if other_low is None else other_low
    other_high = high if other_high is None else other_high

    def samples(dtype: str) -> Iterator[Sample]:
        rng = np.random.default_rng(1)

        def first(*shape):
            return make_values(shape, dtype, rng, low, high)

        def second(*shape):
            values = make_values(shape, dtype, rng, other_low, other_high)
            if nonzero_other and dtype != "bool":
                values[values == 0] = 1
            return values

        yield Sample((first(2, 3), second(2, 3)))
        yield Sample((first(2, 3), second(3)))
        yield Sample((first(2, 1), second(1, 3)))
        yield Sample((first(), second(2, 3)))
        yield Sample((first(0, 3), second(3)))
        yield Sample((first(3, 2), second(3, 2)), layout="transposed")
        yield Sample((first(2, 3), second(2, 3)), layout="sliced")
        if scalar is not None and dtype != "bool":
            number = float(scalar) if dtype in FLOATS else int(scalar)
            yield Sample((first(2, 3), number))
            yield Sample((number, second(2, 3)))
        if dtype in FLOATS:
            edges = edge_values(dtype)
            pairs = (np.repeat(edges, len(edges)), np.tile(edges, len(edges)))
            yield Sample(pairs, smooth=False)

    return samples


def reduction_samples(dims=(None, 0, -1, (0, 2)), empty_dims=(None, 0, 1),
                      distinct: bool = False, **kwargs):
    """Over everything and along dims (kept or not), of 0-d, size-0, transposed and edge
    inputs. ``distinct``: integers without ties (which index max returns for a tie is not
    specified)."""

    def samples(dtype: str) -> Iterator[Sample]:
        rng = np.random.default_rng(2)
        cube = make_values((2, 3, 4), dtype, rng)
        if distinct and dtype in INTS:
            cube = rng.permutation(24).reshape(2, 3, 4).astype(dtype)
        for dim in dims:
            for keepdim in (False, True) if dim is not None else (False,):
                extra = {} if dim is None else {"dim": dim, "keepdim": keepdim}
                yield Sample((cube,), {**kwargs, **extra})
        yield Sample((make_values((), dtype, rng),), dict(kwargs))
        for dim in empty_dims:
            yield Sample((make_values((0, 3), dtype, rng),),
                         {**kwargs, **({} if dim is None else {"dim": dim})})
        matrix = cube.reshape(4, 6)[:, :3] if distinct else make_values((4, 3), dtype, rng)
        yield Sample((matrix,), {**kwargs, "dim": 0}, layout="transposed")
        if dtype in FLOATS:
            yield Sample((edge_values(dtype).reshape(3, 4),), {**kwargs, "dim": 1},
                         smooth=False)

    return samples


def fixed_samples(*samples: Callable[[str, np.random.Generator], Sample]):
    """Samples written out one by one, each a function of (dtype, rng)."""

    def generate(dtype: str) -> Iterator[Sample]:
        rng = np.random.default_rng(3)
        for sample in samples:
            yield sample(dtype, rng)

    return generate


# ---- numpy references --------------------------------------------------------------------------


def float_result(dtype: str) -> str:
    """PyTorch's result of a float op on an integer or bool tensor: the default float32."""
    return dtype if dtype in FLOATS else "float32"


def as_float(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def np_relu(x):
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0)).astype(x.dtype)


def np_sigmoid(x):
    x = as_float(x)
    return 1 / (1 + np.exp(-x))


def np_sign(x):
    return np.where(np.isnan(x), 0, np.sign(x)).astype(x.dtype)


def np_square(x):
    return np.square(x.astype(np.int64) if x.dtype == np.bool_ else x)


def np_round_decimals(x, decimals):
    """PyTorch's rounding to decimals: rint(x * 10**d) / 10**d in x's dtype (for negative
    d, rint(x / 10**-d) * 10**-d)."""
    scale = x.dtype.type(10.0 ** abs(decimals))
    with np.errstate(all="ignore"):
        if decimals > 0:
            return np.rint(x * scale) / scale
        return np.rint(x / scale) * scale


def np_clamp(x, min=None, max=None):  # noqa: A002 - PyTorch's names
    """Clamped, NaN kept; an integer tensor clamped by a float becomes float32 (PyTorch)."""
    bounds = [bound for bound in (min, max) if bound is not None]
    dtype = x.dtype if x.dtype.kind == "f" or all(isinstance(b, int) for b in bounds) \
        else np.float32
    out = x.astype(dtype)
    if min is not None:
        out = np.where(np.isnan(out), out, np.maximum(out, min))
    if max is not None:
        out = np.where(np.isnan(out), out, np.minimum(out, max))
    return out.astype(dtype)


def np_reduce(function, x, dim=None, keepdim=False, **kwargs):
    axis = None if dim is None else dim
    return np.asarray(function(x, axis=axis, keepdims=keepdim, **kwargs))


def np_sum(x, dim=None, keepdim=False):
    dtype = x.dtype if x.dtype.kind == "f" else np.int64
    return np_reduce(np.sum, x, dim, keepdim, dtype=dtype)


def np_var(x, dim=None, keepdim=False, unbiased=True):
    with np.errstate(all="ignore"):
        return np_reduce(np.var, x, dim, keepdim, ddof=1 if unbiased else 0).astype(x.dtype)


def np_extreme(function, arg_function, x, dim=None, keepdim=False):
    """max/min (NaN wins, in numpy as in PyTorch), with indices along ``dim``."""
    if dim is None:
        return np.asarray(function(x))
    indices = arg_function(x, axis=dim).astype(np.int64)
    return function(x, axis=dim, keepdims=keepdim), \
        np.expand_dims(indices, dim) if keepdim else indices


def np_log_softmax(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def np_conv2d(x, weight, bias=None, stride=1, padding=0):
    stride, padding = (stride, stride) if isinstance(stride, int) else stride, \
        (padding, padding) if isinstance(padding, int) else padding
    padded = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    n, _, height, width = padded.shape
    out_channels, _, kh, kw = weight.shape
    out = np.zeros((n, out_channels, (height - kh) // stride[0] + 1,
                    (width - kw) // stride[1] + 1), x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = padded[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def np_max_pool2d(x, kernel_size, stride=None):
    stride = kernel_size if stride is None else stride
    n, c, height, width = x.shape
    out = np.empty((n, c, (height - kernel_size) // stride + 1,
                    (width - kernel_size) // stride + 1), x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + kernel_size,
                                j * stride:j * stride + kernel_size].max(axis=(2, 3))
    return out


def np_nll(log_probs, target, reduction="mean"):
    picked = -log_probs[np.arange(len(target)), target]
    return {"mean": picked.mean(), "sum": picked.sum(), "none": picked}[reduction]


def np_loss_reduce(loss, reduction="mean"):
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def np_bce(p, t, reduction="mean"):
    with np.errstate(divide="ignore"):
        loss = (t - 1) * np.maximum(np.log(1 - p), -100) - t * np.maximum(np.log(p), -100)
    return np_loss_reduce(loss.astype(p.dtype), reduction)


def np_bce_with_logits(x, t, reduction="mean"):
    loss = (1 - t) * x + np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np_loss_reduce(loss.astype(x.dtype), reduction)


# ---- the ops -------------------------------------------------------------------------------------


def unary(name: str, reference, dtypes=ALL, result_dtype=lambda dtype: dtype, low=-2.0,
          high=2.0, function: bool = True, differentiable: bool = True,
          inplace: bool = False, **extra) -> OpInfo:
    """An elementwise op spelled ``x.name()``, (``function``) ``numbanet.name(x)`` and
    (``inplace``) ``x.name_()``."""
    variants = {f"Tensor.{name}": lambda lib, x: getattr(x, name)()}
    if function:
        variants[f"numbanet.{name}"] = lambda lib, x: getattr(lib, name)(x)
    if inplace:
        variants[f"Tensor.{name}_"] = lambda lib, x: getattr(x.clone(), f"{name}_")()
    variants.update(extra)
    return OpInfo(name, variants, reference, unary_samples(low, high), dtypes, result_dtype,
                  differentiable)


def binary(name: str, operator: str | None, reference, dtypes=NUMBERS,
           result_dtype=lambda dtype: dtype, method: bool = True, function: bool = False,
           inplace: bool = False, differentiable: bool = True, reflected: bool = True,
           **sample_options) -> OpInfo:
    """A broadcasting elementwise op of two operands, in each of its spellings: the method,
    the operator (``__op__``; a number first exercises ``__rop__``), ``b.__rop__(a)`` (with
    ``reflected``), the ``numbanet.*`` function and the in-place forms."""
    variants = {}
    if method:
        variants[f"Tensor.{name}"] = lambda lib, a, b: getattr(tensor_first(a), name)(b)
    if operator is not None:
        variants[f"Tensor.__{operator}__"] = lambda lib, a, b: OPERATORS[operator](a, b)
    if operator is not None and reflected:
        variants[f"Tensor.__r{operator}__"] = \
            lambda lib, a, b: getattr(tensor_first(b), f"__r{operator}__")(a)
    if function:
        variants[f"numbanet.{name}"] = lambda lib, a, b: getattr(lib, name)(
            a if name == "pow" else tensor_first(a), b)  # torch.pow takes a number base
    if inplace:
        variants[f"Tensor.{name}_"] = \
            lambda lib, a, b: getattr(tensor_first(a).clone(), f"{name}_")(b)
        variants[f"Tensor.__i{operator}__"] = \
            lambda lib, a, b: getattr(tensor_first(a).clone(), f"__i{operator}__")(b)
    return OpInfo(name, variants, reference, binary_samples(**sample_options), dtypes,
                  result_dtype, differentiable)


OPERATORS = {
    "add": operator_module.add, "sub": operator_module.sub, "mul": operator_module.mul,
    "truediv": operator_module.truediv, "pow": operator_module.pow,
    "floordiv": operator_module.floordiv, "mod": operator_module.mod,
    "and": operator_module.and_, "or": operator_module.or_, "xor": operator_module.xor,
    "eq": operator_module.eq, "ne": operator_module.ne, "lt": operator_module.lt,
    "le": operator_module.le, "gt": operator_module.gt, "ge": operator_module.ge,
}


def tensor_first(value):
    """``value``, which must be a tensor for this spelling of the op."""
    if isinstance(value, int | float):
        raise NotApplicable
    return value


def comparison(name: str, reference) -> OpInfo:
    return binary(name, name, reference, dtypes=EVERY_NUMBER if name == "eq" else NUMBERS,
                  result_dtype=lambda dtype: "bool",
                  differentiable=False, reflected=False)


def np_floor_divide(a, b):
    with np.errstate(all="ignore"):
        return np.floor_divide(a, b)


def np_remainder(a, b):
    with np.errstate(all="ignore"):
        return np.remainder(a, b)


def np_true_divide(a, b):
    with np.errstate(all="ignore"):
        out = np.true_divide(a, b)
    tensor = a if isinstance(a, np.ndarray) else b
    return out if tensor.dtype.kind == "f" else out.astype(np.float32)


def np_pow(a, b):
    with np.errstate(all="ignore"):
        return np.power(a, b)


def np_unary(function):
    def reference(x):
        with np.errstate(all="ignore"):
            return function(as_float(x))

    return reference


def reduction(name: str, reference, dtypes=NUMBERS, result_dtype=lambda dtype: dtype,
              function: bool = True, differentiable: bool = True, **sample_options) -> OpInfo:
    variants = {f"Tensor.{name}": lambda lib, x, **kw: getattr(x, name)(**kw)}
    if function:
        variants[f"numbanet.{name}"] = lambda lib, x, **kw: getattr(lib, name)(x, **kw)
    return OpInfo(name, variants, reference, reduction_samples(**sample_options), dtypes,
                  result_dtype, differentiable)


def sample(*inputs, layout: str = "contiguous", smooth: bool = True, **kwargs):
    """A fixed sample: each input is an array, a shape (random values of the dtype) or a
    function of (dtype, rng)."""

    def build(dtype, rng):
        values = []
        for item in inputs:
            if callable(item):
                values.append(item(dtype, rng))
            elif isinstance(item, tuple):
                values.append(make_values(item, dtype, rng))
            else:
                values.append(item)
        return Sample(tuple(values), kwargs, layout, smooth)

    return build


def labels(*shape, classes: int = 3, ignore: bool = False):
    def build(dtype, rng):
        values = rng.integers(0, classes, shape)
        if ignore:
            values.flat[0] = -100
        return values.astype(np.int64)

    return build


def probabilities(*shape, low: float = 0.05, high: float = 0.95):
    return lambda dtype, rng: rng.uniform(low, high, shape).astype(dtype)


def exactly(values):
    return lambda dtype, rng: np.asarray(values, dtype=dtype)


def np_max(x, dim=None, keepdim=False):
    return np_extreme(np.max, np.argmax, x, dim, keepdim)


def np_min(x, dim=None, keepdim=False):
    return np_extreme(np.min, np.argmin, x, dim, keepdim)


def np_arg(arg_function):
    def reference(x, dim=None, keepdim=False):
        out = np.asarray(arg_function(x, axis=dim), dtype=np.int64)
        return np.expand_dims(out, dim) if keepdim else out

    return reference


def np_flatten(x, start=0, end=-1):
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start % x.ndim, end % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def np_squeeze(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    return np.squeeze(x, dim) if x.ndim and x.shape[dim] == 1 else x


def integers(values):
    return lambda dtype, rng: np.asarray(values, dtype=np.int64)


def integer_valued(*shape):
    return lambda dtype, rng: rng.integers(-3, 4, shape).astype(dtype)


def functional_unary(name: str, reference, **options) -> OpInfo:
    return OpInfo(f"F.{name}", {f"F.{name}": lambda lib, x: getattr(lib.nn.functional, name)(x)},
                  reference, unary_samples(), **options)


def np_mean(x, dim=None, keepdim=False):
    with np.errstate(all="ignore"):
        return np_reduce(np.mean, x, dim, keepdim).astype(x.dtype)


def np_std(x, dim=None, keepdim=False):
    return np.sqrt(np_var(x, dim, keepdim))


def np_softmax(x, dim):
    return np.exp(np_log_softmax(x, dim))


def np_split(x, size, dim=0):
    if isinstance(size, list):  # sections
        return tuple(np.split(x, np.cumsum(size)[:-1], axis=dim))
    if x.shape[dim] == 0:
        return (x,)
    return tuple(np.split(x, range(size, x.shape[dim], size), axis=dim))


def np_chunk(x, chunks, dim=0):
    if x.shape[dim] == 0:
        return (x,) * chunks
    size = -(-x.shape[dim] // chunks)
    return np_split(x, size, dim)


def np_gather(x, dim, index):
    """out[p] = x[p with its dim coordinate replaced by index[p]]."""
    out = np.empty(index.shape, x.dtype)
    for position in np.ndindex(index.shape):
        source = list(position)
        source[dim] = index[position]
        out[position] = x[tuple(source)]
    return out


def np_scatter_add(x, dim, index, src):
    out = x.copy()
    for position in np.ndindex(index.shape):
        target = list(position)
        target[dim] = index[position]
        out[tuple(target)] += src[position]
    return out


def np_cross_entropy(x, target, reduction="mean"):
    return np_nll(np_log_softmax(x, 1), target, reduction)


def np_one_hot(x, num_classes=-1):
    classes = x.max() + 1 if num_classes == -1 else num_classes
    return (x[..., None] == np.arange(classes)).astype(np.int64)


def index_of(*shape, high: int):
    return lambda dtype, rng: rng.integers(0, high, shape).astype(np.int64)


SAME = "same"  # result_dtype: the reference's dtype, which depends on the arguments


def with_variants(info: OpInfo, *aliases: str) -> OpInfo:
    """``info`` with more ``numbanet.*`` spellings of its function variant (aliases)."""
    function = info.variants[f"numbanet.{info.name}"]
    for alias in aliases:
        short = alias.split(".", 1)[1]
        info.variants[alias] = lambda lib, *args, short=short, **kwargs: (
            function(_Aliased(lib, short, info.name), *args, **kwargs))
    return info


class _Aliased:
    """``lib`` seen through an alias: ``lib.<name>`` is looked up as ``lib.<alias>``."""

    def __init__(self, lib, alias: str, name: str):
        self.lib, self.alias, self.name = lib, alias, name

    def __getattr__(self, attribute):
        return getattr(self.lib, self.alias if attribute == self.name else attribute)


def nonzero(shape):
    """Random values of the dtype with no zero among them (divisors)."""

    def build(dtype, rng):
        values = make_values(shape, dtype, rng)
        values[values == 0] = 1
        return values

    return build


def np_div_rounding(a, b, rounding_mode):
    with np.errstate(all="ignore"):
        if rounding_mode == "floor":
            return np.floor_divide(a, b)
        if a.dtype.kind == "f":
            return np.trunc(a / b)
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)


def distinct_index(shape, dim, high):
    """An int64 index whose values along ``dim`` never repeat (a scatter with distinct
    targets has one right answer)."""

    def build(dtype, rng):
        moved = list(shape)
        moved.append(moved.pop(dim))
        rows = [rng.permutation(high)[:moved[-1]] for _ in range(int(np.prod(moved[:-1])))]
        return np.moveaxis(np.array(rows, dtype=np.int64).reshape(moved), -1, dim)

    return build


def distinct(shape):
    """Values of the dtype without ties (which index sort/topk reports for a tie of
    non-stable sorts is not specified)."""

    def build(dtype, rng):
        return np.asarray(rng.permutation(int(np.prod(shape))).reshape(shape) - 3,
                          dtype=dtype)

    return build


def np_scatter(x, dim, index, src, reduce=None):
    out = x.copy()
    for position in np.ndindex(index.shape):
        target = list(position)
        target[dim] = index[position]
        value = src if not isinstance(src, np.ndarray) else src[position]
        if reduce == "add":
            out[tuple(target)] += value
        elif reduce == "multiply":
            out[tuple(target)] *= value
        else:
            out[tuple(target)] = value
    return out


def _sort_order(row, descending):
    """Stable order of a 1-D array, NaN the largest (PyTorch's sort)."""
    def key(i):
        value = row[i]
        nan = isinstance(value, np.floating) and bool(np.isnan(value))
        return (nan, 0 if nan else value)

    return sorted(range(len(row)), key=key, reverse=descending)


def np_sort(x, dim=-1, descending=False, stable=False):
    moved = np.moveaxis(x, dim, -1) if x.ndim else x.reshape(1)
    order = np.array([_sort_order(row, descending) for row in moved.reshape(-1, moved.shape[-1])],
                     dtype=np.int64).reshape(moved.shape)
    values = np.take_along_axis(moved, order, -1)
    if not x.ndim:
        return values.reshape(()), order.reshape(())
    return np.moveaxis(values, -1, dim), np.moveaxis(order, -1, dim)


def sort_samples():
    def generate(dtype):
        rng = np.random.default_rng(6)
        cube = make_values((2, 3, 4), dtype, rng)
        yield Sample((cube,), {"stable": True})
        yield Sample((cube,), {"dim": 1, "descending": True, "stable": True})
        yield Sample((cube,), {"dim": 0, "stable": True})
        yield Sample((make_values((4, 3), dtype, rng),), {"dim": 0, "stable": True},
                     layout="transposed")
        yield Sample((make_values((), dtype, rng),), {"stable": True})
        yield Sample((make_values((0, 3), dtype, rng),), {"stable": True})
        yield Sample((make_values((3, 0), dtype, rng),), {"dim": 0, "stable": True})
        if dtype in FLOATS:
            yield Sample((edge_values(dtype),), {"descending": True, "stable": True},
                         smooth=False)
            yield Sample((edge_values(dtype),), {"stable": True}, smooth=False)

    return generate


def np_topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    values, indices = np_sort(x, dim, descending=largest)
    if not x.ndim:
        return values, indices
    key = (slice(None),) * (dim % x.ndim) + (slice(0, k),)
    return values[key], indices[key]


def np_norm(x, p="fro", dim=None, keepdim=False):
    p = 2 if p == "fro" else p
    axes = tuple(range(x.ndim)) if dim is None else dim
    with np.errstate(all="ignore"):
        magnitude = np.abs(x)
        if p == math.inf:
            out = np.max(magnitude, axis=axes, keepdims=keepdim)
        elif p == -math.inf:
            out = np.min(magnitude, axis=axes, keepdims=keepdim)
        elif p == 0:
            out = np.sum(x != 0, axis=axes, keepdims=keepdim).astype(x.dtype)
        else:
            out = np.sum(magnitude ** p, axis=axes, keepdims=keepdim) ** (1 / p)
    return np.asarray(out, dtype=x.dtype)


def np_einsum(*operands, equation):
    return np.einsum(equation, *operands)


def np_pad(x, pad, mode="constant", value=None):
    if not pad:
        return x.copy()
    widths = [(0, 0)] * x.ndim
    for position in range(len(pad) // 2):
        widths[x.ndim - 1 - position] = (pad[2 * position], pad[2 * position + 1])
    crop = tuple(slice(max(-before, 0), x.shape[axis] - max(-after, 0))
                 for axis, (before, after) in enumerate(widths))
    x = x[crop]
    widths = [(max(before, 0), max(after, 0)) for before, after in widths]
    if mode == "constant":
        return np.pad(x, widths, constant_values=0 if value is None else value)
    return np.pad(x, widths, mode={"replicate": "edge", "circular": "wrap"}.get(mode, mode))


def renamed(name: str, info: OpInfo) -> OpInfo:
    info.name = name
    return info


OPS: list[OpInfo] = [
    # ---- elementwise, one operand
    unary("neg", np.negative, dtypes=NUMBERS, function=False,
          **{"Tensor.__neg__": lambda lib, x: -x}),
    unary("abs", np.abs, dtypes=NUMBERS, **{"Tensor.__abs__": lambda lib, x: abs(x)}),
    unary("exp", np_unary(np.exp), dtypes=ALL, result_dtype=float_result),
    unary("sin", np_unary(np.sin), dtypes=ALL, result_dtype=float_result),
    unary("cos", np_unary(np.cos), dtypes=ALL, result_dtype=float_result),
    unary("log", np_unary(np.log), dtypes=ALL, result_dtype=float_result, low=0.1, high=3.0),
    unary("sqrt", np_unary(np.sqrt), dtypes=ALL, result_dtype=float_result, low=0.1, high=3.0),
    unary("sigmoid", np_unary(lambda x: 1 / (1 + np.exp(-x))), dtypes=ALL,
          result_dtype=float_result),
    unary("tanh", np_unary(np.tanh), dtypes=ALL, result_dtype=float_result),
    unary("relu", np_relu, dtypes=NUMBERS, **{"F.relu": lambda lib, x: lib.nn.functional.relu(x)}),
    unary("sign", np_sign, dtypes=NUMBERS, inplace=True),
    unary("square", np_square, dtypes=ALL, inplace=True,
          result_dtype=lambda dtype: "int64" if dtype == "bool" else dtype),
    # the maths family (numbanet/ops/maths.py): float results for integer inputs
    unary("tan", np_unary(np.tan), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=-1.2, high=1.2),
    unary("asin", np_unary(np.arcsin), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=-0.9, high=0.9, **{"numbanet.arcsin": lambda lib, x: lib.arcsin(x)}),
    unary("acos", np_unary(np.arccos), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=-0.9, high=0.9, **{"numbanet.arccos": lambda lib, x: lib.arccos(x)}),
    unary("atan", np_unary(np.arctan), dtypes=ALL, result_dtype=float_result, inplace=True,
          **{"numbanet.arctan": lambda lib, x: lib.arctan(x)}),
    unary("sinh", np_unary(np.sinh), dtypes=ALL, result_dtype=float_result, inplace=True),
    unary("cosh", np_unary(np.cosh), dtypes=ALL, result_dtype=float_result, inplace=True),
    unary("asinh", np_unary(np.arcsinh), dtypes=ALL, result_dtype=float_result, inplace=True,
          **{"numbanet.arcsinh": lambda lib, x: lib.arcsinh(x)}),
    unary("atanh", np_unary(np.arctanh), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=-0.9, high=0.9, **{"numbanet.arctanh": lambda lib, x: lib.arctanh(x)}),
    unary("exp2", np_unary(np.exp2), dtypes=ALL, result_dtype=float_result, inplace=True),
    unary("expm1", np_unary(np.expm1), dtypes=ALL, result_dtype=float_result, inplace=True),
    unary("log2", np_unary(np.log2), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=0.1, high=3.0),
    unary("log10", np_unary(np.log10), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=0.1, high=3.0),
    unary("log1p", np_unary(np.log1p), dtypes=ALL, result_dtype=float_result, inplace=True,
          low=-0.5, high=3.0),
    unary("erf", np_unary(np.vectorize(math.erf, otypes=[np.float64])), dtypes=ALL,
          result_dtype=float_result, inplace=True),
    unary("reciprocal", np_unary(np.reciprocal), dtypes=ALL, result_dtype=float_result,
          inplace=True, low=0.2, high=2.0),
    unary("rsqrt", np_unary(lambda x: 1 / np.sqrt(x)), dtypes=ALL, result_dtype=float_result,
          inplace=True, low=0.1, high=3.0),
    unary("floor", np.floor, dtypes=NUMBERS, inplace=True),
    unary("ceil", np.ceil, dtypes=NUMBERS, inplace=True),
    unary("trunc", np.trunc, dtypes=NUMBERS, inplace=True),
    unary("round", np.rint, dtypes=NUMBERS, inplace=True),
    unary("frac", lambda x: x - np.trunc(x), dtypes=FLOATS, inplace=True),
    unary("isnan", np.isnan, dtypes=ALL, result_dtype=lambda dtype: "bool",
          differentiable=False),
    unary("isinf", np.isinf, dtypes=ALL, result_dtype=lambda dtype: "bool",
          differentiable=False),
    unary("isfinite", np.isfinite, dtypes=ALL, result_dtype=lambda dtype: "bool",
          differentiable=False),
    OpInfo("round_decimals", {
        "Tensor.round": lambda lib, x, **kw: x.round(**kw),
        "numbanet.round": lambda lib, x, **kw: lib.round(x, **kw),
        "Tensor.round_": lambda lib, x, **kw: x.clone().round_(**kw),
    }, np_round_decimals, fixed_samples(
        sample((2, 3), decimals=1),
        sample((3, 2), decimals=2, layout="transposed"),
        sample(lambda dtype, rng: rng.uniform(-500, 500, (2, 3)).astype(dtype), decimals=-1),
        sample((), decimals=3),
        sample((0, 3), decimals=1),
        sample(lambda dtype, rng: edge_values(dtype), decimals=1, smooth=False),
    ), FLOATS),
    OpInfo("pos", {"Tensor.__pos__": lambda lib, x: +x}, lambda x: x, unary_samples(), NUMBERS),
    OpInfo("bitwise_not", {"Tensor.__invert__": lambda lib, x: ~x}, np.invert,
           unary_samples(), ("int64", "bool"), differentiable=False),
    OpInfo("clamp", {
        "Tensor.clamp": lambda lib, x, **kw: x.clamp(**kw),
        "numbanet.clamp": lambda lib, x, **kw: lib.clamp(x, **kw),
        "Tensor.clip": lambda lib, x, **kw: x.clip(**kw),
        "Tensor.clamp_": lambda lib, x, **kw: x.clone().clamp_(**kw),
    }, np_clamp, fixed_samples(
        sample((2, 3), min=-1, max=1),
        sample((2, 3), min=0.5),
        sample((3, 2), max=-0.5, layout="transposed"),
        sample((), min=-1, max=1),
        sample((0, 3), min=0),
        sample(lambda dtype, rng: edge_values(dtype) if dtype in FLOATS
               else make_values((4,), dtype, rng), min=-1, max=1, smooth=False),
    ), NUMBERS, result_dtype=lambda dtype: SAME),
    # ---- elementwise, two operands
    binary("add", "add", np.add, dtypes=EVERY_NUMBER, inplace=True, function=True),
    with_variants(binary("sub", "sub", np.subtract, inplace=True, function=True),
                  "numbanet.subtract"),
    with_variants(binary("mul", "mul", np.multiply, dtypes=EVERY_NUMBER, inplace=True,
                         function=True), "numbanet.multiply"),
    with_variants(binary("div", "truediv", np_true_divide, result_dtype=float_result,
                         nonzero_other=True, inplace=True, function=True),
                  "numbanet.divide", "numbanet.true_divide"),
    OpInfo("div_rounding_mode", {
        "Tensor.div": lambda lib, a, b, **kw: a.div(b, **kw),
        "numbanet.div": lambda lib, a, b, **kw: lib.div(a, b, **kw),
        "numbanet.divide": lambda lib, a, b, **kw: lib.divide(a, b, **kw),
    }, np_div_rounding, fixed_samples(
        sample((2, 3), nonzero((2, 3)), rounding_mode="trunc"),
        sample((2, 3), nonzero((3,)), rounding_mode="floor"),
        sample((3, 2), nonzero((3, 2)), rounding_mode="trunc", layout="transposed"),
        sample((), nonzero((2, 3)), rounding_mode="trunc"),
        sample((0, 3), nonzero((3,)), rounding_mode="floor"),
        sample(lambda dtype, rng: rng.integers(-20, 20, (4, 5)).astype(dtype), nonzero((5,)),
               rounding_mode="trunc"),
    ), NUMBERS, result_dtype=lambda dtype: SAME, differentiable=False),
    binary("pow", "pow", np_pow, dtypes=FLOATS, function=True, low=0.2, high=2.0,
           other_low=-2.0, other_high=2.0),
    renamed("pow_integers", binary("pow", "pow", np_pow, dtypes=("int64",), function=True,
                                   low=0.0,
                                   high=1.0, other_low=0.0, other_high=0.5,
                                   differentiable=False)),  # no negative exponents
    binary("maximum", None, np.maximum, function=True, scalar=None),  # tensors only
    binary("minimum", None, np.minimum, function=True, scalar=None),
    binary("floor_divide", "floordiv", np_floor_divide, method=False, nonzero_other=True,
           differentiable=False),
    binary("remainder", "mod", np_remainder, method=False, nonzero_other=True,
           differentiable=False),
    binary("bitwise_and", "and", np.bitwise_and, dtypes=INTS + ("bool",), method=False,
           differentiable=False, scalar=None),
    binary("bitwise_or", "or", np.bitwise_or, dtypes=("int64", "bool"), method=False,
           differentiable=False, scalar=None),
    binary("bitwise_xor", "xor", np.bitwise_xor, dtypes=("int64", "bool"), method=False,
           differentiable=False, scalar=None),
    comparison("eq", np.equal),
    comparison("ne", np.not_equal),
    comparison("lt", np.less),
    comparison("le", np.less_equal),
    comparison("gt", np.greater),
    comparison("ge", np.greater_equal),
    OpInfo("where", {
        "numbanet.where": lambda lib, c, a, b: lib.where(c > 0, a, b),
        "Tensor.where": lambda lib, c, a, b: a.where(c > 0, b),
    }, lambda c, a, b: np.where(c > 0, a, b), fixed_samples(
        sample((2, 3), (2, 3), (2, 3)),
        sample((2, 1), (3,), (2, 3)),
        sample((), (2, 3), ()),
        sample((0, 3), (0, 3), (3,)),
        sample((3, 2), (3, 2), (3, 2), layout="transposed"),
    ), NUMBERS),
    OpInfo("masked_fill", {"Tensor.masked_fill": lambda lib, x, m: x.masked_fill(m > 0, -7)},
           lambda x, m: np.where(m > 0, np.asarray(-7).astype(x.dtype), x), fixed_samples(
               sample((2, 3), (2, 3)), sample((2, 3), (3,)), sample((), ()),
               sample((3, 2), (3, 2), layout="transposed"),
           ), FLOATS + ("int64",)),
    # ---- matrix products
    OpInfo("matmul", {
        "Tensor.matmul": lambda lib, a, b: a.matmul(b),
        "Tensor.__matmul__": lambda lib, a, b: a @ b,
        "Tensor.__rmatmul__": lambda lib, a, b: b.__rmatmul__(a),
        "numbanet.matmul": lambda lib, a, b: lib.matmul(a, b),
    }, np.matmul, fixed_samples(
        sample((2, 3), (3, 4)), sample((3,), (3, 2)), sample((2, 3), (3,)), sample((3,), (3,)),
        sample((2, 2, 3), (3, 4)), sample((2, 1, 2, 3), (3, 3, 2)), sample((0, 3), (3, 2)),
        sample((2, 0), (0, 3)), sample((2, 0, 3), (2, 3, 4)),
        sample((2, 3), (3, 4), layout="transposed"),
    ), FLOATS + ("int64",)),
    OpInfo("mm", {
        "Tensor.mm": lambda lib, a, b: a.mm(b),
        "numbanet.mm": lambda lib, a, b: lib.mm(a, b),
    }, np.matmul, fixed_samples(sample((2, 3), (3, 4)), sample((0, 3), (3, 2)),
                                sample((2, 3), (3, 4), layout="transposed")), FLOATS),
    # ---- reductions
    reduction("sum", np_sum, dtypes=EVERY_NUMBER + ("bool",),
              result_dtype=lambda dtype: dtype if dtype in FLOATS else "int64"),
    reduction("mean", np_mean, dtypes=FLOATS),
    reduction("var", np_var, dtypes=FLOATS, empty_dims=(1,)),
    reduction("std", np_std, dtypes=FLOATS, empty_dims=(1,)),
    reduction("max", np_max, dims=(None, 0, -1), empty_dims=(1,), distinct=True,
              result_dtype=lambda dtype: SAME),
    reduction("min", np_min, dims=(None, 0, -1), empty_dims=(1,), distinct=True,
              result_dtype=lambda dtype: SAME),
    reduction("argmax", np_arg(np.argmax), dims=(None, 0, -1), empty_dims=(1,), distinct=True,
              result_dtype=lambda dtype: "int64", differentiable=False),
    reduction("argmin", np_arg(np.argmin), dims=(None, 0, -1), empty_dims=(1,), distinct=True,
              result_dtype=lambda dtype: "int64", differentiable=False),
    OpInfo("all", {"Tensor.all": lambda lib, x: x.all(), "numbanet.all": lambda lib, x: lib.all(x)},
           lambda x: np.asarray(np.all(x)),
           unary_samples(), ALL, lambda dtype: "bool" if dtype != "uint8" else "uint8",
           differentiable=False),
    OpInfo("any", {"Tensor.any": lambda lib, x: x.any(), "numbanet.any": lambda lib, x: lib.any(x)},
           lambda x: np.asarray(np.any(x)),
           unary_samples(), ALL, lambda dtype: "bool" if dtype != "uint8" else "uint8",
           differentiable=False),
    # ---- softmax family
    OpInfo("softmax", {
        "Tensor.softmax": lambda lib, x, dim: x.softmax(dim),
        "numbanet.softmax": lambda lib, x, dim: lib.softmax(x, dim),
        "F.softmax": lambda lib, x, dim: lib.nn.functional.softmax(x, dim=dim),
    }, np_softmax, fixed_samples(
        sample((2, 3), dim=1), sample((2, 3, 2), dim=0), sample((4,), dim=0),
        sample((3, 2), dim=-1, layout="transposed"), sample((0, 3), dim=1),
        sample(exactly([[1e3, 1e3, 5e2], [-1e3, 0.0, 1e3]]), dim=1, smooth=False),
    ), rtol=1e-4),  # float32 logits of 1000 round at 1e-4
    OpInfo("log_softmax", {
        "Tensor.log_softmax": lambda lib, x, dim: x.log_softmax(dim),
        "numbanet.log_softmax": lambda lib, x, dim: lib.log_softmax(x, dim),
        "F.log_softmax": lambda lib, x, dim: lib.nn.functional.log_softmax(x, dim=dim),
    }, np_log_softmax, fixed_samples(
        sample((2, 3), dim=1), sample((2, 3, 2), dim=0), sample((4,), dim=0),
        sample((3, 2), dim=-1, layout="transposed"), sample((0, 3), dim=1),
        sample(exactly([[1e3, 1e3, 5e2], [-1e3, 0.0, 1e3]]), dim=1, smooth=False),
    ), rtol=1e-4),  # float32 logits of 1000 round at 1e-4
    # ---- shapes and copies
    OpInfo("reshape", {
        "Tensor.reshape": lambda lib, x, shape: x.reshape(shape),
        "numbanet.reshape": lambda lib, x, shape: lib.reshape(x, shape),
        "Tensor.view": lambda lib, x, shape: x.contiguous().view(shape),
    }, lambda x, shape: x.reshape(shape), fixed_samples(
        sample((2, 3), shape=(3, 2)), sample((2, 3), shape=(-1,)), sample((), shape=(1, 1)),
        sample((0, 3), shape=(3, 0)), sample((3, 2), shape=(6,), layout="transposed"),
        sample((2, 3), shape=(3, -1), layout="sliced"),
    ), ALL),
    OpInfo("reshape_as", {
        "Tensor.reshape_as": lambda lib, x, shape: x.reshape_as(lib.zeros(*shape)),
        "Tensor.view_as": lambda lib, x, shape: x.contiguous().view_as(lib.zeros(*shape)),
    }, lambda x, shape: x.reshape(shape), fixed_samples(
        sample((2, 3), shape=(3, 2)), sample((), shape=(1,)), sample((0, 3), shape=(3, 0)),
        sample((3, 2), shape=(6,), layout="transposed"),
    ), ALL),
    OpInfo("permute", {
        "Tensor.permute": lambda lib, x, dims: x.permute(*dims),
        "numbanet.permute": lambda lib, x, dims: lib.permute(x, dims),
    }, lambda x, dims: np.transpose(x, dims), fixed_samples(
        sample((2, 3, 4), dims=(2, 0, 1)), sample((0, 3), dims=(1, 0)), sample((3,), dims=(0,)),
        sample((3, 2), dims=(1, 0), layout="transposed"),
    ), ALL),
    OpInfo("transpose", {
        "Tensor.transpose": lambda lib, x, a, b: x.transpose(a, b),
        "numbanet.transpose": lambda lib, x, a, b: lib.transpose(x, a, b),
    }, lambda x, a, b: np.swapaxes(x, a, b), fixed_samples(
        sample((2, 3, 4), 0, 2), sample((2, 3), -1, 0), sample((0, 3), 0, 1),
        sample((3, 2), 0, 1, layout="sliced"),
    ), ALL),
    OpInfo("t", {"Tensor.t": lambda lib, x: x.t(), "Tensor.T": lambda lib, x: x.T},
           lambda x: x.T, fixed_samples(sample((2, 3)), sample((3,)), sample((0, 2)),
                                        sample((3, 2), layout="transposed")), ALL),
    OpInfo("unsqueeze", {
        "Tensor.unsqueeze": lambda lib, x, dim: x.unsqueeze(dim),
        "numbanet.unsqueeze": lambda lib, x, dim: lib.unsqueeze(x, dim),
    }, lambda x, dim: np.expand_dims(x, dim), fixed_samples(
        sample((2, 3), 1), sample((2, 3), -1), sample((), 0), sample((0, 3), 0),
        sample((3, 2), 0, layout="transposed"),
    ), ALL),
    OpInfo("squeeze", {
        "Tensor.squeeze": lambda lib, x, *dim: x.squeeze(*dim),
        "numbanet.squeeze": lambda lib, x, *dim: lib.squeeze(x, *dim),
    }, np_squeeze, fixed_samples(
        sample((2, 1, 3)), sample((2, 1, 3), 1), sample((2, 1, 3), 0), sample((1,)),
        sample((0, 1)), sample(()), sample((3, 1), layout="transposed"),
    ), ALL),
    OpInfo("flatten", {
        "Tensor.flatten": lambda lib, x, *dims: x.flatten(*dims),
        "numbanet.flatten": lambda lib, x, *dims: lib.flatten(x, *dims),
        "F.flatten": lambda lib, x, *dims: lib.nn.functional.flatten(x, *dims),
    }, np_flatten, fixed_samples(
        sample((2, 3, 4)), sample((2, 3, 4), 1), sample((2, 3, 4), 0, 1), sample(()),
        sample((0, 3)), sample((3, 2), layout="transposed"),
    ), ALL),
    OpInfo("expand", {
        "Tensor.expand": lambda lib, x, *shape: x.expand(*shape),
        "Tensor.expand_as": lambda lib, x, *shape: x.expand_as(lib.zeros(*shape)),
    }, lambda x, *shape: np.broadcast_to(x, shape), fixed_samples(
        sample((3,), 2, 3), sample((2, 1), 2, 4), sample((), 3), sample((1, 0), 2, 0),
    ), ALL),
    OpInfo("repeat", {"Tensor.repeat": lambda lib, x, *times: x.repeat(*times)},
           lambda x, *times: np.tile(x, times), fixed_samples(
               sample((2, 3), 2, 1), sample((3,), 2, 2), sample((), 3), sample((0, 2), 2, 2),
               sample((3, 2), 1, 2, layout="transposed"),
           ), ALL),
    OpInfo("contiguous", {
        "Tensor.contiguous": lambda lib, x: x.contiguous(),
        "Tensor.clone": lambda lib, x: x.clone(),
        "Tensor.detach": lambda lib, x: x.detach(),
    }, lambda x: x.copy(), unary_samples(), ALL),
    OpInfo("chunk", {"Tensor.chunk": lambda lib, x, n, dim=0: x.chunk(n, dim),
                     "numbanet.chunk": lambda lib, x, n, dim=0: lib.chunk(x, n, dim)}, np_chunk,
           fixed_samples(sample((5, 2), 2), sample((2, 6), 3, dim=1),
                         sample((3, 4), 2, dim=0, layout="transposed"), sample((0, 2), 2)),
           ALL),
    OpInfo("split", {"Tensor.split": lambda lib, x, n, dim=0: x.split(n, dim),
                     "numbanet.split": lambda lib, x, n, dim=0: lib.split(x, n, dim)}, np_split,
           fixed_samples(sample((5, 2), 2), sample((2, 6), 4, dim=1),
                         sample((3, 4), 3, dim=0, layout="transposed"),
                         sample((5, 2), [1, 4]), sample((2, 6), [3, 0, 3], dim=-1),
                         sample((0, 2), 2)), ALL),
    OpInfo("getitem", {"Tensor.__getitem__": lambda lib, x, key: x[key]},
           lambda x, key: x[key], fixed_samples(
               sample((4, 3), key=1), sample((4, 3), key=(slice(1, 3), -1)),
               sample((4, 3), key=(slice(None, None, 2),)), sample((4, 3), key=(Ellipsis, 0)),
               sample((4, 3), key=(None, 1)), sample((3, 4), key=(slice(0, 2),),
                                                     layout="transposed"),
               sample((4, 3), key=[0, 2, 2]), sample((4, 3), key=[]),
           ), ALL),
    OpInfo("stack", {"numbanet.stack": lambda lib, a, b, dim=0: lib.stack([a, b], dim)},
           lambda a, b, dim=0: np.stack([a, b], dim), fixed_samples(
               sample((2, 3), (2, 3)), sample((2, 3), (2, 3), dim=2), sample((), ()),
               sample((0, 3), (0, 3), dim=1), sample((3, 2), (3, 2), layout="transposed"),
           ), ALL),
    OpInfo("cat", {"numbanet.cat": lambda lib, a, b, dim=0: lib.cat([a, b], dim)},
           lambda a, b, dim=0: np.concatenate([a, b], dim), fixed_samples(
        sample((2, 3), (2, 3)), sample((2, 3), (2, 3), dim=1), sample((0, 3), (2, 3)),
        sample((3, 2), (3, 2), dim=-1, layout="transposed"),
    ), ALL),
    OpInfo("gather", {"Tensor.gather": lambda lib, x, dim, index: x.gather(dim, index),
                      "numbanet.gather": lambda lib, x, dim, index: lib.gather(x, dim, index)},
           np_gather, fixed_samples(
               sample((3, 4), 1, index_of(3, 2, high=4)), sample((3, 4), 0, index_of(2, 4, high=3)),
               sample((3, 4), 1, index_of(2, 3, high=4)),  # smaller than the input
               sample((4, 3), -1, index_of(4, 5, high=3), layout="transposed"),
               sample((2, 3, 4), 2, index_of(2, 3, 0, high=4)),
               sample((3,), 0, index_of(5, high=3)),
           ), FLOATS + ("int64", "bool")),
    OpInfo("scatter", {
        "Tensor.scatter": lambda lib, x, dim, index, src, **kw: x.scatter(dim, index, src, **kw),
        "numbanet.scatter": lambda lib, x, dim, index, src, **kw: lib.scatter(x, dim, index, src,
                                                                              **kw),
        "Tensor.scatter_": lambda lib, x, dim, index, src, **kw: x.clone().scatter_(
            dim, index, src, **kw),
    }, np_scatter, fixed_samples(
        sample((3, 4), 1, distinct_index((3, 2), 1, 4), (3, 2)),
        sample((3, 4), 0, distinct_index((2, 4), 0, 3), (2, 4)),
        sample((4, 3), 0, distinct_index((2, 3), 0, 4), (2, 3), layout="transposed"),
        sample((3, 4), 1, distinct_index((3, 2), 1, 4), 1.5),  # a value
        sample((3, 4), 0, index_of(0, 4, high=3), (0, 4)),
    ), FLOATS + ("int64",)),
    OpInfo("scatter_reduce", {  # PyTorch has no gradient for scatter with reduce
        "Tensor.scatter": lambda lib, x, dim, index, src, **kw: x.scatter(dim, index, src, **kw),
    }, np_scatter, fixed_samples(
        sample((3, 4), 1, index_of(3, 5, high=4), (3, 5), reduce="add"),
        sample((3, 4), 0, index_of(2, 4, high=3), 2.0, reduce="add"),
        sample((3, 4), 1, index_of(3, 5, high=4), (3, 5), reduce="multiply"),
        sample((3, 4), 0, index_of(4, 4, high=3), (4, 4), reduce="multiply"),
    ), FLOATS + ("int64",), differentiable=False),
    OpInfo("sort", {
        "Tensor.sort": lambda lib, x, **kw: x.sort(**kw),
        "numbanet.sort": lambda lib, x, **kw: lib.sort(x, **kw),
    }, np_sort, sort_samples(), ALL),
    OpInfo("argsort", {
        "Tensor.argsort": lambda lib, x, **kw: x.argsort(**kw),
        "numbanet.argsort": lambda lib, x, **kw: lib.argsort(x, **kw),
    }, lambda x, **kw: np_sort(x, **kw)[1], sort_samples(), ALL,
        result_dtype=lambda dtype: "int64", differentiable=False),
    OpInfo("topk", {
        "Tensor.topk": lambda lib, x, k, **kw: x.topk(k, **kw),
        "numbanet.topk": lambda lib, x, k, **kw: lib.topk(x, k, **kw),
    }, np_topk, fixed_samples(
        sample(distinct((3, 5)), 2),
        sample(distinct((3, 5)), 3, dim=0, largest=False),
        sample(distinct((4, 3)), 4, dim=0, layout="transposed"),
        sample(distinct(()), 1),
        sample((0, 3), 2),
        sample(distinct((2, 3)), 0),
        sample(lambda dtype, rng: edge_values(dtype)[:11] if dtype in FLOATS
               else rng.permutation(11).astype(dtype), 4, smooth=False),
    ), NUMBERS),
    OpInfo("norm", {
        "Tensor.norm": lambda lib, x, **kw: x.norm(**kw),
        "numbanet.norm": lambda lib, x, **kw: lib.norm(x, **kw),
    }, np_norm, fixed_samples(
        sample((3, 4)),
        sample((3, 4), p=1, dim=1),
        sample((3, 4), p=math.inf, dim=0, keepdim=True),
        sample((3, 4), p=-math.inf, dim=1),
        sample((2, 3, 4), p=3, dim=(0, 2)),
        sample((2, 3, 4), p="fro", dim=(1, 2), keepdim=True),
        sample((3, 4), p=0, dim=1),
        sample((4, 3), p=2, dim=0, layout="transposed"),
        sample(()),
        sample((0, 3)),
        sample((0, 3), p=1, dim=1),
        sample(lambda dtype, rng: edge_values(dtype), smooth=False),
        sample(lambda dtype, rng: edge_values(dtype), p=math.inf, smooth=False),
    ), FLOATS),
    OpInfo("bmm", {
        "Tensor.bmm": lambda lib, a, b: a.bmm(b),
        "numbanet.bmm": lambda lib, a, b: lib.bmm(a, b),
    }, np.matmul, fixed_samples(
        sample((2, 3, 4), (2, 4, 5)), sample((0, 3, 4), (0, 4, 2)), sample((2, 0, 3), (2, 3, 2)),
        sample((2, 3, 4), (2, 4, 5), layout="transposed"),
    ), NUMBERS),
    OpInfo("einsum", {
        "numbanet.einsum": lambda lib, *operands, equation: lib.einsum(equation, *operands),
    }, np_einsum, fixed_samples(
        sample((2, 3), (3, 4), equation="ij,jk->ik"),
        sample((2, 3, 4), equation="bij->bji"),
        sample((3, 3), equation="ii->"),
        sample((3, 3), equation="ii->i"),
        sample((3,), (4,), equation="i,j->ij"),
        sample((2, 2, 3), (2, 3, 4), equation="...ij,...jk"),
        sample((3, 4), (4,), equation="ij,j"),
        sample((0, 3), equation="ij->"),
        sample((2, 3), (2, 3), (3,), equation="ij,ij,j->i"),
        sample((4, 3), (3, 2), equation="ij,jk->ki", layout="transposed"),
        sample((), (2,), equation=",i->i"),
    ), NUMBERS),
    OpInfo("pad", {
        "F.pad": lambda lib, x, pad, **kw: lib.nn.functional.pad(x, pad, **kw),
    }, np_pad, fixed_samples(
        sample((2, 3), [1, 2]),
        sample((2, 3), [1, 0, 2, 1], value=1.5),
        sample((1, 2, 3), [-1, 2]),
        sample((1, 2, 3, 4), [2, 1, 1, 2], mode="reflect"),
        sample((1, 2, 3, 4), [3, 1, 2, 0], mode="replicate"),
        sample((1, 2, 3, 4), [1, 2, 3, 1], mode="circular"),
        sample((2, 3, 4), [2, 2], mode="reflect", layout="transposed"),
        sample((0, 3), [1, 1]),
        sample((), []),
    ), NUMBERS),
    OpInfo("scatter_add", {
        "Tensor.scatter_add": lambda lib, x, dim, index, src: x.scatter_add(dim, index, src),
    }, np_scatter_add, fixed_samples(
        sample((3, 4), 1, index_of(3, 2, high=4), (3, 2)),
        sample((3, 4), 0, index_of(2, 4, high=3), (2, 4)),
    ), FLOATS),
    OpInfo("to", {"Tensor.to": lambda lib, x, dtype: x.to(getattr(lib, dtype))},
           lambda x, dtype: x.astype(dtype), fixed_samples(
        sample((2, 3), "float64"), sample((2, 3), "int64"), sample((2, 3), "bool"),
        sample((), "float32"), sample((3, 2), "float32", layout="transposed"),
    ), NUMBERS, result_dtype=lambda dtype: SAME, differentiable=False),
    OpInfo("casts", {  # integer values, which every cast keeps
        "Tensor.double": lambda lib, x: x.double(),
        "Tensor.float": lambda lib, x: x.float().double(),
        "Tensor.long": lambda lib, x: x.long().double(),
        "Tensor.int": lambda lib, x: x.int().double(),
        "Tensor.bool": lambda lib, x: x.bool().double() * x.double(),
    }, lambda x: x.astype(np.float64), fixed_samples(
        sample(integer_valued(2, 3)), sample(integer_valued()), sample(integer_valued(0, 2)),
        sample(integer_valued(3, 2), layout="transposed"),
    ), EVERY_NUMBER, result_dtype=lambda dtype: "float64", differentiable=False),
    OpInfo("fill_", {
        "Tensor.fill_": lambda lib, x: x.clone().fill_(2),
        "Tensor.zero_": lambda lib, x: x.clone().zero_() + 2,
        "Tensor.copy_": lambda lib, x: x.clone().copy_(lib.full_like(x, 2)),
    }, lambda x: np.full_like(x, 2), unary_samples(), NUMBERS, differentiable=False),
    OpInfo("allclose", {"numbanet.allclose": lambda lib, a, b: lib.tensor(lib.allclose(a, b))},
           lambda a, b: np.asarray(np.allclose(a, b)), fixed_samples(
               sample((2, 3), (2, 3)), sample(exactly([1.0, 2.0]), exactly([1.0, 2.0 + 1e-9])),
               sample(exactly([1.0, math.nan]), exactly([1.0, math.nan])),
           ), FLOATS, result_dtype=lambda dtype: "bool", differentiable=False),
    OpInfo("equal", {"numbanet.equal": lambda lib, a, b: lib.tensor(lib.equal(a, b))},
           lambda a, b: np.asarray(np.array_equal(a, b)), fixed_samples(
               sample(exactly([1, 2]), exactly([1, 2])), sample((2, 3), (2, 3)),
               sample(exactly([1, 2]), exactly([1, 2, 3])),
           ), NUMBERS, result_dtype=lambda dtype: "bool", differentiable=False),
    # ---- nn.functional
    OpInfo("leaky_relu", {"F.leaky_relu": lambda lib, x: lib.nn.functional.leaky_relu(x, 0.1)},
           lambda x: np.where(x > 0, x, 0.1 * x).astype(x.dtype), unary_samples()),
    functional_unary("sigmoid", np_sigmoid),
    functional_unary("tanh", np.tanh),
    OpInfo("linear", {"F.linear": lambda lib, x, w, b=None: lib.nn.functional.linear(x, w, b)},
           lambda x, w, b=None: x @ w.T + (0 if b is None else b), fixed_samples(
               sample((4, 3), (2, 3), (2,)), sample((4, 3), (2, 3)), sample((3,), (2, 3), (2,)),
               sample((0, 3), (2, 3), (2,)), sample((2, 4, 3), (2, 3), (2,)),
           )),
    OpInfo("conv2d", {"F.conv2d": lambda lib, x, w, b, **kw: lib.nn.functional.conv2d(
        x, w, b, **kw)}, np_conv2d, fixed_samples(
        sample((2, 2, 5, 5), (3, 2, 3, 3), (3,)),
        sample((1, 2, 5, 6), (2, 2, 2, 3), (2,), stride=2, padding=1),
        sample((1, 1, 4, 4), (1, 1, 2, 2), (1,), stride=(1, 2), padding=(0, 1)),
        sample((2, 2, 4, 4), (3, 2, 3, 3), (3,), layout="transposed"),
    )),
    OpInfo("max_pool2d", {"F.max_pool2d": lambda lib, x, k, s=None: lib.nn.functional.max_pool2d(
        x, k, s)}, np_max_pool2d, fixed_samples(
        sample((2, 2, 4, 4), 2), sample((1, 2, 5, 5), 3, 1), sample((1, 1, 4, 6), 2, 1,
                                                                    layout="transposed"),
    )),
    OpInfo("avg_pool2d", {
        "F.avg_pool2d": lambda lib, x, k: lib.nn.functional.avg_pool2d(x, k),
        "F.adaptive_avg_pool2d": lambda lib, x, k: lib.nn.functional.adaptive_avg_pool2d(
            x, (x.shape[2] // k, x.shape[3] // k)),
    }, lambda x, k: x.reshape(x.shape[0], x.shape[1], x.shape[2] // k, k, x.shape[3] // k, k)
        .mean((3, 5)), fixed_samples(
        sample((2, 2, 4, 4), 2), sample((1, 3, 6, 6), 3), sample((1, 1, 4, 6), 2,
                                                                 layout="transposed"),
    )),
    OpInfo("dropout", {
        "F.dropout": lambda lib, x: lib.nn.functional.dropout(x, 0.5, training=False),
        "F.dropout2d": lambda lib, x: lib.nn.functional.dropout2d(x, 0.0),
    }, lambda x: x, fixed_samples(sample((2, 3, 2, 2)), sample((1, 2, 3, 3),
                                                                layout="transposed"))),
    OpInfo("mse_loss", {
        "F.mse_loss": lambda lib, x, t, **kw: lib.nn.functional.mse_loss(x, t, **kw),
    }, lambda x, t, reduction="mean": np_loss_reduce((x - t) ** 2, reduction), fixed_samples(
        sample((3, 4), (3, 4)), sample((3, 4), (3, 4), reduction="sum"),
        sample((3, 4), (3, 4), reduction="none"), sample((), ()),
        sample((4, 3), (4, 3), layout="transposed"),
    )),
    OpInfo("l1_loss", {
        "F.l1_loss": lambda lib, x, t, **kw: lib.nn.functional.l1_loss(x, t, **kw),
    }, lambda x, t, reduction="mean": np_loss_reduce(np.abs(x - t), reduction), fixed_samples(
        sample((3, 4), (3, 4)), sample((3, 4), (3, 4), reduction="sum"),
        sample((3, 4), (3, 4), reduction="none"), sample((4, 3), (4, 3), layout="transposed"),
    )),
    OpInfo("cross_entropy", {
        "F.cross_entropy": lambda lib, x, t, **kw: lib.nn.functional.cross_entropy(x, t, **kw),
        "F.nll_loss": lambda lib, x, t, **kw: lib.nn.functional.nll_loss(
            lib.nn.functional.log_softmax(x, 1), t, **kw),
    }, np_cross_entropy, fixed_samples(
        sample((4, 3), labels(4)), sample((4, 3), labels(4), reduction="sum"),
        sample((4, 3), labels(4), reduction="none"),
        sample((3, 4), labels(3, classes=4), layout="transposed"),
        sample(exactly([[1e3, 1e3, 5e2]]), integers([0]), smooth=False),
    ), rtol=1e-4),  # float32 logits of 1000 round at 1e-4
    OpInfo("binary_cross_entropy", {
        "F.binary_cross_entropy": lambda lib, p, t, **kw:
            lib.nn.functional.binary_cross_entropy(p, t, **kw),
    }, np_bce, fixed_samples(
        sample(probabilities(3, 2), probabilities(3, 2)),
        sample(probabilities(3, 2), probabilities(3, 2), reduction="sum"),
        sample(probabilities(2, 3), probabilities(2, 3), layout="transposed"),
        sample(exactly([0.0, 1.0, 0.0, 1.0]), exactly([1.0, 0.0, 0.0, 1.0]), reduction="none",
               smooth=False),
    )),
    OpInfo("binary_cross_entropy_with_logits", {
        "F.binary_cross_entropy_with_logits": lambda lib, x, t, **kw:
            lib.nn.functional.binary_cross_entropy_with_logits(x, t, **kw),
    }, np_bce_with_logits, fixed_samples(
        sample((3, 2), probabilities(3, 2)), sample((3, 2), probabilities(3, 2), reduction="sum"),
        sample((2, 3), probabilities(2, 3), layout="transposed"),
        sample(exactly([0.0, 0.0, -1e4, 1e4]), exactly([1.0, 0.0, 0.0, 1.0]), reduction="none"),
    )),
    OpInfo("one_hot", {"F.one_hot": lambda lib, x, n=-1: lib.nn.functional.one_hot(x, n)},
           np_one_hot, fixed_samples(sample(index_of(4, high=3)), sample(index_of(2, 3, high=4), 5),
                                     sample(index_of(0, high=3), 3)),
           ("int64",), result_dtype=lambda dtype: "int64", differentiable=False),
]

# Public callables that are not ops on tensors: creation, random state, files, dtype rules,
# and attributes or autograd plumbing rather than computations.
NOT_OPS = {
    "numbanet." + name for name in (
        "arange as_tensor empty empty_like eye from_numpy full full_like linspace ones "
        "ones_like rand rand_like randint randn randn_like randperm tensor zeros zeros_like "
        "can_cast promote_types result_type ensure_writable_cache initial_seed manual_seed "
        "is_grad_enabled is_tensor load save numel multinomial "
        # settings and tools, not tensor ops: defaults, printing, inference mode, compile
        "announce_slow_compiles get_default_device get_default_dtype set_default_device "
        "set_default_dtype get_printoptions set_printoptions is_inference_mode_enabled compile "
        # quantization: checked against PyTorch's quantized tensors in tests/test_quant_*.py
        "quantize_per_tensor quantize_per_channel dequantize int_repr").split()
} | {
    "Tensor." + name for name in (
        "backward cpu cuda data device dim dtype element_size grad grad_fn is_contiguous "
        "is_cuda is_floating_point is_leaf item ndim nelement normal_ numel numpy "
        "register_hook requires_grad requires_grad_ retain_grad shape size stride tolist type "
        "uniform_ detach_ multinomial is_quantized").split()
} | {"F.conv_padding", "F.legacy_reduction"}
