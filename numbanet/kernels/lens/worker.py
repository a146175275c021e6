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
    that made operands contiguous or converted them)."""
    from numbanet.kernels import cuda as backend
    from numbanet.kernels.lens.simulate import LaunchTooLarge, recording

    operands = [
        backend.from_host(np.asarray(o["values"], dtype=o["dtype"]).reshape(o["shape"])
                          if o["values"] is not None else example_values(o["shape"],
                                                                         o["dtype"]))
        for o in request["operands"]]
    arguments = dict(request["arguments"])
    if "axes" in arguments:
        arguments["axes"] = tuple(arguments["axes"])
    try:
        with recording() as launches:
            getattr(backend, request["kernel"])(*operands, **arguments)
    except LaunchTooLarge as error:
        return {"request": request, "error": f"launch too large for the lens: {error}"}
    if not launches:
        return {"request": request, "error": f"{request['kernel']} launched no kernel "
                                             "(an empty array?)"}
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
