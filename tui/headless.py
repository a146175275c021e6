"""``numbanet step --headless``: the stepper's nodes as plain lines, for scripts and diffs.

One line per node of each iteration, in execution order — the same order and the same
index the terminal app shows — with the phase, op, module, output shape and a value
summary::

    # iteration 0: Two spirals ...  loss 0.6931  gradient norm 0.4125
       0  forward    Matmul            Sequential.0    [16, 16]     mean 0.01 std 0.5 ...

With ``--json`` every line is a JSON object instead: ``{"type": "iteration", ...}`` once
per iteration, then ``{"type": "node", ...}`` per node (with the full statistics, and the
values of small tensors), so ``jq`` or a notebook can pick it apart.

With ``--launches`` it prints one iteration's step as ``numbanet.compile`` captures it
instead: one line per kernel call, with its phase and arrays (see :mod:`numbanet.tui.launches`).

With ``--gradcheck`` the iterations are recorded with gradient checks and each iteration
prints one line per backward node instead — its largest relative error and the verdict —
then one line per parameter (the path mode); the run ends with the first failing node and
exits 1 when any node failed (see :mod:`numbanet.tui.gradcheck`).
"""

from __future__ import annotations

import json
import math
import sys
from typing import TextIO

from numbanet.trace import Event, Trace

from . import gradcheck
from .recorder import TraceSource
from .tensor_text import format_number, main_output, output_shape_text, summary_text


def event_line(index: int, event: Event) -> str:
    """The text line of one node: index, phase, op, module, output shape, value summary."""
    return (f"{index:>4}  {event.phase:<9}  {event.op:<22} {event.module_path or '-':<16} "
            f"{output_shape_text(event):<12} {summary_text(main_output(event))}")


def iteration_line(iteration: int, trace: Trace) -> str:
    """The header line of one iteration: lesson title, loss and gradient norm."""
    metadata = trace.metadata
    parts = [f"# iteration {iteration}: {metadata.get('lesson', '')}".rstrip()]
    for key, label in (("loss", "loss"), ("gradient_norm", "gradient norm")):
        if key in metadata:
            parts.append(f"{label} {format_number(metadata[key])}")
    return "  ".join(parts) + f"  ({len(trace.events)} nodes)"


def _finite_or_text(value):
    """JSON has no NaN: write non-finite numbers as the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return format_number(value)
    if isinstance(value, list):
        return [_finite_or_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite_or_text(item) for key, item in value.items()}
    return value


def event_record(iteration: int, index: int, event: Event) -> dict:
    """The JSON object of one node."""
    output = main_output(event)
    return _finite_or_text({
        "type": "node",
        "iteration": iteration,
        "index": index,
        "node_id": event.node_id,
        "phase": event.phase,
        "op": event.op,
        "module": event.module_path,
        "shape": output.shape if output is not None else None,
        "dtype": output.dtype if output is not None else None,
        "device": output.device if output is not None else None,
        "stats": output.stats if output is not None else {},
        "values": output.values if output is not None else None,
        "parameters_updated": [update.name for update in event.updates],
        "gradcheck": event.gradcheck,
    })


def iteration_record(iteration: int, trace: Trace) -> dict:
    """The JSON object that opens one iteration."""
    return _finite_or_text({**trace.metadata, "type": "iteration", "iteration": iteration,
                            "nodes": len(trace.events)})


def print_trace(trace: Trace, iteration: int, as_json: bool, stream: TextIO,
                checks_only: bool = False) -> None:
    """Write one iteration: its header, then one line per node (per checked node and
    per parameter with ``checks_only``)."""
    if as_json:
        stream.write(json.dumps(iteration_record(iteration, trace)) + "\n")
        for index, event in enumerate(trace.events):
            if not checks_only or event.gradcheck:
                stream.write(json.dumps(event_record(iteration, index, event)) + "\n")
    else:
        stream.write(iteration_line(iteration, trace) + "\n")
        if checks_only:
            for index, event in gradcheck.checked_nodes(trace):
                stream.write(gradcheck.node_line(index, event) + "\n")
            for line in gradcheck.parameter_lines(trace):
                stream.write(line + "\n")
        else:
            for index, event in enumerate(trace.events):
                stream.write(event_line(index, event) + "\n")
    stream.flush()


def gradcheck_verdict(traces: list[Trace], as_json: bool, stream: TextIO) -> int:
    """The closing lines of a ``--gradcheck`` run; returns its exit status (1: a failure)."""
    checked = [(i, index, event) for i, trace in enumerate(traces)
               for index, event in gradcheck.checked_nodes(trace)]
    failures = [item for item in checked if item[2].gradcheck["status"] == "fail"]
    skipped = sum(1 for item in checked if item[2].gradcheck["status"] == "skipped")
    paths = [result for trace in traces
             for result in trace.metadata.get(gradcheck.PATHS_KEY, {}).values()]
    path_failures = sum(1 for result in paths if result["status"] == "fail")
    first = None
    if failures:
        iteration, index, event = failures[0]
        forward = next((e for e in traces[iteration].events
                        if e.node_id == event.forward_node_id), None)
        first = gradcheck.failure_sentence(iteration, index, event, forward)
    counts = (f"gradient check: {len(checked) - len(failures) - skipped} nodes passed, "
              f"{len(failures)} failed, {skipped} skipped; parameters (path mode): "
              f"{len(paths) - path_failures} passed, {path_failures} failed")
    if as_json:
        stream.write(json.dumps(_finite_or_text({
            "type": "gradcheck", "passed": not failures, "failed_nodes": len(failures),
            "checked_nodes": len(checked), "skipped_nodes": skipped,
            "failed_parameters": path_failures,
            "first_failure": None if not failures else {
                "iteration": failures[0][0], "index": failures[0][1],
                "op": failures[0][2].op, "module": failures[0][2].module_path,
                "max_error": failures[0][2].gradcheck["max_error"]}})) + "\n")
    else:
        stream.write(counts + "\n")
        if first:
            stream.write(first + "\n")
    stream.flush()
    return 1 if failures or path_failures else 0


def run_headless(source: TraceSource, iterations: int = 1, as_json: bool = False,
                 stream: TextIO | None = None) -> int:
    """Record ``iterations`` iterations of ``source`` (or load its saved trace) and print them.

    Each iteration is printed as soon as it is recorded, so a long run streams.
    Returns the process exit status (with ``source.gradcheck``: 1 when a check failed).
    """
    stream = stream or sys.stdout
    checks = source.gradcheck
    if source.replays_saved_trace:
        traces = source.first_traces()
        for iteration, trace in enumerate(traces):
            print_trace(trace, iteration, as_json, stream, checks_only=checks)
    else:
        traces = []
        for _ in range(iterations):
            trace = source.record_next()  # a script's iterations count in its own loop
            traces.append(trace)
            print_trace(trace, trace.metadata.get("iteration", len(traces) - 1), as_json,
                        stream, checks_only=checks)
    if checks:
        if not any(gradcheck.has_checks(trace) for trace in traces):
            print("numbanet step: this saved trace was recorded without gradient checks "
                  "(record it with --gradcheck)", file=sys.stderr)
            return 2
        return gradcheck_verdict(traces, as_json, stream)
    return 0


def find_node(trace: Trace, node: str) -> int:
    """The index of ``node`` in ``trace``: a number is the index ``--headless`` prints, a
    name the first node whose op starts with it (``Matmul``, ``Relu``) and has a kernel lens."""
    from numbanet import kernel_lens

    if node.isdigit():
        if int(node) >= len(trace.events):
            raise LookupError(f"no node {node}: this iteration has {len(trace.events)} nodes")
        return int(node)
    for index, event in enumerate(trace.events):
        if event.op.lower().startswith(node.lower()) and kernel_lens.has_lens(event):
            return index
    raise LookupError(f"no node whose op starts with {node!r} has a kernel the lens can re-run")


def run_kernel_lens(source: TraceSource, node: str, as_json: bool = False,
                    stream: TextIO | None = None) -> int:
    """``--kernel-lens NODE``: record one iteration, re-run NODE's CUDA kernel thread by
    thread and print the lens's summary (``--json``: its facts). Exit status 1 when the
    lens finds a race or an access outside an array, 2 when NODE has no lens."""
    from numbanet import kernel_lens

    stream = stream or sys.stdout
    trace = source.first_traces()[0]
    try:
        index = find_node(trace, node)
        lens = kernel_lens.record(trace.events[index])
    except (LookupError, kernel_lens.NoLens) as error:
        print(f"numbanet step: {error}", file=sys.stderr)
        return 2
    if as_json:
        stream.write(json.dumps(_finite_or_text({"type": "kernel_lens", "index": index,
                                                 "request": lens.request,
                                                 "facts": lens.facts})) + "\n")
    else:
        stream.write(f"{event_line(index, trace.events[index])}\n{kernel_lens.summary(lens)}\n")
    failed = lens.facts["races"] or lens.facts["shared_races"] or lens.facts["out_of_range"]
    return 1 if failed else 0


def run_launches(source: TraceSource, as_json: bool = False,
                 stream: TextIO | None = None) -> int:
    """``--launches``: record one iteration, capture the lesson's step with
    ``numbanet.compile`` and print its flat list of kernel calls beside the eager
    iteration's node counts (``--json``: one object). Exit status 1 when the step could
    not be captured (the reason is printed), 2 for a saved trace or a script (no step)."""
    from . import launches

    stream = stream or sys.stdout
    trace = source.first_traces()[0]
    capture = launches.capture_step(source, trace.metadata.get("iteration", 0))
    if as_json:
        stream.write(json.dumps(_finite_or_text(launches.record(trace, capture))) + "\n")
    else:
        stream.write(launches.text(trace, capture) + "\n")
    stream.flush()
    if capture.refused is None:
        return 0
    return 2 if source.replays_saved_trace or source.is_script else 1
