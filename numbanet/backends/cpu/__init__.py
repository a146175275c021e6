"""The CPU backend: numpy arrays for storage, ``@numba.njit`` kernels for the work.

Exports exactly the names of :data:`numbanet.backends.contract.KERNEL_CONTRACT`.
"""

from .elementwise import (
    abs,
    add,
    clamp,
    clamp_backward,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    sign,
    sqrt,
    sub,
    tanh,
    tanh_backward,
    where,
)
from .indexing import gather, scatter_add
from .matmul import matmul
from .memory import arange, astype, contiguous, copy_into, empty, fill, from_host, full, to_host
from .reductions import max, min, sum
from .views import basic_index, broadcast_to, permute, reshape

DEVICE_TYPE = "cpu"
