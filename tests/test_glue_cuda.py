"""The glue and printing on a CUDA device (a real GPU, or numba's simulator in CI:
``NUMBA_ENABLE_CUDASIM=1``): printing says ``device='cuda:0'``, ``torch.accelerator`` answers
for CUDA, and ``set_default_device("cuda")`` puts new tensors there."""

from __future__ import annotations

import pytest

import numbanet

if not numbanet.cuda.is_available():
    pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

pytestmark = pytest.mark.cuda


def test_a_cuda_tensor_prints_its_device():
    x = numbanet.tensor([1.0, 2.5], device="cuda")
    assert repr(x) == "tensor([1.0000, 2.5000], device='cuda:0')"
    w = numbanet.ones(2, device="cuda", requires_grad=True)
    assert repr(w) == "tensor([1., 1.], device='cuda:0', requires_grad=True)"
    assert f"{(w * 3).sum():.1f}" == "6.0"


def test_accelerator_is_cuda():
    assert numbanet.accelerator.is_available()
    assert numbanet.accelerator.current_accelerator() == numbanet.device("cuda")
    assert numbanet.accelerator.device_count() >= 1
    numbanet.accelerator.synchronize()


def test_default_device_cuda():
    try:
        numbanet.set_default_device("cuda")
        assert numbanet.zeros(2).is_cuda and numbanet.randn(2, 2).is_cuda
        assert numbanet.get_default_device().type == "cuda"
        assert "device=" not in repr(numbanet.zeros(2))  # the default device is not named
    finally:
        numbanet.set_default_device(None)
    assert not numbanet.zeros(2).is_cuda
