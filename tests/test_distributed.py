"""``numbanet.distributed`` in one process (a group of one), ``DistributedSampler``,
``DataLoader(sampler=)``, ``DataParallel``, the trace's all-reduce node and
``numbanet run``. The same code on two MPI processes: ``test_distributed_mpi.py``."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numbanet
import numbanet.distributed as dist
import numbanet.nn as nn
from numbanet import trace
from numbanet.nn.parallel import DataParallel, DistributedDataParallel
from numbanet.utils.data import DataLoader, DistributedSampler, TensorDataset

NOT_INITIALIZED = "Default process group has not been initialized"


@pytest.fixture
def group():
    """A process group of one for the test, left again afterwards."""
    dist.init_process_group(backend="mpi")
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def small_model(seed: int = 0) -> nn.Module:
    numbanet.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


# ---- DistributedSampler --------------------------------------------------------------------
@given(size=st.integers(1, 60), replicas=st.integers(1, 7), shuffle=st.booleans(),
       epoch=st.integers(0, 3))
def test_sampler_shards_are_disjoint_equal_and_cover_the_dataset(size, replicas, shuffle,
                                                                 epoch):
    shards = []
    for rank in range(replicas):
        sampler = DistributedSampler(range(size), num_replicas=replicas, rank=rank,
                                     shuffle=shuffle, seed=3)
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler) == -(-size // replicas)
    together = [index for shard in shards for index in shard]
    assert set(together) == set(range(size))  # covering
    padding = len(together) - size  # fewer than one per rank, repeated from the head
    assert 0 <= padding < replicas
    if padding == 0:
        assert sorted(together) == list(range(size))  # disjoint


@given(size=st.integers(1, 60), replicas=st.integers(1, 7))
def test_sampler_drop_last_drops_the_tail_instead(size, replicas):
    shards = [list(DistributedSampler(range(size), num_replicas=replicas, rank=rank,
                                      drop_last=True)) for rank in range(replicas)]
    together = [index for shard in shards for index in shard]
    assert len(set(together)) == len(together) == (size // replicas) * replicas
    assert all(len(shard) == size // replicas for shard in shards)


def test_sampler_deals_indices_like_cards_with_the_head_repeated():
    """PyTorch's layout: pad by repeating the head, then ``indices[rank::num_replicas]``."""
    shards = [list(DistributedSampler(range(10), num_replicas=3, rank=rank, shuffle=False))
              for rank in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    tiny = [list(DistributedSampler(range(2), num_replicas=5, rank=rank, shuffle=False))
            for rank in range(5)]
    assert tiny == [[0], [1], [0], [1], [0]]  # padding longer than the dataset


def test_sampler_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch, rank=0):
        sampler = DistributedSampler(range(50), num_replicas=2, rank=rank, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    numbanet.manual_seed(1)
    first = order(0, 0)
    numbanet.manual_seed(2)  # the global seed does not matter: every rank agrees
    assert order(0, 0) == first
    assert order(0, 1) != first and order(1, 0) != first
    assert order(0, 0) != sorted(first)  # shuffled by default


def test_sampler_takes_rank_and_world_size_from_the_group(group):
    sampler = DistributedSampler(range(5))
    assert (sampler.rank, sampler.num_replicas, len(sampler)) == (0, 1, 5)


def test_sampler_errors():
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(5))
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval"):
        DistributedSampler(range(5), num_replicas=2, rank=2)


def test_dataloader_batches_the_sampler_s_indices():
    data = TensorDataset(numbanet.arange(10))
    sampler = DistributedSampler(data, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(data, batch_size=3, sampler=sampler)
    assert len(loader) == 2
    assert [batch[0].tolist() for batch in loader] == [[1, 4, 7], [0]]
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(data, sampler=sampler, shuffle=True)


# ---- the process group and collectives, world size 1 ---------------------------------------
def test_a_script_without_a_launcher_is_a_group_of_one(group):
    assert dist.is_available() and dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
    with pytest.raises(RuntimeError, match="initialize the default process group twice"):
        dist.init_process_group(backend="mpi")
    dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match=NOT_INITIALIZED):
        dist.get_rank()


def test_collectives_of_one_process_return_the_input(group):
    values = numbanet.tensor([1.0, -2.0])
    for op in dist.ReduceOp:
        dist.all_reduce(values, op=op)
        assert values.tolist() == [1.0, -2.0]
    dist.broadcast(values, src=0)
    gathered = [numbanet.zeros(2)]
    dist.all_gather(gathered, values)
    assert gathered[0].tolist() == [1.0, -2.0]
    objects = [None]
    dist.all_gather_object(objects, "mine")
    assert objects == ["mine"]
    dist.barrier()


def test_collective_errors(group):
    with pytest.raises(TypeError, match="AVG needs a floating-point tensor"):
        dist.all_reduce(numbanet.tensor([1, 2]), op=dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="Expected parameter `tensor` of type numbanet.Tensor"):
        dist.all_reduce([1.0])
    with pytest.raises(ValueError, match="Invalid src rank 1"):
        dist.broadcast(numbanet.zeros(1), src=1)
    with pytest.raises(ValueError, match="list of 1 tensors"):
        dist.all_gather([numbanet.zeros(1)] * 2, numbanet.zeros(1))
    with pytest.raises(ValueError, match="must match the input"):
        dist.all_gather([numbanet.zeros(3)], numbanet.zeros(1))
    with pytest.raises(NotImplementedError, match="synchronous"):
        dist.all_reduce(numbanet.zeros(1), async_op=True)


def test_init_process_group_arguments():
    with pytest.raises(ValueError, match="Invalid backend: 'tcp'"):
        dist.init_process_group(backend="tcp")
    with pytest.raises(ValueError, match="world_size=2 was passed"):
        dist.init_process_group(backend="mpi", world_size=2, rank=0)
    assert not dist.is_initialized()
    with pytest.warns(UserWarning, match="runs on MPI"):
        dist.init_process_group(backend="gloo", rank=0, world_size=1)
    dist.destroy_process_group()
    with pytest.raises(ValueError, match=NOT_INITIALIZED):
        dist.all_reduce(numbanet.zeros(1))


def test_without_mpi4py_one_process_still_works(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    monkeypatch.delenv("PMI_SIZE", raising=False)
    assert not dist.is_mpi_available()
    dist.init_process_group()
    try:
        values = numbanet.tensor([3.0])
        dist.all_reduce(values)
        assert values.tolist() == [3.0] and dist.get_world_size() == 1
    finally:
        dist.destroy_process_group()
    monkeypatch.setenv("PMI_SIZE", "2")  # but started by a launcher: mpi4py is needed
    with pytest.raises(ImportError, match=r"pip install 'numbanet\[dist\]'"):
        dist.init_process_group()
    assert not dist.is_initialized()


# ---- DistributedDataParallel and DataParallel, world size 1 --------------------------------
def test_ddp_of_one_process_trains_like_the_module_alone(group):
    wrapped, alone = small_model(), small_model()
    ddp = DistributedDataParallel(wrapped)
    assert ddp.module is wrapped
    optimizers = [numbanet.optim.SGD(m.parameters(), lr=0.5) for m in (ddp, alone)]
    numbanet.manual_seed(9)
    inputs, targets = numbanet.randn(8, 3).double(), numbanet.randint(0, 2, (8,))
    for _ in range(3):
        for model, optimizer in zip((ddp, alone), optimizers, strict=True):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
    for mine, theirs in zip(ddp.module.parameters(), alone.parameters(), strict=True):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_ddp_state_dict_keys_have_the_module_prefix(group):
    ddp = DistributedDataParallel(small_model())
    assert list(ddp.state_dict()) == ["module." + key for key in small_model().state_dict()]
    other = small_model(seed=4)
    ddp.load_state_dict({"module." + k: v for k, v in other.state_dict().items()})
    np.testing.assert_array_equal(ddp.module[0].weight.detach().numpy(),
                                  other[0].weight.detach().numpy())
    assert repr(ddp).startswith("DistributedDataParallel(\n  (module): Sequential(")


def test_ddp_no_sync_accumulates_then_the_next_backward_averages_the_sum(group):
    ddp, alone = DistributedDataParallel(small_model()), small_model()
    first, second = numbanet.randn(4, 3).double(), numbanet.randn(4, 3).double()
    with ddp.no_sync():
        ddp(first).sum().backward()
    ddp(second).sum().backward()
    alone(first).sum().backward()
    alone(second).sum().backward()
    for mine, theirs in zip(ddp.module.parameters(), alone.parameters(), strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_ddp_buckets_go_in_reverse_parameter_order_within_the_cap(group):
    model = small_model()
    sizes = [p.numel() * 8 for p in model.parameters()]  # float64: 8 bytes
    ddp = DistributedDataParallel(model, bucket_cap_mb=(sizes[3] + sizes[2]) / 2**20)
    assert [sorted(bucket.slots) for bucket in ddp._buckets] == [[2, 3], [0, 1]]
    assert [bucket.index for bucket in ddp._buckets] == [0, 1]
    assert len(DistributedDataParallel(small_model())._buckets) == 1  # 25 MB by default


def test_ddp_errors(group):
    with pytest.raises(NotImplementedError, match="find_unused_parameters"):
        DistributedDataParallel(small_model(), find_unused_parameters=True)
    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires"):
        DistributedDataParallel(small_model().requires_grad_(False))
    with pytest.raises(TypeError, match="wraps an nn.Module"):
        DistributedDataParallel(lambda x: x)
    ddp = DistributedDataParallel(small_model())
    output = ddp(numbanet.ones(1, 3).double()).sum()
    output.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="mark a variable ready only once"):
        output.backward()
    dist.destroy_process_group()
    with pytest.raises(ValueError, match=NOT_INITIALIZED):
        DistributedDataParallel(small_model())


def test_data_parallel_runs_the_module_and_points_to_ddp_once(monkeypatch):
    from numbanet.nn.parallel import data_parallel

    monkeypatch.setattr(data_parallel, "_noted", False)
    model = small_model()
    with pytest.warns(UserWarning, match="DistributedDataParallel"):
        wrapped = nn.DataParallel(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.DataParallel(small_model())  # the note is printed once
    inputs = numbanet.randn(2, 3).double()
    np.testing.assert_array_equal(wrapped(inputs).detach().numpy(),
                                  model(inputs).detach().numpy())
    assert list(wrapped.state_dict())[0] == "module.0.weight"
    assert nn.parallel.DataParallel is DataParallel


# ---- the trace's all-reduce node ------------------------------------------------------------
def test_trace_records_one_all_reduce_node_per_bucket(group, tmp_path):
    model = small_model()
    sizes = [p.numel() * 8 for p in model.parameters()]
    ddp = DistributedDataParallel(model, bucket_cap_mb=(sizes[3] + sizes[2]) / 2**20)
    with trace.record(ddp) as recording:
        ddp(numbanet.randn(5, 3).double()).pow(2).mean().backward()
    nodes = [event for event in recording.events if event.op == "mpi:all_reduce"]
    assert [node.attributes["bucket"] for node in nodes] == [0, 1]
    assert nodes[0].attributes["parameters"] == ["module.2.bias", "module.2.weight"]
    assert nodes[1].attributes["world_size"] == 1 and nodes[1].phase == "backward"
    assert "/ N" in nodes[0].formula and nodes[0].module_path == "DistributedDataParallel"
    parameters = dict(ddp.named_parameters())
    for node in nodes:
        for mine, averaged in zip(node.inputs, node.outputs, strict=True):
            parameter = parameters[mine.name]
            assert mine.role == averaged.role == "gradient"
            np.testing.assert_allclose(averaged.values, parameter.grad.numpy().tolist())
    recording.save(tmp_path / "ddp.json")
    replayed = trace.Trace.load(tmp_path / "ddp.json")
    assert [e.op for e in replayed.events] == [e.op for e in recording.events]
    from numbanet import viz

    assert "mpi:all_reduce" in viz.draw(recording).source


# ---- numbanet run ---------------------------------------------------------------------------
def test_numbanet_run_one_process_runs_the_script_with_its_arguments(tmp_path):
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('args', sys.argv[1:], __name__)\n")
    finished = subprocess.run([sys.executable, "-m", "numbanet.cli", "run", str(script),
                               "--epochs", "3"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "args ['--epochs', '3'] __main__" in finished.stdout


def test_numbanet_run_errors(tmp_path, capsys):
    from numbanet import cli

    assert cli.main(["run", str(tmp_path / "missing.py")]) == 2
    assert "no such script" in capsys.readouterr().err
    assert cli.main(["run", "-n", "0", str(tmp_path / "missing.py")]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_stepper_shows_the_all_reduce_node_with_the_world_size(group):
    import asyncio
    import io

    from rich.console import Console
    from textual.widgets import Static

    from numbanet.tui.app import StepperApp

    ddp = DistributedDataParallel(small_model())
    optimizer = numbanet.optim.SGD(ddp.parameters(), lr=0.1)
    with trace.record(ddp) as recording:
        ddp(numbanet.randn(4, 3).double()).pow(2).mean().backward()
        optimizer.step()

    async def walk() -> str:
        app = StepperApp(traces=[recording], show_timings=False)
        async with app.run_test(size=(140, 45)) as pilot:
            while app.stepper.event.op != "mpi:all_reduce":
                await pilot.press("n")
            pane = app.query_one("#detail")
            static = pane if isinstance(pane, Static) else pane.query_one(Static)
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(static.content)
            return console.export_text()

    detail = asyncio.run(walk())
    assert "mpi:all_reduce  backward  in DistributedDataParallel" in detail
    assert "world_size=1  rank=0  reduce_op=AVG" in detail
