"""``numbanet.cuda.is_available()`` on a Linux machine without an NVIDIA driver answers
without importing numba.cuda (half a second of a script's start-up); anywhere a GPU or the
simulator may be there, numba.cuda decides."""

import sys

import pytest

from numbanet import cuda


@pytest.fixture
def no_driver(monkeypatch):
    """A Linux machine with no driver files, no simulator, numba.cuda not imported yet."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.delenv("NUMBA_CUDA_DRIVER", raising=False)
    monkeypatch.delitem(sys.modules, "numba.cuda", raising=False)
    monkeypatch.setattr(cuda.os.path, "exists", lambda path: False)
    monkeypatch.setattr(cuda.glob, "glob", lambda pattern: [])


def test_no_driver_is_known_without_numba_cuda(no_driver):
    assert cuda._no_driver_here()
    assert cuda.is_available() is False
    assert "numba.cuda" not in sys.modules


def test_a_driver_device_file_asks_numba(no_driver, monkeypatch):
    monkeypatch.setattr(cuda.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert not cuda._no_driver_here()


def test_wsl_and_proc_driver_files_ask_numba(no_driver, monkeypatch):
    for present in ("/dev/dxg", "/proc/driver/nvidia"):
        monkeypatch.setattr(cuda.os.path, "exists", lambda path, present=present:
                            path == present)
        assert not cuda._no_driver_here()


def test_the_simulator_asks_numba(no_driver, monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert not cuda._no_driver_here()


def test_other_systems_ask_numba(no_driver, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert not cuda._no_driver_here()
