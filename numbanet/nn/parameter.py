"""``Parameter``: a tensor that a ``Module`` learns.

A Parameter is an ordinary :class:`~numbanet.tensor.Tensor` with two differences:

- it requires a gradient by default (``loss.backward()`` fills ``param.grad``), and
- assigning one to a module attribute (``self.weight = nn.Parameter(...)``) registers it,
  so ``model.parameters()`` — and therefore the optimizer — finds it.

It shares storage with the tensor it wraps, as in PyTorch: ``nn.Parameter(t)`` does not copy.
"""

from __future__ import annotations

from numbanet.creation import empty, tensor
from numbanet.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor registered as a learnable weight when assigned to a ``Module``."""

    __slots__ = ()  # Tensor's slots are enough; no per-instance __dict__

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            data = tensor(data)
        self._adopt(data.detach())  # same storage and version counter, no graph history
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
