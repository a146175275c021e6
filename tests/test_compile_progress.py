"""Cold start: a slow first compile says so on stderr; ``numbanet warmup`` is a command."""

import io
import types

import pytest
from numba import njit

from numbanet import compile_progress
from numbanet.cli import build_parser
from numbanet.compile_progress import _SlowCompileNotice


def start_event(name):
    return types.SimpleNamespace(data={"dispatcher": types.SimpleNamespace(
        py_func=types.SimpleNamespace(__name__=name))})


def test_a_compile_past_the_threshold_prints_what_and_how_many(monkeypatch):
    monkeypatch.setattr(compile_progress, "SLOW_COMPILE_SECONDS", 0.0)
    stream = io.StringIO()
    notice = _SlowCompileNotice(stream)
    for name in ("relu_contiguous", "add_strided"):
        notice.on_start(start_event(name))
        notice.on_start(start_event("inlined_formula"))  # a callee compiled inside it
        notice.on_end(None)
        notice.on_end(None)
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert lines[0].startswith("numbanet: compiling kernel 1 (relu_contiguous)")
    assert "cached for next time" in lines[0]
    assert lines[-1].startswith("numbanet: compiling kernel 2 (add_strided)")
    assert len(lines) == 2  # the callee is part of its kernel, not a kernel of its own


def test_quick_compiles_print_nothing():
    stream = io.StringIO()
    notice = _SlowCompileNotice(stream)
    notice.on_start(start_event("relu_contiguous"))
    notice.on_end(None)
    assert stream.getvalue() == ""
    assert notice.count == 1 and notice.spent < compile_progress.SLOW_COMPILE_SECONDS


def test_the_notice_stays_quiet_while_a_caller_reports_progress_itself(monkeypatch):
    monkeypatch.setattr(compile_progress, "SLOW_COMPILE_SECONDS", 0.0)
    stream = io.StringIO()
    notice = _SlowCompileNotice(stream)
    seen = []
    with compile_progress.report_compilation(lambda stage, name: seen.append((stage, name))):
        notice.on_start(start_event("relu_contiguous"))
        notice.on_end(None)

        @njit
        def twice(x):
            return 2 * x

        twice(1.5)
    assert stream.getvalue() == ""
    assert ("start", "test_the_notice_stays_quiet_while_a_caller_reports_progress_itself."
            "<locals>.twice") in seen


def test_a_real_numba_compile_reaches_the_installed_notice(monkeypatch):
    notice = compile_progress._notice
    if notice is None:
        pytest.skip("NUMBANET_QUIET_COMPILE is set")
    before = notice.count

    @njit
    def thrice(x):
        return 3 * x

    thrice(2)
    assert notice.count == before + 1


def test_warmup_is_a_command():
    arguments = build_parser().parse_args(["warmup"])
    assert arguments.handler.__name__ == "run_warmup"
    assert "warmup" in build_parser().format_help()
