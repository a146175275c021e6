"""numbanet: PyTorch's beginner API on kernels you can read, and a debugger to watch them.

``import numbanet as torch`` runs tutorial code: tensors, autograd, ``nn``, ``optim``,
``utils.data``, ``vision``; every kernel is a Numba function (CPU) or numba.cuda kernel
(GPU). ``numbanet.trace`` records an iteration; ``numbanet.viz`` draws it;
``numbanet.tui`` steps through it.
"""

from numbanet.compile_progress import announce_slow_compiles, ensure_writable_cache

ensure_writable_cache()  # before any kernel module is imported
announce_slow_compiles()  # a first run says what it compiles instead of looking hung
from numbanet.precompile import start_in_background as _start_precompiling  # noqa: E402

_start_precompiling()  # an empty cache: a second process compiles the common kernels too

from numbanet import (  # noqa: E402 - after the names they import
    accelerator,
    autograd,
    backends,
    cuda,
    distributed,
    nn,
    optim,
    safetensors,
    trace,
    utils,
)
from numbanet.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from numbanet.autograd.inference_mode import inference_mode, is_inference_mode_enabled
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
from numbanet.defaults import (
    get_default_device,
    get_default_dtype,
    set_default_device,
    set_default_dtype,
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
from numbanet.jit import compile  # noqa: A004 - PyTorch's name: torch.compile
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
from numbanet.printing import get_printoptions, set_printoptions
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

# int8 quantization (PyTorch's torch.ao.quantization); last: it builds on Tensor and nn
from numbanet import ao, quantization  # noqa: E402
from numbanet.ao.quantization.qtensor import (  # noqa: E402
    dequantize,
    int_repr,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
