"""Making tensors: from data (``tensor``, ``from_numpy``), filled (``zeros``, ``full``,
``eye``, ``arange``), random (``rand``, ``randn``, ``randint``) and ``*_like`` — and the
two doors between a tensor and the host: ``host_array`` (values to numpy) and
``scalar_data`` (a Python number as a 0-d array on a tensor's device).

Every function here picks a dtype as PyTorch does — Python floats become the default float
(float32), Python ints int64, numpy arrays keep their dtype — and places the values on the
requested device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numbanet import dtypes
from numbanet.defaults import creation_device
from numbanet.device import as_device
from numbanet.kernels import backend_for
from numbanet.shapes import shape_arg

if TYPE_CHECKING:
    from numbanet.tensor import Tensor

_device_scalars: dict = {}  # (dtype, the value's bytes) -> 0-d GPU array; see scalar_data


def _wrap(data) -> Tensor:
    return tensor_module.Tensor._from_data(data)


def host_array(tensor: Tensor) -> np.ndarray:
    """The values of ``tensor`` as a numpy array: its own storage on the CPU, a copy from
    the GPU (the host waits for the GPU here)."""
    return tensor._backend.to_host(tensor._data)


def scalar_data(value, dtype: np.dtype, device):
    """``value`` as a 0-d array of ``dtype`` on ``device``: the ``2.0`` of ``x * 2.0``.

    On the GPU each such constant is made once, by a fill kernel, and reused: copying the
    number up for every op would make the host wait for a transfer each time. Keyed by the
    value's bytes, so that 0.0 and -0.0 (or two NaNs) never share an entry.
    """
    scalar = np.array(value, dtype=dtype)
    if device.type == "cpu":
        return scalar
    key = (scalar.dtype.str, scalar.tobytes())
    data = _device_scalars.get(key)
    if data is None:
        if len(_device_scalars) >= 1024:  # a loop over many distinct numbers stays bounded
            _device_scalars.clear()
        data = _device_scalars[key] = backend_for("cuda").full((), scalar.item(), scalar.dtype)
    return data


def _numpy_dtype_for(data, dtype) -> np.dtype | None:
    """PyTorch's choice for ``tensor(data)``: the asked dtype; a numpy array's own (int64 for
    numpy's other wide integers); for Python values float32, int64 or bool."""
    if dtype is not None:
        return dtypes.as_dtype(dtype).numpy
    if isinstance(data, np.ndarray) and data.dtype.kind in "fb":
        return dtypes.as_dtype(data.dtype).numpy
    if isinstance(data, np.ndarray) and data.dtype in (np.uint8, np.int8, np.int16, np.int32):
        return data.dtype
    flat = np.asarray(data)
    if flat.dtype.kind == "f":
        return dtypes.DEFAULT_FLOAT.numpy
    if flat.dtype.kind in "iu":
        return np.dtype(np.int64)
    if flat.dtype.kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"can't convert {type(data).__name__} of {flat.dtype} to a tensor")


def _target(device):
    """``device`` (else the default device) as a numbanet device, refusing CUDA where there is
    none (with the reason)."""
    target = as_device(creation_device(device))
    if target.type == "cuda":
        from numbanet import cuda

        cuda._require_available()
    return target


def _place(array: np.ndarray, device, requires_grad: bool) -> Tensor:
    """A tensor of ``array``'s values on ``device`` (the array itself on the CPU)."""
    if _target(device).type == "cuda":
        out = _wrap(backend_for("cuda").from_host(np.ascontiguousarray(array)))
    else:
        out = _wrap(array)
    if requires_grad:
        out.requires_grad_(True)
    return out


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, tensors)."""
    if isinstance(data, tensor_module.Tensor):
        data = host_array(data)
    elif isinstance(data, (list, tuple)) and any(
            isinstance(x, tensor_module.Tensor) for x in data):
        data = [host_array(x) if isinstance(x, tensor_module.Tensor) else x for x in data]
    numpy_dtype = _numpy_dtype_for(data, dtype)
    array = np.array(data, dtype=numpy_dtype, copy=True)
    return _place(array, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` itself when it already is a tensor of that dtype and device, else ``tensor``."""
    if isinstance(data, tensor_module.Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.as_dtype(array.dtype)  # raises for unsupported dtypes
    return _wrap(array)


def _filled(shape, value, dtype, device, requires_grad) -> Tensor:
    shape = shape_arg(shape)
    numpy_dtype = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy
    out = _wrap(backend_for(_target(device).type).full(shape, value, numpy_dtype))
    return out.requires_grad_(True) if requires_grad else out


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 unless told."""
    return _filled(shape, 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; float32 unless told."""
    return _filled(shape, 1, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``, whose type picks the dtype: bool,
    int64 or float32."""
    if dtype is None and isinstance(fill_value, bool):
        dtype = dtypes.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = dtypes.int64
    return _filled((tuple(size),), fill_value, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are yours to overwrite (numbanet fills it with zeros)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(reference: Tensor, dtype, device):
    """The dtype and device of a ``*_like`` result: the reference's unless told."""
    return (dtype if dtype is not None else reference.dtype,
            device if device is not None else reference.device)


def _filled_as(reference: Tensor, value, requires_grad: bool) -> Tensor:
    """A tensor of ``value`` with the reference's shape, dtype and device (straight from its
    storage's metadata: ``loss.backward()`` makes its seed gradient this way)."""
    data = reference._data
    out = _wrap(reference._backend.full(data.shape, value, data.dtype))
    return out.requires_grad_(True) if requires_grad else out


def zeros_like(reference: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None and device is None and not reference.is_quantized:
        return _filled_as(reference, 0, requires_grad)
    dtype, device = _like(reference, dtype, device)
    return zeros(reference.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(reference: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None and device is None and not reference.is_quantized:
        return _filled_as(reference, 1, requires_grad)
    dtype, device = _like(reference, dtype, device)
    return ones(reference.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(reference: Tensor, fill_value, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return full(reference.shape, fill_value, dtype=dtype, device=device)


def empty_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    return zeros_like(reference, dtype=dtype, device=device)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """``start, start + step, ...`` up to but excluding ``end`` (``arange(n)``: 0 .. n-1);
    int64 when every bound is an int, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_integer = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if is_integer else dtypes.DEFAULT_FLOAT
    numpy_dtype = dtypes.as_dtype(dtype).numpy
    out = _wrap(backend_for(_target(device).type).arange(start, end, step, numpy_dtype))
    return out.requires_grad_(True) if requires_grad else out


def linspace(start: float, end: float, steps: int, dtype=None, device=None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    values = np.linspace(start, end, steps)
    return tensor(values, dtype=dtype or dtypes.DEFAULT_FLOAT, device=device)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (ones on the diagonal)."""
    numpy_dtype = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy
    return _place(np.eye(n, m, dtype=numpy_dtype), device, requires_grad)


def _random(shape, dtype, device, requires_grad, draw) -> Tensor:
    """``draw(generator, shape)`` from numbanet's seeded generator, as a tensor."""
    from numbanet.random import numpy_generator

    shape = shape_arg(shape)
    numpy_dtype = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT).numpy
    values = draw(numpy_generator(), shape).astype(numpy_dtype, copy=False)
    return _place(values, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False,
          generator=None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    return _random(shape, dtype, device, requires_grad,
                   lambda rng, s: (generator.numpy if generator else rng).standard_normal(s))


def rand(*shape, dtype=None, device=None, requires_grad: bool = False,
         generator=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    return _random(shape, dtype, device, requires_grad,
                   lambda rng, s: (generator.numpy if generator else rng).random(s))


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    """Random integers in [low, high)."""
    from numbanet.random import numpy_generator

    if high is None:
        low, high = 0, low
    rng = generator.numpy if generator else numpy_generator()
    values = rng.integers(low, high, size=tuple(size))
    return _place(values.astype(dtypes.as_dtype(dtype or dtypes.int64).numpy), device, False)


def randperm(n: int, dtype=None, device=None, generator=None) -> Tensor:
    """A random permutation of 0 .. n-1."""
    from numbanet.random import numpy_generator

    rng = generator.numpy if generator else numpy_generator()
    values = rng.permutation(n).astype(dtypes.as_dtype(dtype or dtypes.int64).numpy)
    return _place(values, device, False)


def randn_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return randn(reference.shape, dtype=dtype, device=device)


def rand_like(reference: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(reference, dtype, device)
    return rand(reference.shape, dtype=dtype, device=device)


# Last, because tensor.py imports the functions above: whichever of the two modules Python
# loads first, each finds what it needs of the other when it is called.
from numbanet import tensor as tensor_module  # noqa: E402
