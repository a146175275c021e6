"""The CPU backend: numpy arrays for storage, ``@numba.njit`` kernels for the work.

Exports exactly the names of :data:`numbanet.kernels.contract.KERNEL_CONTRACT`.
"""

from .conv import conv2d_forward, conv2d_input_grad, conv2d_weight_grad
from .dropout import dropout_mask
from .elementwise import *  # noqa: F403 - one function per formula (formulas.FORMULAS)
from .heap import keep_freed_memory
from .indexing import gather, scatter_add
from .matmul import addmm_backward, matmul
from .memory import arange, astype, contiguous, copy_into, empty, fill, from_host, full, to_host
from .optimizers import adam_update, rmsprop_update, sgd_update
from .pool import max_pool2d_backward, max_pool2d_forward
from .quantized import (
    accumulator_to_float,
    dequantize,
    int8_conv2d_accumulate,
    int8_linear_accumulate,
    quantize,
    requantize,
)
from .reductions import max, min, sum
from .softmax import (
    log_softmax,
    log_softmax_backward,
    nll_loss_backward,
    nll_loss_rows,
    softmax,
    softmax_backward,
)
from .sorting import scatter, scatter_multiply, sort
from .views import basic_index, broadcast_to, permute, reshape

DEVICE_TYPE = "cpu"

KEPT_FREED_MEMORY = keep_freed_memory()  # large arrays without page faults (heap.py)
