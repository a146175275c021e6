"""The facts of a recorded launch: who wrote what, what raced, what the tiles saved.

Pure functions of the plain-data launch record made by :mod:`.simulate` (a dict; each access
a row ``[block, thread, step, kind, array, index, value, line, in_range]``), so they run
anywhere — in the stepper, in a test, on a record loaded from JSON. Threads are named by
their *global* number ``block * threads_per_block + thread``.

What a learner should check in a kernel, and where it is computed:

- every output element written exactly once: :func:`writers` (more than one writer is a
  *race*: the result depends on which thread wrote last), and elements never written;
- accesses outside an array (an unguarded ``a[i]`` past the end reads garbage on a GPU);
- how many global-memory reads each output cost, and — with shared-memory tiles — how many
  reads the tiles saved against a naive kernel that reads its inputs once per output;
- shared memory step by step (between two ``syncthreads`` barriers): reads, writes, active
  threads — a tree reduction shows its halving here — and whether two threads touched one
  shared element in the same step with one of them writing (a race the barrier should stop).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

BLOCK, THREAD, STEP, KIND, ARRAY, INDEX, VALUE, LINE, IN_RANGE = range(9)


def threads_per_block(launch: dict) -> int:
    return math.prod(launch["block"])


def global_thread(launch: dict, row: list) -> int:
    """The global number of the thread that made an access."""
    return row[BLOCK] * threads_per_block(launch) + row[THREAD]


def coordinates(launch: dict, global_number: int) -> tuple[tuple, tuple]:
    """(blockIdx, threadIdx) as CUDA writes them, (x, y, z) each, of a global thread number."""
    block, thread = divmod(global_number, threads_per_block(launch))

    def unravel(linear: int, dims: list[int]) -> tuple:
        x, rest = linear % dims[0], linear // dims[0]
        return x, rest % dims[1], rest // dims[1]

    return unravel(block, launch["grid"]), unravel(thread, launch["block"])


def thread_name(launch: dict, global_number: int) -> str:
    """``block (0, 0, 0) thread (3, 1, 0)``, dimensions beyond the launch's left out."""
    block, thread = coordinates(launch, global_number)
    used = max([1] + [axis + 1 for axis in range(3)
                      if launch["grid"][axis] > 1 or launch["block"][axis] > 1])
    if used == 1:
        return f"block {block[0]} thread {thread[0]}"
    return f"block {block[:used]} thread {thread[:used]}"


def global_arrays(launch: dict, memory: str = "global") -> list[str]:
    return [name for name, info in launch["arrays"].items() if info["memory"] == memory]


def written_arrays(launch: dict) -> list[str]:
    """The global arrays the launch wrote into (its outputs), in parameter order."""
    written = {row[ARRAY] for row in launch["accesses"] if row[KIND] == "w"}
    return [name for name in global_arrays(launch) if name in written]


def writers(launch: dict, array: str) -> dict[int, list[int]]:
    """Element number -> the distinct global threads that wrote it, in order of writing."""
    found: dict[int, list[int]] = defaultdict(list)
    for row in launch["accesses"]:
        if row[KIND] == "w" and row[ARRAY] == array and row[IN_RANGE]:
            thread = global_thread(launch, row)
            if thread not in found[row[INDEX]]:
                found[row[INDEX]].append(thread)
    return dict(found)


def thread_accesses(launch: dict, global_number: int) -> list[list]:
    """One thread's accesses in the order it made them."""
    block, thread = divmod(global_number, threads_per_block(launch))
    return [row for row in launch["accesses"] if row[BLOCK] == block and row[THREAD] == thread]


def element_story(launch: dict, array: str, index: int) -> dict:
    """Who wrote element ``index`` of ``array``, what it holds, and everything the (last)
    writer read before writing it — the inputs that element was computed from."""
    written = [row for row in launch["accesses"]
               if row[KIND] == "w" and row[ARRAY] == array and row[INDEX] == index]
    if not written:
        return {"writers": [], "value": None, "reads": []}
    last = written[-1]
    writer = global_thread(launch, last)
    reads = []
    for row in thread_accesses(launch, writer):
        if row is last:
            break
        if row[KIND] == "r":
            reads.append(row)
    return {"writers": list(dict.fromkeys(global_thread(launch, row) for row in written)),
            "value": last[VALUE], "reads": reads}


def shared_writes(launch: dict) -> dict[tuple, list[list]]:
    """(block, shared array, element) -> the write rows of that shared element, in order."""
    found: dict[tuple, list[list]] = defaultdict(list)
    for row in launch["accesses"]:
        if row[KIND] == "w" and launch["arrays"][row[ARRAY]]["memory"] == "shared":
            found[(row[BLOCK], row[ARRAY], row[INDEX])].append(row)
    return dict(found)


def shared_origin(launch: dict, read: list, writes: dict[tuple, list[list]]) -> dict | None:
    """Where a shared-memory read's value came from: the thread that stored it (the last
    write before the read: in an earlier barrier step, or earlier in the reader's own
    step if it wrote it itself) and the global element that thread had just read to store
    it, its access just before the store (None when the value was computed: a guard's
    padding zero, a partial sum).
    ``writes`` is :func:`shared_writes` of the launch, built once."""
    candidates = [row for row in writes.get((read[BLOCK], read[ARRAY], read[INDEX]), [])
                  if row[STEP] < read[STEP] or (row[STEP] == read[STEP]
                                                and row[THREAD] == read[THREAD])]
    if not candidates:
        return None
    store = candidates[-1]
    loader = global_thread(launch, store)
    own = thread_accesses(launch, loader)
    position = next(i for i, row in enumerate(own) if row is store)
    before = own[position - 1] if position else None
    copied = (before is not None and before[KIND] == "r" and before[VALUE] == store[VALUE]
              and launch["arrays"][before[ARRAY]]["memory"] == "global")
    return {"thread": loader, "source": before if copied else None}


def tile_loaders(launch: dict) -> dict[str, dict[int, list[int]]]:
    """Global array -> element -> the threads that copied it into shared memory, one entry
    per copy (a tiled kernel copies each input element once per block that needs it).

    A copy is a shared-memory write that directly follows the same thread's global read of
    the same value (``a_tile[...] = a[...]``)."""
    loaders: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    previous = None
    for row in launch["accesses"]:
        if (previous is not None and row[KIND] == "w"
                and launch["arrays"][row[ARRAY]]["memory"] == "shared"
                and previous[KIND] == "r" and previous[IN_RANGE]
                and launch["arrays"][previous[ARRAY]]["memory"] == "global"
                and previous[BLOCK] == row[BLOCK] and previous[THREAD] == row[THREAD]
                and previous[STEP] == row[STEP] and previous[VALUE] == row[VALUE]):
            loaders[previous[ARRAY]][previous[INDEX]].append(global_thread(launch, row))
        previous = row
    return {array: dict(elements) for array, elements in loaders.items()}


def writer_grid(launch: dict, array: str, shape: list[int] | None = None) -> list[list[int]]:
    """The array as rows of the global thread that wrote each element: -1 never written,
    -2 written by more than one thread. ``shape`` (same number of elements) is how to
    show it (the op's output shape, for a kernel that sees a flat or batched view);
    leading dimensions are folded into rows, a 1-D array is one row."""
    info = launch["arrays"][array]
    shape = list(shape if shape is not None and math.prod(shape) == math.prod(info["shape"])
                 else info["shape"])
    flat = [-1] * math.prod(shape)
    for index, threads in writers(launch, array).items():
        flat[index] = threads[0] if len(threads) == 1 else -2
    columns = shape[-1] if shape else 1
    return [flat[start:start + columns] for start in range(0, len(flat), max(columns, 1))]


def shared_steps(launch: dict) -> list[dict]:
    """Per block and barrier step, what happened in shared memory: reads, writes, the
    threads active, and the barrier line that ended the step."""
    barrier_lines = {(block, step): line for block, step, line in launch.get("barriers", [])}
    shared = set(global_arrays(launch, "shared"))
    steps: dict[tuple[int, int], dict] = {}
    for row in launch["accesses"]:
        if row[ARRAY] not in shared:
            continue
        key = (row[BLOCK], row[STEP])
        step = steps.setdefault(key, {"block": key[0], "step": key[1], "reads": 0,
                                      "writes": 0, "threads": set(),
                                      "barrier_line": barrier_lines.get(key)})
        step["reads" if row[KIND] == "r" else "writes"] += 1
        step["threads"].add(row[THREAD])
    return [{**step, "threads": len(step["threads"])} for _, step in sorted(steps.items())]


def shared_races(launch: dict) -> list[dict]:
    """Shared elements that two threads of one block touched in the same step (between the
    same two barriers), at least one of them writing: the outcome depends on timing."""
    shared = set(global_arrays(launch, "shared"))
    touched: dict[tuple, dict[str, set]] = {}
    for row in launch["accesses"]:
        if row[ARRAY] in shared and row[IN_RANGE]:
            key = (row[BLOCK], row[STEP], row[ARRAY], row[INDEX])
            entry = touched.setdefault(key, {"r": set(), "w": set()})
            entry[row[KIND]].add(row[THREAD])
    races = []
    for (block, step, array, index), entry in sorted(touched.items()):
        if entry["w"] and len(entry["w"] | entry["r"]) > 1:
            races.append({"array": array, "index": index, "block": block, "step": step,
                          "writers": sorted(entry["w"]),
                          "readers": sorted(entry["r"] - entry["w"])})
    return races


def tile_loads(launch: dict) -> dict[str, dict]:
    """For each shared array: how many elements were written per block and step, and the
    most times any one element was written in one step (1 = each tile element loaded once)."""
    counts: dict[str, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    for row in launch["accesses"]:
        if row[KIND] == "w" and launch["arrays"][row[ARRAY]]["memory"] == "shared":
            counts[row[ARRAY]][(row[BLOCK], row[STEP], row[INDEX])] += 1
    result = {}
    for array, per_element in counts.items():
        per_step: dict[tuple, int] = defaultdict(int)
        for block, step, _ in per_element:
            per_step[(block, step)] += 1
        result[array] = {"loads": sum(per_element.values()),
                         "steps_with_loads": len(per_step),
                         "elements_per_step": max(per_step.values()),
                         "most_writes_of_one_element_in_a_step": max(per_element.values())}
    return result


def facts(launch: dict) -> dict:
    """Everything the lens reports about one launch, as plain data.

    ``launch["naive_global_reads"]``, when the request states it (the matmul: ``2·n·m·k``,
    each output reading a row of ``a`` and a column of ``b``), is compared with the reads
    this kernel made.
    """
    accesses = launch["accesses"]
    shared = set(global_arrays(launch, "shared"))
    outputs = written_arrays(launch)
    global_reads = sum(1 for row in accesses if row[KIND] == "r" and row[ARRAY] not in shared)
    reads_by_array: dict[str, int] = defaultdict(int)
    for row in accesses:
        if row[KIND] == "r" and row[ARRAY] not in shared:
            reads_by_array[row[ARRAY]] += 1
    per_output = {}
    races, never_written, elements_written = [], {}, 0
    for array in outputs:
        written = writers(launch, array)
        elements_written += len(written)
        races += [{"array": array, "index": index, "threads": threads}
                  for index, threads in sorted(written.items()) if len(threads) > 1]
        size = math.prod(launch["arrays"][array]["shape"])
        missing = [index for index in range(size) if index not in written]
        if missing:
            never_written[array] = missing
        per_output[array] = len(written)
    writing_threads = {global_thread(launch, row) for row in accesses
                       if row[KIND] == "w" and row[ARRAY] not in shared}
    threads = math.prod(launch["grid"]) * threads_per_block(launch)
    result = {
        "kernel": launch["kernel"],
        "grid": launch["grid"],
        "block": launch["block"],
        "threads": threads,
        "threads_that_wrote": len(writing_threads),
        "idle_threads": threads - len(writing_threads),
        "accesses": len(accesses),
        "outputs": outputs,
        "elements_written": per_output,
        "races": races,
        "never_written": never_written,
        "out_of_range": [
            {"array": row[ARRAY], "index": row[INDEX], "kind": row[KIND],
             "thread": global_thread(launch, row), "line": row[LINE]}
            for row in accesses if not row[IN_RANGE]],
        "global_reads": global_reads,
        "global_reads_by_array": dict(reads_by_array),
        "global_reads_per_output": (global_reads / elements_written if elements_written
                                    else None),
        "barriers_per_block": max((step + 1 for _, step, _ in launch.get("barriers", [])),
                                  default=0),
        "shared_steps": shared_steps(launch),
        "shared_races": shared_races(launch),
        "tiles": tile_loads(launch),
    }
    loaders = tile_loaders(launch)
    per_block = threads_per_block(launch)
    result["tile_copies"] = {
        array: {"elements": len(elements),
                "copies_per_block": max(
                    max(Counter(thread // per_block for thread in threads).values())
                    for threads in elements.values())}
        for array, elements in loaders.items()}
    naive = launch.get("naive_global_reads")
    if naive is not None:
        result["naive_global_reads"] = naive
        result["reads_saved"] = naive - global_reads
    return result
