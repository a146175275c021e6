"""The kernel lens's helper process: read a request, re-run its kernel, print the record.

Run as ``NUMBA_ENABLE_CUDASIM=1 python -m numbanet.kernels.lens.worker`` with a request
(see :mod:`.requests`) as JSON on stdin; writes one JSON object to stdout::

    {"request": {...}, "launches": [launch, ...], "main": position of the launch to show}

or ``{"request": {...}, "error": "..."}``. The simulator has to be switched on before numba
is imported, which is why this is a process of its own: the stepper has numba's real
compiler loaded already.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def example_values(shape: list[int], dtype: str) -> np.ndarray:
    """Small, readable, deterministic values: -1.5, -1, ..., 1.5 repeating (0/1 for bool)."""
    count = int(np.prod(shape))
    values = (np.arange(count) % 7 - 3) * 0.5
    if np.dtype(dtype).kind in "iub":
        values = np.arange(count) % 3
    return values.reshape(shape).astype(dtype)


def run(request: dict) -> dict:
    """Re-run ``request["kernel"]`` of the CUDA backend on its operands, recording every
    launch; the last launch is the one that computed the output (earlier ones are copies
    that made operands contiguous or converted them). With ``request["device"] == "cpu"``,
    the CPU backend's function instead, its ``prange`` loop run as Python
    (:mod:`.cpu_loop`)."""
    from numbanet.kernels.lens.simulate import LaunchTooLarge, recording

    host = [np.asarray(o["values"], dtype=o["dtype"]).reshape(o["shape"])
            if o["values"] is not None else example_values(o["shape"], o["dtype"])
            for o in request["operands"]]
    arguments = dict(request["arguments"])
    if "axes" in arguments:
        arguments["axes"] = tuple(arguments["axes"])
    try:
        if request.get("device") == "cpu":
            from numbanet.kernels import cpu
            from numbanet.kernels.lens.cpu_loop import record_cpu_call

            launches = record_cpu_call(request["recorded_kernel"],
                                       getattr(cpu, request["kernel"]), *host, **arguments)
        else:
            from numbanet.kernels import cuda

            with recording() as launches:
                getattr(cuda, request["kernel"])(*(cuda.from_host(x) for x in host),
                                                 **arguments)
    except LaunchTooLarge as error:
        return {"request": request, "error": f"launch too large for the lens: {error}"}
    except ValueError as error:  # a CPU kernel without a prange loop
        return {"request": request, "error": str(error)}
    if not launches:
        return {"request": request, "error": f"{request['kernel']} launched no kernel "
                                             "the lens could follow (an empty array, or a "
                                             "CPU kernel without a prange loop)"}
    main = launches[-1]
    if "naive_global_reads" in request:
        main["naive_global_reads"] = request["naive_global_reads"]
    return {"request": request, "launches": launches, "main": len(launches) - 1}


def main() -> int:
    request = json.load(sys.stdin)
    json.dump(run(request), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
