"""Data-parallel training on real MPI processes: ``mpiexec -n 2`` runs this file as a script.

Each scenario below runs on every rank and checks its results itself; a failed check raises,
which aborts the whole job (``init_process_group`` installs that behaviour), so the job's
exit status and the "ok" lines it prints tell the tests here what passed. Every launch has
a timeout: a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
JOB_TIMEOUT = 600  # seconds; a cold Numba cache compiles the float64 kernels first


# ---- the scenarios (run under mpiexec) -------------------------------------------------------
def _make_model(seed: int, hidden: int = 16):
    import numbanet as torch
    import numbanet.nn as nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, hidden), nn.Tanh(), nn.Linear(hidden, 3)).double()


def _dataset(size: int = 128):
    import numbanet as torch
    from numbanet.utils.data import TensorDataset

    rng = np.random.default_rng(0)  # the same data on every rank
    inputs = torch.from_numpy(rng.standard_normal((size, 6)))
    targets = torch.from_numpy(rng.integers(0, 3, size).astype(np.int64))
    return TensorDataset(inputs, targets)


def _flat(module) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])


def _gather(array: np.ndarray) -> list[np.ndarray]:
    import numbanet as torch
    import numbanet.distributed as dist

    slots = [torch.zeros(array.shape, dtype=torch.float64)
             for _ in range(dist.get_world_size())]
    dist.all_gather(slots, torch.from_numpy(array.copy()))
    return [slot.numpy() for slot in slots]


def scenario_collectives(rank: int, world: int) -> None:
    import numbanet as torch
    import numbanet.distributed as dist

    values = torch.tensor([rank + 1.0, 10.0 * (rank + 1)], dtype=torch.float64)
    dist.all_reduce(values)
    expected_sum = sum(np.array([r + 1.0, 10.0 * (r + 1)]) for r in range(world))
    np.testing.assert_array_equal(values.numpy(), expected_sum)
    values = torch.tensor([rank + 1.0, 10.0 * (rank + 1)], dtype=torch.float64)
    dist.all_reduce(values, op=dist.ReduceOp.AVG)
    np.testing.assert_allclose(values.numpy(), expected_sum / world)
    values = torch.tensor([rank, -rank], dtype=torch.int64)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    assert values.tolist() == [world - 1, 0]
    # in place, on a non-contiguous view, through copy_ (the version counter moves)
    matrix = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    dist.all_reduce(matrix)
    np.testing.assert_array_equal(matrix.numpy(), world * np.arange(6.0).reshape(2, 3).T)
    source = torch.full((3,), float(rank))
    dist.broadcast(source, src=world - 1)
    assert source.tolist() == [float(world - 1)] * 3
    gathered = [torch.zeros(2, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(gathered, torch.tensor([rank, rank * rank]))
    assert [g.tolist() for g in gathered] == [[r, r * r] for r in range(world)]
    objects = [None] * world
    dist.all_gather_object(objects, {"rank": rank})
    assert objects == [{"rank": r} for r in range(world)]
    dist.barrier()


def scenario_training(rank: int, world: int) -> None:
    """world ranks x batch 32/world reach the parameters of 1 process x batch 32."""
    import numbanet as torch
    import numbanet.nn as nn
    from numbanet.nn.parallel import DistributedDataParallel
    from numbanet.utils.data import DataLoader, DistributedSampler

    dataset = _dataset()
    model = _make_model(seed=100 + rank)  # different start on each rank...
    ddp = DistributedDataParallel(model, bucket_cap_mb=200 / 2**20)  # several buckets
    assert len(ddp._buckets) > 1
    start = _flat(ddp.module)
    assert all(np.array_equal(start, other) for other in _gather(start))  # ...rank 0's now
    np.testing.assert_array_equal(start, _flat(_make_model(seed=100)))

    reference = _make_model(seed=0)
    reference.load_state_dict(ddp.module.state_dict())
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    sampler = DistributedSampler(dataset, seed=7)
    whole = DistributedSampler(dataset, num_replicas=1, rank=0, seed=7)  # 1 process
    loader = DataLoader(dataset, batch_size=32 // world, sampler=sampler)
    reference_loader = DataLoader(dataset, batch_size=32, sampler=whole)
    steps = 0
    for epoch in range(2):
        sampler.set_epoch(epoch)
        whole.set_epoch(epoch)
        for (inputs, targets), (all_inputs, all_targets) in zip(
                loader, reference_loader, strict=True):
            optimizer.zero_grad()
            criterion(ddp(inputs), targets).backward()
            optimizer.step()
            reference_optimizer.zero_grad()
            criterion(reference(all_inputs), all_targets).backward()
            reference_optimizer.step()
            steps += 1
    assert steps == 8
    trained = _flat(ddp.module)
    assert np.abs(trained - start).max() > 1e-2  # it did learn something
    assert np.abs(trained - _flat(reference)).max() <= 1e-6
    assert all(np.array_equal(trained, other) for other in _gather(trained))
    assert list(ddp.state_dict()) == ["module." + key for key in reference.state_dict()]


def scenario_no_sync(rank: int, world: int) -> None:
    """Two half-batches accumulated under no_sync, then synchronised == one full batch."""
    import numbanet as torch
    import numbanet.nn as nn
    from numbanet.nn.parallel import DistributedDataParallel
    from numbanet.utils.data import DataLoader, DistributedSampler

    dataset = _dataset(64)
    ddp = DistributedDataParallel(_make_model(seed=3))
    reference = _make_model(seed=3)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=0.01)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(dataset, batch_size=32 // world,
                        sampler=DistributedSampler(dataset, shuffle=False))
    reference_loader = DataLoader(dataset, batch_size=32)
    for (inputs, targets), (all_inputs, all_targets) in zip(loader, reference_loader,
                                                            strict=True):
        half = inputs.shape[0] // 2
        optimizer.zero_grad()
        with ddp.no_sync():  # local only: no all-reduce
            (criterion(ddp(inputs[:half]), targets[:half]) / 2).backward()
        local = [p.grad.numpy().copy() for p in ddp.parameters()]
        mine = np.concatenate([g.ravel() for g in local])
        assert world == 1 or not all(np.array_equal(mine, other) for other in _gather(mine))
        (criterion(ddp(inputs[half:]), targets[half:]) / 2).backward()  # synchronised
        optimizer.step()
        reference_optimizer.zero_grad()
        criterion(reference(all_inputs), all_targets).backward()
        reference_optimizer.step()
    assert np.abs(_flat(ddp.module) - _flat(reference)).max() <= 1e-6


def scenario_model_mismatch(rank: int, world: int) -> None:
    """A rank with another model raises on every rank at construction (no hang)."""
    from numbanet.nn.parallel import DistributedDataParallel

    try:
        DistributedDataParallel(_make_model(seed=0, hidden=16 + (rank == world - 1)))
    except RuntimeError as error:
        assert "DDP expects same model across all ranks" in str(error), error
        assert world > 1
    else:
        assert world == 1, "a model mismatch was not detected"


def scenario_unused_parameter(rank: int, world: int) -> None:
    """A parameter without gradient: the next forward says which one (no hang)."""
    import numbanet as torch
    import numbanet.nn as nn
    from numbanet.nn.parallel import DistributedDataParallel

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(2, 1)
            self.unused = nn.Linear(2, 1)

        def forward(self, x):
            return self.used(x)

    ddp = DistributedDataParallel(TwoHeads())
    ddp(torch.ones(1, 2)).sum().backward()
    try:
        ddp(torch.ones(1, 2))
    except RuntimeError as error:
        assert "Expected to have finished reduction" in str(error), error
        assert "module.unused.weight" in str(error), error
    else:
        raise AssertionError("an unused parameter was not reported")


def scenario_trace(rank: int, world: int) -> None:
    """Rank 0 records one all-reduce node per bucket: its gradients in, the averages out."""
    import numbanet.nn as nn
    from numbanet import trace
    from numbanet.nn.parallel import DistributedDataParallel

    dataset = _dataset(8 * world)
    ddp = DistributedDataParallel(_make_model(seed=5))
    alone = _make_model(seed=5)  # rank 0's gradient without averaging
    inputs, targets = dataset.tensors[0][rank::world], dataset.tensors[1][rank::world]
    criterion = nn.CrossEntropyLoss()
    if rank == 0:
        with trace.record(ddp) as recording:
            criterion(ddp(inputs), targets).backward()
        nodes = [e for e in recording.events if e.op == "mpi:all_reduce"]
        assert len(nodes) == len(ddp._buckets) == 1
        node = nodes[0]
        assert node.phase == "backward"
        assert node.attributes["world_size"] == world and node.attributes["rank"] == 0
        names = [name for name, _ in ddp.named_parameters()]
        assert [r.name for r in node.outputs] == list(reversed(names))
        criterion(alone(inputs), targets).backward()
        by_name = dict(zip(names, alone.parameters(), strict=True))
        for mine, averaged, (name, parameter) in zip(
                node.inputs, node.outputs, reversed(list(ddp.named_parameters())),
                strict=True):
            assert mine.name == averaged.name == name
            local = by_name[name].grad.numpy()
            values = np.array(mine.values if mine.values is not None else mine.sample)
            if mine.values is not None:
                np.testing.assert_allclose(values, local, atol=1e-12)
            assert math.isclose(mine.stats["mean"], local.mean(), abs_tol=1e-12)
            assert math.isclose(averaged.stats["mean"], parameter.grad.numpy().mean(),
                                abs_tol=1e-12)
        from numbanet import viz

        assert "mpi:all_reduce" in viz.draw(recording).source
    else:
        criterion(ddp(inputs), targets).backward()


def scenario_cuda(rank: int, world: int) -> None:
    """Collectives and DDP on CUDA tensors (through the host) match the CPU."""
    import numbanet as torch
    import numbanet.distributed as dist
    import numbanet.nn as nn
    from numbanet.nn.parallel import DistributedDataParallel

    values = torch.tensor([rank + 1.0, 2.0], device="cuda")
    dist.all_reduce(values, op=dist.ReduceOp.AVG)
    assert values.is_cuda and values.cpu().tolist() == [(world + 1) / 2, 2.0]
    gathered = [torch.zeros(1, device="cuda") for _ in range(world)]
    dist.all_gather(gathered, torch.full((1,), float(rank), device="cuda"))
    assert [g.item() for g in gathered] == [float(r) for r in range(world)]
    ddp = DistributedDataParallel(_make_model(seed=100 + rank, hidden=4).to("cuda"))
    reference = _make_model(seed=100, hidden=4)  # rank 0's start, on the CPU
    dataset = _dataset(8 * world)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.5)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    criterion = nn.CrossEntropyLoss()
    inputs, targets = dataset.tensors
    for step in range(2):
        mine = slice(8 * step + 4 * rank, 8 * step + 4 * rank + 4) if world == 2 else \
            slice(8 * step, 8 * step + 8)
        optimizer.zero_grad()
        criterion(ddp(inputs[mine].to("cuda")), targets[mine].to("cuda")).backward()
        optimizer.step()
        reference_optimizer.zero_grad()
        both = slice(8 * step, 8 * step + 8)
        criterion(reference(inputs[both]), targets[both]).backward()
        reference_optimizer.step()
    assert all(p.is_cuda and p.grad.is_cuda for p in ddp.parameters())
    trained = np.concatenate([p.detach().cpu().numpy().ravel() for p in ddp.parameters()])
    assert np.abs(trained - _flat(reference)).max() <= 1e-6


def scenario_raise(rank: int, world: int) -> None:
    """The last rank raises while the others wait in a collective: the job must end."""
    import numbanet.distributed as dist

    if rank == world - 1:
        raise RuntimeError(f"rank {rank} fails on purpose")
    dist.barrier()  # would wait forever without MPI_Abort


SCENARIOS = {
    "all": ["collectives", "training", "no_sync", "model_mismatch", "unused_parameter",
            "trace"],
    "raise": ["raise"],
    "cuda": ["cuda"],
}


def main(job: str) -> None:
    import numbanet.distributed as dist

    if job == "raise_before_init":  # under `numbanet run`: init_process_group not called
        if int(os.environ.get("PMI_RANK", 0)) == 1:
            raise RuntimeError("rank 1 fails before init_process_group")
        dist.init_process_group(backend="mpi")
        dist.barrier()
        return
    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    for name in SCENARIOS[job]:
        globals()[f"scenario_{name}"](rank, world)
        dist.barrier()
        print(f"rank {rank}/{world}: {name} ok", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
    sys.exit(0)


# ---- the tests (run by pytest; each launches a job) ------------------------------------------
import pytest  # noqa: E402

mpi4py = pytest.importorskip("mpi4py", reason="needs mpi4py + mpich: pip install -e '.[dist]'")


def _mpiexec() -> str:
    from numbanet.distributed.launch import find_mpiexec

    try:
        return find_mpiexec()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _job(command: list[str], timeout: float = JOB_TIMEOUT):
    """Run a job; (exit status, output, seconds). A job past ``timeout`` fails the test."""
    started = time.perf_counter()
    try:
        finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                                  timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{command} did not finish within {timeout} s (a hang): "
                    f"{expired.stdout!r} {expired.stderr!r}")
    return (finished.returncode, finished.stdout + finished.stderr,
            time.perf_counter() - started)


@pytest.fixture(scope="module")
def two_rank_job():
    """Every passing scenario in one ``mpiexec -n 2`` job (starting a job costs seconds)."""
    return _job([_mpiexec(), "-n", "2", sys.executable, str(HERE), "all"])


@pytest.fixture(scope="module")
def one_process_job():
    """The same scenarios without a launcher: a group of one."""
    return _job([sys.executable, str(HERE), "all"])


@pytest.mark.parametrize("scenario", SCENARIOS["all"])
def test_two_ranks(two_rank_job, scenario):
    status, output, _ = two_rank_job
    for rank in (0, 1):
        assert f"rank {rank}/2: {scenario} ok" in output, output[-4000:]
    assert status == 0, output[-4000:]


@pytest.mark.parametrize("scenario", SCENARIOS["all"])
def test_world_size_one(one_process_job, scenario):
    status, output, _ = one_process_job
    assert f"rank 0/1: {scenario} ok" in output, output[-4000:]
    assert status == 0, output[-4000:]


@pytest.mark.cuda
def test_two_ranks_on_cuda_tensors():
    """Runs in ``make test-cuda`` (the CUDA simulator, inherited by both ranks) or on a GPU."""
    import numbanet

    if not numbanet.cuda.is_available():
        pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")
    status, output, _ = _job([_mpiexec(), "-n", "2", sys.executable, str(HERE), "cuda"])
    assert "rank 0/2: cuda ok" in output and "rank 1/2: cuda ok" in output, output[-4000:]
    assert status == 0, output[-4000:]


def test_a_raising_rank_ends_the_job_with_an_error():
    status, output, seconds = _job([_mpiexec(), "-n", "2", sys.executable, str(HERE),
                                    "raise"], timeout=120)
    assert status != 0
    assert "rank 1 fails on purpose" in output
    assert "aborting the whole job" in output
    assert "raise ok" not in output


def test_numbanet_run_aborts_on_an_error_before_init_process_group():
    status, output, _ = _job([sys.executable, "-m", "numbanet.cli", "run", "-n", "2",
                              str(HERE), "raise_before_init"], timeout=120)
    assert status != 0
    assert "rank 1 fails before init_process_group" in output
    assert "numbanet run: rank 1 of 2 raised an exception; aborting" in output


def test_the_mnist_ddp_example_runs_on_two_ranks_and_saves_plain_weights(tmp_path):
    """examples/mnist_ddp.py through ``numbanet run -n 2`` on a few synthetic digits."""
    from test_vision import make_mnist_folder

    make_mnist_folder(tmp_path, "MNIST", count=96, compress=False)
    weights = tmp_path / "mlp.pth"
    status, output, _ = _job([sys.executable, "-m", "numbanet.cli", "run", "-n", "2",
                              str(REPO / "examples" / "mnist_ddp.py"), "--data",
                              str(tmp_path), "--epochs", "2", "--batch-size", "16",
                              "--save", str(weights)])
    assert status == 0, output[-4000:]
    assert "2 process(es) x batch 16 = 32 digits per step, 3 steps per epoch" in output
    assert output.count("mean loss over all ranks") == 2  # printed by rank 0 only
    assert "Accuracy of the network on the 96 test images" in output
    import numbanet

    assert list(numbanet.load(weights)) == ["1.weight", "1.bias", "3.weight", "3.bias"]
