"""Quantized Linear against fp32 Linear at the MNIST MLP's first layer: (64, 784) @ (784, 128).

    python benchmarks/bench_quantized.py [--repeats 30]

Contenders, taking turns round after round so that a busy machine slows them alike
(medians, best in brackets):

- ``fp32 Linear``: ``nn.Linear(784, 128)`` on a float batch (numbanet's packed float matmul);
- ``int8 static``: ``nn.quantized.Linear`` on an already quantized batch — integer
  accumulate + requantize, the layer alone;
- ``int8 dynamic``: ``nn.quantized.dynamic.Linear`` on a float batch — min/max of the
  batch, quantize, integer accumulate, rescale to float: what ``quantize_dynamic`` runs;
- ``int8 accumulate kernel``: the int32 kernel alone (``kernels.cpu.int8_linear_accumulate``);
- the same layers in PyTorch (fbgemm/x86), when installed.

Read it honestly: numbanet's int8 kernel is a plain int16-centered dot product (LLVM
vectorises it), not fbgemm's packed u8 x s8 -> s16 pairs with AVX2 ``vpmaddubsw``; the fp32
matmul it is compared with is register-blocked and packed. The table says which wins.
"""

import argparse
import time

import numpy as np

import numbanet
import numbanet.nn as nn
from numbanet.ao import quantization
from numbanet.kernels import cpu

BATCH, IN_FEATURES, OUT_FEATURES = 64, 784, 128


def numbanet_contenders() -> dict:
    numbanet.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN_FEATURES, OUT_FEATURES)).eval()
    x = numbanet.randn(BATCH, IN_FEATURES)
    dynamic = quantization.quantize_dynamic(model, {nn.Linear}, dtype=numbanet.qint8)[0]
    model.qconfig = quantization.get_default_qconfig("x86")
    wrapped = quantization.prepare(quantization.QuantWrapper(model))
    wrapped(x)
    static = quantization.convert(wrapped)
    q_x = static.quant(x)
    levels = q_x.int_repr().numpy()
    weight_levels = static.module[0].weight().int_repr().numpy()
    zero_points = np.zeros(OUT_FEATURES, np.int64)

    def timed_without_grad(function):
        def run():
            with numbanet.no_grad():
                function()
        return run

    return {
        "fp32 Linear": timed_without_grad(lambda: model[0](x)),
        "int8 static": timed_without_grad(lambda: static.module[0](q_x)),
        "int8 dynamic": timed_without_grad(lambda: dynamic(x)),
        "int8 accumulate kernel": lambda: cpu.int8_linear_accumulate(
            levels, q_x.q_zero_point(), weight_levels, zero_points),
    }


def torch_contenders() -> dict:
    try:
        import torch
    except ImportError:
        return {}
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(IN_FEATURES, OUT_FEATURES)).eval()
    x = torch.randn(BATCH, IN_FEATURES)
    dynamic = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                     dtype=torch.qint8)[0]
    model.qconfig = torch.ao.quantization.get_default_qconfig("x86")
    wrapped = torch.ao.quantization.prepare(torch.ao.quantization.QuantWrapper(model))
    wrapped(x)
    static = torch.ao.quantization.convert(wrapped)
    q_x = static.quant(x)

    def timed(function):
        def run():
            with torch.no_grad():
                function()
        return run

    return {"torch fp32 Linear": timed(lambda: model[0](x)),
            "torch int8 static": timed(lambda: static.module[0](q_x)),
            "torch int8 dynamic": timed(lambda: dynamic(x))}


def measure(runs: dict, repeats: int) -> dict:
    """name -> list of seconds, the contenders taking turns in rounds of 5 calls."""
    for run in runs.values():  # warm up: compile, fault in pages, start thread pools
        run()
    seconds = {name: [] for name in runs}
    for _ in range(max(1, repeats // 5)):
        for name, run in runs.items():
            for _ in range(5):
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="runs per contender")
    arguments = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.ao's notice
    warnings.filterwarnings("ignore", category=UserWarning)
    runs = {**numbanet_contenders(), **torch_contenders()}
    seconds = measure(runs, arguments.repeats)
    baseline = float(np.median(seconds["fp32 Linear"]))
    multiply_adds = BATCH * IN_FEATURES * OUT_FEATURES
    print(f"Linear {IN_FEATURES} -> {OUT_FEATURES} on a batch of {BATCH}, median (best) of "
          f"{arguments.repeats} runs")
    print(f"{'contender':<26}{'time µs':>20}{'GMAC/s':>10}{'/ numbanet fp32':>18}")
    for name, times in seconds.items():
        median, best = float(np.median(times)), float(np.min(times))
        print(f"{name:<26}{f'{median * 1e6:.0f} ({best * 1e6:.0f})':>20}"
              f"{multiply_adds / median / 1e9:>10.1f}{median / baseline:>17.2f}x")


if __name__ == "__main__":
    main()
