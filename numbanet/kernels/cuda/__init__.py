"""The CUDA backend: every name of the kernel contract as numba.cuda kernels.

Arrays are numba ``DeviceNDArray``s (``FakeCUDAArray``s under the CUDA simulator, enabled by
``NUMBA_ENABLE_CUDASIM=1`` before numba is imported). Each function below launches its
kernels through :func:`numbanet.kernels.launch.launch`, so a recording trace sees every
kernel with its grid and block.

Where to read what:

- ``layout.py``       strides, views over shared memory, launch sizes
- ``strided.py``      how one elementwise device function becomes kernels for any layout
- ``memory.py``       allocate, fill, arange, copy, convert, host <-> device
- ``views.py``        reshape, permute, broadcast_to, basic_index (no copies)
- ``elementwise.py``  the formulas of ``kernels/formulas.py`` as device functions
- ``reductions.py``   sum / max / min with shared-memory tree reductions
- ``matmul.py``       tiled, register-blocked matrix multiplication
- ``indexing.py``     gather and atomic scatter-add
- ``sorting.py``      row sorts (merge sort, a thread per row), scatter and scatter-multiply
- ``softmax.py``      (log-)softmax and their gradients, a block per row
- ``loss.py``         negative log-likelihood rows and gradient
- ``conv.py``         im2col / col2im convolution and its gradients
- ``pool.py``         max pooling with argmax, and its backward pass
- ``dropout.py``      masks from per-thread xoroshiro128+ generators
- ``optimizers.py``   fused SGD, Adam and RMSprop updates
- ``quantized.py``    int8 quantize / dequantize, int32-accumulating matmul and conv, requantize
"""

from numbanet.kernels.contract import KERNEL_CONTRACT
from numbanet.kernels.cuda.conv import conv2d_forward, conv2d_input_grad, conv2d_weight_grad
from numbanet.kernels.cuda.dropout import dropout_mask
from numbanet.kernels.cuda.elementwise import *  # noqa: F403 - one function per formula
from numbanet.kernels.cuda.indexing import gather, scatter_add
from numbanet.kernels.cuda.loss import nll_loss_backward, nll_loss_rows
from numbanet.kernels.cuda.matmul import addmm_backward, matmul
from numbanet.kernels.cuda.memory import (
    arange,
    astype,
    contiguous,
    copy_into,
    empty,
    fill,
    from_host,
    full,
    to_host,
)
from numbanet.kernels.cuda.optimizers import adam_update, rmsprop_update, sgd_update
from numbanet.kernels.cuda.pool import max_pool2d_backward, max_pool2d_forward
from numbanet.kernels.cuda.quantized import (
    accumulator_to_float,
    dequantize,
    int8_conv2d_accumulate,
    int8_linear_accumulate,
    quantize,
    requantize,
)
from numbanet.kernels.cuda.reductions import max, min, sum
from numbanet.kernels.cuda.softmax import (
    log_softmax,
    log_softmax_backward,
    softmax,
    softmax_backward,
)
from numbanet.kernels.cuda.sorting import scatter, scatter_multiply, sort
from numbanet.kernels.cuda.views import basic_index, broadcast_to, permute, reshape

__all__ = list(KERNEL_CONTRACT)  # tests/test_kernel_contract.py checks each is defined
