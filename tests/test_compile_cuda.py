"""numbanet.compile on a CUDA device: the replay launches the captured CUDA kernels.

Runs on a GPU, or under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where every
GPU thread is a Python thread: the model is tiny.
"""

import numpy as np
import pytest

import numbanet as torch
from numbanet import nn

if not torch.cuda.is_available():
    pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

pytestmark = pytest.mark.cuda

CUDA = torch.device("cuda")


def model_and_step(make_optimizer):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(CUDA)
    optimizer = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: torch.optim.Adam(p, lr=1e-2),
], ids=["SGD-momentum", "Adam"])
def test_replayed_cuda_steps_match_eager_cuda_bit_for_bit(make_optimizer):
    rng = np.random.default_rng(0)
    data = [(torch.tensor(rng.standard_normal((4, 3)).astype(np.float32)).to(CUDA),
             torch.tensor(rng.integers(0, 2, 4)).to(CUDA)) for _ in range(3)]
    eager_model, eager_step = model_and_step(make_optimizer)
    model, step = model_and_step(make_optimizer)
    compiled = torch.compile(step)
    for i in range(5):
        x, y = data[i % 3]
        expected, got = eager_step(x, y), compiled(x, y)
        assert got.device.type == "cuda"
        assert got.item() == expected.item()
    assert compiled.replays == 3
    assert any(launch["kernels"] for launch in compiled.launches)
    for a, b in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert np.array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())
