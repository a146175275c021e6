"""The kernel lens outside the simulator: its analysis on hand-made records, the requests it
builds from trace events, the helper process end to end, the stepper's ``t`` screen (Pilot)
and ``numbanet step --headless --kernel-lens``.

The simulator-side recording of real kernels is tested in test_kernel_lens_simulated.py.
"""

import asyncio
import functools
import io
import json

import pytest

import numbanet as torch
from numbanet import kernel_lens, trace
from numbanet.kernels.lens import analysis
from numbanet.kernels.lens.requests import NoLens, build_request, contract_name


def launch_record(accesses, grid=(1, 1, 1), block=(4, 1, 1), arrays=None, barriers=()):
    return {"kernel": "tests.hand_made", "grid": list(grid), "block": list(block),
            "arrays": arrays or {"out": {"shape": [4], "dtype": "float32", "memory": "global"},
                                 "x": {"shape": [4], "dtype": "float32", "memory": "global"}},
            "accesses": [list(row) for row in accesses], "barriers": list(barriers)}


# ---- analysis: pure functions of the record ---------------------------------------------------

def test_facts_find_a_race_an_unwritten_element_and_a_read_past_the_end():
    #             block thread step kind array index value line in_range
    launch = launch_record([
        (0, 0, 0, "r", "x", 0, 1.0, 10, True), (0, 0, 0, "w", "out", 0, 1.0, 11, True),
        (0, 1, 0, "r", "x", 1, 2.0, 10, True), (0, 1, 0, "w", "out", 1, 2.0, 11, True),
        (0, 2, 0, "w", "out", 1, 3.0, 11, True),  # thread 2 writes element 1 too: a race
        (0, 3, 0, "r", "x", [4], 0.0, 10, False),  # thread 3 reads past the end
    ])
    facts = analysis.facts(launch)
    assert facts["races"] == [{"array": "out", "index": 1, "threads": [1, 2]}]
    assert facts["never_written"] == {"out": [2, 3]}
    assert facts["out_of_range"] == [{"array": "x", "index": [4], "kind": "r", "thread": 3,
                                      "line": 10}]
    assert facts["idle_threads"] == 1 and facts["global_reads"] == 3
    assert analysis.writer_grid(launch, "out", [2, 2]) == [[0, -2], [-1, -1]]


def test_shared_memory_races_need_two_threads_between_the_same_barriers():
    arrays = {"out": {"shape": [2], "dtype": "float32", "memory": "global"},
              "tile": {"shape": [2], "dtype": "float32", "memory": "shared"}}
    # step 0: thread 0 writes tile[0]; thread 1 reads it in the same step: a race.
    # tile[1]: written in step 0, read by another thread in step 1 (after a barrier): fine.
    launch = launch_record([
        (0, 0, 0, "w", "tile", 0, 1.0, 5, True), (0, 1, 0, "r", "tile", 0, 0.0, 6, True),
        (0, 0, 0, "w", "tile", 1, 1.0, 5, True), (0, 1, 1, "r", "tile", 1, 1.0, 8, True),
    ], block=(2, 1, 1), arrays=arrays, barriers=[(0, 0, 7)])
    races = analysis.shared_races(launch)
    assert races == [{"array": "tile", "index": 0, "block": 0, "step": 0, "writers": [0],
                      "readers": [1]}]
    steps = analysis.shared_steps(launch)
    assert [(s["step"], s["writes"], s["reads"], s["barrier_line"]) for s in steps] == [
        (0, 2, 1, 7), (1, 0, 1, None)]


def test_thread_numbers_and_names_follow_cuda():
    launch = launch_record([], grid=(2, 1, 1), block=(16, 16, 1))
    assert analysis.coordinates(launch, 256 + 16 * 3 + 5) == ((1, 0, 0), (5, 3, 0))
    assert analysis.thread_name(launch, 256 + 16 * 3 + 5) == "block (1, 0) thread (5, 3)"
    assert analysis.thread_name(launch_record([]), 3) == "block 0 thread 3"


# ---- requests: from a trace event to a kernel call -----------------------------------------

@pytest.mark.parametrize("kernel, contract", [
    ("numbanet.kernels.cpu.elementwise.add_strided", "add"),
    ("numbanet.kernels.cpu.elementwise.relu_backward_contiguous", "relu_backward"),
    ("numbanet.kernels.cuda.strided.mul_contiguous_kernel", "mul"),
    ("numbanet.kernels.cpu.matmul.batched_matmul", "matmul"),
    ("numbanet.kernels.cuda.matmul.matmul_float32_kernel", "matmul"),
    ("numbanet.kernels.cpu.reductions.sum_middle", "sum"),
    ("numbanet.kernels.cuda.reductions.extreme_rows_kernel", "max"),
    ("numbanet.kernels.cpu.softmax.log_softmax_rows_parallel", "log_softmax"),
    ("numbanet.kernels.cpu.optimizers.sgd_kernel", None),
])
def test_recorded_kernels_map_to_their_cuda_twins(kernel, contract):
    assert contract_name(kernel) == contract


def recorded(function):
    with trace.record() as recorded_trace:
        function()
    return recorded_trace


def test_a_small_node_is_re_run_on_its_recorded_values():
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    event = recorded(lambda: a @ b).events[0]
    request = build_request(event)
    assert request["kernel"] == "matmul" and not request["example"]
    assert [o["values"] for o in request["operands"]] == [a.tolist(), b.tolist()]
    assert request["output_shape"] == [2, 2]
    assert request["naive_global_reads"] == 2 * 2 * 2 * 3


def test_a_large_node_becomes_an_example_with_the_same_block_shape():
    x = torch.ones(64, 784)
    events = recorded(lambda: (x.relu(), x @ torch.ones(784, 128))).events
    relu = build_request(events[0])
    assert relu["example"] and relu["operands"][0]["shape"] == [16, 16]  # 256: a full block
    assert "(64, 784)" in relu["note"] and "example" in relu["note"]
    matmul = build_request(events[1])
    assert [o["shape"] for o in matmul["operands"]] == [[16, 8], [8, 16]]  # one 16x16 block


def test_a_broadcast_add_s_backward_sums_the_bias_gradient_over_the_batch():
    x = torch.ones(5, 3, requires_grad=True)
    bias = torch.zeros(3, requires_grad=True)
    with trace.record() as recorded_trace:
        ((x + bias) * 2).sum().backward()
    add_backward = next(e for e in recorded_trace.events
                        if e.phase == "backward" and e.op.startswith("Add"))
    request = build_request(add_backward)
    assert request["kernel"] == "sum" and request["arguments"]["axes"] == [0]
    assert request["output_shape"] == [3] and not request["example"]


def test_a_view_has_no_lens():
    x = torch.ones(2, 3)
    event = recorded(lambda: x.t()).events[0]
    assert not kernel_lens.has_lens(event)
    with pytest.raises(NoLens, match="no kernel ran"):
        build_request(event)


# ---- the helper process, end to end ----------------------------------------------------------

@pytest.fixture(scope="module")
def add_lens():
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = torch.tensor([[10.0], [20.0]])
    recorded_trace = recorded(lambda: a + b)
    return recorded_trace, kernel_lens.record(recorded_trace.events[0])


def test_the_helper_records_a_broadcast_add(add_lens):
    _, lens = add_lens
    assert lens.output == "out" and lens.output_grid() == [[0, 1, 2], [3, 4, 5]]
    story = kernel_lens.element_story(lens.launch, "out", 4)
    assert story["value"] == 25.0
    assert [(r[kernel_lens.ARRAY], r[kernel_lens.VALUE]) for r in story["reads"]] == [
        ("a", 5.0), ("b", 20.0)]
    text = kernel_lens.summary(lens)
    assert "6 of 6 elements written, each by exactly one thread" in text
    assert "2 per output element" in text
    assert json.loads(json.dumps(lens.to_dict())) == lens.to_dict()  # plain data


def test_headless_kernel_lens_prints_the_summary(add_lens, tmp_path):
    from numbanet.tui.headless import run_kernel_lens
    from numbanet.tui.recorder import TraceSource

    recorded_trace, _ = add_lens
    path = tmp_path / "add.json"
    recorded_trace.save(path)
    out = io.StringIO()
    assert run_kernel_lens(TraceSource(path), "Add", stream=out) == 0
    assert "kernel lens: node 0 Add: add_strided_kernel" in out.getvalue()
    assert "each by exactly one thread" in out.getvalue()
    assert run_kernel_lens(TraceSource(path), "Relu", stream=io.StringIO()) == 2
    as_json = io.StringIO()
    assert run_kernel_lens(TraceSource(path), "0", as_json=True, stream=as_json) == 0
    record = json.loads(as_json.getvalue())
    assert record["type"] == "kernel_lens" and record["facts"]["races"] == []
    assert record["facts"]["elements_written"] == {"out": 6}


def test_export_keeps_the_lens_in_the_html_replay(add_lens, tmp_path):
    from numbanet.cli import main as numbanet_main

    recorded_trace, _ = add_lens
    recorded_trace.save(tmp_path / "add.json")
    assert numbanet_main(["export", str(tmp_path / "add.json"), "-o", str(tmp_path / "a.html"),
                          "--renderer", "wasm", "--kernel-lens", "Add"]) == 0
    page = (tmp_path / "a.html").read_text()
    assert '"writers": [[0, 1, 2], [3, 4, 5]]' in page
    assert numbanet_main(["export", str(tmp_path / "add.json"), "-o", str(tmp_path / "b.html"),
                          "--renderer", "wasm", "--kernel-lens", "Relu"]) == 2


# ---- the stepper's screen ------------------------------------------------------------------------

def run_app_test(test):
    """Run an ``async def`` Pilot test to completion (pytest still sees its fixtures)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


@run_app_test
async def test_t_opens_the_lens_and_selecting_an_element_shows_its_thread(add_lens):
    from textual.widgets import DataTable

    from numbanet.tui.app import StepperApp
    from numbanet.tui.widgets.kernel_lens import KernelLensScreen

    recorded_trace, lens = add_lens
    app = StepperApp(traces=[recorded_trace], show_timings=False)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        app.push_screen(KernelLensScreen(recorded_trace.events[0], lens=lens))
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(DataTable)
        assert (table.row_count, len(table.columns)) == (2, 3)
        await pilot.press("down", "right")  # element [1, 1]
        details = screen.details_plain
        assert "out[1, 1] = 25  written by block 0 thread 4" in details
        # the add's kernel sees flat storage windows: a[4] is a[1, 1], b[1] is b[1, 0]
        assert "read  a[4] = 5" in details and "read  b[1] = 20" in details
        await pilot.press("enter")  # the thread's accesses, in order
        details = screen.details_plain
        assert "read  a[4] = 5" in details and "write out[4] = 25" in details
        await pilot.press("escape")
        assert not isinstance(app.screen, KernelLensScreen)


@run_app_test
async def test_t_records_the_lens_in_a_worker_and_shows_the_grid(add_lens):
    from textual.widgets import DataTable

    from numbanet.tui.app import StepperApp
    from numbanet.tui.widgets.kernel_lens import KernelLensScreen

    recorded_trace, _ = add_lens
    app = StepperApp(traces=[recorded_trace], show_timings=False)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, KernelLensScreen)
        for _ in range(1200):  # the helper process needs a few seconds
            if screen.lens is not None:
                break
            await pilot.pause(0.1)
        assert screen.lens is not None, "the lens was not recorded within two minutes"
        await pilot.pause()
        assert screen.query_one(DataTable).row_count == 2
        assert "out[0, 0] = 11  written by block 0 thread 0" in screen.details_plain


@run_app_test
async def test_t_on_a_node_without_a_cuda_kernel_says_so():
    from numbanet.tui.app import StepperApp
    from numbanet.tui.widgets.kernel_lens import KernelLensScreen

    x = torch.ones(2, 3)
    app = StepperApp(traces=[recorded(lambda: x.t())], show_timings=False)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, KernelLensScreen)
        assert any("no kernel with a CUDA twin" in n.message for n in app._notifications)


# ---- the HTML replay -----------------------------------------------------------------------------

def test_a_lens_kept_with_the_trace_goes_into_the_replay(add_lens, tmp_path, monkeypatch):
    from numbanet import viz
    from numbanet.trace import Trace
    from numbanet.viz.replay import replay_steps

    recorded_trace, lens = add_lens
    kept = Trace.from_dict(json.loads(json.dumps(recorded_trace.to_dict())))
    kernel_lens.attach(kept, lens)
    kept.save(tmp_path / "add.json")  # a saved trace keeps its lens
    kept = Trace.load(tmp_path / "add.json")
    step = replay_steps(kept, {})[0]
    assert step["lens"]["writers"] == [[0, 1, 2], [3, 4, 5]]
    assert "each by exactly one thread" in step["lens"]["summary"]

    from chromium import Chromium, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium here: the replay's lens grid is not checked in a browser")
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")
    page_path = tmp_path / "add.html"
    page_path.write_text(viz.replay_html(kept), encoding="utf-8")
    with Chromium() as browser:
        page = browser.open(page_path.as_uri())
        page.wait_for("document.getElementById('kernel-lens').rows.length > 0")
        assert page.evaluate("document.getElementById('kernel-lens-section').hidden") is False
        cells = page.evaluate("[...document.querySelectorAll('#kernel-lens td')]"
                              ".map(td => td.textContent).join(',')")
        assert cells == "0,1,2,3,4,5"


# ---- the CPU kernel's prange loop ------------------------------------------------------------

def test_the_prange_loop_of_a_cpu_softmax_gives_each_row_to_one_iteration():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    event = recorded(lambda: x.softmax(1)).events[0]
    lens = kernel_lens.record(event, device="cpu")
    assert lens.is_loop and lens.launch["kernel"].endswith("softmax_rows_parallel")
    assert lens.output_grid() == [[0] * 4, [1] * 4, [2] * 4]  # iteration i writes row i
    assert lens.facts["races"] == []
    story = kernel_lens.element_story(lens.launch, lens.output, 5)  # row 1, column 1
    assert story["value"] == pytest.approx(float(x.softmax(1)[1, 1]))
    assert {r[kernel_lens.INDEX] for r in story["reads"]} <= set(range(4, 8))  # row 1 only
    text = kernel_lens.summary(lens)
    assert "prange loop: 3 iterations" in text and "each by exactly one iteration" in text


def test_a_cpu_kernel_without_prange_says_so():
    x = torch.arange(6, dtype=torch.float32)
    event = recorded(lambda: x.relu()).events[0]
    with pytest.raises(RuntimeError, match="without a prange loop"):
        kernel_lens.record(event, device="cpu")
