"""The step timing the benchmarks share (benchmarks/bench_training.py, step_process.py):
each library's step in a process of its own, timed in turns."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_training import in_this_process, median_step_seconds, step_seconds  # noqa: E402
from step_process import StepProcess  # noqa: E402


def test_turns_time_every_step_but_the_first_of_each_turn():
    ran = {"a": 0, "b": 0}
    order = []

    def step_of(name):
        def step():
            ran[name] += 1
            order.append(name)
        return step

    clock_ticks = iter(range(10_000))
    timers = [in_this_process(step_of(name), clock=lambda: next(clock_ticks))
              for name in ("a", "b")]
    medians = median_step_seconds(timers, warmup=2, steps=8, run=5)
    assert ran == {"a": 2 + 2 * 5, "b": 2 + 2 * 5}  # warm-up, then 2 turns of 5 steps
    assert order[4:9] == ["a"] * 5 and order[9:14] == ["b"] * 5  # in turns, not interleaved
    assert medians == [1, 1]  # each step: one tick of the fake clock


def test_a_short_step_is_still_timed_in_the_turns_asked_for():
    # five steps fill the four samples asked for in one turn; three turns were asked for
    clock_ticks = iter(range(10_000))
    timer = in_this_process(lambda: None, clock=lambda: next(clock_ticks))
    (samples,) = step_seconds([timer], warmup=1, steps=4, run=5, turns=3)
    assert len(samples) == 3 * 4  # three turns of five steps, the first of each not counted


def test_a_step_process_times_a_numbanet_step_without_importing_torch():
    with StepProcess("bench_compile:looped", "numbanet", "linreg", False, threads=1) as steps:
        seconds = steps.timed_steps(3)
        assert len(seconds) == 3 and all(0 < second < 60 for second in seconds)
        assert steps.version and steps.torch_imported is False
        assert steps.timed_steps(0) == []


def test_a_step_process_that_fails_says_so():
    with pytest.raises(RuntimeError, match="ended"), \
            StepProcess("bench_compile:no_such_step", "numbanet", threads=1):
        pass
