"""Cold start: the background process that compiles the quickstart's kernels on a second core
(numbanet/precompile.py) — its kernel list, when it starts, and that it leaves nothing behind."""

import os
import subprocess
import sys

import pytest
from numba.core import config

from numbanet import precompile
from numbanet.precompile_manifest import FIRST_STEP, KERNELS


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty kernel cache folder for this test, and no helper started yet."""
    folder = tmp_path / "numba-cache"
    folder.mkdir()
    monkeypatch.setattr(config, "CACHE_DIR", str(folder))
    monkeypatch.setattr(precompile, "_helper", None)
    monkeypatch.setattr(precompile, "_lock", None)
    monkeypatch.setattr(precompile, "_owner", 0)
    monkeypatch.delenv(precompile.ENVIRONMENT_SWITCH, raising=False)
    yield folder
    precompile.stop_helper()


def test_the_kernel_list_is_what_the_quickstart_step_launches():
    recorded = precompile.record()
    assert recorded == (KERNELS, FIRST_STEP), (
        "numbanet/precompile_manifest.py is out of date: regenerate it with\n"
        "NUMBANET_PRECOMPILE=0 python -c \"from numbanet.precompile import record; "
        "record(True)\"")


def test_every_listed_kernel_is_found_and_its_types_read_back():
    dispatchers = precompile._dispatchers()
    for module, name, arguments in KERNELS:
        assert f"{module}.{name}" in dispatchers, name
        assert [repr(kind) for kind in precompile._signature(arguments)] == arguments
    assert any(name == "batched_matmul" for _, name, _ in KERNELS)


def test_a_warm_cache_starts_nothing(cache):
    (cache / precompile._marker_name(KERNELS)).touch()
    assert precompile.start_in_background() is None
    assert not (cache / precompile.LOCK_NAME).exists()


def test_the_marker_changes_with_the_kernel_list():
    shorter = KERNELS[:-1]
    assert precompile._marker_name(shorter) != precompile._marker_name(KERNELS)


def test_switched_off_by_the_environment(cache, monkeypatch):
    monkeypatch.setenv(precompile.ENVIRONMENT_SWITCH, "0")
    assert precompile.start_in_background() is None


def test_a_cache_folder_that_cannot_be_written_starts_nothing(tmp_path, monkeypatch, cache):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(config, "CACHE_DIR", str(blocker / "cache"))  # under a file
    assert precompile.start_in_background() is None


def test_one_helper_per_cache_folder(cache):
    (cache / precompile.LOCK_NAME).write_text(str(os.getpid()))  # a live process holds it
    assert precompile.start_in_background() is None
    assert (cache / precompile.LOCK_NAME).read_text() == str(os.getpid())


def test_a_lock_left_by_a_dead_process_is_taken_over(cache):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    (cache / precompile.LOCK_NAME).write_text(finished.stdout.strip())
    assert precompile._take_lock(cache) == cache / precompile.LOCK_NAME
    assert precompile._take_lock(cache) is None  # now held (empty: being written)


def test_the_helper_is_stopped_and_reaped_when_the_script_ends_first(cache):
    helper = precompile.start_in_background()
    assert helper is not None and helper.poll() is None
    lock = cache / precompile.LOCK_NAME
    assert lock.read_text() == str(helper.pid)
    assert precompile.start_in_background() is None  # one per process
    precompile.stop_helper()
    assert helper.returncode is not None  # waited for: no zombie left
    assert not lock.exists()
    assert not (cache / precompile._marker_name(KERNELS)).exists()  # it did not finish


def test_a_forked_child_leaves_its_parents_helper_alone(cache, monkeypatch):
    helper = precompile.start_in_background()
    assert helper is not None
    monkeypatch.setattr(precompile, "_owner", os.getpid() + 1)  # as seen from a fork
    precompile.stop_helper()
    assert helper.poll() is None and precompile._helper is helper
    monkeypatch.setattr(precompile, "_owner", os.getpid())
    precompile.stop_helper()
    assert helper.returncode is not None


def test_the_helper_compiles_its_list_then_leaves_the_marker(cache, monkeypatch):
    kernels = tuple(entry for entry in KERNELS if entry[1] == "relu_contiguous")
    monkeypatch.setattr(precompile, "_manifest", lambda: kernels)
    lock = precompile._take_lock(cache)
    lock.write_text(str(os.getpid()))
    assert precompile.helper_main(str(lock)) == 0
    assert (cache / precompile._marker_name(kernels)).exists()
    assert not lock.exists()
