"""The kernel lens: which GPU thread read and wrote which element of a node's kernel.

For a node of a trace whose kernel has a CUDA twin, :func:`record` re-runs that CUDA kernel
under numba's CUDA simulator in a helper process (the simulator must be switched on before
numba is imported) and returns a :class:`KernelLens`: every element access of every thread,
plus the facts a learner should check (:func:`numbanet.kernels.lens.analysis.facts`). The
stepper (``t``), ``numbanet step --headless --kernel-lens NODE`` and the HTML replay read it.

    lens = numbanet.kernel_lens.record(trace.events[1])
    print(numbanet.kernel_lens.summary(lens))

The machinery lives in :mod:`numbanet.kernels.lens`; this module is the public door to it,
so that the tools (which import only the trace and the public API) can use it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field

from numbanet.kernels.lens import ACCESS_CAP, THREAD_CAP, analysis
from numbanet.kernels.lens.analysis import (
    ARRAY,
    BLOCK,
    IN_RANGE,
    INDEX,
    KIND,
    LINE,
    STEP,
    THREAD,
    VALUE,
    coordinates,
    element_story,
    global_thread,
    shared_origin,
    shared_writes,
    thread_accesses,
    thread_name,
    threads_per_block,
    tile_loaders,
    writer_grid,
)
from numbanet.kernels.lens.requests import NoLens, build_request, lens_kernels

__all__ = [
    "ACCESS_CAP", "ARRAY", "BLOCK", "INDEX", "IN_RANGE", "KIND", "LINE", "METADATA_KEY",
    "STEP", "THREAD", "THREAD_CAP", "VALUE", "KernelLens", "NoLens", "attach", "compact",
    "coordinates", "element_story", "findings", "global_thread", "has_lens", "record",
    "shared_origin", "shared_writes", "summary", "thread_accesses", "thread_name",
    "threads_per_block", "tile_loaders", "worker_name", "writer_grid",
]

WORKER = "numbanet.kernels.lens.worker"


@dataclass
class KernelLens:
    """One recorded launch and what the lens found in it (plain data, JSON-able)."""

    request: dict
    launches: list[dict] = field(default_factory=list)
    main: int = 0
    facts: dict = field(default_factory=dict)

    @property
    def launch(self) -> dict:
        """The launch that computed the node's output (earlier ones made copies)."""
        return self.launches[self.main]

    @property
    def output(self) -> str:
        """The kernel parameter the output was written through (``c``, ``out``, ...): the
        first array written that has as many elements as the op's output (a CPU matmul
        also writes its packed scratch copy of ``b``)."""
        outputs = self.facts["outputs"]
        size = math.prod(self.request.get("output_shape") or [])
        fitting = [name for name in outputs
                   if math.prod(self.launch["arrays"][name]["shape"]) == size]
        return (fitting or outputs or [""])[0]

    @property
    def is_loop(self) -> bool:
        """Whether this is a CPU kernel's prange loop (iterations, not GPU threads)."""
        return self.launch.get("kind") == "prange"

    def output_grid(self) -> list[list[int]]:
        """The output as rows of writer threads (-1 never written, -2 several writers),
        in the shape of the op's output."""
        return writer_grid(self.launch, self.output, self.request.get("output_shape"))

    def to_dict(self) -> dict:
        return {"request": self.request, "launches": self.launches, "main": self.main,
                "facts": self.facts}

    @classmethod
    def from_dict(cls, data: dict) -> KernelLens:
        return cls(**data)


def has_lens(event) -> bool:
    """Whether one of ``event``'s kernels has a CUDA twin the lens can re-run."""
    return bool(lens_kernels(event))


def record(event, kernel_position: int | None = None, timeout: float = 600,
           device: str = "cuda") -> KernelLens:
    """Re-run one of ``event``'s kernels (see :func:`numbanet.kernels.lens.requests.
    build_request`) thread by thread in a helper process, and analyse it. With
    ``device="cpu"``: the CPU kernel's ``prange`` loop, iteration by iteration.

    Raises :class:`NoLens` when the node has no such kernel, RuntimeError when the helper
    fails (its message says why: a launch over the caps, a kernel error).
    """
    request = build_request(event, kernel_position, device)
    return record_request(request, timeout)


def record_request(request: dict, timeout: float = 600) -> KernelLens:
    """Run a request (plain data, see :mod:`numbanet.kernels.lens.requests`) in the helper."""
    environment = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    finished = subprocess.run([sys.executable, "-m", WORKER], input=json.dumps(request),
                              capture_output=True, text=True, env=environment, timeout=timeout)
    if finished.returncode != 0:
        raise RuntimeError(f"the kernel lens helper failed:\n{finished.stderr[-2000:]}")
    answer = json.loads(finished.stdout)
    if "error" in answer:
        raise RuntimeError(answer["error"])
    lens = KernelLens(request=answer["request"], launches=answer["launches"],
                      main=answer["main"])
    lens.facts = analysis.facts(lens.launch)
    return lens


METADATA_KEY = "kernel_lens"
"""``Trace.metadata`` key of the lenses kept with a trace: node id (as text) -> the compact
form of :func:`compact` (what the HTML replay draws)."""


def compact(lens: KernelLens) -> dict:
    """What a saved trace keeps of a lens: the writer grid, the launch and the summary, not
    every access (a matmul logs tens of thousands)."""
    launch = lens.launch
    return {"kernel": launch["kernel"], "grid": launch["grid"], "block": launch["block"],
            "output": lens.output, "output_shape": lens.request.get("output_shape"),
            "threads_per_block": threads_per_block(launch), "writers": lens.output_grid(),
            "example": bool(lens.request.get("example")), "summary": summary(lens)}


def attach(trace, lens: KernelLens) -> None:
    """Keep ``lens`` (compacted) in ``trace.metadata``, under its node's id, so a saved
    trace and its HTML replay (``numbanet export``) show it."""
    trace.metadata.setdefault(METADATA_KEY, {})[str(lens.request["node"])] = compact(lens)


def worker_name(lens: KernelLens, number: int) -> str:
    """``block (0, 0) thread (2, 1)`` for a GPU thread, ``iteration 3`` for a prange loop."""
    return f"iteration {number}" if lens.is_loop else thread_name(lens.launch, number)


def _short(kernel_name: str) -> str:
    return kernel_name.rsplit(".", 1)[-1]


def summary(lens: KernelLens) -> str:
    """The lens's findings as plain text (what ``--kernel-lens`` prints): a header naming
    the node and kernel, whether the values are the node's or an example, then
    :func:`findings`."""
    request = lens.request
    return "\n".join([f"kernel lens: node {request['node']} {request['op']}: "
                      f"{_short(lens.launch['kernel'])}", f"  {request['note']}",
                      *findings(lens)])


def findings(lens: KernelLens) -> list[str]:
    """The facts as lines: the launch, writes per output (races), never-written elements,
    out-of-range accesses, global reads (and what tiles saved), shared memory by step."""
    facts, launch, request = lens.facts, lens.launch, lens.request
    worker = "iteration" if lens.is_loop else "thread"
    lines = []
    if lens.is_loop:
        lines.append(f"  prange loop: {facts['threads']} iterations (each may run on another "
                     f"CPU core), {facts['accesses']} element accesses inside the loop, "
                     f"{launch.get('outside_loop_accesses', 0)} outside it")
    else:
        lines.append(f"  launch: grid {launch['grid']} x block {launch['block']} = "
                     f"{facts['threads']} threads, {facts['accesses']} element accesses")
        recorded = request.get("recorded_block")  # set when the node ran on a GPU
        if recorded and [*recorded, 1, 1][:3] != launch["block"]:
            lines.append(f"  (the node's own launch used block {recorded})")
    for array, count in facts["elements_written"].items():
        size = math.prod(launch["arrays"][array]["shape"])
        raced = [r for r in facts["races"] if r["array"] == array]
        state = (f"{len(raced)} written by more than one {worker}: a RACE" if raced
                 else f"each by exactly one {worker}")
        lines.append(f"  output {array}: {count} of {size} elements written, {state}")
    for array, missing in facts["never_written"].items():
        lines.append(f"  never written in {array}: {len(missing)} elements "
                     f"(first: {missing[:8]})")
    lines.append(f"  {worker}s that wrote: {facts['threads_that_wrote']} of "
                 f"{facts['threads']}" + (f" (the other {facts['idle_threads']} wrote no "
                                          "output element)" if facts["idle_threads"] else ""))
    outside = facts["out_of_range"]
    lines.append(f"  out-of-range accesses: {len(outside)}" + (
        f" (first: {outside[0]['kind']} {outside[0]['array']}{outside[0]['index']} by "
        f"{thread_name(launch, outside[0]['thread'])}, line {outside[0]['line']})"
        if outside else " (every access inside its array)"))
    by_array = ", ".join(f"{a} {n}" for a, n in facts["global_reads_by_array"].items())
    per_output = facts["global_reads_per_output"]
    lines.append(f"  global reads: {facts['global_reads']} ({by_array})"
                 + (f", {per_output:.3g} per output element" if per_output else ""))
    if "naive_global_reads" in facts:
        naive, saved = facts["naive_global_reads"], facts["reads_saved"]
        ratio = naive / facts["global_reads"] if facts["global_reads"] else float("inf")
        lines.append(f"  a naive kernel (each output reads its row and column) reads {naive}:"
                     f" the tiles saved {saved} reads ({ratio:.3g}x fewer)")
    for array, copies in facts.get("tile_copies", {}).items():
        lines.append(f"  {array} copied into shared memory: {copies['elements']} elements, "
                     f"each at most {copies['copies_per_block']} time(s) per block")
    for array, tile in facts["tiles"].items():
        once = tile["most_writes_of_one_element_in_a_step"] == 1
        lines.append(f"  shared {array}: {tile['loads']} writes in {tile['steps_with_loads']} "
                     f"block-steps, {tile['elements_per_step']} elements per step, "
                     + ("each element loaded once per step" if once else
                        f"an element loaded up to {tile['most_writes_of_one_element_in_a_step']}"
                        " times in one step"))
    if facts["shared_steps"]:
        first_block = [s for s in facts["shared_steps"] if s["block"] == 0]
        lines.append(f"  shared memory, block 0, step by step ({facts['barriers_per_block']} "
                     "barriers per block):")
        for step in first_block[:12]:
            ended = (f", then syncthreads at line {step['barrier_line']}"
                     if step["barrier_line"] else "")
            lines.append(f"    step {step['step']}: {step['writes']} writes, {step['reads']} "
                         f"reads by {step['threads']} threads{ended}")
    if facts["shared_races"]:
        race = facts["shared_races"][0]
        lines.append(f"  shared-memory RACE: {len(facts['shared_races'])} elements touched by "
                     f"two threads between the same barriers (first: {race['array']}"
                     f"[{race['index']}] in step {race['step']})")
    return lines
