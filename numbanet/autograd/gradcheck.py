"""``gradcheck``: compare autograd's gradients with finite differences.

For a function f and each input element x_k, the central difference

    (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

approximates column k of the Jacobian with an error of order eps^2. Autograd computes the
same Jacobian one row at a time (one ``backward`` per output element, seeded with a
one-hot gradient). In float64 the two agree to about 1e-7; a wrong backward rule shows up
as a difference of order 1. Use float64 inputs: in float32 rounding error swamps eps.
"""

from __future__ import annotations

import numpy as np


def _outputs_tuple(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _flat_outputs(function, inputs) -> np.ndarray:
    from numbanet.autograd.grad_mode import no_grad

    with no_grad():
        outputs = _outputs_tuple(function(*inputs))
    return np.concatenate([np.asarray(o._host(), dtype=np.float64).ravel()
                           for o in outputs if o.is_floating_point()])


def numerical_jacobian(function, inputs, eps: float = 1e-6) -> list[np.ndarray]:
    """One (outputs x input elements) Jacobian per differentiable input."""
    jacobians = []
    for tensor in inputs:
        if not getattr(tensor, "requires_grad", False):
            continue
        data = tensor._data
        flat = data.reshape(-1) if data.flags.c_contiguous else None
        if flat is None:
            raise ValueError("gradcheck perturbs inputs in place: pass contiguous CPU tensors "
                             "(make views inside the function instead)")
        columns = []
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = _flat_outputs(function, inputs)
            flat[k] = original - eps
            minus = _flat_outputs(function, inputs)
            flat[k] = original
            columns.append((plus - minus) / (2 * eps))
        jacobians.append(np.stack(columns, axis=1) if columns else np.zeros((0, 0)))
    return jacobians


def analytical_jacobian(function, inputs) -> list[np.ndarray]:
    """The same Jacobians, row by row, from autograd."""
    from numbanet.autograd import grad
    from numbanet.creation import zeros_like

    differentiable = [t for t in inputs if getattr(t, "requires_grad", False)]
    outputs = [o for o in _outputs_tuple(function(*inputs)) if o.is_floating_point()]
    rows = []
    for output in outputs:
        for index in range(output.numel()):
            seed = zeros_like(output)
            seed._data.reshape(-1)[index] = 1.0
            gradients = grad([output], differentiable, [seed], retain_graph=True,
                             allow_unused=True)
            rows.append([np.zeros(t.numel()) if g is None else
                         np.asarray(g._host(), dtype=np.float64).ravel()
                         for t, g in zip(differentiable, gradients, strict=True)])
    return [np.array([row[i] for row in rows]).reshape(len(rows), t.numel())
            for i, t in enumerate(differentiable)]


def gradcheck(function, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """True when autograd's Jacobian matches finite differences for every input.

    ``inputs``: a tensor or tuple of tensors; those with ``requires_grad=True`` are checked.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    for tensor in inputs:
        if getattr(tensor, "requires_grad", False) and tensor._data.dtype != np.float64:
            message = ("gradcheck needs float64 inputs: float32 rounding (1e-7 relative) "
                       "swamps the finite difference")
            if raise_exception:
                raise ValueError(message)
            return False
    numerical = numerical_jacobian(function, inputs, eps)
    analytical = analytical_jacobian(function, inputs)
    for index, (expected, actual) in enumerate(zip(numerical, analytical, strict=True)):
        if not np.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True):
            worst = np.unravel_index(np.argmax(np.abs(actual - expected)), expected.shape)
            message = (f"Jacobian mismatch for differentiable input {index}: at (output, "
                       f"input element) {tuple(int(i) for i in worst)} autograd gives "
                       f"{actual[worst]:.6g}, finite differences {expected[worst]:.6g}\n"
                       f"analytical:\n{actual}\nnumerical:\n{expected}")
            if raise_exception:
                raise AssertionError(message)
            return False
    return True
