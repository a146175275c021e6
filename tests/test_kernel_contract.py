"""Both backends export every name of the kernel contract, with the same parameter names.

Importing ``numbanet.kernels.cuda`` needs numba-cuda but no GPU (kernels compile on first
launch), so this test runs everywhere.
"""

import importlib
import inspect

import pytest

from numbanet.kernels.contract import KERNEL_CONTRACT


def _backend(name: str):
    try:
        return importlib.import_module(f"numbanet.kernels.{name}")
    except ImportError as error:
        pytest.skip(f"numbanet.kernels.{name} is not importable: {error}")


def _parameter_names(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_contract_names_are_unique():
    assert len(KERNEL_CONTRACT) == len(set(KERNEL_CONTRACT))


def test_cuda_backend_exports_the_whole_contract():
    cuda_backend = _backend("cuda")
    missing = [name for name in KERNEL_CONTRACT if not callable(getattr(cuda_backend, name, None))]
    assert missing == []
    assert sorted(cuda_backend.__all__) == sorted(KERNEL_CONTRACT)


def test_cpu_backend_exports_the_whole_contract():
    cpu_backend = _backend("cpu")
    missing = [name for name in KERNEL_CONTRACT if not callable(getattr(cpu_backend, name, None))]
    if len(missing) == len(KERNEL_CONTRACT):
        pytest.skip("numbanet.kernels.cpu exports no kernels yet")
    assert missing == []


@pytest.mark.parametrize("name", KERNEL_CONTRACT)
def test_signatures_match_between_backends(name):
    cpu_function = getattr(_backend("cpu"), name, None)
    if cpu_function is None:
        pytest.skip(f"numbanet.kernels.cpu does not export {name} yet")
    cuda_function = getattr(_backend("cuda"), name)
    assert _parameter_names(cuda_function) == _parameter_names(cpu_function)
