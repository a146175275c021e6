"""PyTorch checkpoints both ways: numbanet.save writes torch.save's zip format, numbanet.load reads
it (and safetensors, and the legacy numbanet format) without ever running code from the file."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import numbanet
from numbanet.serialization import SerializationError

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def values_of(dtype: str) -> np.ndarray:
    if dtype == "bool":
        return np.array([[True, False, True], [False, False, True]])
    return (np.arange(6).reshape(2, 3) - 2).astype(dtype)


def small_model():
    numbanet.manual_seed(0)
    return numbanet.nn.Sequential(
        numbanet.nn.Linear(2, 3), numbanet.nn.ReLU(), numbanet.nn.Linear(3, 1)
    )


def trained_sgd(model):
    optimizer = numbanet.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(numbanet.ones(4, 2)).sum().backward()
    optimizer.step()
    return optimizer


# ----------------------------------------------------------------------------- hand-built files


def archive(data_pkl: bytes, storages: dict[str, bytes] | None = None, prefix="archive") -> bytes:
    """A zip laid out as torch.save lays it out, around a given data.pkl."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, raw in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", raw)
        zf.writestr(f"{prefix}/version", "3\n")
    return buffer.getvalue()


def op(name: str, payload: bytes = b"") -> bytes:
    return getattr(pickle, name) + payload


def text(value: str) -> bytes:
    raw = value.encode()
    return op("BINUNICODE", struct.pack("<I", len(raw)) + raw)


def integer(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return op("BININT", struct.pack("<i", value))
    return op("LONG1", bytes([8]) + value.to_bytes(8, "little", signed=True))


def ints(values) -> bytes:
    return op("MARK") + b"".join(integer(v) for v in values) + op("TUPLE")


def tensor_pickle(storage="FloatStorage", key="0", location="cpu", numel=4, offset=0,
                  size=(4,), stride=(1,)) -> bytes:
    """data.pkl of one tensor, opcode by opcode, exactly as torch.save spells it."""
    return (
        op("PROTO", b"\x02")
        + op("GLOBAL", b"torch._utils\n_rebuild_tensor_v2\n")
        + op("MARK") + op("MARK") + text("storage") + op("GLOBAL", f"torch\n{storage}\n".encode())
        + text(key) + text(location) + integer(numel) + op("TUPLE") + op("BINPERSID")
        + integer(offset) + ints(size) + ints(stride) + op("NEWFALSE")
        + op("GLOBAL", b"collections\nOrderedDict\n") + op("EMPTY_TUPLE") + op("REDUCE")
        + op("TUPLE") + op("REDUCE") + op("STOP")
    )


FOUR_FLOATS = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


def test_a_hand_built_torch_file_loads_to_stated_values(tmp_path):
    path = tmp_path / "t.pt"
    path.write_bytes(archive(tensor_pickle(), {"0": FOUR_FLOATS}))
    loaded = numbanet.load(path)
    assert loaded.dtype == numbanet.float32 and loaded.shape == (4,)
    assert loaded.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_views_read_offset_and_strides_from_their_storage(tmp_path):
    path = tmp_path / "view.pt"
    path.write_bytes(archive(tensor_pickle(offset=1, size=(2, 2), stride=(1, 1)),
                             {"0": FOUR_FLOATS}))
    assert numbanet.load(path).tolist() == [[2.0, 3.0], [3.0, 4.0]]


# ----------------------------------------------------------------------------- numbanet alone


def test_the_archive_has_torch_layout_and_64_byte_alignment(tmp_path):
    path = tmp_path / "m.pt"
    numbanet.save({"w": numbanet.from_numpy(values_of("float32"))}, path)
    content = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names == ["archive/data.pkl", "archive/.format_version",
                         "archive/.storage_alignment", "archive/byteorder", "archive/data/0",
                         "archive/version", "archive/.data/serialization_id"]
        assert zf.read("archive/version") == b"3\n"
        assert zf.read("archive/byteorder") == b"little"
        assert zf.read("archive/.storage_alignment") == b"64"
        assert zf.read("archive/data.pkl")[:2] == b"\x80\x02"  # pickle protocol 2
        assert zf.read("archive/data/0") == struct.pack("<6f", -2, -1, 0, 1, 2, 3)
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            name_length, extra_length = struct.unpack_from("<HH", content, info.header_offset + 26)
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips(tmp_path, dtype):
    original = numbanet.from_numpy(values_of(dtype))
    numbanet.save(original, tmp_path / "t.pt")
    loaded = numbanet.load(tmp_path / "t.pt")
    assert loaded.dtype == original.dtype and loaded.shape == (2, 3)
    np.testing.assert_array_equal(loaded.numpy(), values_of(dtype))


def test_state_dicts_parameters_and_optimizer_state_round_trip(tmp_path):
    model = small_model()
    optimizer = trained_sgd(model)
    transposed = numbanet.from_numpy(values_of("float32")).t()
    numbanet.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "weight": model[0].weight, "t": transposed, "epoch": 3, "loss": 0.25,
                   "name": "run", "nothing": None, "pair": (1, [2.5, "x"]),
                   "device": numbanet.device("cpu"), "dtype": numbanet.int16,
                   "size": numbanet.Size([2, 3]), "big": 2**70}, tmp_path / "c.pt")
    loaded = numbanet.load(tmp_path / "c.pt", weights_only=True)
    assert isinstance(loaded["model"], OrderedDict)
    assert list(loaded["model"]) == list(model.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded["model"][name].numpy(), value.numpy())
    assert loaded["optimizer"]["param_groups"] == optimizer.state_dict()["param_groups"]
    np.testing.assert_array_equal(loaded["optimizer"]["state"][1]["momentum_buffer"].numpy(),
                                  optimizer.state_dict()["state"][1]["momentum_buffer"].numpy())
    assert isinstance(loaded["weight"], numbanet.nn.Parameter) and loaded["weight"].requires_grad
    assert loaded["t"].tolist() == [[-2.0, 1.0], [-1.0, 2.0], [0.0, 3.0]]
    assert (loaded["epoch"], loaded["loss"], loaded["name"], loaded["nothing"]) == (3, 0.25,
                                                                                  "run", None)
    assert loaded["pair"] == (1, [2.5, "x"]) and loaded["big"] == 2**70
    assert loaded["device"] == numbanet.device("cpu") and loaded["dtype"] is numbanet.int16
    assert loaded["size"] == numbanet.Size([2, 3])
    assert numbanet.load(tmp_path / "c.pt", map_location="cpu")["epoch"] == 3
    assert numbanet.load(tmp_path / "c.pt", map_location={"cpu": "cpu"})["epoch"] == 3


def test_a_file_object_works_too():
    buffer = io.BytesIO()
    numbanet.save([numbanet.tensor([1, 2])], buffer)
    buffer.seek(0)
    assert numbanet.load(buffer)[0].tolist() == [1, 2]


def test_unsupported_values_are_named():
    with pytest.raises(TypeError, match=r"obj\['x'\]\[1\], of type object"):
        numbanet.save({"x": [1, object()]}, io.BytesIO())


def test_the_legacy_numbanet_format_still_loads(tmp_path):
    numbanet.save({"w": numbanet.tensor([1.5])}, tmp_path / "old.pth",
                  _use_new_zipfile_serialization=False)
    assert (tmp_path / "old.pth").read_bytes()[:8] == b"NUMBANET"
    assert numbanet.load(tmp_path / "old.pth")["w"].tolist() == [1.5]


def test_a_cuda_location_needs_map_location_without_a_gpu(tmp_path):
    if numbanet.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "cuda.pt"
    path.write_bytes(archive(tensor_pickle(location="cuda:0"), {"0": FOUR_FLOATS}))
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        numbanet.load(path)
    assert numbanet.load(path, map_location="cpu").tolist() == [1.0, 2.0, 3.0, 4.0]
    assert numbanet.load(path, map_location={"cuda:0": "cpu"}).device == numbanet.device("cpu")


# ----------------------------------------------------------------------------- hostile files


class Payload:
    """Unpickling this calls ``function(*args)``: what an attacker's checkpoint does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def hostile_payloads(marker):
    marker = str(marker)
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "builtins.eval": Payload(eval, f"open({marker!r}, 'w')"),
        "builtins.exec": Payload(exec, f"open({marker!r}, 'w')"),
        "subprocess.call": Payload(subprocess.call, ["touch", marker]),
        "builtins.open": Payload(open, marker, "w"),
    }


def test_the_exploit_is_real(tmp_path):
    """Control experiment: plain pickle runs the payload, so the marker test below can fail."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(hostile_payloads(marker)["builtins.eval"], 2))
    assert marker.exists()


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec",
                                  "subprocess.call", "builtins.open"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_code_in_a_checkpoint_is_refused_and_never_runs(tmp_path, kind, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = hostile_payloads(marker)[kind]
    path.write_bytes(archive(pickle.dumps({"weight": payload}, protocol)))
    with pytest.raises(pickle.UnpicklingError, match=f"GLOBAL .*{kind.split('.')[1]}") as raised:
        numbanet.load(path)
    assert isinstance(raised.value, SerializationError)
    assert "Weights only load failed" in str(raised.value)
    assert not marker.exists()


@pytest.mark.parametrize("data_pkl, message", [
    (b"\x80\x02cnumbanet.nn\nLinear\n)R.", "Unsupported global: GLOBAL numbanet.nn.Linear"),
    (b"\x80\x02ctorch.nn.modules.linear\nLinear\n)R.", "Unsupported global"),
    (b"(ios\nsystem\nS'true'\ntp0\n.", "Unsupported operand"),  # INST: protocol 0
    (b"\x80\x02}q\x00}b.", "Can only build Tensor, Parameter, OrderedDict"),
    (b"\x80\x02]q\x00)R.", "unrecognized function"),  # REDUCE on a list
    (b"\x80\x02ccollections\nOrderedDict\n)\x81.", "Can only create new object"),
    (b"\x80\x02K\x01K\x02a.", "Can only append to lists"),
    (b"\x80\x02X\x05\x00\x00\x00abc", "truncated"),
    (b"\x80\x02h\x07.", "Memo value not found"),
    (b"\x80\x02(X\x03\x00\x00\x00badK\x01tQ.", "Only persistent_load of storage"),
    (b"\x80\x02ctorch\nbfloat16\n.", "numbanet has no dtype torch.bfloat16"),
    (b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x7f\x85R.", "only allowed from bytes"),
    (b"\x80\x02ctorch._utils\n_rebuild_sparse_tensor\n.", "cannot load sparse tensors"),
])
def test_hostile_or_unsupported_pickles_are_refused(tmp_path, data_pkl, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(archive(data_pkl))
    with pytest.raises(SerializationError, match=message):
        numbanet.load(path)


@pytest.mark.parametrize("fields, message", [
    ({"numel": 5}, "claims 5 elements of float32 \\(20 bytes\\) but its entry has 16"),
    ({"numel": 2**40}, "claims 1099511627776 elements"),
    ({"numel": -1}, "claims -1 elements"),
    ({"offset": 1}, "reaches element 4 of a storage of 4 elements"),
    ({"size": (3,), "stride": (2,)}, "reaches element 4"),
    ({"size": (2,), "stride": (-1,)}, "invalid tensor geometry"),
    ({"offset": -1}, "invalid tensor geometry"),
    ({"key": "7"}, "has no entry archive/data/7"),
    ({"storage": "ComplexFloatStorage"}, "numbanet has no dtype"),
    ({"location": "tpu:3"}, "unknown storage location"),
])
def test_storages_and_geometry_are_checked_against_the_file(tmp_path, fields, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(archive(tensor_pickle(**fields), {"0": FOUR_FLOATS}))
    with pytest.raises(SerializationError, match=message):
        numbanet.load(path)


def test_bool_storage_bytes_other_than_0_and_1_are_refused(tmp_path):
    path = tmp_path / "bool.pt"
    path.write_bytes(archive(tensor_pickle("BoolStorage", numel=2, size=(2,)), {"0": b"\x01\x07"}))
    with pytest.raises(SerializationError, match="bool bytes must be 0 or 1"):
        numbanet.load(path)


@pytest.fixture
def good_archive(tmp_path) -> bytes:
    model = small_model()
    numbanet.save({"model": model.state_dict(), "opt": trained_sgd(model).state_dict()},
                  tmp_path / "good.pt")
    return (tmp_path / "good.pt").read_bytes()


def test_every_truncation_fails_with_one_clear_error(tmp_path, good_archive):
    path = tmp_path / "cut.pt"
    for keep in range(0, len(good_archive), 7):
        path.write_bytes(good_archive[:keep])
        with pytest.raises(SerializationError):
            numbanet.load(path)


def test_a_flipped_storage_byte_fails_the_crc(tmp_path, good_archive):
    with zipfile.ZipFile(io.BytesIO(good_archive)) as zf:
        info = zf.getinfo("archive/data/0")
    name_length, extra_length = struct.unpack_from("<HH", good_archive, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    damaged = bytearray(good_archive)
    damaged[start + 1] ^= 0xFF
    (tmp_path / "bad.pt").write_bytes(bytes(damaged))
    with pytest.raises(SerializationError, match="archive/data/0 is corrupted.*CRC"):
        numbanet.load(tmp_path / "bad.pt")


def test_every_flipped_byte_fails_cleanly_or_loads(tmp_path, good_archive):
    """A flip in the zip directory, a header or data.pkl: a SerializationError, never a crash."""
    path = tmp_path / "flip.pt"
    for position in range(0, len(good_archive), 11):
        damaged = bytearray(good_archive)
        damaged[position] ^= 0x55
        path.write_bytes(bytes(damaged))
        try:
            numbanet.load(path)
        except SerializationError:
            pass


# ----------------------------------------------------------------------------- safetensors


def test_safetensors_round_trip(tmp_path):
    state = small_model().state_dict()
    numbanet.safetensors.save_file(dict(state), tmp_path / "m.safetensors")
    loaded = numbanet.safetensors.load_file(tmp_path / "m.safetensors")
    assert sorted(loaded) == sorted(state)
    for name, value in state.items():
        np.testing.assert_array_equal(loaded[name].numpy(), value.numpy())
    via_load = numbanet.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(via_load["0.weight"].numpy(), state["0.weight"].numpy())


def test_safetensors_stated_bytes_and_damage(tmp_path):
    path = tmp_path / "t.safetensors"
    numbanet.safetensors.save_file({"x": numbanet.tensor([1.0, 2.0])}, path)
    content = path.read_bytes()
    assert content.endswith(struct.pack("<2f", 1.0, 2.0))
    path.write_bytes(content[:-3])
    with pytest.raises(SerializationError):
        numbanet.load(path)


# ----------------------------------------------------------------------------- with PyTorch


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_reads_what_numbanet_saves(tmp_path, torch, dtype):
    original = numbanet.from_numpy(values_of(dtype))
    numbanet.save({"t": original, "t_again": original, "view": original.t()}, tmp_path / "n.pt")
    loaded = torch.load(tmp_path / "n.pt", weights_only=True)
    assert str(loaded["t"].dtype) == f"torch.{dtype}" and tuple(loaded["t"].shape) == (2, 3)
    np.testing.assert_array_equal(loaded["t"].numpy(), values_of(dtype))
    np.testing.assert_array_equal(loaded["view"].numpy(), values_of(dtype).T)
    storages = [loaded[key].untyped_storage().data_ptr() for key in ("t", "t_again")]
    assert storages[0] == storages[1]  # a tensor saved twice is one storage


@pytest.mark.parametrize("dtype", DTYPES)
def test_numbanet_reads_what_torch_saves(tmp_path, torch, dtype):
    original = torch.from_numpy(values_of(dtype))
    torch.save({"t": original, "view": original.t()[1:], "scalar": original[1, 2]},
               tmp_path / "t.pt")
    loaded = numbanet.load(tmp_path / "t.pt")
    assert loaded["t"].dtype.name == dtype and loaded["t"].shape == (2, 3)
    np.testing.assert_array_equal(loaded["t"].numpy(), values_of(dtype))
    np.testing.assert_array_equal(loaded["view"].numpy(), values_of(dtype).T[1:])
    assert loaded["scalar"].shape == () and loaded["scalar"].item() == values_of(dtype)[1, 2]


def torch_twin(torch):
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def test_a_numbanet_model_and_optimizer_load_into_torch(tmp_path, torch):
    model = small_model()
    optimizer = trained_sgd(model)
    numbanet.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()},
                  tmp_path / "c.pt")
    checkpoint = torch.load(tmp_path / "c.pt", weights_only=True)
    twin = torch_twin(torch)
    twin.load_state_dict(checkpoint["model"])
    torch_optimizer = torch.optim.SGD(twin.parameters(), lr=0.5)
    torch_optimizer.load_state_dict(checkpoint["optimizer"])
    assert torch_optimizer.param_groups[0]["momentum"] == 0.9
    inputs = np.array([[0.5, -1.0], [2.0, 3.0]], np.float32)
    expected = model(numbanet.from_numpy(inputs)).detach().numpy()
    np.testing.assert_allclose(twin(torch.from_numpy(inputs)).detach().numpy(), expected,
                               rtol=1e-6)


def test_a_torch_model_and_optimizer_load_into_numbanet(tmp_path, torch):
    torch.manual_seed(1)
    twin = torch_twin(torch)
    torch_optimizer = torch.optim.Adam(twin.parameters())
    twin(torch.ones(4, 2)).sum().backward()
    torch_optimizer.step()
    torch.save({"model": twin.state_dict(), "optimizer": torch_optimizer.state_dict(),
                "weight": twin[0].weight}, tmp_path / "t.pt")
    checkpoint = numbanet.load(tmp_path / "t.pt", weights_only=True)
    assert list(checkpoint["model"]) == list(twin.state_dict())
    assert isinstance(checkpoint["weight"], numbanet.nn.Parameter)
    model = small_model()
    model.load_state_dict(checkpoint["model"])
    state = checkpoint["optimizer"]["state"][0]
    np.testing.assert_array_equal(state["exp_avg"].numpy(),
                                  torch_optimizer.state_dict()["state"][0]["exp_avg"].numpy())
    inputs = np.array([[0.5, -1.0], [2.0, 3.0]], np.float32)
    np.testing.assert_allclose(model(numbanet.from_numpy(inputs)).detach().numpy(),
                               twin(torch.from_numpy(inputs)).detach().numpy(), rtol=1e-6)


def test_torch_refuses_the_same_hostile_file(tmp_path, torch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(archive(pickle.dumps({"w": hostile_payloads(marker)["os.system"]}, 2)))
    blocked = "unsupported GLOBAL posix.system whose module posix is blocked"
    with pytest.raises(pickle.UnpicklingError, match=blocked):
        torch.load(path, weights_only=True)
    with pytest.raises(pickle.UnpicklingError, match=blocked):
        numbanet.load(path)
    assert not marker.exists()


def test_safetensors_from_torch(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_torch.save_file({"w": torch.arange(6, dtype=torch.int16).reshape(2, 3)},
                                tmp_path / "w.safetensors")
    loaded = numbanet.safetensors.load_file(tmp_path / "w.safetensors")
    assert loaded["w"].dtype == numbanet.int16
    assert loaded["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_cuda_tensors_keep_their_location_or_follow_map_location(tmp_path):
    """Needs a GPU or numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    if not numbanet.cuda.is_available():
        pytest.skip("numbanet.cuda.is_available() is False on this machine")
    path = tmp_path / "gpu.pt"
    numbanet.save({"w": numbanet.tensor([1.0, 2.0]).to("cuda")}, path)
    with zipfile.ZipFile(path) as zf:
        assert b"cuda:0" in zf.read("archive/data.pkl")  # torch's location tag
    assert numbanet.load(path)["w"].device == numbanet.device("cuda:0")
    on_cpu = numbanet.load(path, map_location="cpu")["w"]
    assert on_cpu.device == numbanet.device("cpu") and on_cpu.tolist() == [1.0, 2.0]
    assert numbanet.load(path, map_location={"cuda:0": "cpu"})["w"].device.type == "cpu"


def test_plain_python_values_torch_pickles_load(tmp_path, torch):
    """bytes (protocol 2 spells them _codecs.encode), sets, complex, Counter, torch.Size."""
    from collections import Counter

    torch.save({"bytes": b"\x00ab\xff", "set": {1, 2}, "complex": 1 + 2j,
                "counter": Counter("aab"), "size": torch.Size([2, 3]),
                "dtype": torch.float16}, tmp_path / "plain.pt")
    loaded = numbanet.load(tmp_path / "plain.pt")
    assert loaded["bytes"] == b"\x00ab\xff" and loaded["set"] == {1, 2}
    assert loaded["complex"] == 1 + 2j and loaded["counter"] == Counter("aab")
    assert loaded["size"] == numbanet.Size([2, 3]) and loaded["dtype"] is numbanet.float16
