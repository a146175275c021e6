"""``numbanet warmup --jobs N``: N - 1 more processes compile the same workloads from other
starting points (numbanet/warmup.py), and none is left behind."""

import pytest

from numbanet import warmup
from numbanet.cli import build_parser


def test_jobs_is_an_option_of_warmup():
    assert build_parser().parse_args(["warmup", "--jobs", "3"]).jobs == 3
    assert build_parser().parse_args(["warmup"]).jobs is None  # DEFAULT_JOBS then
    assert 1 <= warmup.DEFAULT_JOBS <= 2


def test_fewer_than_one_job_is_refused():
    arguments = build_parser().parse_args(["warmup", "--jobs", "0"])
    with pytest.raises(SystemExit, match="--jobs must be at least 1, got 0"):
        arguments.handler(arguments)


def test_one_job_starts_no_process():
    assert warmup._start_jobs(1) == []


def test_a_second_job_starts_halfway_and_is_stopped_and_reaped():
    started = warmup._start_jobs(2)
    try:
        assert len(started) == 1
        count = len(warmup.WORKLOADS)
        order = [int(index) for index in started[0].args[4:]]
        assert order == [(count // 2 + step) % count for step in range(count)]
    finally:
        warmup._stop_jobs(started)
    assert started[0].returncode is not None


def test_run_workloads_runs_the_chosen_ones(monkeypatch):
    ran = []
    monkeypatch.setattr(warmup, "WORKLOADS", [("a", lambda torch: ran.append("a")),
                                              ("b", lambda torch: ran.append("b"))])
    warmup.run_workloads([1, 0])
    assert ran == ["b", "a"]
