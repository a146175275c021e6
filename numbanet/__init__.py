"""numbanet: PyTorch's beginner API on kernels you can read, and a debugger to watch them.

``import numbanet as torch`` runs tutorial code: tensors, autograd, ``nn``, ``optim``,
``utils.data``, ``vision``; every kernel is a Numba function (CPU) or numba.cuda kernel
(GPU). ``numbanet.trace`` records an iteration; ``numbanet.viz`` draws it;
``numbanet.tui`` steps through it.
"""

from numbanet.compile_progress import ensure_writable_cache

ensure_writable_cache()  # before any kernel module is imported

from numbanet import autograd, cuda, distributed, nn, optim, safetensors, trace, utils  # noqa: E402 - after the names they import
from numbanet.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from numbanet.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from numbanet.device import device
from numbanet.dtypes import DType as dtype
from numbanet.dtypes import bool_ as bool  # noqa: A004 - PyTorch's name: torch.bool
from numbanet.dtypes import (
    can_cast,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    result_type,
    short,
    uint8,
)
from numbanet.dtypes import float as float  # noqa: A004 - PyTorch's name: torch.float
from numbanet.einsum import einsum
from numbanet.functions import (
    abs,
    all,
    allclose,
    any,
    argmax,
    argmin,
    clamp,
    cos,
    equal,
    exp,
    flatten,
    is_tensor,
    log,
    log_softmax,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    numel,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    std,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
)
from numbanet.maths import (
    acos,
    add,
    arccos,
    arcsin,
    arcsinh,
    arctan,
    arctanh,
    asin,
    asinh,
    atan,
    atanh,
    ceil,
    cosh,
    div,
    divide,
    erf,
    exp2,
    expm1,
    floor,
    frac,
    isfinite,
    isinf,
    isnan,
    log1p,
    log2,
    log10,
    matmul,
    mul,
    multiply,
    reciprocal,
    round,
    rsqrt,
    sign,
    sinh,
    square,
    sub,
    subtract,
    tan,
    true_divide,
    trunc,
)
from numbanet.random import Generator, initial_seed, manual_seed
from numbanet.sampling import multinomial
from numbanet.selection_functions import (
    argsort,
    bmm,
    chunk,
    gather,
    norm,
    scatter,
    sort,
    split,
    topk,
)
from numbanet.serialization import load, save
from numbanet.shapes import Size
from numbanet.tensor import Tensor, cat, stack, where

__version__ = "0.1.0"
