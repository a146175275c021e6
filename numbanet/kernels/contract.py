"""The backend contract: every kernel a device must provide, by name.

A *backend* is a module (``numbanet.kernels.cpu`` or ``numbanet.kernels.cuda``) that
exports one Python function per name below. The functions take and return the device's
arrays (``numpy.ndarray`` on the CPU, numba ``DeviceNDArray`` on the GPU) and know nothing
about autograd: differentiation rules live in ``numbanet/ops``, written once for both
devices. Each function launches its Numba kernel(s) through
:func:`numbanet.kernels.launch.launch`, which is how the trace learns which kernel ran.

``tests/test_kernel_contract.py`` asserts that both backends export exactly these names.

Shapes below: ``a``, ``b`` are arrays; ``shape`` a tuple of ints; ``dtype`` a numpy dtype.
"""

from numbanet.kernels.formulas import names

MEMORY = (
    "empty",  # empty(shape, dtype) -> uninitialised array
    "full",  # full(shape, value, dtype) -> array filled with value
    "arange",  # arange(start, stop, step, dtype) -> 1-D array
    "from_host",  # from_host(numpy_array) -> array on this device (a copy)
    "to_host",  # to_host(a) -> numpy array (a copy when the device is not the host)
    "astype",  # astype(a, dtype) -> new array converted to dtype
    "contiguous",  # contiguous(a) -> a C-contiguous array (a itself if already so)
    "copy_into",  # copy_into(dst, src) -> None; dst[...] = src, src broadcast to dst
    "fill",  # fill(a, value) -> None; every element of a becomes value
)

VIEWS = (
    "reshape",  # reshape(a, shape) -> view when the strides allow, else a copy
    "permute",  # permute(a, axes) -> view with axes reordered
    "broadcast_to",  # broadcast_to(a, shape) -> read-only view with stride-0 axes
    "basic_index",  # basic_index(a, key) -> view for ints, slices, None, Ellipsis
)

# The elementwise ops come from the formula table (one scalar formula per op, written once
# for both devices): binary ``f(a, b, out=None)`` with numpy broadcasting, unary
# ``f(a, out=None)``, backward rules ``f(grad, saved)`` in the gradient's dtype, and
# ``clamp(a, low, high)`` (low/high a number, an array or None), ``where(condition, a, b)``,
# ``clamp_backward(grad, x, low, high)``.
ELEMENTWISE_BINARY = names("binary")
ELEMENTWISE_UNARY = names("unary")
ELEMENTWISE_OTHER = names("backward", "other")

REDUCTIONS = (
    "sum",  # sum(a, axes, keepdim) -> array; axes a tuple of non-negative ints
    "max",  # max(a, axis, keepdim) -> (values, int64 indices of the first maximum)
    "min",  # min(a, axis, keepdim) -> (values, int64 indices of the first minimum)
)

LINEAR_ALGEBRA = (
    "matmul",  # matmul(a, b) -> a @ b for 2-D (n,k)@(k,m) or 3-D (B,n,k)@(B,k,m)
    # addmm_backward(grad, mat1, mat2, needs) -> (grad summed over rows, grad @ mat2^T,
    # (grad^T @ mat1)^T), each None unless needs[i]: the gradients of bias + mat1 @ mat2
    "addmm_backward",
)

INDEXING = (
    "gather",  # gather(source, flat_index) -> out[i] = source.ravel()[flat_index[i]]
    "scatter_add",  # scatter_add(destination, flat_index, values) -> None; += at index
    "scatter",  # scatter(destination, flat_index, values) -> None; = at index
    "scatter_multiply",  # scatter_multiply(destination, flat_index, values) -> None; *=
)

SORTING = (
    "sort",  # sort(a2d, descending) -> (values, int64 indices): rows stably sorted, NaN last
)

NEURAL = (
    "log_softmax",  # log_softmax(x2d) -> log-softmax of each row
    "softmax",  # softmax(x2d) -> softmax of each row
    "log_softmax_backward",  # (grad, output) -> grad - exp(output) * rowsum(grad)
    "softmax_backward",  # (grad, output) -> output * (grad - rowsum(grad * output))
    # (log_probs2d, targets, weight|None, ignore_index) -> (losses -log_probs[i, t_i] * w_i,
    # safe targets, row weights w_i)
    "nll_loss_rows",
    # (grad, safe_targets, row_weights, weight_sum|None, num_classes, dtype) -> d loss/d log_probs
    "nll_loss_backward",
    "conv2d_forward",  # (x, weight, bias|None, stride, padding) -> y
    "conv2d_input_grad",  # (grad_y, weight, x_shape, stride, padding) -> grad_x
    "conv2d_weight_grad",  # (grad_y, x, weight_shape, stride, padding) -> grad_weight
    "max_pool2d_forward",  # (x, kernel, stride, padding) -> (y, argmax flat index)
    "max_pool2d_backward",  # (grad_y, argmax, x_shape) -> grad_x
    "dropout_mask",  # (shape, keep_probability, dtype, seed) -> mask of 0 or 1/keep
)

# Fused optimizer updates, in place on the parameter and its state arrays (PyTorch's rules):
#   sgd_update(param, grad, momentum_buffer|None, lr, momentum, dampening, nesterov,
#              weight_decay, first_step) -> None
#   adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
#               step) -> None                                  (step counts from 1)
#   rmsprop_update(param, grad, square_avg, momentum_buffer|None, grad_avg|None, lr, alpha,
#                  eps, weight_decay, momentum, centered) -> None
OPTIMIZER_UPDATES = (
    "sgd_update",
    "adam_update",
    "rmsprop_update",
)

# int8 quantization (numbanet.ao.quantization; formulas in kernels/cpu/quantized.py). Per-
# channel vectors (scales, zero points, multipliers, bias terms) may be numpy arrays.
QUANTIZED = (
    "quantize",  # (a, scales, zero_points, axis, quant_min, quant_max, dtype) -> levels
    "dequantize",  # (levels, scales, zero_points, axis) -> float32 (levels - zp) * scale
    "int8_linear_accumulate",  # (x, x_zero_point, weight, weight_zero_points) -> int32 (N, O)
    "int8_conv2d_accumulate",  # (x, x_zp, weight, weight_zps, stride, padding) -> int32
    "requantize",  # (acc, bias_terms, multipliers, zero_point, quant_min, quant_max, dtype)
    "accumulator_to_float",  # (acc, scale_products, bias) -> float32 scale * acc + bias
)

KERNEL_CONTRACT: tuple[str, ...] = (
    MEMORY
    + VIEWS
    + ELEMENTWISE_BINARY
    + ELEMENTWISE_UNARY
    + ELEMENTWISE_OTHER
    + REDUCTIONS
    + LINEAR_ALGEBRA
    + INDEXING
    + SORTING
    + NEURAL
    + OPTIMIZER_UPDATES
    + QUANTIZED
)
