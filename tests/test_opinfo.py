"""An OpInfo-style differential suite: every public op, every sample, checked four ways.

For each :class:`~opinfo_samples.OpInfo` (``tests/opinfo_samples.py``) and each of its
samples — 0-d, size-0, broadcasting, non-contiguous, every valid dtype, the IEEE edge values —
in every spelling of the op (method, operator, function, in-place):

1. values and dtype against the numpy reference (always; CI has no PyTorch);
2. gradients (float64, smooth samples) against central finite differences of that numpy
   reference (always);
3. values and dtype against PyTorch (skipped without it);
4. gradients against PyTorch, edge values included (skipped without it).

A test collects every failing sample of its op before failing, so one run lists them all.
``test_every_public_op_has_an_opinfo`` makes a new public op come with its samples.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from opinfo_samples import FLOATS, NOT_OPS, OPS, SAME, NotApplicable, OpInfo, Sample

import numbanet
import numbanet.nn.functional as F

FINITE_DIFFERENCE_STEP = 1e-6
MAX_REPORTED = 8


def make(lib, value, layout: str, requires_grad: bool = False):
    """(leaf, tensor): ``tensor`` holds ``value`` laid out as ``layout`` says; ``leaf`` is the
    tensor the gradient lands on (its base for a non-contiguous layout)."""
    if not isinstance(value, np.ndarray):
        return None, value
    dtype = getattr(lib, value.dtype.name)
    requires_grad = requires_grad and value.dtype.kind == "f"
    if layout == "transposed" and value.ndim >= 2:
        leaf = lib.tensor(np.ascontiguousarray(np.swapaxes(value, -1, -2)), dtype=dtype,
                          requires_grad=requires_grad)
        return leaf, leaf.transpose(-1, -2)
    if layout == "sliced" and value.ndim >= 1:
        wide = np.zeros(value.shape[:-1] + (2 * value.shape[-1],), value.dtype)
        wide[..., ::2] = value
        leaf = lib.tensor(wide, dtype=dtype, requires_grad=requires_grad)
        return leaf, leaf[..., ::2]
    leaf = lib.tensor(value, dtype=dtype, requires_grad=requires_grad)
    return leaf, leaf


def logical_grad(leaf, layout: str, value: np.ndarray) -> np.ndarray | None:
    """The gradient on ``leaf`` seen in the sample's logical layout."""
    if leaf is None or leaf.grad is None:
        return None
    grad = leaf.grad.detach().cpu().numpy()
    if layout == "transposed" and value.ndim >= 2:
        return np.swapaxes(grad, -1, -2)
    if layout == "sliced" and value.ndim >= 1:
        return grad[..., ::2]
    return grad


def outputs_of(result) -> list:
    """An op's result as a list of tensors (max with a dim, chunk and split give several)."""
    return list(result) if isinstance(result, tuple | list) else [result]


def as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def dtype_name(value) -> str:
    return str(value.dtype).rsplit(".", 1)[-1] if hasattr(value, "detach") else \
        np.asarray(value).dtype.name


def tolerance(dtype: str, info: OpInfo) -> dict:
    if dtype == "float64":
        return {"rtol": 1e-10, "atol": 1e-12}
    if dtype in ("float32", "float16"):
        return {"rtol": info.rtol, "atol": 1e-6}
    return {"rtol": 0, "atol": 0}


def compare(actual: list, expected: list, expected_dtypes: list, info: OpInfo) -> None:
    """Same number of outputs, shapes, dtypes, and values (NaN where NaN)."""
    assert len(actual) == len(expected), f"{len(actual)} outputs, expected {len(expected)}"
    for got, want, dtype in zip(actual, expected, expected_dtypes, strict=True):
        assert dtype_name(got) == dtype, f"dtype {dtype_name(got)}, expected {dtype}"
        got_values, want_values = as_array(got), np.asarray(want)
        assert got_values.shape == want_values.shape, \
            f"shape {got_values.shape}, expected {want_values.shape}"
        if dtype == "bool" or want_values.dtype.kind in "biu":
            np.testing.assert_array_equal(got_values, want_values)
        else:
            np.testing.assert_allclose(got_values, want_values.astype(got_values.dtype),
                                       equal_nan=True, **tolerance(dtype, info))


def is_inplace(name: str) -> bool:
    return name.endswith("_") and not name.endswith("__") or name.startswith("Tensor.__i")


def reference_outputs(info: OpInfo, sample: Sample) -> list:
    with np.errstate(all="ignore"):
        return [np.asarray(out) for out in outputs_of(info.reference(*sample.inputs,
                                                                     **sample.kwargs))]


def expected_dtypes(info: OpInfo, dtype: str, expected: list) -> list:
    stated = info.result_dtype(dtype)
    return [out.dtype.name if stated == SAME or index > 0 else stated
            for index, out in enumerate(expected)]


def fits_in_place(sample: Sample, expected: list, dtype: str) -> bool:
    """An in-place op writes into its first input: the result must have its shape and dtype."""
    first = sample.inputs[0]
    return isinstance(first, np.ndarray) and expected[0].shape == first.shape and \
        expected[0].dtype.name == first.dtype.name


def cases(info: OpInfo):
    """(dtype, sample) pairs of an op."""
    for dtype in info.dtypes:
        for sample in info.samples(dtype):
            yield dtype, sample


def run(lib, variant, sample: Sample, requires_grad: bool = False):
    """(leaves, result) of one variant on one sample in ``lib``."""
    made = [make(lib, value, sample.layout, requires_grad) for value in sample.inputs]
    result = variant(lib, *(tensor for _, tensor in made), **sample.kwargs)
    return [leaf for leaf, _ in made], result


def fail_if_any(failures: list, info: OpInfo) -> None:
    if failures:
        shown = "\n".join(failures[:MAX_REPORTED])
        more = f"\n... and {len(failures) - MAX_REPORTED} more" \
            if len(failures) > MAX_REPORTED else ""
        pytest.fail(f"{info.name}: {len(failures)} failing samples\n{shown}{more}",
                    pytrace=False)


def describe(variant_name: str, dtype: str, sample: Sample, error: BaseException) -> str:
    message = str(error).strip().splitlines()
    first = " ".join(message[:4])[:400] if message else ""
    return f"- {variant_name} {dtype} {sample!r}: {type(error).__name__}: {first}"


IDS = [info.name for info in OPS]
DIFFERENTIABLE = [info for info in OPS if info.differentiable]


# ---- 1. values and dtypes against numpy --------------------------------------------------------


@pytest.mark.parametrize("info", OPS, ids=IDS)
def test_values_match_numpy(info: OpInfo):
    failures = []
    for dtype, sample in cases(info):
        expected = reference_outputs(info, sample)
        dtypes = expected_dtypes(info, dtype, expected)
        for name, variant in info.variants.items():
            if is_inplace(name) and not fits_in_place(sample, expected, dtype):
                continue
            try:
                _, result = run(numbanet, variant, sample)
                compare(outputs_of(result), expected, dtypes, info)
            except NotApplicable:
                continue
            except Exception as error:  # noqa: BLE001 - every failure of every sample is listed
                failures.append(describe(name, dtype, sample, error))
    fail_if_any(failures, info)


# ---- 2. gradients against finite differences ---------------------------------------------------


def upstream_for(outputs: list, rng) -> list:
    """A random gradient for each floating point output: loss = sum(out * upstream)."""
    return [rng.standard_normal(np.shape(out)) if np.asarray(out).dtype.kind == "f" else None
            for out in outputs]


def finite_difference_grads(info: OpInfo, sample: Sample, upstream: list) -> list:
    """d loss / d input by central differences of the numpy reference, in float64."""
    def loss(inputs) -> float:
        outputs = outputs_of(info.reference(*inputs, **sample.kwargs))
        return sum(float(np.sum(np.asarray(out) * up))
                   for out, up in zip(outputs, upstream, strict=True) if up is not None)

    grads = []
    inputs = list(sample.inputs)
    for position, value in enumerate(inputs):
        if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
            grads.append(None)
            continue
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = value.copy()
            shifted[index] += FINITE_DIFFERENCE_STEP
            inputs[position] = shifted
            above = loss(inputs)
            shifted[index] -= 2 * FINITE_DIFFERENCE_STEP
            below = loss(inputs)
            grad[index] = (above - below) / (2 * FINITE_DIFFERENCE_STEP)
        inputs[position] = value
        grads.append(grad)
    return grads


def backward(lib, info: OpInfo, sample: Sample, upstream: list) -> list:
    """The gradient of sum(out * upstream) with respect to each floating point input."""
    leaves, result = run(lib, info.op, sample, requires_grad=True)
    total = None
    for out, up in zip(outputs_of(result), upstream, strict=True):
        if up is None or not out.requires_grad:
            continue
        term = (out * lib.tensor(up, dtype=out.dtype)).sum()
        total = term if total is None else total + term
    if total is not None:
        total.backward()
    return [logical_grad(leaf, sample.layout, value) if isinstance(value, np.ndarray) else None
            for leaf, value in zip(leaves, sample.inputs, strict=True)]


def compare_grads(got: list, want: list) -> None:
    for position, (mine, reference) in enumerate(zip(got, want, strict=True)):
        if reference is None:
            continue
        if mine is None:  # PyTorch's None: the output does not depend on this input
            mine = np.zeros_like(reference)
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=f"gradient of input {position}")


def gradient_cases(info: OpInfo, smooth_only: bool):
    if not info.differentiable or "float64" not in info.dtypes:
        return
    for sample in info.samples("float64"):
        has_float = any(isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size
                        for v in sample.inputs)
        if has_float and (sample.smooth or not smooth_only):
            yield sample


@pytest.mark.parametrize("info", DIFFERENTIABLE, ids=[info.name for info in DIFFERENTIABLE])
def test_gradients_match_finite_differences(info: OpInfo):
    failures = []
    rng = np.random.default_rng(4)
    for sample in gradient_cases(info, smooth_only=True):
        try:
            upstream = upstream_for(reference_outputs(info, sample), rng)
            compare_grads(backward(numbanet, info, sample, upstream),
                          finite_difference_grads(info, sample, upstream))
        except NotApplicable:
            continue
        except Exception as error:  # noqa: BLE001
            failures.append(describe(info.name, "float64", sample, error))
    fail_if_any(failures, info)


# ---- 3 and 4. against PyTorch ------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("info", OPS, ids=IDS)
def test_values_match_pytorch(info: OpInfo, torch):
    failures = []
    for dtype, sample in cases(info):
        for name, variant in info.variants.items():
            if name == "Tensor.__rtruediv__" and not sample.smooth:
                continue  # PyTorch computes b.__rtruediv__(a) as a * b.reciprocal(), unlike
                # its a / b: with b = 1e-40 (1 / b overflows float32) 0 / b is 0 * inf = nan
            if info.name == "remainder" and dtype == "float32" and not sample.smooth:
                continue  # PyTorch's vectorised float32 fmod (SLEEF) gives nan when a / b
                # overflows (1 % 1e-40); its own scalar path, C's fmod and numbanet give the
                # exact remainder 8.45e-42. The float64 edges and smooth samples still compare.
            try:
                try:
                    _, reference = run(torch, variant, sample)
                except (NotApplicable, AttributeError):  # AttributeError: not PyTorch's API
                    continue
                except Exception as torch_error:  # noqa: BLE001 - then numbanet must raise too
                    with pytest.raises(type(torch_error)):
                        run(numbanet, variant, sample)
                    continue
                _, result = run(numbanet, variant, sample)
                expected = outputs_of(reference)
                compare(outputs_of(result), [as_array(out) for out in expected],
                        [dtype_name(out) for out in expected], info)
            except Exception as error:  # noqa: BLE001
                failures.append(describe(name, dtype, sample, error))
    fail_if_any(failures, info)


@pytest.mark.torch
@pytest.mark.parametrize("info", DIFFERENTIABLE, ids=[info.name for info in DIFFERENTIABLE])
def test_gradients_match_pytorch(info: OpInfo, torch):
    failures = []
    rng = np.random.default_rng(5)
    for sample in gradient_cases(info, smooth_only=False):
        try:
            upstream = upstream_for(reference_outputs(info, sample), rng)
            compare_grads(backward(numbanet, info, sample, upstream),
                          backward(torch, info, sample, upstream))
        except NotApplicable:
            continue
        except Exception as error:  # noqa: BLE001
            failures.append(describe(info.name, "float64", sample, error))
    fail_if_any(failures, info)


# ---- coverage ------------------------------------------------------------------------------------


def public_ops() -> set[str]:
    """Every public function of numbanet and nn.functional and every public Tensor method,
    property and operator, minus what is listed as not an op."""
    names = {f"numbanet.{name}" for name, value in vars(numbanet).items()
             if not name.startswith("_") and callable(value)
             and not inspect.isclass(value) and not inspect.ismodule(value)}
    names |= {f"F.{name}" for name, value in vars(F).items()
              if not name.startswith("_") and inspect.isfunction(value)
              and value.__module__ == F.__name__}
    names |= {f"Tensor.{name}" for name in dir(numbanet.Tensor)
              if not name.startswith("_") or (
                  name.startswith("__") and name.endswith("__")
                  and name not in dir(object) and name[2:-2] in OPERATOR_DUNDERS)}
    return names - NOT_OPS


OPERATOR_DUNDERS = {
    f"{prefix}{name}" for name in (
        "add sub mul truediv floordiv mod pow matmul and or xor lshift rshift").split()
    for prefix in ("", "r", "i")
} | {"neg", "pos", "abs", "invert", "getitem", "setitem", "eq", "ne", "lt", "le", "gt", "ge"}


def test_every_public_op_has_an_opinfo():
    covered = {name for info in OPS for name in info.variants}
    missing = sorted(public_ops() - covered - {"Tensor.__setitem__"})  # see test_tensor
    assert not missing, f"public ops without an OpInfo in tests/opinfo_samples.py: {missing}"


def test_samples_cover_the_required_kinds():
    """The generators really produce 0-d, size-0, broadcasting, non-contiguous and edge
    samples, in every dtype an op lists."""
    kinds = set()
    for info in OPS:
        for dtype, sample in cases(info):
            arrays = [v for v in sample.inputs if isinstance(v, np.ndarray)]
            kinds.add(dtype)
            kinds.update({"0-d" for a in arrays if a.ndim == 0})
            kinds.update({"size-0" for a in arrays if a.size == 0})
            kinds.update({sample.layout})
            if len({a.shape for a in arrays}) > 1:
                kinds.add("broadcasting")
            if not sample.smooth:
                kinds.add("edges")
    assert kinds >= {"0-d", "size-0", "broadcasting", "transposed", "sliced", "edges",
                     *FLOATS, "int64", "int32", "uint8", "bool"}
