"""Cold start: the script and its background compiler split the kernel list without
compiling a kernel twice (numbanet/precompile.py): each claims a kernel before compiling
it; the script waits for a kernel the helper has claimed, the helper leaves the script's."""

import io
import os
import threading
import time
import types

import pytest
from numba.core.caching import Cache, FunctionCache

from numbanet import compile_progress, precompile
from numbanet.compile_progress import _SlowCompileNotice
from numbanet.precompile_manifest import FIRST_STEP, KERNELS


class FakeDispatcher:
    """Records the signatures it is asked to compile, in order, in a shared list."""

    def __init__(self, name, calls, parallel=False):
        self.name, self.calls = name, calls
        self.targetoptions = {"parallel": True} if parallel else {}

    def compile(self, signature):
        self.calls.append(self.name)


@pytest.fixture
def claims(tmp_path, monkeypatch):
    folder = tmp_path / precompile.CLAIMS_NAME
    folder.mkdir()
    monkeypatch.setattr(precompile, "POLL_SECONDS", 0.01)
    return folder


def test_the_helper_leaves_the_scripts_kernels_and_takes_them_once_cached(claims, monkeypatch):
    kernels = tuple(("m", name, ["int64"]) for name in ("first", "second", "third"))
    calls = []
    monkeypatch.setattr(precompile, "_dispatchers", lambda: {
        f"m.{name}": FakeDispatcher(name, calls) for _, name, _ in kernels})
    assert precompile._claim(claims, 1) is True  # the script compiles "second"
    result = []
    helper = threading.Thread(target=lambda: result.append(precompile.compile_all(kernels,
                                                                                  claims)))
    helper.start()
    deadline = time.monotonic() + 10
    while calls != ["third", "first"] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert calls == ["third", "first"]  # from the last one back, the script's skipped
    assert helper.is_alive()  # waiting for the script to cache "second"
    assert (claims / "2.done").exists() and (claims / "0.done").exists()
    (claims / "1.done").touch()
    helper.join(10)
    assert calls == ["third", "first", "second"]  # now loaded from the cache
    assert result == [3]


@pytest.fixture
def sharing(claims, monkeypatch):
    """This process as a script whose helper runs, with Numba's cache look-ups faked:
    ``cached`` holds the (kernel name, signature) pairs "on disk"."""
    cached = set()

    def load(cache, signature, target_context):
        return "machine code" if (cache._py_func.__name__, signature) in cached else None

    monkeypatch.setattr(Cache, "load_overload", load)
    monkeypatch.setattr(Cache, "save_overload", lambda cache, signature, data: None)
    monkeypatch.setattr(precompile, "_helper", types.SimpleNamespace(returncode=None))
    monkeypatch.setattr(precompile, "_owner", os.getpid())
    precompile._share_work(KERNELS, claims, FIRST_STEP)
    yield cached
    precompile._stop_sharing()
    assert "load_overload" not in vars(FunctionCache)  # Numba's own again


def listed(name):
    position = next(i for i, entry in enumerate(KERNELS) if entry[1] == name)
    return position, precompile._signature(KERNELS[position][2])


def relu_cache():
    """Numba's cache object of the ``relu_contiguous`` kernel."""
    return precompile._dispatchers()["numbanet.kernels.cpu.elementwise.relu_contiguous"]._cache


def test_the_script_claims_a_listed_kernel_it_compiles_and_marks_it_done(sharing, claims):
    position, signature = listed("relu_contiguous")
    cache = relu_cache()
    assert cache.load_overload(signature, None) is None  # a miss: compile it here
    assert (claims / str(position)).exists()
    cache.save_overload(signature, "machine code")
    assert (claims / f"{position}.done").exists()


def test_the_script_waits_for_a_kernel_the_helper_is_compiling(sharing, claims, monkeypatch):
    monkeypatch.setattr(compile_progress, "SLOW_COMPILE_SECONDS", 0.0)
    stream = io.StringIO()
    monkeypatch.setattr(compile_progress, "_notice", _SlowCompileNotice(stream))
    position, signature = listed("relu_contiguous")
    assert precompile._claim(claims, position) is True  # the helper's
    monkeypatch.setattr(precompile, "_first_step_listed", position + 1)  # nothing after it

    def helper_finishes():
        time.sleep(0.3)
        sharing.add(("relu_contiguous", signature))
        (claims / f"{position}.done").touch()

    threading.Thread(target=helper_finishes).start()
    started = time.perf_counter()
    loaded = relu_cache().load_overload(signature, None)
    assert loaded == "machine code"  # loaded from the cache, not compiled again
    assert time.perf_counter() - started >= 0.25
    assert stream.getvalue().startswith("numbanet: waiting for kernel relu_contiguous from "
                                        "the background compiler")


def test_a_kernel_off_the_list_is_the_scripts_own(sharing, claims):
    signature = precompile._signature(["Array(float64, 1, 'C', False, aligned=True)"] * 2)
    assert relu_cache().load_overload(signature, None) is None
    assert list(claims.iterdir()) == []


def test_a_stopped_helper_is_not_waited_for(sharing, claims, monkeypatch):
    position, signature = listed("relu_contiguous")
    assert precompile._claim(claims, position) is True  # the helper's, then it stops
    monkeypatch.setattr(precompile, "_helper", types.SimpleNamespace(returncode=-15))
    assert relu_cache().load_overload(signature, None) is None


def test_the_claims_folder_is_cleared_when_the_helper_is_stopped(claims):
    assert precompile._claim(claims, 0) is True
    precompile._mark_done(claims, 0)
    precompile._clear_claims(claims)
    assert not claims.exists()
    assert precompile._claim(claims, 1) is None  # nothing to share any more


def test_the_helper_takes_the_training_step_from_its_end_and_the_accuracy_last(monkeypatch):
    kernels = tuple(("m", name, ["int64"]) for name in ("matmul", "relu", "sgd", "argmax"))
    calls = []
    monkeypatch.setattr(precompile, "_dispatchers", lambda: {
        f"m.{name}": FakeDispatcher(name, calls) for _, name, _ in kernels})
    assert precompile.compile_all(kernels, None, first_step=3) == 4
    assert calls == ["sgd", "relu", "matmul", "argmax"]


def test_the_parallel_kernels_of_the_step_come_first_for_the_helper(monkeypatch):
    names = ("matmul", "relu", "matmul_again", "sgd", "argmax")
    kernels = tuple(("m", name, ["int64"]) for name in names)
    calls = []
    monkeypatch.setattr(precompile, "_dispatchers", lambda: {
        f"m.{name}": FakeDispatcher(name, calls, parallel=name.startswith("matmul"))
        for name in names})
    assert precompile.compile_all(kernels, None, first_step=4) == 5
    assert calls == ["matmul_again", "matmul", "sgd", "relu", "argmax"]


def test_the_script_compiles_the_next_unclaimed_kernels_while_it_waits(sharing, claims,
                                                                      monkeypatch):
    names = ("matmul", "relu", "sum", "sgd", "argmax")
    calls = []

    class Claiming(FakeDispatcher):
        def compile(self, signature):  # as Numba's cache look-up does in the script
            precompile._claim(claims, names.index(self.name))
            super().compile(signature)

    monkeypatch.setattr(precompile, "_dispatchers", lambda: {
        f"m.{name}": Claiming(name, calls) for name in names})
    monkeypatch.setattr(precompile, "_listed_kernels",
                        tuple(("m", name, ["int64"]) for name in names))
    monkeypatch.setattr(precompile, "_first_step_listed", 4)
    precompile._claim(claims, 0)  # the helper compiles "matmul" ...
    precompile._claim(claims, 2)  # ... and has "sum" too
    precompile._work_while_waiting(0)
    assert calls == ["relu", "sgd"]  # not the helper's, not past the training step
    for later in (1, 3):
        (claims / str(later)).unlink()  # unclaimed again ...
    (claims / "0.done").touch()  # ... but the awaited kernel is there: the script goes on
    precompile._work_while_waiting(0)
    assert calls == ["relu", "sgd"]
